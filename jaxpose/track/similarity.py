"""Pairwise similarity of people given as keypoint arrays, in 2D or 3D (basis doc §4.5).

Public functions (all pure NumPy; `points` are (N, K, D) coordinates, `present` (N, K) bool):
    point_boxes(points, present) -> (N, 2, D)        lo and hi corners of the present keypoints
    box_scale(boxes) -> (N,)                         OKS scale s²: area (2D) / largest face (3D)
    box_iou(boxes_a, boxes_b) -> (Na, Nb)            intersection over union of axis-aligned boxes
    oks(points_a, present_a, points_b, present_b, sigmas, scale, min_common=1) -> (Na, Nb)
    paired_oks(points_a, present_a, points_b, present_b, sigmas, scale, min_common=1) -> (P,)
                                                     the same for P given pairs (row i with row i)
    near_pairs(boxes_a, boxes_b, scale, reach=2.0) -> (rows, cols)   pairs worth scoring
    mirror_index(part_names) -> (K,)                 each part's left/right counterpart

OKS (COCO's object keypoint similarity): for two people and the keypoints present in both,
`exp(-d² / (2 s² k²))` with `k = 2 σ` per part and `s²` the scale, averaged over those keypoints.
With `min_common > 1` the sum is divided by max(common, min_common), so that a match resting on one
or two keypoints cannot score high. The box rule is `jaxpose.poses.keypoint_boxes`'s: min and max
of the present keypoints, no padding.
"""

from __future__ import annotations

import numpy as np

_TINY = 1e-9


def mirror_index(part_names: tuple[str, ...]) -> np.ndarray:
    """(K,) index of each part's mirror image: `L<Name>` <-> `R<Name>` (the tables' naming),
    every other part maps to itself."""
    index = list(range(len(part_names)))
    for k, name in enumerate(part_names):
        if len(name) > 1 and name[0] in "LR" and name[1].isupper():
            twin = ("R" if name[0] == "L" else "L") + name[1:]
            if twin in part_names:
                index[k] = part_names.index(twin)
    return np.array(index, np.int64)


def point_boxes(points: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(N, 2, D) box corners [lo, hi] of each person's present keypoints; zeros when none."""
    points = np.asarray(points, np.float64)
    mask = np.asarray(present, bool)[..., None]
    boxes = np.empty((points.shape[0], 2, points.shape[-1]))
    np.where(mask, points, np.inf).min(axis=1, out=boxes[:, 0])
    np.where(mask, points, -np.inf).max(axis=1, out=boxes[:, 1])
    boxes[~np.isfinite(boxes)] = 0.0
    return boxes


def box_scale(boxes: np.ndarray) -> np.ndarray:
    """(N,) OKS scale s² of boxes (N, 2, D): w·h in 2D; in 3D the product of the two largest
    extents (the box's largest face), which is w·h again for a flat skeleton."""
    extent = np.sort(boxes[:, 1] - boxes[:, 0], axis=-1)
    return extent[:, -1] * extent[:, -2]


def _volume(extent: np.ndarray) -> np.ndarray:
    volume = extent[..., 0].copy()
    for axis in range(1, extent.shape[-1]):
        volume *= extent[..., axis]
    return volume


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(Na, Nb) IoU of axis-aligned boxes (N, 2, D) in any dimension; 0 when a union is empty."""
    extent = np.minimum(boxes_a[:, None, 1], boxes_b[None, :, 1])
    extent -= np.maximum(boxes_a[:, None, 0], boxes_b[None, :, 0])
    np.maximum(extent, 0.0, out=extent)
    inter = _volume(extent)
    union = (_volume(boxes_a[:, 1] - boxes_a[:, 0])[:, None]
             + _volume(boxes_b[:, 1] - boxes_b[:, 0])[None, :] - inter)
    iou = inter / np.maximum(union, _TINY)
    iou[union <= _TINY] = 0.0
    return iou


def paired_oks(points_a: np.ndarray, present_a: np.ndarray, points_b: np.ndarray,
               present_b: np.ndarray, sigmas: np.ndarray, scale: np.ndarray,
               min_common: int = 1) -> np.ndarray:
    """(P,) OKS of person a[i] with person b[i] (arrays (P, K, D), (P, K)); scale (P,) s²."""
    diff = np.asarray(points_a, np.float64) - np.asarray(points_b, np.float64)
    d2 = np.einsum("pkd,pkd->pk", diff, diff)
    common = np.asarray(present_a, bool) & np.asarray(present_b, bool)
    inv_k2 = 1.0 / (2.0 * (2.0 * np.asarray(sigmas, np.float64)) ** 2)
    d2 *= (-1.0 / np.maximum(scale, _TINY))[:, None]
    d2 *= inv_k2
    similarity = np.where(common, np.exp(d2), 0.0)
    return similarity.sum(axis=-1) / np.maximum(common.sum(axis=-1), max(1, int(min_common)))


def oks(points_a: np.ndarray, present_a: np.ndarray, points_b: np.ndarray,
        present_b: np.ndarray, sigmas: np.ndarray, scale: np.ndarray,
        min_common: int = 1) -> np.ndarray:
    """(Na, Nb) object keypoint similarity over the keypoints present in both people.

    sigmas: (K,) per-part σ; scale: (Na, Nb) s² for each pair (e.g. an area, image units²).
    A pair with no common keypoint scores 0.
    """
    na, nb = len(points_a), len(points_b)
    rows, cols = np.divmod(np.arange(na * nb), nb)
    a, b = np.asarray(points_a), np.asarray(points_b)
    pa, pb = np.asarray(present_a), np.asarray(present_b)
    values = paired_oks(a[rows], pa[rows], b[cols], pb[cols], sigmas,
                        np.broadcast_to(scale, (na, nb)).ravel(), min_common)
    return values.reshape(na, nb)


def near_pairs(boxes_a: np.ndarray, boxes_b: np.ndarray, scale: np.ndarray,
               reach: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the box pairs whose centres lie within `reach` · s of each other (s² the
    pair's scale). Farther pairs are not worth scoring: their boxes do not overlap and their
    keypoints lie about that far apart too, where even the widest part (hips, k = 0.214) has
    exp(-d² / (2 s² k²)) < exp(-2² / 0.092) ~ 1e-19."""
    centre_a = boxes_a.mean(axis=1)
    centre_b = boxes_b.mean(axis=1)
    gap = centre_a[:, None] - centre_b[None]
    dist2 = np.einsum("abd,abd->ab", gap, gap)
    return np.nonzero(dist2 <= reach * reach * np.maximum(scale, _TINY))
