"""PAF line-integral score of every candidate connection of every limb (openpose-core §7.2).

`score_connections` returns a (N, K, M, M) table: entry (k, i, j) scores candidate i of part A_k
against candidate j of part B_k. Entries with no connection (and padding rows) hold OpenPose's
"no connection" value: -1 for the CUDA build, 0 for the CPU build. A pair is a candidate connection
iff its score is > 1e-6.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import chex
import jax
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


Sampler = Callable[[int, jnp.ndarray, jnp.ndarray, jnp.ndarray, jnp.ndarray], jnp.ndarray]


def full_map_sampler(pafs: jnp.ndarray, paf_channels: tuple[tuple[int, int], ...]) -> Sampler:
    """A `Sampler` reading full maps (N, C, Ht, Wt): PAF x/y of limb k are `paf_channels[k]`."""
    n, _, ht, wt = pafs.shape
    k = len(paf_channels)
    flat = pafs.astype(jnp.float32).reshape(n, -1, ht * wt)
    components = tuple(flat[:, np.array([pair[axis] for pair in paf_channels], np.int32)].reshape(-1)
                       for axis in (0, 1))  # (N * K * Ht * Wt,) each

    def sample(axis, frame, limb, sy, sx):
        return components[axis][((frame * k + limb) * ht + sy) * wt + sx]

    return sample


def score_connections(
    pafs: jnp.ndarray,
    peaks: jnp.ndarray,
    counts: jnp.ndarray,
    pairs: tuple[tuple[int, int], ...],
    paf_channels: tuple[tuple[int, int], ...],
    thresholds: ScoreThresholds,
    semantics: str = "cuda",
    capacities: tuple[int, ...] = (),
) -> jnp.ndarray:
    """Limb scores (N, K, M, M) float32.

    pafs: (N, C, Ht, Wt) merged maps (any channels; PAF x/y of pair k are `paf_channels[k]`).
    peaks: (N, P, M, 3) from `find_peaks`; counts: (N, P). capacities: see `score_with_sampler`.
    """
    chex.assert_rank([pafs, peaks, counts], [4, 4, 2])
    return score_with_sampler(full_map_sampler(pafs, paf_channels), pafs.shape[2:], peaks,
                              counts, pairs, thresholds, semantics, capacities)


def score_with_sampler(
    sample: Sampler,
    heat_hw: tuple[int, int],
    peaks: jnp.ndarray,
    counts: jnp.ndarray,
    pairs: tuple[tuple[int, int], ...],
    thresholds: ScoreThresholds,
    semantics: str = "cuda",
    capacities: tuple[int, ...] = (),
) -> jnp.ndarray:
    """Limb scores (N, K, M, M) with PAF values read by `sample(axis, frame, limb, sy, sx)`.

    `sample` gets axis 0 (x component) or 1 (y component), broadcastable int32 frame and limb
    indices and the integer pixel rows / columns of limb samples (in range), and returns the
    PAF component of that limb there.

    capacities: increasing slot counts. Only the candidate pairs (i < count of A, j < count of
    B) are scored, packed into the smallest capacity that holds every frame's candidates, and
    scattered into the table; when none does (or with no capacities), all M x M pairs of every
    limb are scored. One branch of a `lax.switch` runs; every branch gives the same table.
    """
    a_idx = np.array([a for a, _ in pairs], np.int32)
    b_idx = np.array([b for _, b in pairs], np.int32)
    n, _, m, _ = peaks.shape
    k = len(pairs)
    none = jnp.float32(no_connection_value(semantics))
    count_a, count_b = counts[:, a_idx], counts[:, b_idx]  # (N, K)

    def all_pairs() -> jnp.ndarray:
        pa = peaks[:, a_idx][:, :, :, None, :]  # (N, K, M, 1, 3)
        pb = peaks[:, b_idx][:, :, None, :, :]  # (N, K, 1, M, 3)
        frame = jnp.arange(n).reshape(n, 1, 1, 1)
        limb = jnp.arange(k).reshape(1, k, 1, 1)
        score = _pair_scores(sample, heat_hw, frame, limb, pa, pb, thresholds, none)
        valid_a = jnp.arange(m)[None, None, :] < count_a[..., None]  # (N, K, M)
        valid_b = jnp.arange(m)[None, None, :] < count_b[..., None]
        return jnp.where(valid_a[..., :, None] & valid_b[..., None, :], score, none)

    capacities = tuple(c for c in capacities if 0 < c < k * m * m)
    if not capacities:
        return all_pairs()

    per_limb = count_a * count_b  # (N, K) candidate pairs
    ends = jnp.cumsum(per_limb, axis=1)  # K is small

    def packed(capacity: int) -> jnp.ndarray:
        slot = jnp.arange(capacity, dtype=jnp.int32)  # (Q,)
        limb = jnp.minimum(jnp.sum(ends[:, None, :] <= slot[None, :, None], axis=-1), k - 1)  # (N, Q)
        first = jnp.take_along_axis(ends - per_limb, limb, axis=1)
        width = jnp.maximum(jnp.take_along_axis(count_b, limb, axis=1), 1)
        i, j = (slot - first) // width, (slot - first) % width
        used = slot[None, :] < ends[:, -1:]
        frame = jnp.broadcast_to(jnp.arange(n)[:, None], limb.shape)
        pa = peaks[frame, jnp.asarray(a_idx)[limb], jnp.where(used, i, 0)]  # (N, Q, 3)
        pb = peaks[frame, jnp.asarray(b_idx)[limb], jnp.where(used, j, 0)]
        score = _pair_scores(sample, heat_hw, frame, limb, pa, pb, thresholds, none)
        table = jnp.full((n, k, m, m), none, jnp.float32)
        drop = jnp.where(used, frame, n)  # out of range: dropped
        return table.at[drop, limb, i, j].set(score, mode="drop")

    most = jnp.max(ends[:, -1])
    branch = jnp.sum(most > jnp.asarray(capacities, jnp.int32))  # len(capacities): all pairs
    return jax.lax.switch(branch, [functools.partial(packed, c) for c in capacities] + [all_pairs])


def _pair_scores(sample: Sampler, heat_hw: tuple[int, int], frame: jnp.ndarray, limb: jnp.ndarray,
                 pa: jnp.ndarray, pb: jnp.ndarray, thresholds: ScoreThresholds,
                 none: jnp.ndarray) -> jnp.ndarray:
    """§7.2 for pairs of peaks pa -> pb (..., 3) (x, y, score; broadcastable) of limbs `limb`."""
    ht, wt = heat_hw
    ax, ay = pa[..., 0], pa[..., 1]
    dx = pb[..., 0] - ax
    dy = pb[..., 1] - ay
    longest = jnp.maximum(jnp.abs(dx), jnp.abs(dy))
    samples = jnp.clip((jnp.sqrt(5.0 * longest) + 0.5).astype(jnp.int32), 5, MAX_SAMPLES)
    norm = jnp.sqrt(dx * dx + dy * dy)
    safe = jnp.where(norm > 1e-6, norm, 1.0)
    ux, uy = dx / safe, dy / safe
    ns = samples.astype(jnp.float32)
    step_x, step_y = dx / ns, dy / ns

    lm = jnp.arange(MAX_SAMPLES, dtype=jnp.float32)
    sx = ((ax[..., None] + lm * step_x[..., None]) + 0.5).astype(jnp.int32)  # (..., S)
    sy = ((ay[..., None] + lm * step_y[..., None]) + 0.5).astype(jnp.int32)
    sx = jnp.clip(sx, 0, wt - 1)
    sy = jnp.clip(sy, 0, ht - 1)
    vx = sample(0, frame[..., None], limb[..., None], sy, sx)
    vy = sample(1, frame[..., None], limb[..., None], sy, sx)
    v = ux[..., None] * vx + uy[..., None] * vy
    counted = (v > thresholds.inter_threshold) & (jnp.arange(MAX_SAMPLES) < samples[..., None])
    total = jnp.sum(jnp.where(counted, v, 0.0), axis=-1)
    cnt = jnp.sum(counted, axis=-1, dtype=jnp.int32)

    close = np.float32(np.sqrt(float(wt * ht)) / 150.0)
    fallback = (thresholds.nms_threshold.astype(jnp.float32) + jnp.float32(1e-6))
    score = jnp.where(
        cnt.astype(jnp.float32) / ns > thresholds.inter_min_above_threshold,
        total / jnp.maximum(cnt, 1).astype(jnp.float32),
        jnp.where(norm < close, fallback, none),
    )
    return jnp.where(norm > 1e-6, score, none)
