"""PAF line-integral score of every candidate connection of every limb (openpose-core §7.2).

`score_connections` returns a (N, K, M, M) table: entry (k, i, j) scores candidate i of part A_k
against candidate j of part B_k. Entries with no connection (and padding rows) hold OpenPose's
"no connection" value: -1 for the CUDA build, 0 for the CPU build. A pair is a candidate connection
iff its score is > 1e-6.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax.numpy as jnp
import numpy as np

MAX_SAMPLES = 25


class ScoreThresholds(NamedTuple):
    """float32 scalars (may be traced): nms_threshold, inter_threshold, inter_min_above_threshold."""

    nms_threshold: jnp.ndarray
    inter_threshold: jnp.ndarray
    inter_min_above_threshold: jnp.ndarray


def no_connection_value(semantics: str) -> float:
    return {"cuda": -1.0, "cpu": 0.0}[semantics]


def score_connections(
    pafs: jnp.ndarray,
    peaks: jnp.ndarray,
    counts: jnp.ndarray,
    pairs: tuple[tuple[int, int], ...],
    paf_channels: tuple[tuple[int, int], ...],
    thresholds: ScoreThresholds,
    semantics: str = "cuda",
) -> jnp.ndarray:
    """Limb scores (N, K, M, M) float32.

    pafs: (N, C, Ht, Wt) merged maps (any channels; PAF x/y of pair k are `paf_channels[k]`).
    peaks: (N, P, M, 3) from `find_peaks`; counts: (N, P).
    """
    chex.assert_rank([pafs, peaks, counts], [4, 4, 2])
    n, _, ht, wt = pafs.shape
    m = peaks.shape[2]
    a_idx = np.array([a for a, _ in pairs], np.int32)
    b_idx = np.array([b for _, b in pairs], np.int32)
    cx_idx = np.array([c for c, _ in paf_channels], np.int32)
    cy_idx = np.array([c for _, c in paf_channels], np.int32)
    flat = pafs.astype(jnp.float32).reshape(n, -1, ht * wt)
    paf_x, paf_y = flat[:, cx_idx], flat[:, cy_idx]  # (N, K, Ht*Wt)

    pa, pb = peaks[:, a_idx], peaks[:, b_idx]  # (N, K, M, 3)
    ax, ay = pa[..., 0][..., :, None], pa[..., 1][..., :, None]  # (N, K, M, 1)
    dx = pb[..., 0][..., None, :] - ax  # (N, K, M, M)
    dy = pb[..., 1][..., None, :] - ay
    longest = jnp.maximum(jnp.abs(dx), jnp.abs(dy))
    samples = jnp.clip((jnp.sqrt(5.0 * longest) + 0.5).astype(jnp.int32), 5, MAX_SAMPLES)
    norm = jnp.sqrt(dx * dx + dy * dy)
    safe = jnp.where(norm > 1e-6, norm, 1.0)
    ux, uy = dx / safe, dy / safe
    ns = samples.astype(jnp.float32)
    step_x, step_y = dx / ns, dy / ns

    lm = jnp.arange(MAX_SAMPLES, dtype=jnp.float32)
    sx = ((ax[..., None] + lm * step_x[..., None]) + 0.5).astype(jnp.int32)  # (N, K, M, M, S)
    sy = ((ay[..., None] + lm * step_y[..., None]) + 0.5).astype(jnp.int32)
    sx = jnp.clip(sx, 0, wt - 1)
    sy = jnp.clip(sy, 0, ht - 1)
    where = (sy * wt + sx).reshape(n, len(pairs), -1)
    vx = jnp.take_along_axis(paf_x, where, axis=2).reshape(sx.shape)
    vy = jnp.take_along_axis(paf_y, where, axis=2).reshape(sx.shape)
    v = ux[..., None] * vx + uy[..., None] * vy
    counted = (v > thresholds.inter_threshold) & (jnp.arange(MAX_SAMPLES) < samples[..., None])
    total = jnp.sum(jnp.where(counted, v, 0.0), axis=-1)
    cnt = jnp.sum(counted, axis=-1, dtype=jnp.int32)

    none = jnp.float32(no_connection_value(semantics))
    close = np.float32(np.sqrt(float(wt * ht)) / 150.0)
    fallback = (thresholds.nms_threshold.astype(jnp.float32) + jnp.float32(1e-6))
    score = jnp.where(
        cnt.astype(jnp.float32) / ns > thresholds.inter_min_above_threshold,
        total / jnp.maximum(cnt, 1).astype(jnp.float32),
        jnp.where(norm < close, fallback, none),
    )
    score = jnp.where(norm > 1e-6, score, none)
    valid_a = jnp.arange(m)[None, None, :] < counts[:, a_idx][..., None]  # (N, K, M)
    valid_b = jnp.arange(m)[None, None, :] < counts[:, b_idx][..., None]
    return jnp.where(valid_a[..., :, None] & valid_b[..., None, :], score, none)
