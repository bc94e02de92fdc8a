"""Batched triangulation of people: the jitted core behind `jaxpose.triangulate`.

    triangulate_conditioned(P, xy, pixels, scores, image_sizes, pixel_scale, *, method, ...)
        -> Triangulated            one compile per (method, options, V, B, K)

Inputs are one instant's (or many instants') people already in correspondence across views:
P (V, 3, 4) conditioned projections (`geometry.Conditioned`), xy (V, B, K, 2) conditioned
undistorted points, pixels (V, B, K, 2) the detected (distorted) pixels, scores (V, B, K) with 0 for
missing keypoints, image_sizes (V, 2) (W, H) pixels. B is people (x frames), K keypoints; every
(person, keypoint) is solved independently (`vmap`) except for the person-level steps:

    "dlt"       views with score > score_threshold, unweighted DLT; >= min_views views.
    "openpose"  features §5.3: valid view = score > 0.35 and inside an 8-pixel border; min views
                (default max(2, min(4, V - 1))); DLT; leave-one-out; then per person (step 8)
                keep a keypoint iff finite, error < 5 x the person's mean error and < maxErr,
                maxErr = 25 sqrt(W0 H0 / 1310720) pixels (float division, view 0's size).
    "robust"    ours, per person:
                1. hypotheses: weighted DLT (weights = 2D scores) of every view subset of
                   `methods.hypothesis_sets` (all views, each view left out, every pair);
                2. noise: MSAC consensus with the radius tau0 = 0.5 maxErr; tau = noise_factor x
                   the median residual of the person's keypoints seen by >= 3 inlier views,
                   clipped to [min_threshold, maxErr] (tau0 without such keypoints);
                3. consensus at tau: each hypothesis costs sum_v w_v min(r_v^2, tau^2); a keypoint
                   whose winner has >= 3 inliers is "confident";
                4. body prior for disputed keypoints (a 2-view winner): among the hypotheses with
                   >= 2 inliers, the lowest (cost - best) / tau^2 + body_weight x gap, where gap =
                   distance to the nearest confident keypoint of the person / the person's
                   median nearest-neighbour spacing; a disputed keypoint seen by >= 3 views whose
                   choice lies more than `implausible` spacings off the body is dropped;
                5. fit: weighted DLT + Gauss-Newton on the chosen inliers, views within
                   readmit x tau re-admitted, fitted again; >= min_views views, finite, in front.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxpose.triangulation.methods import (
    consensus_costs, dlt_point, fit_inliers, hypotheses, openpose_point,
)

METHODS = ("robust", "openpose", "dlt")
OPENPOSE_SCORE_THRESHOLD = 0.35  # features §5.3 step 1
OPENPOSE_BORDER = 8  # pixels, features §5.3 step 1


class Triangulated(NamedTuple):
    """points (B, K, 3) conditioned world; kept (B, K) bool; used (B, K, V) bool views behind each
    point; error (B, K) mean reprojection error over `used` in pixels (inf when not kept);
    score (B, K) (0 when not kept); threshold (B,) the robust inlier radius in pixels (0 otherwise)."""

    points: jnp.ndarray
    kept: jnp.ndarray
    used: jnp.ndarray
    error: jnp.ndarray
    score: jnp.ndarray
    threshold: jnp.ndarray


def openpose_max_error(image_size: jnp.ndarray) -> jnp.ndarray:
    """OpenPose's acceptable reprojection error, pixels: 25 sqrt(W H / 1310720) (float division)."""
    size = jnp.asarray(image_size, dtype=float)  # float64 under x64 (the exact rules), else float32
    return 25.0 * jnp.sqrt(size[0] * size[1] / 1310720.0)


def default_min_views(method: str, views: int) -> int:
    """OpenPose: max(2, min(4, V - 1)); dlt and robust: 2."""
    return max(2, min(4, views - 1)) if method == "openpose" else 2


def _per_point(fn, *arrays):
    """vmap `fn` over the leading (B, K) axes of every array -> outputs (B, K, ...)."""
    return jax.vmap(jax.vmap(fn))(*arrays)


def _views_last(a: jnp.ndarray) -> jnp.ndarray:
    """(V, B, K, ...) -> (B, K, V, ...)."""
    return jnp.moveaxis(a, 0, 2)


def _openpose(P, xy, pixels, scores, image_sizes, pixel_scale, min_views):
    sizes = jnp.asarray(image_sizes, dtype=pixels.dtype)
    inside = ((pixels[..., 0] > OPENPOSE_BORDER) & (pixels[..., 0] < sizes[..., 0] - OPENPOSE_BORDER)
              & (pixels[..., 1] > OPENPOSE_BORDER) & (pixels[..., 1] < sizes[..., 1] - OPENPOSE_BORDER))
    valid = (scores > OPENPOSE_SCORE_THRESHOLD) & inside
    max_error = openpose_max_error(image_sizes[0]) * pixel_scale
    est = _per_point(lambda x, v: openpose_point(P, x, v, max_error), xy, valid)
    enough = jnp.sum(valid, axis=-1) >= min_views  # (B, K)
    error = jnp.where(enough, est.error, 0.0)
    mean_error = jnp.sum(error, axis=1) / jnp.maximum(jnp.sum(enough, axis=1), 1)  # (B,)
    kept = (enough & jnp.all(jnp.isfinite(est.X), axis=-1) & (est.error < 5 * mean_error[:, None])
            & (est.error < max_error))
    score = kept.astype(jnp.float32)
    return est.X, kept, est.used & kept[..., None], est.error, score, jnp.zeros(kept.shape[0])


def _dlt(P, xy, scores, min_views, score_threshold):
    valid = scores > score_threshold
    est = _per_point(lambda x, v: dlt_point(P, x, v), xy, valid)
    n = jnp.sum(est.used, axis=-1)
    kept = (n >= min_views) & jnp.all(jnp.isfinite(est.X), axis=-1)
    score = jnp.sum(jnp.where(est.used, scores, 0.0), axis=-1) / jnp.maximum(n, 1)
    return est.X, kept, est.used & kept[..., None], est.error, jnp.where(kept, score, 0.0), \
        jnp.zeros(kept.shape[0])


def _take(array: jnp.ndarray, index: jnp.ndarray) -> jnp.ndarray:
    """array (B, K, H, ...) at hypothesis index (B, K) -> (B, K, ...)."""
    index = index.reshape(index.shape + (1,) * (array.ndim - 2))
    return jnp.take_along_axis(array, index, axis=2)[:, :, 0]


def _noise_threshold(residuals, inliers, fallback, noise_factor, lowest, highest):
    """Per person: noise_factor x the median residual of its keypoints with >= 3 inlier views
    (B, K, V) -> (B,), `fallback` for a person without such keypoints; clipped to [lowest, highest]."""
    solid = inliers & (jnp.sum(inliers, axis=-1, keepdims=True) >= 3)
    samples = jnp.where(solid, residuals, jnp.nan).reshape(residuals.shape[0], -1)
    median = jnp.nanmedian(samples, axis=-1)
    tau = jnp.where(jnp.any(solid.reshape(solid.shape[0], -1), axis=-1), noise_factor * median,
                    fallback)
    return jnp.clip(tau, lowest, highest)


def _body_distances(candidates, anchors, anchored):
    """Distance of each candidate point to the nearest anchor of the same person, in units of the
    person's typical anchor spacing (median nearest-anchor distance between anchors).

    candidates (B, K, H, 3), anchors (B, K, 3), anchored (B, K) -> (B, K, H), and (B,) whether the
    person has >= 3 anchors (else distances are 0)."""
    keypoints = anchors.shape[1]
    other = anchored[:, None, :] & ~jnp.eye(keypoints, dtype=bool)[None]  # (B, K, K) j != k
    spacing = jnp.linalg.norm(anchors[:, :, None] - anchors[:, None], axis=-1)
    nearest = jnp.min(jnp.where(other, spacing, jnp.inf), axis=-1)  # (B, K)
    scale = jnp.nanmedian(jnp.where(anchored & jnp.isfinite(nearest), nearest, jnp.nan), axis=-1)
    enough = (jnp.sum(anchored, axis=-1) >= 3) & (scale > 0)
    gaps = jnp.linalg.norm(candidates[:, :, :, None] - anchors[:, None, None], axis=-1)  # B,K,H,K
    gaps = jnp.min(jnp.where(other[:, :, None], gaps, jnp.inf), axis=-1)
    gaps = gaps / jnp.where(enough, scale, 1.0)[:, None, None]
    return jnp.where(enough[:, None, None], gaps, 0.0), enough


def _robust(P, xy, scores, image_sizes, pixel_scale, min_views, score_threshold, noise_factor,
            min_threshold, body_weight, implausible, readmit):
    weights = jnp.where(scores > score_threshold, scores, 0.0)
    hyp = _per_point(lambda x, w: hypotheses(P, x, w), xy, weights)  # (B, K, H, ...)
    consensus = jax.vmap(jax.vmap(consensus_costs, in_axes=(0, 0, None)), in_axes=(0, 0, 0))
    max_error = openpose_max_error(image_sizes[0]) * pixel_scale
    # pass 1: measure each person's noise with a generous radius
    tau0 = jnp.full(weights.shape[0], 0.5 * max_error)
    costs, inliers = consensus(hyp, weights, tau0)
    best = jnp.argmin(costs, axis=-1)
    tau = _noise_threshold(_take(hyp.residuals, best), _take(inliers, best), tau0, noise_factor,
                           min_threshold * pixel_scale, max_error)
    # pass 2: consensus at the person's radius
    costs, inliers = consensus(hyp, weights, tau)
    best = jnp.argmin(costs, axis=-1)
    best_inliers = _take(inliers, best)
    confident = (jnp.sum(best_inliers, axis=-1) >= 3) & jnp.isfinite(jnp.min(costs, axis=-1))
    # disputed keypoints (a 2-view winner): prefer the hypothesis that sits on the body
    gaps, has_body = _body_distances(hyp.X, _take(hyp.X, best), confident)
    candidate = (jnp.sum(inliers, axis=-1) >= 2) & jnp.isfinite(costs)
    excess = (costs - jnp.min(costs, axis=-1, keepdims=True)) / (tau ** 2)[:, None, None]
    ranked = jnp.where(candidate, excess + body_weight * gaps, jnp.inf)
    choice = jnp.where(confident | ~has_body[:, None], best, jnp.argmin(ranked, axis=-1))
    chosen = _take(inliers, choice)
    disputed = ~confident & (jnp.sum(weights > 0, axis=-1) >= 3)
    off_body = disputed & has_body[:, None] & (_take(gaps, choice) > implausible)
    readmit_px = jnp.broadcast_to((readmit * tau)[:, None], best.shape)
    est = _per_point(lambda x, w, inl, t: fit_inliers(P, x, w, inl, t, min_views),
                     xy, weights, chosen, readmit_px)
    kept = jnp.any(est.used, axis=-1) & ~off_body
    n = jnp.sum(est.used, axis=-1)
    score = jnp.sum(jnp.where(est.used, weights, 0.0), axis=-1) / jnp.maximum(n, 1)
    return est.X, kept, est.used & kept[..., None], est.error, jnp.where(kept, score, 0.0), \
        tau / pixel_scale


STATIC_ARGUMENTS = ("method", "min_views", "score_threshold", "noise_factor", "min_threshold",
                    "body_weight", "implausible", "readmit")


def triangulate_unjitted(P: jnp.ndarray, xy: jnp.ndarray, pixels: jnp.ndarray,
                            scores: jnp.ndarray, image_sizes: jnp.ndarray, pixel_scale: jnp.ndarray,
                            *, method: str, min_views: int, score_threshold: float = 0.3,
                            noise_factor: float = 4.0, min_threshold: float = 1.0,
                            body_weight: float = 0.5, implausible: float = 3.5,
                            readmit: float = 2.0) -> Triangulated:
    """See the module docstring. Errors and thresholds come back in pixels."""
    xy, pixels, scores = _views_last(xy), _views_last(pixels), _views_last(scores)
    if method == "openpose":
        X, kept, used, error, score, tau = _openpose(P, xy, pixels, scores, image_sizes,
                                                     pixel_scale, min_views)
    elif method == "dlt":
        X, kept, used, error, score, tau = _dlt(P, xy, scores, min_views, score_threshold)
    elif method == "robust":
        X, kept, used, error, score, tau = _robust(P, xy, scores, image_sizes, pixel_scale, min_views,
                                                   score_threshold, noise_factor, min_threshold,
                                                   body_weight, implausible, readmit)
    else:
        raise ValueError(f"unknown method {method!r}")
    error = jnp.where(kept, error / pixel_scale, jnp.inf)
    return Triangulated(X, kept, used, error, score, tau)


triangulate_conditioned = jax.jit(triangulate_unjitted, static_argnames=STATIC_ARGUMENTS)
