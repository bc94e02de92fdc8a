"""Human3.6M cameras from MMPose's `cameras.pkl` (basis doc §1.6 and §2.1).

The file is a Python pickle. It is NEVER read with `pickle.load`: a restricted unpickler resolves
only the three globals a pickled NumPy array names (`numpy.core.multiarray._reconstruct`,
`numpy.ndarray`, `numpy.dtype`), and even those are not NumPy's own: they are stand-ins that collect
the shape, a plain numeric dtype and the raw bytes, from which the array is rebuilt with
`np.frombuffer`. Every other global (functions, classes, NumPy scalars, object arrays) is refused
with an InputError, so a crafted file can neither run code nor corrupt NumPy's state. Keep such
files out of any default path all the same: read only files you trust.

Schema: a dict keyed (subject, camera_id) -> {R (3,3) camera->world rotation, T (3,1) camera centre
in the world (metres), f (2,1), c (2,1) pixels, k (3,1) radial, p (2,1) tangential, w, h, name, id}.
So X_world = R @ X_cam + T, i.e. R_w2c = R^T and t = -R^T T.

Distortion: H36M's model (its released code, `project_point_radial`) is
    x_d = x (radial + p0 y + p1 x) + p1 r^2,   y_d = y (radial + p0 y + p1 x) + p0 r^2,
    radial = 1 + k1 r^2 + k2 r^4 + k3 r^6.
This is exactly OpenCV's 12-coefficient model (radial + tangential + thin prism) with
    k1, k2, p1' = p0/2, p2' = p1/2, k3, k4 = k5 = k6 = 0, s1 = p1/2, s2 = 0, s3 = p0/2, s4 = 0
(expand both: every monomial matches), so the cameras come out as ordinary OpenCV cameras and no
separate projection model is needed. The sample's 3D ground truth reprojects onto its 2D ground truth
to 3e-5 px this way (tests/test_cameras_h36m.py).
"""

from __future__ import annotations

import io
import pickle
import pickletools
from pathlib import Path
from typing import Any

import numpy as np

from jaxpose.cameras.camera import Camera, CameraGroup
from jaxpose.errors import InputError

MAX_PICKLE_BYTES = 16 * 2**20
MAX_ARRAY_ELEMENTS = 2**20
_NUMERIC_DTYPES = {"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"}


class _RefusedGlobal(Exception):
    pass


class _DtypeSpec:
    """Stand-in for `numpy.dtype(name, align, copy)` + its pickled state: only plain numbers."""

    def __init__(self, name: Any = None, align: Any = False, copy: Any = False) -> None:
        self.name, self.byteorder = name, "="

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", ">", "=", "|"):
            self.byteorder = state[1]

    def resolve(self) -> np.dtype:
        if self.name not in _NUMERIC_DTYPES:
            raise ValueError(f"array type {str(self.name)[:20]!r} is not a plain number type")
        return np.dtype(self.name).newbyteorder(self.byteorder)


class _ArraySpec:
    """Stand-in for a pickled ndarray: `_reconstruct(...)` then BUILD with (version, shape, dtype, fortran, bytes)."""

    def __init__(self, *args: Any) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise ValueError("malformed array state")
        shape, dtype, fortran, data = state[-4:]
        if not (isinstance(shape, tuple) and all(isinstance(n, int) and 0 <= n <= MAX_ARRAY_ELEMENTS for n in shape)):
            raise ValueError("malformed array shape")
        if not isinstance(dtype, _DtypeSpec) or not isinstance(data, bytes):
            raise ValueError("malformed array data")
        dtype = dtype.resolve()
        count = int(np.prod(shape, dtype=np.int64))
        if count > MAX_ARRAY_ELEMENTS or len(data) != count * dtype.itemsize:
            raise ValueError("array data does not match its shape")
        flat = np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="))
        self.array = flat.reshape(shape, order="F" if fortran else "C").copy()


def _reconstruct_stand_in(*args: Any) -> _ArraySpec:
    return _ArraySpec()


class _ArraysOnlyUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its memo is a dict
    """Unpickler that rebuilds plain numeric NumPy arrays and containers, and nothing else.

    The pure-Python implementation is used on purpose: the C one allocates its memo table up to the
    largest index a (possibly corrupt) file names, i.e. gigabytes from one flipped bit.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct_stand_in,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct_stand_in,
        ("numpy", "ndarray"): _ArraySpec,
        ("numpy", "dtype"): _DtypeSpec,
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise _RefusedGlobal(f"{module}.{name}")
        return self._ALLOWED[(module, name)]

    def persistent_load(self, pid: Any) -> Any:
        raise _RefusedGlobal("a persistent id")


def _arrays(value: Any, budget: list[int] | None = None, depth: int = 0) -> Any:
    """Replace every array stand-in by its array, through dicts, lists and tuples (bounded walk)."""
    budget = [100_000] if budget is None else budget
    budget[0] -= 1
    if depth > 50 or budget[0] < 0:
        raise ValueError("nested too deeply or too many objects")
    if isinstance(value, _ArraySpec):
        if value.array is None:
            raise ValueError("an array without data")
        return value.array
    if isinstance(value, _DtypeSpec) or callable(value):
        raise ValueError("a bare type or function where data was expected")
    if isinstance(value, dict):
        return {_arrays(k, budget, depth + 1): _arrays(v, budget, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_arrays(v, budget, depth + 1) for v in value)
    return value


def _prescan(data: bytes) -> None:
    """Walk the opcodes without running them: refuse extension codes, persistent ids, huge memo indices."""
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name in ("PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4"):
            raise _RefusedGlobal(f"the opcode {opcode.name}")
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET") and int(arg) > 100_000:
            raise ValueError(f"memo index {arg} is out of range")


def load_arrays_pickle(path: str | Path) -> Any:
    """Unpickle a file that may contain only numeric NumPy arrays, numbers, strings and containers."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file (give the path to Human3.6M's cameras.pkl)")
    if path.stat().st_size > MAX_PICKLE_BYTES:
        raise InputError(f"{path}: {path.stat().st_size} bytes is too large for a cameras.pkl")
    data = path.read_bytes()
    try:
        _prescan(data)
        return _arrays(_ArraysOnlyUnpickler(io.BytesIO(data)).load())
    except _RefusedGlobal as refused:
        raise InputError(
            f"{path}: refused to unpickle: the file asks for {refused}, and only NumPy arrays are allowed "
            "(a cameras.pkl holds nothing else; this file is not one, or it was tampered with)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - pickle raises many types on corrupt data
        raise InputError(f"{path}: not a readable cameras.pkl ({type(exc).__name__}: {str(exc)[:200]})") from None


def _field(entry: dict, key: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    if key not in entry:
        raise InputError(f"{where}: missing {key!r}")
    value = entry[key]
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu" or value.size != int(np.prod(shape)):
        raise InputError(f"{where}: {key!r} must be a numeric array of {int(np.prod(shape))} values")
    return value.astype(np.float64).reshape(shape)


def h36m_to_opencv_distortion(k: np.ndarray, p: np.ndarray) -> np.ndarray:
    """H36M's k (3,), p (2,) -> the equivalent OpenCV 12-coefficient vector (exact; see module doc)."""
    k1, k2, k3 = (float(v) for v in k)
    p0, p1 = (float(v) for v in p)
    return np.array([k1, k2, p0 / 2, p1 / 2, k3, 0.0, 0.0, 0.0, p1 / 2, 0.0, p0 / 2, 0.0])


def camera_from_h36m(entry: dict, name: str, where: str) -> Camera:
    """One cameras.pkl entry -> Camera (world->camera, metres, OpenCV 12-coefficient distortion)."""
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected a dict of camera parameters, got {type(entry).__name__}")
    R_c2w = _field(entry, "R", (3, 3), where)
    T = _field(entry, "T", (3,), where)
    f = _field(entry, "f", (2,), where)
    c = _field(entry, "c", (2,), where)
    k = _field(entry, "k", (3,), where)
    p = _field(entry, "p", (2,), where)
    size = None
    if "w" in entry and "h" in entry:
        size = (entry["w"], entry["h"])
    K = np.array([[f[0], 0.0, c[0]], [0.0, f[1], c[1]], [0.0, 0.0, 1.0]])
    return Camera(name, K, h36m_to_opencv_distortion(k, p), R_c2w.T, -R_c2w.T @ T, size, "m")


def read_h36m(pkl_path: str | Path, subject: str) -> CameraGroup:
    """The 4 cameras of `subject` (e.g. "S1"), ordered by camera id, named by id ("54138969", ...)."""
    table = load_arrays_pickle(pkl_path)
    if not isinstance(table, dict) or not all(isinstance(key, tuple) and len(key) == 2 for key in table):
        raise InputError(f"{pkl_path}: not a Human3.6M cameras.pkl (expected a dict keyed (subject, camera id))")
    subjects = sorted({str(key[0]) for key in table})
    ids = sorted(str(key[1]) for key in table if str(key[0]) == str(subject))
    if not ids:
        raise InputError(f"{pkl_path}: no cameras for subject {subject!r}; the file has {subjects}")
    entries = {str(key[1]): value for key, value in table.items() if str(key[0]) == str(subject)}
    return CameraGroup(tuple(
        camera_from_h36m(entries[cam_id], cam_id, f"{pkl_path} [{subject}, {cam_id}]") for cam_id in ids
    ))
