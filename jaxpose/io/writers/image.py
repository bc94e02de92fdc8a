"""`--write_images <dir>` + `--write_images_format`: rendered frames as image files (features §3.6).

Public functions:
    encode_image(rgb, fmt="png") -> bytes          (H, W, 3) uint8 RGB -> file bytes (BGR on disk)
    write_image(path, rgb) -> Path                 format from the path's extension, atomic
    write_rendered_image(directory, frame_name, rgb, fmt="png", view=0) -> Path
                                                   "<dir>/<frame>_rendered.<fmt>"

PNG is written with compression 9 and JPEG with quality 100, as OpenPose does.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from jaxpose.errors import InputError
from jaxpose.io.atomic import atomic_write_bytes
from jaxpose.io.names import output_path

_PARAMS = {"png": [cv2.IMWRITE_PNG_COMPRESSION, 9], "jpg": [cv2.IMWRITE_JPEG_QUALITY, 100],
           "jpeg": [cv2.IMWRITE_JPEG_QUALITY, 100]}


def encode_image(rgb: np.ndarray, fmt: str = "png") -> bytes:
    """Encode an (H, W, 3) uint8 RGB image (or (H, W) grey) in format `fmt` (an OpenCV extension)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[-1] == 3)):
        raise InputError(f"an image to write must be (H, W, 3) uint8 RGB; got {rgb.shape} {rgb.dtype}")
    fmt = fmt.lower().lstrip(".")
    bgr = rgb if rgb.ndim == 2 else np.ascontiguousarray(rgb[..., ::-1])
    try:
        ok, encoded = cv2.imencode(f".{fmt}", bgr, _PARAMS.get(fmt, []))
    except cv2.error as e:
        raise InputError(f"image format {fmt!r} cannot be written by OpenCV; use png or jpg") from e
    if not ok:
        raise InputError(f"OpenCV could not encode the image as {fmt!r}; use png or jpg")
    return encoded.tobytes()


def write_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image to `path` atomically; the extension picks the format."""
    path = Path(path)
    if not path.suffix:
        raise InputError(f"{path}: give the image file an extension (.png, .jpg, ...)")
    return atomic_write_bytes(path, encode_image(rgb, path.suffix))


def write_rendered_image(directory: str | Path, frame_name: str, rgb: np.ndarray,
                         fmt: str = "png", view: int = 0) -> Path:
    """Write `<directory>/<frame_name>_rendered.<fmt>` atomically; returns its path."""
    return write_image(output_path(directory, frame_name, "rendered", fmt, view), rgb)
