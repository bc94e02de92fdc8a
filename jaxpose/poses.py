"""`Poses`: what the pipeline returns for one image. Host-side NumPy arrays, image pixels."""

from __future__ import annotations

import dataclasses

import numpy as np


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

    @property
    def num_people(self) -> int:
        return int(self.keypoints.shape[0])

    def replace(self, **changes) -> "Poses":
        return dataclasses.replace(self, **changes)
