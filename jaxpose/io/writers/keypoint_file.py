"""`--write_keypoint <dir>` with `--write_keypoint_format` yml/yaml/xml/json (features §3.4), plus csv.

Public functions:
    keypoint_sets(poses) -> dict[str, ndarray]     {"pose", "face", "hand_left", "hand_right"} present
    keypoint_file_text(array, set_name, fmt) -> str   one OpenCV FileStorage document
    keypoints_csv(poses, frame_name, *, header=True) -> str
    write_keypoint_files(directory, frame_name, poses, fmt="yml", layout="native") -> list[Path]

yml/yaml/xml/json are written by OpenCV's own `cv2.FileStorage`, as OpenPose does: one file per
set, `<frame>_pose.<fmt>` (and `_face`, `_hand_left`, `_hand_right` when those were detected),
holding one matrix node `<set>_0` with rows = people, cols = parts, type 3-channel float (x, y,
score); an empty matrix when nobody was found.

csv (ours, not OpenPose's): one file `<frame>_keypoints.csv` with a header row and one row per person
and keypoint of every set: frame, person, person_id, set, part_index, part_name, x, y, score;
`person` is the index in the frame, `person_id` the tracker's id (`Poses.ids`, -1 untracked), `set`
is body, face, hand_left or hand_right. Numbers are the shortest text that reads back to the same
float32.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import cv2
import numpy as np

from jaxpose.errors import InputError
from jaxpose.io.atomic import atomic_write_text
from jaxpose.io.layout import to_layout
from jaxpose.io.names import output_path
from jaxpose.poses import Poses
from jaxpose.specs import FACE, HAND, get_spec

FILESTORAGE_FORMATS = ("yml", "yaml", "xml", "json")
KEYPOINT_FORMATS = FILESTORAGE_FORMATS + ("csv",)
CSV_COLUMNS = ("frame", "person", "person_id", "set", "part_index", "part_name", "x", "y", "score")
_CSV_SET_NAMES = {"pose": "body", "face": "face", "hand_left": "hand_left", "hand_right": "hand_right"}


def keypoint_sets(poses: Poses) -> dict[str, np.ndarray]:
    """The keypoint arrays OpenPose saves, by file tag, in its order; absent detectors are left out."""
    sets = {"pose": poses.keypoints, "face": poses.face, "hand_left": poses.hand_left,
            "hand_right": poses.hand_right}
    out = {}
    for name, array in sets.items():
        if array is None:
            continue
        array = np.asarray(array, dtype=np.float32)
        if array.ndim != 3 or array.shape[-1] != 3:
            raise InputError(f"{name} keypoints must have shape (people, parts, 3), got {array.shape}")
        out[name] = array
    return out


def _check_format(fmt: str, allowed: tuple[str, ...]) -> str:
    fmt = fmt.lower().lstrip(".")
    if fmt not in allowed:
        raise InputError(f"--write_keypoint_format {fmt!r} is not supported; use one of "
                         f"{', '.join(allowed)}")
    return fmt


def keypoint_file_text(array: np.ndarray, set_name: str, fmt: str = "yml") -> str:
    """One FileStorage document holding `array` (people, parts, 3) as matrix node `<set_name>_0`."""
    fmt = _check_format(fmt, FILESTORAGE_FORMATS)
    array = np.ascontiguousarray(array, dtype=np.float32)
    storage = cv2.FileStorage(f"keypoints.{fmt}",
                              cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_MEMORY)
    storage.write(f"{set_name}_0", array if array.shape[0] else np.zeros((0, 0, 3), np.float32))
    return storage.releaseAndGetString()


def _part_names(poses: Poses) -> dict[str, tuple[str, ...]]:
    return {"pose": get_spec(poses.model).part_names, "face": FACE.part_names,
            "hand_left": HAND.part_names, "hand_right": HAND.part_names}


def keypoints_csv(poses: Poses, frame_name: str, *, header: bool = True) -> str:
    """CSV rows (with a header row unless `header=False`) for every person and keypoint of a frame."""
    names = _part_names(poses)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    ids = np.asarray(poses.ids).tolist()
    for set_name, array in keypoint_sets(poses).items():
        part_names = names[set_name]
        if array.shape[1] != len(part_names):
            raise InputError(f"{set_name} keypoints have {array.shape[1]} parts; model "
                             f"{poses.model} expects {len(part_names)}")
        if array.shape[0] != len(ids):
            raise InputError(f"{set_name} keypoints have {array.shape[0]} people but there are "
                             f"{len(ids)} person ids")
        for person in range(array.shape[0]):
            for part, (x, y, score) in enumerate(array[person]):
                writer.writerow((frame_name, person, ids[person], _CSV_SET_NAMES[set_name], part,
                                 part_names[part], str(x), str(y), str(score)))
    return buffer.getvalue()


def write_keypoint_files(directory: str | Path, frame_name: str, poses: Poses,
                         fmt: str = "yml", layout: str = "native") -> list[Path]:
    """Write one frame's keypoint file(s) atomically; returns the paths written.

    layout: body part order written ("native", "BODY_25", "COCO_17", "HALPE_26";
    `jaxpose.io.layout.to_layout`).
    """
    fmt = _check_format(fmt, KEYPOINT_FORMATS)
    poses = to_layout(poses, layout)
    if fmt == "csv":
        path = output_path(directory, frame_name, "keypoints", "csv")
        return [atomic_write_text(path, keypoints_csv(poses, frame_name))]
    return [atomic_write_text(output_path(directory, frame_name, name, fmt),
                              keypoint_file_text(array, name, fmt))
            for name, array in keypoint_sets(poses).items()]
