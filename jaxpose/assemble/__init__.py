"""Host-side people assembly (NumPy): OpenPose's greedy matchers, filtering and output.

`assemble_people` takes one image's fixed-shape device arrays and returns keypoints in image
pixels, exactly as OpenPose orders and scores them (openpose-core §7).
"""

from __future__ import annotations

import numpy as np

from jaxpose.assemble.cpu import assemble_cpu
from jaxpose.assemble.cuda import assemble_cuda
from jaxpose.assemble.filter import keep_people
from jaxpose.assemble.keep_top_n import keep_top_n
from jaxpose.assemble.output import people_to_arrays
from jaxpose.assemble.people import Person
from jaxpose.specs import ModelSpec, Thresholds

__all__ = ["assemble_people", "assemble_cpu", "assemble_cuda", "keep_people", "keep_top_n",
           "people_to_arrays", "Person"]


def assemble_people(
    spec: ModelSpec,
    peaks: np.ndarray,
    counts: np.ndarray,
    scores: np.ndarray,
    thresholds: Thresholds,
    scale: float,
    semantics: str = "cuda",
    maximize_positives: bool = False,
    number_people_max: int = -1,
) -> tuple[np.ndarray, np.ndarray]:
    """One image: peaks (P, M, 3), counts (P,), limb scores (K, M, M) -> keypoints (N, P, 3), scores (N,).

    `scale` is scaleNetToOutput (heatmap pixels -> image pixels). People are in OpenPose's order;
    with `number_people_max > 0` only the most important ones are kept (their scores with them).
    """
    peaks = np.asarray(peaks, np.float32)
    pairs = np.asarray(spec.pairs, np.int64).reshape(-1, 2)
    if semantics == "cuda":
        people = assemble_cuda(peaks, np.asarray(scores), pairs)
    elif semantics == "cpu":
        people = assemble_cpu(peaks, np.asarray(counts), np.asarray(scores), pairs,
                              spec.redundant_pairs)
    else:
        raise ValueError(f"unknown semantics {semantics!r}")
    people = keep_people(people, thresholds.min_subset_cnt, thresholds.min_subset_score,
                         maximize_positives)
    keypoints, person_scores = people_to_arrays(people, peaks, spec.score_normalizer, scale)
    keep = keep_top_n(keypoints, person_scores, number_people_max)
    return keypoints[keep], person_scores[keep]
