"""`--write_json` with `--3d`: the `*_keypoints_3d` fields of OpenPose's people JSON (features §3.2, §5.3).

Public functions:
    view_keypoints_3d(poses3d, view, num_people) -> (keypoints_3d dict, person_ids list)
    people_json_3d(poses, poses3d, *, view=0, part_candidates=None) -> str
    write_people_json_3d(directory, frame_name, poses, poses3d, *, view=0,
                         part_candidates=None) -> Path     "<dir>/<frame>_keypoints[_<view>].json"

OpenPose attaches the same 3D arrays to every view of an instant and writes them, per person, as
flat `x0,y0,z0,c0,...` lists (`pose_keypoints_3d`, and `face_keypoints_3d`,
`hand_left_keypoints_3d`, `hand_right_keypoints_3d` when those were reconstructed), next to the 2D
lists. It reconstructs person 0 only; we reconstruct everyone, so each view's file pairs its 2D
people with their 3D people (`Poses3D.detections`):

- the view's 2D people keep their order; each gets the 3D arrays of the 3D person it was
  associated with, or full-length zeros (not reconstructed) when it has none;
- 3D people not detected in this view follow, with empty 2D lists;
- `person_id` is the 3D person's id (`Poses3D.ids`, -1 untracked), -1 for 2D-only people.

For one person seen in every view this is exactly OpenPose's file. Without `poses3d` use
`people_json` (the 3D lists stay empty, byte for byte as before).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from jaxpose.errors import InputError
from jaxpose.io.atomic import atomic_write_text
from jaxpose.io.names import output_path
from jaxpose.io.writers.people_json import KEYPOINT_KEYS_3D, people_json
from jaxpose.poses import Poses
from jaxpose.poses3d import Poses3D

_SETS_3D = dict(zip(KEYPOINT_KEYS_3D, ("keypoints", "face", "hand_left", "hand_right")))


def view_keypoints_3d(poses3d: Poses3D, view: int,
                      num_people: int) -> tuple[dict[str, np.ndarray], list[int]]:
    """3D rows aligned with the `num_people` 2D people of `view`, then the 3D people unseen there.

    Returns ({"pose_keypoints_3d": (P', K, 4), ...} for the sets present, person ids (P',))."""
    if poses3d.detections is None:
        raise InputError("Poses3D.detections is needed to pair 3D people with a view's 2D people; "
                         "build the Poses3D with jaxpose.triangulation.reconstruct")
    detections = np.asarray(poses3d.detections)
    if detections.ndim != 2 or not 0 <= view < detections.shape[1]:
        raise InputError(f"view {view} is not one of the {detections.shape[-1]} views of poses3d")
    column = detections[:, view]
    if np.any(column >= num_people):
        raise InputError(f"poses3d refers to detection {int(column.max())} of view {view}, which has "
                         f"{num_people} people; pass the Poses this Poses3D was built from")
    unseen = np.flatnonzero(column < 0)
    owner = np.full(num_people, -1)
    owner[column[column >= 0]] = np.flatnonzero(column >= 0)
    rows = np.concatenate([owner, unseen])
    arrays = {}
    for key, name in _SETS_3D.items():
        source = getattr(poses3d, name)
        if source is None:
            continue
        out = np.zeros((len(rows),) + source.shape[1:], np.float32)
        out[rows >= 0] = source[rows[rows >= 0]]
        arrays[key] = out
    ids = [int(poses3d.ids[r]) if r >= 0 else -1 for r in rows]
    return arrays, ids


def people_json_3d(poses: Poses, poses3d: Poses3D, *, view: int = 0,
                   part_candidates: Sequence[np.ndarray] | None = None) -> str:
    """The people JSON of one view of an instant, with its 3D people (see the module docstring)."""
    arrays, ids = view_keypoints_3d(poses3d, view, poses.num_people)
    return people_json(poses, part_candidates=part_candidates, person_ids=ids, keypoints_3d=arrays)


def write_people_json_3d(directory: str | Path, frame_name: str, poses: Poses, poses3d: Poses3D, *,
                         view: int = 0, part_candidates: Sequence[np.ndarray] | None = None) -> Path:
    """Write `<directory>/<frame_name>_keypoints[_<view>].json` atomically; returns its path."""
    path = output_path(directory, frame_name, "keypoints", "json", view)
    return atomic_write_text(path, people_json_3d(poses, poses3d, view=view,
                                                  part_candidates=part_candidates))
