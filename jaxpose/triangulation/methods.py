"""Triangulation rules for one point seen in V views (pure JAX; `vmap` over points).

Every function takes the projections P (V, 3, 4), the point's image coordinates xy (V, 2) (both
conditioned, `geometry.Conditioned`) and a per-view weight / validity:

    dlt_point       plain DLT over the valid views (the peers' baseline) -> PointEstimate
    openpose_point  features §5.3 steps 3-6: DLT, mean reprojection error, leave-one-out when
                    >= 4 views and error > 0.5 maxErr -> PointEstimate (the keypoint-set gate of
                    step 8 is applied per person by `jaxpose.triangulation.core`)
    hypotheses      the robust rule's view-subset DLTs and their residuals -> Hypotheses
    consensus_costs MSAC costs and inlier sets of the hypotheses at a radius
    fit_inliers     weighted DLT + Gauss-Newton on an inlier set, re-admission -> PointEstimate

Errors are in conditioned units; `core` converts them to pixels.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose.triangulation.geometry import dlt, gauss_newton, linear_point, project, residual_norms


class PointEstimate(NamedTuple):
    """X (3,) conditioned world; used (V,) bool views behind X; error: mean residual over `used`."""

    X: jnp.ndarray
    used: jnp.ndarray
    error: jnp.ndarray


def _mean_residual(P, xy, X, used):
    r = residual_norms(P, xy, X)
    n = jnp.sum(used)
    return jnp.where(n > 0, jnp.sum(jnp.where(used, r, 0.0)) / jnp.maximum(n, 1), jnp.inf)


def dlt_point(P: jnp.ndarray, xy: jnp.ndarray, valid: jnp.ndarray) -> PointEstimate:
    """Plain (unweighted) DLT over the views where `valid` (V,) is true."""
    X = dlt(P, xy, valid.astype(P.dtype))
    return PointEstimate(X, valid, _mean_residual(P, xy, X, valid))


def openpose_point(P: jnp.ndarray, xy: jnp.ndarray, valid: jnp.ndarray,
                   max_error: jnp.ndarray) -> PointEstimate:
    """OpenPose's per-keypoint rule (features §5.3 steps 3, 4 and 6; no Ceres step 7).

    DLT over the valid views and their mean reprojection error e. With >= 4 valid views and
    e > 0.5 max_error, each valid view is left out in turn (view order); a subset replaces the
    current best when its error is below the best so far and below 0.9 e (OpenPose HEAD).
    """
    full = dlt_point(P, xy, valid)
    views = P.shape[0]
    try_loo = (jnp.sum(valid) >= 4) & (full.error > 0.5 * max_error)
    best = full
    for v in range(views):
        subset = valid & (jnp.arange(views) != v)
        cand = dlt_point(P, xy, subset)
        take = try_loo & valid[v] & (cand.error < best.error) & (cand.error < 0.9 * full.error)
        best = PointEstimate(jnp.where(take, cand.X, best.X), jnp.where(take, cand.used, best.used),
                             jnp.where(take, cand.error, best.error))
    return best


def hypothesis_sets(views: int) -> np.ndarray:
    """(H, V) bool view subsets of the robust rule: all views, each view left out (V >= 4), then
    every pair. Order matters only for exact ties (earlier wins)."""
    sets = [np.ones(views, bool)]
    if views >= 4:
        sets += [np.arange(views) != v for v in range(views)]
    for a, b in itertools.combinations(range(views), 2):
        row = np.zeros(views, bool)
        row[[a, b]] = True
        sets.append(row)
    unique = list(dict.fromkeys(tuple(row) for row in sets))
    return np.array(unique, bool)


class Hypotheses(NamedTuple):
    """One point's view-subset hypotheses: X (H, 3), residuals (H, V) (inf for invalid views),
    feasible (H,) bool (>= 2 valid views, finite, in front of its cameras)."""

    X: jnp.ndarray
    residuals: jnp.ndarray
    feasible: jnp.ndarray


def hypotheses(P: jnp.ndarray, xy: jnp.ndarray, weights: jnp.ndarray) -> Hypotheses:
    """Weighted linear triangulation (`linear_point`) of every subset of `hypothesis_sets`
    restricted to the valid views (weights > 0), and its residuals in every valid view."""
    sets = jnp.asarray(hypothesis_sets(P.shape[0]))
    valid = weights > 0

    def one(member):
        member = member & valid
        X = linear_point(P, xy, jnp.where(member, weights, 0.0))
        r = jnp.where(valid, residual_norms(P, xy, X), jnp.inf)
        _, depth = project(P, X)
        ok = ((jnp.sum(member) >= 2) & jnp.all(jnp.where(member, depth > 0, True))
              & jnp.all(jnp.isfinite(X)) & jnp.all(jnp.where(valid, jnp.isfinite(r), True)))
        return X, r, ok

    return Hypotheses(*jax.vmap(one)(sets))


def consensus_costs(hyp: Hypotheses, weights: jnp.ndarray, threshold: jnp.ndarray):
    """MSAC costs (H,) sum_v w_v min(r_v^2, t^2) over the valid views (inf when infeasible) and
    inlier sets (H, V) r_v < t."""
    inliers = hyp.residuals < threshold
    capped = jnp.minimum(hyp.residuals, threshold) ** 2
    costs = jnp.sum(jnp.where(weights > 0, weights * capped, 0.0), axis=-1)
    return jnp.where(hyp.feasible, costs, jnp.inf), inliers & hyp.feasible[:, None]


def fit_inliers(P: jnp.ndarray, xy: jnp.ndarray, weights: jnp.ndarray, inliers: jnp.ndarray,
                readmit: jnp.ndarray, min_views: int, iterations: int = 3) -> PointEstimate:
    """Weighted linear triangulation + Gauss-Newton on `inliers`; then every valid view with residual < `readmit`
    forms the new inlier set (views dropped by the consensus come back when the refined point
    explains them) and the fit is repeated once. Not reconstructed (no `used` view) unless
    >= min_views inliers, finite and in front of them."""
    valid = weights > 0

    def fit(member):
        w = jnp.where(member, weights, 0.0)
        return gauss_newton(P, xy, w, linear_point(P, xy, w), iterations)

    def round_(member, _):
        X = fit(member)
        again = valid & (residual_norms(P, xy, X) < readmit)
        return jnp.where(jnp.sum(again) >= min_views, again, member), (member, X)

    _, (members, fits) = jax.lax.scan(round_, inliers, None, length=2)
    used, X = members[1], fits[1]
    _, depth = project(P, X)
    ok = (jnp.sum(used) >= min_views) & jnp.all(jnp.isfinite(X)) & jnp.all(
        jnp.where(used, depth > 0, True))
    used = used & ok
    return PointEstimate(X, used, jnp.where(ok, _mean_residual(P, xy, X, used), jnp.inf))
