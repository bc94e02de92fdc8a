"""PoseTrack 2018 results: one JSON file per sequence, for PoseTrack's official evaluation
(`poseval`, MOTA per joint; the PoseTrack21 kit, HOTA). Basis doc §4.1, §4.5 C.

Public functions and classes:
    POSETRACK18_PARTS                        the 17 keypoint names, in file order
    posetrack_index_map(model) -> tuple      the model's part index for each, None when it has none
    posetrack_image_id(sequence, frame) -> int   PoseTrack's 10000000000 + video·10000 + frame
    posetrack_annotations(poses, image_id) -> list[dict]
    posetrack_document(images, annotations) -> dict
    PoseTrackWriter(path, *, sequence=None, image_dir="images/val", image_ext=".jpg",
                    flush_every=100, flush_seconds=10.0)
        .add(frame_name, poses)   .flush()   .close()   (also a context manager)

Layout (as PoseTrack 2018's annotation files, which poseval reads for predictions too):
`{"images": [...], "annotations": [...], "categories": [person]}`.
- images: one per frame added, in order: file_name `<image_dir>/<sequence>/<frame><ext>` (poseval
  takes the sequence from the folder and the frame number from the file name), id and frame_id
  (PoseTrack's id when the sequence name starts with its numeric video id, e.g. `012834_mpii_test`,
  else the frame number), vid_id, nframes.
- annotations: one per tracked person with a present keypoint: image_id, id (image_id · 100 +
  person), track_id (the tracker's id, an integer 0..999 as poseval requires), category_id 1,
  keypoints (17 × x, y, v: v = 1 when present, missing as 0, 0, 0), scores (17 keypoint scores),
  score (person score), bbox (x, y, w, h of the present keypoints, `Poses.boxes`).
- Keypoints by name: nose <- Nose; head_bottom <- Neck (OpenPose's neck stands in for PoseTrack's
  upper neck); head_top <- Head (MPI only); left_ear, right_ear are left 0 (placeholders in
  PoseTrack 2018, ignored by poseval); shoulders ... ankles <- the model's parts of those names.
Every frame of the sequence must be added (poseval compares frame counts with its ground truth).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from jaxpose.errors import InputError
from jaxpose.io.atomic import atomic_write_text
from jaxpose.poses import Poses
from jaxpose.specs import get_spec

POSETRACK18_PARTS = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
# PoseTrack name -> the body-model part that stands for it (None: always written as missing).
_SOURCE_PARTS = {
    "nose": "Nose", "head_bottom": "Neck", "head_top": "Head", "left_ear": None,
    "right_ear": None, "left_shoulder": "LShoulder", "right_shoulder": "RShoulder",
    "left_elbow": "LElbow", "right_elbow": "RElbow", "left_wrist": "LWrist",
    "right_wrist": "RWrist", "left_hip": "LHip", "right_hip": "RHip", "left_knee": "LKnee",
    "right_knee": "RKnee", "left_ankle": "LAnkle", "right_ankle": "RAnkle",
}
POSETRACK18_SKELETON = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
    (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)
MAX_TRACK_ID = 999  # poseval: "values of track_id must be integers from the interval [0, 999]"


def posetrack_index_map(model: str) -> tuple[int | None, ...]:
    """For each PoseTrack keypoint, the index of the model part standing for it, or None."""
    names = get_spec(model).part_names
    return tuple(names.index(_SOURCE_PARTS[p]) if _SOURCE_PARTS[p] in names else None
                 for p in POSETRACK18_PARTS)


def _trailing_number(frame_name: str) -> int:
    match = re.search(r"(\d+)$", frame_name)
    if match is None:
        raise InputError(f"PoseTrack output needs frame names ending in the frame number (e.g. "
                         f"000042); {frame_name!r} does not")
    return int(match.group(1))


def posetrack_image_id(sequence: str, frame: int) -> int:
    """PoseTrack 2018's image id: 10000000000 + video id · 10000 + frame when `sequence` starts
    with the numeric video id (`012834_mpii_test`, frame 0 -> 10128340000), else `frame`."""
    match = re.match(r"(\d+)", sequence)
    return 10_000_000_000 + int(match.group(1)) * 10_000 + frame if match else frame


def posetrack_annotations(poses: Poses, image_id: int) -> list[dict]:
    """PoseTrack annotation dicts of one frame; every person must be tracked (id 0..999)."""
    index = posetrack_index_map(poses.model)
    keypoints = np.asarray(poses.keypoints, np.float32)
    ids = np.asarray(poses.ids).tolist()
    boxes = poses.boxes
    annotations = []
    for person in range(keypoints.shape[0]):
        if not (keypoints[person, :, 2] > 0).any():
            continue
        track_id = ids[person]
        if not 0 <= track_id <= MAX_TRACK_ID:
            raise InputError(
                f"PoseTrack needs every person tracked with an id in 0..{MAX_TRACK_ID}; got "
                f"{track_id}. Run the tracker (--tracking) and write one sequence per file"
                if track_id < 0 else
                f"PoseTrack track ids must lie in 0..{MAX_TRACK_ID}; got {track_id}. Reset the "
                f"tracker per sequence (PoseTrack sequences are short)")
        flat: list[float] = []
        scores: list[float] = []
        for part in index:
            x, y, c = keypoints[person, part].tolist() if part is not None else (0.0, 0.0, 0.0)
            flat.extend((x, y, 1) if c > 0 else (0, 0, 0))
            scores.append(c if c > 0 else 0.0)
        annotations.append({
            "image_id": int(image_id), "id": int(image_id) * 100 + person,
            "track_id": int(track_id), "category_id": 1, "keypoints": flat, "scores": scores,
            "score": float(poses.scores[person]), "bbox": [float(v) for v in boxes[person]],
        })
    return annotations


def posetrack_document(images: list[dict], annotations: list[dict]) -> dict:
    """The whole file: images, annotations, and PoseTrack 2018's person category."""
    category = {"supercategory": "person", "id": 1, "name": "person",
                "keypoints": list(POSETRACK18_PARTS),
                "skeleton": [list(pair) for pair in POSETRACK18_SKELETON]}
    return {"images": images, "annotations": annotations, "categories": [category]}


class PoseTrackWriter:
    """Accumulates one sequence frame by frame; the file on disk is always complete JSON.

        with PoseTrackWriter("out/012834_mpii_test.json") as writer:
            for name, poses in frames:          # every frame, in order; poses tracked
                writer.add(name, poses)
    """

    def __init__(self, path: str | Path, *, sequence: str | None = None,
                 image_dir: str = "images/val", image_ext: str = ".jpg", flush_every: int = 100,
                 flush_seconds: float = 10.0) -> None:
        if flush_every < 1:
            raise InputError(f"flush_every must be >= 1, got {flush_every}")
        self.path = Path(path)
        self.sequence = sequence if sequence is not None else self.path.stem
        self.image_dir = image_dir.rstrip("/")
        self.image_ext = image_ext if image_ext.startswith(".") else "." + image_ext
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.images: list[dict] = []
        self.annotations: list[dict] = []
        self._pending = 0
        self.flush()

    def add(self, frame_name: str, poses: Poses) -> None:
        """Record one frame (its number is the frame name's trailing number)."""
        frame = _trailing_number(frame_name)
        image_id = posetrack_image_id(self.sequence, frame)
        annotations = posetrack_annotations(poses, image_id)
        match = re.match(r"(\d+)", self.sequence)
        self.images.append({
            "file_name": f"{self.image_dir}/{self.sequence}/{frame:06d}{self.image_ext}",
            "id": image_id, "frame_id": image_id,
            "vid_id": match.group(1) if match else self.sequence,
        })
        self.annotations.extend(annotations)
        self._pending += 1
        if (self._pending >= self.flush_every
                or time.monotonic() - self._last_flush >= self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        """Rewrite the file atomically with every frame so far."""
        images = [dict(image, nframes=len(self.images)) for image in self.images]
        text = json.dumps(posetrack_document(images, self.annotations), separators=(",", ":"))
        atomic_write_text(self.path, text)
        self._pending = 0
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> "PoseTrackWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
