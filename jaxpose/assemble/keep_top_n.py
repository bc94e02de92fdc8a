"""`--number_people_max`: keep the N most important people (openpose-core §7.8)."""

from __future__ import annotations

import numpy as np

AREA_THRESHOLD = np.float32(0.05)


def person_areas(keypoints: np.ndarray) -> np.ndarray:
    """(N, P, 3) -> (N,) float32 bounding-box areas of the parts with score > 0.05."""
    areas = np.zeros(keypoints.shape[0], np.float32)
    for n, person in enumerate(keypoints):
        found = person[person[:, 2] > AREA_THRESHOLD]
        if len(found):
            w = found[:, 0].max() - found[:, 0].min()
            h = found[:, 1].max() - found[:, 1].min()
            areas[n] = np.float32(w) * np.float32(h)
    return areas


def keep_top_n(keypoints: np.ndarray, scores: np.ndarray, number_people_max: int) -> np.ndarray:
    """Indices (in original order) of the people to keep; all of them when N <= 0 or not exceeded.

    importance = score * sqrt(area); keep those above the N-th largest, then the first ones equal
    to it until N are kept.
    """
    count = keypoints.shape[0]
    if number_people_max <= 0 or count <= number_people_max:
        return np.arange(count)
    importance = (scores.astype(np.float32) * np.sqrt(person_areas(keypoints))).astype(np.float32)
    threshold = np.sort(importance)[::-1][number_people_max - 1]
    above = importance > threshold
    room = number_people_max - int(above.sum())
    ties = np.flatnonzero(importance == threshold)[:room]
    keep = above.copy()
    keep[ties] = True
    return np.flatnonzero(keep)
