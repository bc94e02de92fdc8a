"""Per-keypoint OKS sigmas by part name: how far (relative to the person's size) a keypoint may
stray and still count as the same point (COCO's object keypoint similarity).

Sources (published constants):
- COCO keypoints (cocoapi `COCOeval.computeOks`): nose .026, eyes .025, ears .035, shoulders .079,
  elbows .072, wrists .062, hips .107, knees .087, ankles .089.
- CrowdPose (its `cocoeval`): head .079, neck .079 (lightweight-openpose uses .079 for OpenPose's
  COCO-18 neck too).
- COCO-WholeBody (`myeval_wholebody.py`) feet: left big toe .068, left small toe .066, left heel
  .066, right big toe .092, right small toe .094, right heel .094.
Stated choices where no dataset publishes a value: BODY_25's MidHip takes the hips' .107, MPI's
Chest takes the neck's .079.
"""

from __future__ import annotations

import numpy as np

from jaxpose.specs.base import ModelSpec

PART_SIGMAS: dict[str, float] = {
    "Nose": 0.026, "LEye": 0.025, "REye": 0.025, "LEar": 0.035, "REar": 0.035,
    "LShoulder": 0.079, "RShoulder": 0.079, "LElbow": 0.072, "RElbow": 0.072,
    "LWrist": 0.062, "RWrist": 0.062, "LHip": 0.107, "RHip": 0.107, "LKnee": 0.087,
    "RKnee": 0.087, "LAnkle": 0.089, "RAnkle": 0.089,
    "Neck": 0.079, "Head": 0.079,
    "LBigToe": 0.068, "LSmallToe": 0.066, "LHeel": 0.066, "RBigToe": 0.092,
    "RSmallToe": 0.094, "RHeel": 0.094,
    "MidHip": 0.107, "Chest": 0.079,
}


def part_sigmas(spec: ModelSpec) -> np.ndarray:
    """(K,) float64 OKS sigma of each of `spec`'s parts, in the table's order.

    Raises KeyError naming the part when a model has a part without a sigma (hands, face).
    """
    missing = [name for name in spec.part_names if name not in PART_SIGMAS]
    if missing:
        raise KeyError(f"no OKS sigma for part {missing[0]!r} of model {spec.name}")
    return np.array([PART_SIGMAS[name] for name in spec.part_names], np.float64)
