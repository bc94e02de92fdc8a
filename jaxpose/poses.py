"""`Poses`: what the pipeline returns for one image. Host-side NumPy arrays, image pixels."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

UNTRACKED = -1  # `Poses.ids` of a person no tracker has named


def keypoint_boxes(keypoints: np.ndarray) -> np.ndarray:
    """Tight boxes around each person's present keypoints: (P, K, 3) -> (P, 4) x, y, w, h.

    Rule (as rtmlib / MMPose derive boxes from keypoints, without padding): the min and max of x
    and y over the keypoints whose score is > 0 (OpenPose writes absent parts as (0, 0, 0)). A
    person with no present keypoint gets (0, 0, 0, 0); one present keypoint gives w = h = 0.
    """
    keypoints = np.asarray(keypoints, np.float32)
    boxes = np.zeros((keypoints.shape[0], 4), np.float32)
    if keypoints.size == 0:
        return boxes
    present = keypoints[..., 2] > 0
    xy = keypoints[..., :2]
    big = np.float32(np.inf)
    lo = np.where(present[..., None], xy, big).min(axis=1)
    hi = np.where(present[..., None], xy, -big).max(axis=1)
    anyone = present.any(axis=1)
    boxes[anyone, :2] = lo[anyone]
    boxes[anyone, 2:] = hi[anyone] - lo[anyone]
    return boxes


@dataclasses.dataclass(frozen=True)
class Poses:
    """People found in one image, in OpenPose's order and layout.

    keypoints:  (P, K, 3) float32, x, y, score in input-image pixels; missing parts are (0, 0, 0).
    scores:     (P,) float32, person score = summed score / (parts + pairs), as OpenPose.
    model:      name of the body model (a key of `jaxpose.specs.SPECS`).
    image_size: (W, H) of the input image, pixels.
    net_input_size: (w, h) of the scale-0 net input = heatmap resolution, pixels.
    scale_net_to_output: OpenPose's `scaleNetToOutput` (heatmap pixels -> image pixels).
    hand_left, hand_right: (P, 21, 3) or None when hands were not requested.
    hand_rects: (P, 2, 4) x, y, w, h of the [left, right] hand boxes, or None.
    face:       (P, 70, 3) or None when the face was not requested.
    face_rects: (P, 4) x, y, w, h, or None.
    heatmaps:   (Ht, Wt, C) float32 merged net output at heatmap resolution (parts, background,
                PAFs in network order), or None unless requested.
    ids:        (P,) int64 person ids from a tracker; -1 (`UNTRACKED`) when untracked.

    `boxes` (P, 4) x, y, w, h are derived from the body keypoints (`keypoint_boxes`). A `Poses`
    unpacks like rtmlib's result: `keypoints, scores = poses`.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    model: str
    image_size: tuple[int, int]
    net_input_size: tuple[int, int]
    scale_net_to_output: float
    hand_left: np.ndarray | None = None
    hand_right: np.ndarray | None = None
    hand_rects: np.ndarray | None = None
    face: np.ndarray | None = None
    face_rects: np.ndarray | None = None
    heatmaps: np.ndarray | None = None
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.ids is None:
            object.__setattr__(self, "ids", np.full(self.num_people, UNTRACKED, np.int64))

    @property
    def num_people(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def boxes(self) -> np.ndarray:
        """(P, 4) float32 x, y, w, h around each person's present body keypoints (image pixels)."""
        return keypoint_boxes(self.keypoints)

    def __iter__(self) -> Iterator[np.ndarray]:
        """`keypoints, scores = poses` (rtmlib's convention)."""
        return iter((self.keypoints, self.scores))

    def replace(self, **changes) -> "Poses":
        return dataclasses.replace(self, **changes)
