"""People -> keypoint arrays in image pixels (openpose-core §7.6, §5, §8.1)."""

from __future__ import annotations

import numpy as np

from jaxpose.assemble.people import EMPTY, Person


def people_to_arrays(
    people: list[Person], peaks: np.ndarray, score_normalizer: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """(N, P, 3) float32 keypoints (x, y scaled by `scale`, missing parts 0) and (N,) scores.

    peaks (P, M, 3) are heatmap-pixel peaks with nmsOffset included; `scale` is scaleNetToOutput,
    so x_image = (cx + 0.5/s) * s (§8.1). Scores are person.score / (P + K).
    """
    num_parts = peaks.shape[0]
    keypoints = np.zeros((len(people), num_parts, 3), np.float32)
    s = np.float32(scale)
    for n, person in enumerate(people):
        for part, cand in enumerate(person.slots):
            if cand != EMPTY:
                x, y, score = peaks[part, cand]
                keypoints[n, part] = (np.float32(x) * s, np.float32(y) * s, score)
    scores = np.array([p.score / np.float32(score_normalizer) for p in people], np.float32)
    return keypoints, scores
