"""Output layouts: a model's people re-ordered into the part order another tool expects.

Public functions:
    check_layout(name) -> str                 canonical layout name, or InputError
    layout_index(model, layout) -> (index, derived)   where each target part comes from
    to_layout(poses, layout) -> Poses         keypoints in `layout`'s order (`poses.model` = layout)

Layouts (`--output_layout`): "native" (the model's own order, unchanged), and the tables in
`jaxpose.specs.OUTPUT_LAYOUTS`: "BODY_25" (OpenPose's 25 parts: pose-format, Pose2Sim's
`pose_model = 'BODY_25'`), "COCO_17" (COCO keypoint order: pycocotools, MMPose, Pose2Sim's
`'COCO_17'`), "HALPE_26" (Pose2Sim's default `'Body_with_feet'`, AlphaPose, RTMPose).

Rules, applied part by part of the target layout, matched by part NAME (jaxpose.specs tables):
- a part the model has is copied (x, y, score);
- a part the model lacks but can be derived is derived: MidHip (the pelvis) = the midpoint of
  RHip and LHip when both are present (score > 0), with score = the smaller of the two hip scores
  (a derived point is only as sure as its less sure hip); absent when either hip is absent;
- every other part (feet of a COCO-18 model, Head of HALPE_26) is (0, 0, 0), as OpenPose writes
  absent parts.
Person scores, hands and face are kept; heatmaps are dropped (they stay in the network's order).
"""

from __future__ import annotations

import numpy as np

from jaxpose.errors import InputError
from jaxpose.poses import Poses
from jaxpose.specs import OUTPUT_LAYOUTS, get_spec

NATIVE = "native"
LAYOUTS = (NATIVE,) + OUTPUT_LAYOUTS
# Derivable parts: name -> the two parts whose midpoint it is.
DERIVED_MIDPOINTS = {"MidHip": ("RHip", "LHip")}
MISSING = -1


def check_layout(name: str) -> str:
    """The canonical spelling of layout `name` (case-insensitive); InputError naming the choices."""
    for layout in LAYOUTS:
        if layout.lower() == str(name).strip().lower():
            return layout
    raise InputError(f"unknown output layout {name!r}; use one of {', '.join(LAYOUTS)}.")


def layout_index(model: str, layout: str) -> tuple[np.ndarray, dict[int, tuple[int, int]]]:
    """Where each part of `layout` comes from in `model`'s keypoints.

    Returns (index, derived): index (K_layout,) int, the model part copied to each target part,
    or -1; derived {target part: (model part a, model part b)} for midpoint parts.
    """
    source = get_spec(model).part_names
    target = get_spec(check_layout(layout)).part_names
    index = np.full(len(target), MISSING, dtype=int)
    derived: dict[int, tuple[int, int]] = {}
    for k, name in enumerate(target):
        if name in source:
            index[k] = source.index(name)
        elif name in DERIVED_MIDPOINTS and all(p in source for p in DERIVED_MIDPOINTS[name]):
            a, b = DERIVED_MIDPOINTS[name]
            derived[k] = (source.index(a), source.index(b))
    return index, derived


def to_layout(poses: Poses, layout: str) -> Poses:
    """`poses` with its body keypoints in `layout`'s part order (see the module rules).

    keypoints (P, K_model, 3) -> (P, K_layout, 3) float32; `model` becomes the layout's name
    ("BODY_25", "COCO_17", "HALPE_26"); "native" returns `poses` unchanged.
    """
    layout = check_layout(layout)
    if layout == NATIVE or layout == poses.model:
        return poses
    keypoints = np.asarray(poses.keypoints, np.float32)
    index, derived = layout_index(poses.model, layout)
    out = np.zeros((keypoints.shape[0], len(index), 3), np.float32)
    copied = index != MISSING
    out[:, copied] = keypoints[:, index[copied]]
    for k, (a, b) in derived.items():
        first, second = keypoints[:, a], keypoints[:, b]
        both = (first[:, 2] > 0) & (second[:, 2] > 0)
        out[both, k, :2] = (first[both, :2] + second[both, :2]) / np.float32(2)
        out[both, k, 2] = np.minimum(first[both, 2], second[both, 2])
    return poses.replace(keypoints=out, model=layout, heatmaps=None)
