"""Calibration TOML files of anipose / aniposelib, freemocap and Pose2Sim (basis doc §1.2-1.4, §1.6).

One table per camera, the same keys in all three:
    name = "cam0"                 size = [width, height]           matrix = 3x3 K
    distortions = OpenCV order    rotation = Rodrigues (3,) world->camera
    translation = (3,) world->camera
anipose (`CameraGroup.dump`) names the tables `[cam_0]`, `[cam_1]`, ... with 5 distortion
coefficients and translations in the calibration board's units (mm when the square length is in mm);
freemocap writes the same format in mm. Pose2Sim (`calibration.py::toml_write`) names each table
after its camera, writes 4 coefficients (k1 k2 p1 p2), translations in metres and `fisheye = false`.
Both may end with `[metadata]`; Pose2Sim's reader also skips `capture_volume`, `charuco` and
`checkerboard` tables, as this one does. jaxpose records the unit as `units` in `[metadata]`.

Units when reading: the `units` argument, else `[metadata] units`, else "m" when every camera table
has a `fisheye` key (Pose2Sim writes one), else "mm" (anipose / freemocap boards are usually in mm:
pass `units=` when yours is not). Fisheye cameras are not supported (OpenCV's pinhole model only).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from jaxpose.cameras.camera import Camera, CameraGroup
from jaxpose.cameras.units import is_length
from jaxpose.errors import InputError
from jaxpose.io.atomic import atomic_write_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_TOML_BYTES = 4 * 2**20
NOT_CAMERAS = ("metadata", "capture_volume", "charuco", "checkerboard")
STYLES = ("anipose", "pose2sim")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _numbers(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A TOML array of numbers with this shape -> float64 array (clear error otherwise)."""
    def valid(v: Any, depth: int) -> bool:
        if depth == len(shape):
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        return isinstance(v, list) and len(v) == shape[depth] and all(valid(x, depth + 1) for x in v)

    if not valid(value, 0):
        dims = "x".join(str(s) for s in shape)
        raise InputError(f"{what} must be an array of {dims} numbers")
    return np.array(value, dtype=np.float64)


def _camera_from_table(key: str, table: dict, units: str, where: str) -> Camera:
    if table.get("fisheye") is True:
        raise InputError(f"{where}: fisheye cameras are not supported (jaxpose uses OpenCV's pinhole model)")
    for field in ("matrix", "distortions", "rotation", "translation"):
        if field not in table:
            raise InputError(f"{where}: missing {field!r}")
    name = table.get("name", key)
    if not isinstance(name, str):
        raise InputError(f"{where}: name must be a string")
    dist = table["distortions"]
    if not isinstance(dist, list):
        raise InputError(f"{where}: distortions must be an array of numbers")
    size = None
    if "size" in table:
        size = tuple(_numbers(table["size"], (2,), f"{where}: size"))
    K = _numbers(table["matrix"], (3, 3), f"{where}: matrix")
    dist = _numbers(dist, (len(dist),), f"{where}: distortions")
    rvec = _numbers(table["rotation"], (3,), f"{where}: rotation (a Rodrigues vector)")
    t = _numbers(table["translation"], (3,), f"{where}: translation")
    try:
        return Camera.from_rvec(name, K, dist, rvec, t, size, units)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def read_toml(path: str | Path, units: str | None = None) -> CameraGroup:
    """anipose / freemocap / Pose2Sim calibration TOML -> CameraGroup (cameras in file order)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_TOML_BYTES:
            raise InputError(f"{path}: too large for a calibration file")
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read calibration file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a TOML file (not UTF-8 text)") from None
    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
        raise InputError(f"{path}: not a valid TOML file ({str(exc)[:200]})") from None
    tables = [(k, v) for k, v in doc.items() if isinstance(v, dict) and k not in NOT_CAMERAS]
    if not tables:
        raise InputError(f"{path}: no camera tables (expected [cam_0], [cam_1], ... or one table per camera)")
    metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    if units is None:
        units = metadata.get("units") if isinstance(metadata.get("units"), str) else None
    if units is None:
        units = "m" if all("fisheye" in table for _, table in tables) else "mm"
    cameras = tuple(_camera_from_table(k, v, units, f"{path} [{k}]") for k, v in tables)
    try:
        return CameraGroup(cameras)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[ " + ", ".join(_fmt(v) for v in value) + ",]"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _fmt(name)


def _distortions(cam: Camera, length: int) -> np.ndarray:
    """The camera's coefficients as `length` values when the rest are zeros, else all of them."""
    dist = np.zeros(max(length, cam.dist.size))
    dist[: cam.dist.size] = cam.dist
    return dist[:length] if not np.any(dist[length:]) else dist


def toml_text(group: CameraGroup, style: str = "anipose", error: float | None = None) -> str:
    """The TOML text of `group` in anipose's or Pose2Sim's layout (see module doc); `error`: the
    calibration's reprojection RMS in pixels for `[metadata] error` (0.0 when unknown, as the peers)."""
    if style not in STYLES:
        raise InputError(f"unknown TOML style {style!r}; use one of {STYLES}")
    if style == "pose2sim":
        if not is_length(group.units):
            raise InputError(
                f"Pose2Sim stores translations in metres, but these cameras are in {group.units!r}, which is not "
                "a length; calibrate with a square size in mm or m"
            )
        group = group.with_units("m")
    missing = [cam.name for cam in group if cam.image_size is None]
    if missing:
        raise InputError(f"a {style} TOML file needs every camera's image size; unknown for {missing}")
    lines: list[str] = []
    for i, cam in enumerate(group):
        section = f"cam_{i}" if style == "anipose" else cam.name
        if section in NOT_CAMERAS:
            raise InputError(f"a camera cannot be named {section!r} in a {style} TOML file (a reserved table)")
        lines += [
            f"[{_key(section)}]",
            f"name = {_fmt(cam.name)}",
            f"size = {_fmt([int(s) for s in cam.image_size])}",
            f"matrix = {_fmt([row.tolist() for row in cam.K])}",
            f"distortions = {_fmt(_distortions(cam, 5 if style == 'anipose' else 4).tolist())}",
            f"rotation = {_fmt(cam.rvec.tolist())}",
            f"translation = {_fmt(cam.t.tolist())}",
        ]
        if style == "pose2sim":
            lines.append("fisheye = false")
        lines.append("")
    error = 0.0 if error is None or not np.isfinite(error) else float(error)
    lines += ["[metadata]", "adjusted = false", f"error = {_fmt(error)}", f"units = {_fmt(group.units)}", ""]
    return "\n".join(lines)


def write_toml(group: CameraGroup, path: str | Path, style: str = "anipose",
               error: float | None = None) -> Path:
    """Write `group` as an anipose (`[cam_i]`, board units) or Pose2Sim (named, metres) TOML file."""
    return atomic_write_text(Path(path), toml_text(group, style, error))
