"""3D keypoints of one instant as CSV (ours, not OpenPose's): one row per person and keypoint.

Public functions:
    keypoints3d_csv(poses3d, frame_name, *, header=True) -> str
    write_keypoints3d_csv(directory, frame_name, poses3d) -> Path   "<dir>/<frame>_keypoints_3d.csv"

Columns: frame, person, person_id, set, part_index, part_name, x, y, z, units, score,
reprojection_error. `set` is body, face, hand_left or hand_right; part names come from the model's
spec (`jaxpose.specs`); x, y, z are world coordinates in `units` (the cameras' unit); a keypoint
that was not reconstructed has score 0 and empty x, y, z. `reprojection_error` (pixels) is given
for body keypoints, empty otherwise. Numbers are the shortest text that reads back to the same
float32.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from jaxpose.errors import InputError
from jaxpose.io.atomic import atomic_write_text
from jaxpose.io.names import output_path
from jaxpose.poses3d import Poses3D
from jaxpose.specs import FACE, HAND, SPECS

CSV3D_COLUMNS = ("frame", "person", "person_id", "set", "part_index", "part_name", "x", "y", "z",
                 "units", "score", "reprojection_error")


def _text(value: float) -> str:
    return str(np.float32(value)) if np.isfinite(value) else ""


def keypoints3d_csv(poses3d: Poses3D, frame_name: str, *, header: bool = True) -> str:
    """CSV rows (with a header row unless `header=False`) for every person and 3D keypoint."""
    if poses3d.model not in SPECS:
        raise InputError(f"model {poses3d.model!r} has no part names in jaxpose.specs")
    sets = [("body", poses3d.keypoints, SPECS[poses3d.model].part_names),
            ("face", poses3d.face, FACE.part_names), ("hand_left", poses3d.hand_left, HAND.part_names),
            ("hand_right", poses3d.hand_right, HAND.part_names)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(CSV3D_COLUMNS)
    for set_name, array, names in sets:
        if array is None:
            continue
        if array.shape[1] != len(names):
            raise InputError(f"{set_name} 3D keypoints have {array.shape[1]} parts; "
                             f"{len(names)} expected")
        for person in range(array.shape[0]):
            for part, (x, y, z, score) in enumerate(array[person]):
                present = score > 0
                error = poses3d.reprojection_error[person, part] if set_name == "body" else np.nan
                writer.writerow((frame_name, person, int(poses3d.ids[person]), set_name, part,
                                 names[part], *(_text(v) if present else "" for v in (x, y, z)),
                                 poses3d.units, _text(score), _text(error)))
    return buffer.getvalue()


def write_keypoints3d_csv(directory: str | Path, frame_name: str, poses3d: Poses3D) -> Path:
    """Write `<directory>/<frame_name>_keypoints_3d.csv` atomically; returns its path."""
    path = output_path(directory, frame_name, "keypoints_3d", "csv")
    return atomic_write_text(path, keypoints3d_csv(poses3d, frame_name))
