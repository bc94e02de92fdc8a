"""Calibration frames of one camera: a folder of images, a glob pattern, a video, a list of files or arrays.

Every source yields `CalibrationFrame`s in order (natural order of file names; video frame order):
a label for reports and the image as (H, W, 3) uint8 RGB, or None with an `error` when that frame
could not be read. For several cameras, the i-th selected frame of every source is one instant.
"""

from __future__ import annotations

import dataclasses
import glob
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from jaxpose.errors import InputError
from jaxpose.io import readers

Source = Union[str, Path, Sequence[Union[str, Path]], Sequence[np.ndarray]]


@dataclasses.dataclass(frozen=True)
class CalibrationFrame:
    """One selected frame: `label` names it in reports; `image` (H, W, 3) uint8 RGB or None + `error`."""

    label: str
    image: np.ndarray | None
    error: str | None = None


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _image_files(files: Sequence[Path], step: int) -> Iterator[CalibrationFrame]:
    for path in list(files)[::step]:
        try:
            yield CalibrationFrame(path.name, readers.decode_image(path))
        except InputError as exc:
            yield CalibrationFrame(path.name, None, str(exc))


def _arrays(images: Sequence[np.ndarray], step: int) -> Iterator[CalibrationFrame]:
    for i, image in list(enumerate(images))[::step]:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise InputError(f"frame {i}: images must be (H, W) or (H, W, 3) uint8 arrays, got {image.dtype} {image.shape}")
        yield CalibrationFrame(f"frame {i}", np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image)


def _video(path: Path, step: int) -> Iterator[CalibrationFrame]:
    source = readers.VideoSource(path, readers.FrameSelection(step=step))
    for item in source.frames():
        if isinstance(item, readers.Frame):
            yield CalibrationFrame(item.name, item.image)
        elif isinstance(item, readers.FrameError):
            yield CalibrationFrame(item.name, None, item.message)


def open_source(source: Any, frame_step: int = 1) -> tuple[str, Iterator[CalibrationFrame]]:
    """(description, frames) of one camera's calibration source; InputError when it does not exist."""
    if frame_step < 1:
        raise InputError(f"frame_step must be >= 1, got {frame_step}")
    if isinstance(source, (str, Path)):
        text = str(source)
        path = Path(text)
        if path.is_dir():
            files = readers.list_images(path)
            if not files:
                raise InputError(f"{path}: no images found (looked for {', '.join(readers.IMAGE_EXTENSIONS)})")
            return text, _image_files(files, frame_step)
        if path.is_file():
            if path.suffix.lower() in readers.IMAGE_EXTENSIONS:
                return text, _image_files([path], frame_step)
            return text, _video(path, frame_step)
        if _is_glob(text):
            files = sorted((Path(p) for p in glob.glob(text) if Path(p).suffix.lower() in readers.IMAGE_EXTENSIONS),
                           key=lambda p: readers.natural_key(p.name))
            if not files:
                raise InputError(f"{text}: the pattern matches no image files")
            return text, _image_files(files, frame_step)
        raise InputError(f"{text}: no such folder, image, video or file pattern")
    items = list(source)
    if not items:
        raise InputError("a camera's list of calibration frames is empty")
    if all(isinstance(item, (str, Path)) for item in items):
        missing = [str(p) for p in items if not Path(p).is_file()]
        if missing:
            raise InputError(f"{missing[0]}: no such image file")
        return f"{len(items)} image files", _image_files([Path(p) for p in items], frame_step)
    return f"{len(items)} images", _arrays(items, frame_step)
