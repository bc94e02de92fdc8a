"""`Camera` and `CameraGroup`: calibrated pinhole cameras with OpenCV distortion (issue #10 item 1).

Conventions (the same as OpenCV and OpenPose's XML files):
    x_cam = R @ X_world + t        R (3, 3) world->camera rotation, t (3,) in the group's `units`
    pixel = K @ distort(x_cam / z)  K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], OpenCV's `dist` order
    P = K @ [R | t]                 (3, 4); distortion is not part of P (as in OpenPose)

Both classes are frozen; their arrays are read-only float64 NumPy arrays. Projection and
undistortion run the jitted JAX functions of `jaxpose.cameras.distortion` in float64.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxpose.cameras.distortion import DIST_COUNTS, N_COEFFS, project_points_padded, undistort_points_padded
from jaxpose.cameras.units import unit_scale
from jaxpose.errors import InputError

ROTATION_TOLERANCE = 1e-6  # max |R R^T - I| entry accepted as a rotation


def _array(value: Any, what: str, shapes: Sequence[tuple[int, ...]]) -> np.ndarray:
    """`value` as a finite float64 array of one of `shapes` (the first is the canonical one)."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numbers, got {type(value).__name__}") from None
    if arr.shape not in shapes:
        raise InputError(f"{what} must have shape {shapes[0]}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{what} has non-finite values (NaN or inf): {arr.ravel().tolist()}")
    arr = arr.reshape(shapes[0])
    arr.setflags(write=False)
    return arr


def _check_intrinsics(K: np.ndarray, where: str) -> None:
    if K[2, 0] != 0 or K[2, 1] != 0 or K[2, 2] != 1 or K[1, 0] != 0:
        raise InputError(f"{where}: K must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], got {K.tolist()}")
    if K[0, 1] != 0:
        raise InputError(
            f"{where}: K has skew K[0,1] = {K[0, 1]!r}; OpenCV's camera model (and OpenPose's) has none: set it to 0"
        )
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise InputError(
            f"{where}: K is singular or flipped (fx = {K[0, 0]!r}, fy = {K[1, 1]!r}); focal lengths must be > 0 pixels"
        )


def _check_rotation(R: np.ndarray, where: str) -> None:
    err = np.abs(R @ R.T - np.eye(3)).max()
    if err > ROTATION_TOLERANCE or np.linalg.det(R) <= 0:
        raise InputError(
            f"{where}: R is not a rotation matrix (|R R^T - I| = {err:.3g}, det = {np.linalg.det(R):.6g}); "
            "give an orthonormal world->camera rotation with det +1"
        )


def _image_size(value: Any, where: str) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        w, h = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: image_size must be (width, height), got {value!r}") from None
    if not (w == int(w) and h == int(h) and w >= 1 and h >= 1) or max(w, h) > 1e6:
        raise InputError(f"{where}: image_size must be two positive whole pixel counts, got {value!r}")
    return int(w), int(h)


def rodrigues_to_matrix(rvec: Any, what: str = "rotation vector") -> np.ndarray:
    """Rodrigues vector (3,) (axis x angle, radians) -> rotation matrix (3, 3), as cv2.Rodrigues."""
    import cv2

    rvec = _array(rvec, what, [(3,), (3, 1), (1, 3)])
    return cv2.Rodrigues(rvec.reshape(3, 1))[0]


def matrix_to_rodrigues(R: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) -> Rodrigues vector (3,), as cv2.Rodrigues."""
    import cv2

    return cv2.Rodrigues(np.asarray(R, np.float64))[0].ravel()


@dataclasses.dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera: x_cam = R @ X + t, pixels = K distort(x_cam / z) (OpenCV's model).

    name: label (OpenPose XML file stem, TOML camera name); K (3, 3) intrinsics in pixels; dist (n,)
    OpenCV distortion coefficients, n in {0, 4, 5, 8, 12, 14}; R (3, 3) world->camera rotation;
    t (3,) world->camera translation in `units`; image_size (width, height) in pixels or None;
    units: the world's length unit ("m", "mm", ... or any label such as "squares").
    """

    name: str
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    image_size: tuple[int, int] | None = None
    units: str = "m"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise InputError(f"a camera name must be a string, got {self.name!r}")
        where = f"camera {self.name!r}"
        K = _array(self.K, f"{where}: K", [(3, 3)])
        _check_intrinsics(K, where)
        try:
            dist = np.asarray(self.dist, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InputError(f"{where}: dist must be numbers, got {self.dist!r}") from None
        if dist.size not in DIST_COUNTS:
            raise InputError(
                f"{where}: dist has {dist.size} coefficients; OpenCV takes 0, 4, 5, 8, 12 or 14 "
                "(k1 k2 p1 p2 [k3 [k4 k5 k6 [s1 s2 s3 s4 [tau_x tau_y]]]])"
            )
        dist = _array(dist, f"{where}: dist", [(dist.size,)])
        R = _array(self.R, f"{where}: R", [(3, 3)])
        _check_rotation(R, where)
        t = _array(self.t, f"{where}: t", [(3,), (3, 1), (1, 3)])
        if not isinstance(self.units, str) or not self.units.strip():
            raise InputError(f"{where}: units must be a non-empty string such as 'm' or 'mm', got {self.units!r}")
        for field, value in (("K", K), ("dist", dist), ("R", R), ("t", t),
                             ("image_size", _image_size(self.image_size, where))):
            object.__setattr__(self, field, value)

    @classmethod
    def from_rvec(cls, name: str, K: Any, dist: Any, rvec: Any, t: Any,
                  image_size: tuple[int, int] | None = None, units: str = "m") -> Camera:
        """A camera whose rotation is given as a Rodrigues vector (3,) (OpenCV's rvec)."""
        return cls(name, K, dist, rodrigues_to_matrix(rvec, f"camera {name!r}: rotation"), t, image_size, units)

    @property
    def P(self) -> np.ndarray:
        """(3, 4) projection matrix K [R | t] (no distortion)."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    @property
    def center(self) -> np.ndarray:
        """(3,) optical centre in world coordinates (-R^T t), in `units`."""
        return -self.R.T @ self.t

    @property
    def rvec(self) -> np.ndarray:
        """(3,) Rodrigues vector of R."""
        return matrix_to_rodrigues(self.R)

    def replace(self, **changes: Any) -> Camera:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def with_units(self, units: str) -> Camera:
        """The same camera with its translation expressed in `units` (e.g. "mm" -> "m")."""
        return self.replace(t=self.t * unit_scale(self.units, units), units=units)

    def project(self, points3d: Any) -> np.ndarray:
        """World points (..., 3) -> distorted pixels (..., 2) (float64, = cv2.projectPoints)."""
        return CameraGroup((self,)).project(points3d)[0]

    def undistort(self, points2d: Any, iterations: int = 5, eps: float | None = None) -> np.ndarray:
        """Distorted pixels (..., 2) -> undistorted pixels (..., 2), same K (= cv2.undistortPoints(P=K))."""
        return CameraGroup((self,)).undistort(np.asarray(points2d)[None], iterations, eps)[0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Camera):
            return NotImplemented
        return (self.name == other.name and self.image_size == other.image_size and self.units == other.units
                and self.dist.shape == other.dist.shape
                and all(np.array_equal(getattr(self, f), getattr(other, f)) for f in ("K", "dist", "R", "t")))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        f = self.K[0, 0], self.K[1, 1]
        return (f"Camera({self.name!r}, f=({f[0]:.6g}, {f[1]:.6g}), {self.dist.size} dist coeffs, "
                f"center={np.round(self.center, 6).tolist()} {self.units}, image_size={self.image_size})")


class CameraArrays(NamedTuple):
    """A camera group as stacked arrays (a pytree, ready for jit / vmap over views V)."""

    K: np.ndarray     # (V, 3, 3)
    dist: np.ndarray  # (V, 14) OpenCV coefficients, zero-padded
    R: np.ndarray     # (V, 3, 3)
    t: np.ndarray     # (V, 3)
    P: np.ndarray     # (V, 3, 4) = K [R | t]


_project_views = jax.jit(jax.vmap(project_points_padded, in_axes=(0, 0, 0, 0, None)))


@partial(jax.jit, static_argnames=("iterations",))
def _undistort_views(K, dist, points, eps, iterations):
    return jax.vmap(lambda k, d, p: undistort_points_padded(k, d, p, eps, iterations=iterations))(K, dist, points)


@dataclasses.dataclass(frozen=True, eq=False)
class CameraGroup:
    """V calibrated cameras sharing one world frame and one unit; the view order is the tuple order.

    Readers/writers: `from_openpose_xml` / `to_openpose_xml` (OpenPose's per-camera XML),
    `from_toml` / `to_toml` (anipose, freemocap, Pose2Sim), `from_h36m` (Human3.6M's cameras.pkl).
    """

    cameras: tuple[Camera, ...]

    def __post_init__(self) -> None:
        cameras = tuple(self.cameras) if not isinstance(self.cameras, Camera) else (self.cameras,)
        if not cameras:
            raise InputError("a camera group needs at least one camera")
        for cam in cameras:
            if not isinstance(cam, Camera):
                raise InputError(f"a camera group holds Camera objects, got {type(cam).__name__}")
        names = [cam.name for cam in cameras]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InputError(f"camera names must be unique within a group; repeated: {duplicates}")
        units = {cam.units for cam in cameras}
        if len(units) > 1:
            raise InputError(
                f"the cameras' translations are in different units {sorted(units)}; convert them with "
                "Camera.with_units(...) first"
            )
        object.__setattr__(self, "cameras", cameras)

    def __len__(self) -> int:
        return len(self.cameras)

    def __getitem__(self, index: int | str | slice) -> Camera | CameraGroup:
        """A camera by view index or by name; a slice gives a smaller group."""
        if isinstance(index, slice):
            return CameraGroup(self.cameras[index])
        if isinstance(index, str):
            return self.subset([index]).cameras[0]
        return self.cameras[index]

    def __iter__(self) -> Iterator[Camera]:
        return iter(self.cameras)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CameraGroup):
            return NotImplemented
        return self.cameras == other.cameras

    __hash__ = None  # type: ignore[assignment]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(cam.name for cam in self.cameras)

    @property
    def units(self) -> str:
        return self.cameras[0].units

    def with_units(self, units: str) -> CameraGroup:
        """The group with every translation expressed in `units`."""
        return CameraGroup(tuple(cam.with_units(units) for cam in self.cameras))

    def subset(self, views: Sequence[int | str]) -> CameraGroup:
        """The cameras at these indices or with these names, in the order given."""
        picked = []
        for view in views:
            if isinstance(view, str):
                if view not in self.names:
                    raise InputError(f"no camera named {view!r}; the group has {list(self.names)}")
                view = self.names.index(view)
            picked.append(self.cameras[view])
        return CameraGroup(tuple(picked))

    def projection_matrices(self) -> np.ndarray:
        """(V, 3, 4) float64: K [R | t] per camera (distortion not included)."""
        return np.stack([cam.P for cam in self.cameras])

    def arrays(self) -> CameraArrays:
        """Stacked float64 arrays (K, dist padded to 14, R, t, P) for jitted code over the views."""
        dist = np.zeros((len(self), N_COEFFS))
        for i, cam in enumerate(self.cameras):
            dist[i, : cam.dist.size] = cam.dist
        return CameraArrays(
            K=np.stack([c.K for c in self.cameras]), dist=dist, R=np.stack([c.R for c in self.cameras]),
            t=np.stack([c.t for c in self.cameras]), P=self.projection_matrices(),
        )

    def project(self, points3d: Any) -> np.ndarray:
        """World points (..., 3) in `units` -> (V, ..., 2) distorted pixels in every view (float64).

        Equal to cv2.projectPoints per camera; NaN points give NaN pixels.
        """
        pts = np.asarray(points3d, dtype=np.float64)
        if pts.ndim < 1 or pts.shape[-1] != 3:
            raise InputError(f"points3d must have shape (..., 3), got {pts.shape}")
        arrs = self.arrays()
        with jax.enable_x64(True):
            out = _project_views(arrs.K, arrs.dist, arrs.R, arrs.t, pts)
            return np.asarray(out, dtype=np.float64)

    def undistort(self, points2d: Any, iterations: int = 5, eps: float | None = None) -> np.ndarray:
        """Distorted pixels (V, ..., 2) -> undistorted pixels (V, ..., 2), same K per view (float64).

        Default = cv2.undistortPoints(pts, K, dist, P=K) (5 fixed-point iterations); raise
        `iterations` (e.g. 20) for a closer inverse of `project` on strongly distorted lenses.
        """
        pts = np.asarray(points2d, dtype=np.float64)
        if pts.ndim < 2 or pts.shape[0] != len(self) or pts.shape[-1] != 2:
            raise InputError(f"points2d must have shape (V={len(self)}, ..., 2), got {pts.shape}")
        if iterations < 0:
            raise InputError(f"iterations must be >= 0, got {iterations}")
        arrs = self.arrays()
        with jax.enable_x64(True):
            out = _undistort_views(arrs.K, arrs.dist, pts, -np.inf if eps is None else float(eps),
                                   iterations=int(iterations))
            return np.asarray(out, dtype=np.float64)

    # ---- files (readers and writers live in their own modules) ----

    @classmethod
    def from_openpose_xml(cls, folder_or_file: str | Path) -> CameraGroup:
        """OpenPose's camera files: a folder of `*.xml` (natural order = view order) or one file."""
        from jaxpose.cameras.openpose_xml import read_openpose_xml

        return read_openpose_xml(folder_or_file)

    def to_openpose_xml(self, folder: str | Path, units: str | None = "m") -> list[Path]:
        """Write `<folder>/<name>.xml` per camera (OpenPose's format; translations in metres)."""
        from jaxpose.cameras.openpose_xml import write_openpose_xml

        return write_openpose_xml(self, folder, units=units)

    @classmethod
    def from_toml(cls, path: str | Path, units: str | None = None) -> CameraGroup:
        """An anipose / freemocap / Pose2Sim calibration TOML (units: see jaxpose.cameras.toml_format)."""
        from jaxpose.cameras.toml_format import read_toml

        return read_toml(path, units=units)

    def to_toml(self, path: str | Path, style: str = "anipose", error: float | None = None) -> Path:
        """Write an anipose-style (`style="anipose"`) or Pose2Sim-style (`"pose2sim"`) TOML file;
        `error`: the calibration RMS (px) for `[metadata] error`."""
        from jaxpose.cameras.toml_format import write_toml

        return write_toml(self, path, style=style, error=error)

    @classmethod
    def from_h36m(cls, pkl_path: str | Path, subject: str) -> CameraGroup:
        """The 4 cameras of one Human3.6M subject from MMPose's cameras.pkl (restricted unpickler)."""
        from jaxpose.cameras.h36m import read_h36m

        return read_h36m(pkl_path, subject)

    def __repr__(self) -> str:
        return f"CameraGroup({len(self)} cameras {list(self.names)}, units={self.units!r})"
