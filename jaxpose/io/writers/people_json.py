"""`--write_json`: OpenPose's per-frame people JSON, byte for byte (features §3.2).

Public functions:
    people_json(poses, *, part_candidates=None, person_ids=None, layout="native",
                keypoints_3d=None) -> str
    write_people_json(directory, frame_name, poses, *, part_candidates=None, person_ids=None,
                      view=0, layout="native", keypoints_3d=None) -> Path
                                             "<dir>/<frame>_keypoints[_<view>].json", atomic

`layout` ("native", "BODY_25", "COCO_17", "HALPE_26") re-orders the body keypoints first
(`jaxpose.io.layout.to_layout`); e.g. "BODY_25" for readers that assume OpenPose's BODY_25 order.

Layout: one line, no spaces, keys `version` (bare number 1.3), `people`, and `part_candidates` only
when given. Each person: `person_id`, then the flat `x,y,c` lists `pose_keypoints_2d`,
`face_keypoints_2d`, `hand_left_keypoints_2d`, `hand_right_keypoints_2d` (empty when that detector
was off), then the four `*_3d` keys: empty, or with `keypoints_3d` (`--3d`) the flat `x,y,z,c`
lists of the arrays given (see `jaxpose.io.writers.people_json_3d` for building them from
`Poses3D`). Numbers are float32 printed with `%.6g`. `person_id` is `Poses.ids` (a tracker's id;
-1, OpenPose's value, when untracked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from jaxpose.errors import InputError
from jaxpose.io.atomic import atomic_write_text
from jaxpose.io.layout import NATIVE, check_layout, to_layout
from jaxpose.io.names import output_path
from jaxpose.io.writers._numbers import cpp_floats
from jaxpose.poses import Poses

JSON_VERSION = "1.3"
KEYPOINT_KEYS_2D = ("pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d",
                    "hand_right_keypoints_2d")
KEYPOINT_KEYS_3D = ("pose_keypoints_3d", "face_keypoints_3d", "hand_left_keypoints_3d",
                    "hand_right_keypoints_3d")


def _keypoint_arrays(poses: Poses) -> tuple[np.ndarray | None, ...]:
    arrays = (poses.keypoints, poses.face, poses.hand_left, poses.hand_right)
    for key, array in zip(KEYPOINT_KEYS_2D, arrays):
        if array is not None and (np.ndim(array) != 3 or np.shape(array)[-1] != 3):
            raise InputError(f"{key}: keypoints must have shape (people, parts, 3), "
                             f"got {np.shape(array)}")
    return arrays


def _candidates_json(part_candidates: Sequence[np.ndarray]) -> str:
    entries = []
    for part, peaks in enumerate(part_candidates):
        peaks = np.asarray(peaks, dtype=np.float32).reshape(-1)
        if peaks.size % 3:
            raise InputError(f"part_candidates[{part}] must be (n, 3) x, y, score rows")
        entries.append(f'"{part}":[{cpp_floats(peaks)}]')
    return "[{" + ",".join(entries) + "}]"


def _keypoint_arrays_3d(keypoints_3d: dict[str, np.ndarray] | None) -> list[np.ndarray | None]:
    keypoints_3d = keypoints_3d or {}
    unknown = set(keypoints_3d) - set(KEYPOINT_KEYS_3D)
    if unknown:
        raise InputError(f"keypoints_3d keys must be among {', '.join(KEYPOINT_KEYS_3D)}; got "
                         f"{sorted(unknown)}")
    arrays = [keypoints_3d.get(key) for key in KEYPOINT_KEYS_3D]
    for key, array in zip(KEYPOINT_KEYS_3D, arrays):
        if array is not None and (np.ndim(array) != 3 or np.shape(array)[-1] != 4):
            raise InputError(f"{key}: 3D keypoints must have shape (people, parts, 4), "
                             f"got {np.shape(array)}")
    return arrays


def people_json(poses: Poses, *, part_candidates: Sequence[np.ndarray] | None = None,
                person_ids: Sequence[int] | None = None, layout: str = NATIVE,
                keypoints_3d: dict[str, np.ndarray] | None = None) -> str:
    """The JSON text OpenPose writes for one frame.

    part_candidates: one (n_i, 3) array of x, y, score peaks per body part (OpenPose's
        `--part_candidates`, in the same `--keypoint_scale` space as the keypoints), or None.
    person_ids: one integer per person (`person_id`); default `poses.ids` (a tracker's ids, -1
        for everyone when untracked, as OpenPose writes).
    layout: body part order written ("native" = the model's; see `jaxpose.io.layout`).
    keypoints_3d: {"pose_keypoints_3d": (P', K, 4), ...} x, y, z, score rows in the people's
        order (`--3d`); a key left out, or a person beyond its rows, is written as [].
    """
    if check_layout(layout) != NATIVE and part_candidates is not None:
        raise InputError("part_candidates are listed per part of the model's own order; "
                         "write them with layout='native'")
    poses = to_layout(poses, layout)
    arrays = _keypoint_arrays(poses)
    arrays_3d = _keypoint_arrays_3d(keypoints_3d)
    num_people = max(int(a.shape[0]) for a in (*arrays, *arrays_3d) if a is not None)
    if person_ids is None and poses.ids is not None:
        person_ids = np.asarray(poses.ids).tolist()
    if person_ids is not None and len(person_ids) < num_people:
        raise InputError(f"person_ids has {len(person_ids)} entries for {num_people} people")
    people = []
    for person in range(num_people):
        pid = -1 if person_ids is None else int(person_ids[person])
        fields = [f'"person_id":[{pid}]']
        for key, array in zip(KEYPOINT_KEYS_2D, arrays):
            values = cpp_floats(array[person]) if array is not None and person < len(array) else ""
            fields.append(f'"{key}":[{values}]')
        for key, array in zip(KEYPOINT_KEYS_3D, arrays_3d):
            values = cpp_floats(array[person]) if array is not None and person < len(array) else ""
            fields.append(f'"{key}":[{values}]')
        people.append("{" + ",".join(fields) + "}")
    text = f'{{"version":{JSON_VERSION},"people":[' + ",".join(people) + "]"
    if part_candidates is not None:
        text += ',"part_candidates":' + _candidates_json(part_candidates)
    return text + "}"


def write_people_json(directory: str | Path, frame_name: str, poses: Poses, *,
                      part_candidates: Sequence[np.ndarray] | None = None,
                      person_ids: Sequence[int] | None = None, view: int = 0,
                      layout: str = NATIVE, keypoints_3d: dict[str, np.ndarray] | None = None) -> Path:
    """Write `<directory>/<frame_name>_keypoints.json` atomically; returns its path."""
    path = output_path(directory, frame_name, "keypoints", "json", view)
    return atomic_write_text(path, people_json(poses, part_candidates=part_candidates,
                                               person_ids=person_ids, layout=layout,
                                               keypoints_3d=keypoints_3d))
