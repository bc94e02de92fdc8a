"""OpenPose's per-camera XML files (OpenCV FileStorage; features §5.1).

One file per camera, `<opencv_storage>` with `opencv-matrix` nodes:
    CameraMatrix  3x4 [R | t], world -> camera, t in metres     (required)
    Intrinsics    3x3 K                                          (required)
    Distortion    4, 5, 8, 12 or 14 OpenCV coefficients          (required)
    CameraMatrixInitial                                          (optional, ignored)
A folder's `*.xml` files are the cameras in natural order of file name (OpenPose's view order); the
camera name is the file stem.

jaxpose adds three nodes OpenPose ignores: `ImageWidth`, `ImageHeight` (pixels) and `Units` (the
translation unit; "m" when absent, as OpenPose). Files are written with OpenCV's own FileStorage
writer and read with a small independent parser (no DTDs or entities: such files are refused).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from jaxpose.cameras.camera import Camera, CameraGroup
from jaxpose.errors import InputError
from jaxpose.io.atomic import atomic_write_text
from jaxpose.io.names import natural_key

MAX_XML_BYTES = 4 * 2**20
DEFAULT_UNITS = "m"  # OpenPose's translations are metres
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SPECIAL = {".nan": np.nan, "+.nan": np.nan, "-.nan": np.nan, ".inf": np.inf, "+.inf": np.inf, "-.inf": -np.inf}
_DT = {"d", "f", "i", "s", "w", "u", "c", "h"}  # OpenCV depth codes (single channel)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def _number(token: str, where: str) -> float:
    if _NUMBER.fullmatch(token):
        return float(token)
    if token.lower() in _SPECIAL:
        return _SPECIAL[token.lower()]
    raise InputError(f"{where}: {token[:40]!r} is not a number")


def _parse_matrix(node: ET.Element, where: str) -> np.ndarray:
    if node.get("type_id") != "opencv-matrix":
        raise InputError(f"{where}: expected an opencv-matrix node (type_id=\"opencv-matrix\")")
    fields = {}
    for key in ("rows", "cols", "dt", "data"):
        child = node.find(key)
        if child is None:
            raise InputError(f"{where}: the matrix has no <{key}>")
        fields[key] = (child.text or "").strip()
    try:
        rows, cols = int(fields["rows"]), int(fields["cols"])
    except ValueError:
        raise InputError(f"{where}: <rows>/<cols> must be whole numbers") from None
    if fields["dt"] not in _DT:
        raise InputError(f"{where}: unsupported element type <dt>{fields['dt'][:20]}</dt> (expected d or f)")
    if not (0 <= rows <= 64 and 0 <= cols <= 64):
        raise InputError(f"{where}: a {rows}x{cols} matrix is not a camera parameter")
    values = [_number(tok, where) for tok in fields["data"].split()]
    if len(values) != rows * cols:
        raise InputError(f"{where}: {rows}x{cols} matrix with {len(values)} values")
    return np.array(values, dtype=np.float64).reshape(rows, cols)


def _scalar_text(node: ET.Element | None) -> str | None:
    if node is None:
        return None
    text = (node.text or "").strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text


def _camera_name(path: Path) -> str:
    """File stem, with a second `.xml` dropped too ("17012332.xml.example" -> "17012332")."""
    stem = path.stem
    return stem[:-4] if stem.lower().endswith(".xml") and len(stem) > 4 else stem


def read_openpose_camera(path: str | Path, name: str | None = None) -> Camera:
    """One OpenPose camera XML file -> Camera (named by the file stem unless `name` is given)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_XML_BYTES:
            raise InputError(f"{path}: {size} bytes is too large for a camera file")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read camera file ({exc.strerror or exc})") from None
    lowered = data.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise InputError(f"{path}: camera files with DTDs or entities are refused")
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise InputError(f"{path}: not a valid OpenCV XML camera file ({exc})") from None
    if root.tag != "opencv_storage":
        raise InputError(f"{path}: not an OpenCV FileStorage file (root <{root.tag[:40]}>, expected <opencv_storage>)")
    mats = {}
    for key in ("CameraMatrix", "Intrinsics", "Distortion"):
        node = root.find(key)
        if node is None:
            raise InputError(
                f"{path}: missing <{key}>; an OpenPose camera file needs CameraMatrix (3x4 [R|t]), "
                "Intrinsics (3x3) and Distortion"
            )
        mats[key] = _parse_matrix(node, f"{path} <{key}>")
    extrinsics, K, dist = mats["CameraMatrix"], mats["Intrinsics"], mats["Distortion"]
    if extrinsics.shape != (3, 4):
        raise InputError(f"{path}: CameraMatrix must be 3x4 [R | t], got {extrinsics.shape[0]}x{extrinsics.shape[1]}")
    if K.shape != (3, 3):
        raise InputError(f"{path}: Intrinsics must be 3x3, got {K.shape[0]}x{K.shape[1]}")
    if dist.size == 0 or min(dist.shape) != 1:
        raise InputError(f"{path}: Distortion must be a non-empty column or row vector, got {dist.shape}")
    width, height = _scalar_text(root.find("ImageWidth")), _scalar_text(root.find("ImageHeight"))
    image_size = None
    if width is not None and height is not None:
        image_size = (_number(width, f"{path} <ImageWidth>"), _number(height, f"{path} <ImageHeight>"))
    units = _scalar_text(root.find("Units")) or DEFAULT_UNITS
    try:
        return Camera(name if name is not None else _camera_name(path),
                      K, dist.ravel(), extrinsics[:, :3], extrinsics[:, 3], image_size, units)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def camera_files(folder_or_file: str | Path) -> list[Path]:
    """The XML files OpenPose would read: the file itself, or a folder's *.xml in natural order."""
    path = Path(folder_or_file)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(
            f"{path}: no such camera parameter file or folder (give a folder of OpenPose camera .xml files, "
            "one per view, or one .xml file)"
        )
    files = sorted((p for p in path.iterdir() if p.suffix.lower() == ".xml" and p.is_file()),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise InputError(f"{path}: the folder has no .xml camera files (write them with `jaxpose calibrate`)")
    return files


def read_openpose_xml(folder_or_file: str | Path) -> CameraGroup:
    """A folder of OpenPose camera XML files (natural order) or one file -> CameraGroup."""
    files = camera_files(folder_or_file)
    cameras = [read_openpose_camera(f) for f in files]
    if len({cam.name for cam in cameras}) < len(cameras):  # e.g. a.xml and a.XML
        cameras = [cam.replace(name=f.name) for cam, f in zip(cameras, files)]
    units = {cam.units for cam in cameras}
    if len(units) > 1:
        raise InputError(f"{folder_or_file}: the camera files use different units {sorted(units)}")
    return CameraGroup(tuple(cameras))


def camera_xml_text(camera: Camera) -> str:
    """The XML text of one camera, as OpenCV's FileStorage writes it."""
    import cv2

    fs = cv2.FileStorage("camera.xml", cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_MEMORY)
    fs.writeComment(
        f"Camera {camera.name} written by jaxpose. CameraMatrix = [R | t] maps world to camera "
        f"coordinates (x_cam = R X + t); translation in {camera.units}."
    )
    fs.write("CameraMatrix", np.hstack([camera.R, camera.t[:, None]]))
    fs.write("Intrinsics", np.asarray(camera.K))
    dist = camera.dist if camera.dist.size else np.zeros(5)
    fs.write("Distortion", np.asarray(dist, np.float64).reshape(-1, 1))
    if camera.image_size is not None:
        fs.write("ImageWidth", int(camera.image_size[0]))
        fs.write("ImageHeight", int(camera.image_size[1]))
    fs.write("Units", camera.units)
    return fs.releaseAndGetString()


def write_openpose_xml(group: CameraGroup, folder: str | Path, units: str | None = "m") -> list[Path]:
    """Write `<folder>/<camera name>.xml` per camera; returns the paths in view order.

    units: translations are converted to this unit ("m", OpenPose's; None keeps the group's).
    Refuses names that are not plain file stems, names whose natural order differs from the view
    order (OpenPose would read the views permuted), and a folder holding other .xml files (OpenPose
    would read them as extra cameras). Every text is built before the first file is written; each
    file is written atomically.
    """
    if units is not None:
        group = group.with_units(units)
    names = list(group.names)
    for name in names:
        if not _SAFE_NAME.fullmatch(name):
            raise InputError(
                f"camera name {name!r} cannot be a file name; use letters, digits, '.', '_', '+' or '-' "
                "(e.g. Camera.replace(name='cam0'))"
            )
    if sorted(names, key=natural_key) != names:
        raise InputError(
            f"OpenPose reads camera files in natural order of name, which would permute these views {names}; "
            "rename the cameras so that their order sorts naturally (e.g. cam0, cam1, ...)"
        )
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    wanted = {f"{name}.xml" for name in names}
    if folder.is_dir():
        others = sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".xml" and p.name not in wanted)
        if others:
            raise InputError(
                f"{folder}: already holds other camera files {others[:5]}; OpenPose would read them as extra views. "
                "Write into an empty folder or remove them"
            )
    texts = [(folder / f"{cam.name}.xml", camera_xml_text(cam)) for cam in group]
    return [atomic_write_text(path, text) for path, text in texts]
