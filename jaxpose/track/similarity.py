"""Pairwise similarity of people given as keypoint arrays, in 2D or 3D (basis doc §4.5).

Public functions (all pure NumPy; `points` are (N, K, D) coordinates, `present` (N, K) bool):
    point_boxes(points, present) -> (N, 2, D)        lo and hi corners of the present keypoints
    box_scale(boxes) -> (N,)                         OKS scale s²: area (2D) / largest face (3D)
    box_iou(boxes_a, boxes_b) -> (Na, Nb)            intersection over union of axis-aligned boxes
    oks(points_a, present_a, points_b, present_b, sigmas, scale, min_common=1) -> (Na, Nb)

OKS (COCO's object keypoint similarity): for two people and the keypoints present in both,
`exp(-d² / (2 s² k²))` with `k = 2 σ` per part and `s²` the scale, averaged over those keypoints.
With `min_common > 1` the sum is divided by max(common, min_common), so that a match resting on one
or two keypoints cannot score high. The box rule is `jaxpose.poses.keypoint_boxes`'s: min and max
of the present keypoints, no padding.
"""

from __future__ import annotations

import numpy as np

_TINY = 1e-9


def point_boxes(points: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(N, 2, D) box corners [lo, hi] of each person's present keypoints; zeros when none."""
    points = np.asarray(points, np.float64)
    present = np.asarray(present, bool)
    mask = present[..., None]
    lo = np.where(mask, points, np.inf).min(axis=1, initial=np.inf)
    hi = np.where(mask, points, -np.inf).max(axis=1, initial=-np.inf)
    anyone = present.any(axis=1)[:, None]
    return np.stack([np.where(anyone, lo, 0.0), np.where(anyone, hi, 0.0)], axis=1)


def box_scale(boxes: np.ndarray) -> np.ndarray:
    """(N,) OKS scale s² of boxes (N, 2, D): w·h in 2D; in 3D the product of the two largest
    extents (the box's largest face), which is w·h again for a flat skeleton."""
    extent = np.sort(boxes[:, 1] - boxes[:, 0], axis=-1)
    return extent[:, -1] * extent[:, -2]


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(Na, Nb) IoU of axis-aligned boxes (N, 2, D) in any dimension; 0 when a union is empty."""
    lo = np.maximum(boxes_a[:, None, 0], boxes_b[None, :, 0])
    hi = np.minimum(boxes_a[:, None, 1], boxes_b[None, :, 1])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=-1)
    vol_a = np.prod(boxes_a[:, 1] - boxes_a[:, 0], axis=-1)
    vol_b = np.prod(boxes_b[:, 1] - boxes_b[:, 0], axis=-1)
    union = vol_a[:, None] + vol_b[None, :] - inter
    return np.where(union > _TINY, inter / np.maximum(union, _TINY), 0.0)


def oks(points_a: np.ndarray, present_a: np.ndarray, points_b: np.ndarray,
        present_b: np.ndarray, sigmas: np.ndarray, scale: np.ndarray,
        min_common: int = 1) -> np.ndarray:
    """(Na, Nb) object keypoint similarity over the keypoints present in both people.

    sigmas: (K,) per-part σ; scale: (Na, Nb) s² for each pair (e.g. an area, image units²).
    A pair with no common keypoint scores 0.
    """
    a = np.asarray(points_a, np.float64)
    b = np.asarray(points_b, np.float64)
    # |a - b|² per keypoint without the (Na, Nb, K, D) difference array
    d2 = (np.einsum("akd,akd->ak", a, a)[:, None] + np.einsum("bkd,bkd->bk", b, b)[None]
          - 2.0 * np.einsum("akd,bkd->abk", a, b))
    common = np.asarray(present_a, bool)[:, None] & np.asarray(present_b, bool)[None]
    k2 = (2.0 * np.asarray(sigmas, np.float64)) ** 2
    e = np.maximum(d2, 0.0) / (2.0 * np.maximum(scale, _TINY)[..., None] * k2)
    similarity = np.exp(-e, out=np.zeros_like(e), where=common)
    count = common.sum(axis=-1)
    return similarity.sum(axis=-1) / np.maximum(count, max(1, int(min_common)))
