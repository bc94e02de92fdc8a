"""Heatmap/PAF upsampling x8 and the multi-scale merge (openpose-core §4.3, §4.4).

Separable 4-tap cubic interpolation, x first then y, as gathers (no dense matrices):

* `"cuda"`: Catmull-Rom (a = -0.5), source `xs = (x + 0.5) / sx - 0.5`, taps
  `x1 = clamp(floor(xs), 0, w-1)`, `x0 = max(0, x1-1)`, `x2 = min(w-1, x1+1)`, `x3 = min(w-1, x2+1)`,
  `t = xs - x1` (negative at the left/top border: OpenPose's extrapolation quirk).
* `"cpu"`: `cv2.resize(..., INTER_CUBIC)` (Keys, A = -0.75), half-pixel mapping, replicated borders.
"""

from __future__ import annotations

from typing import Sequence

import chex
import jax.numpy as jnp
import numpy as np


def cuda_taps(n_out: int, n_in: int, factor: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(n_out, 4) int32 source taps and (n_out, 4) float32 Catmull-Rom weights.

    `factor` (float32 scalar, may be traced) is output pixels per source pixel (8 for scale 0).
    """
    xs = (jnp.arange(n_out, dtype=jnp.float32) + 0.5) / factor - 0.5
    x1 = jnp.clip(jnp.floor(xs).astype(jnp.int32), 0, n_in - 1)
    x0 = jnp.maximum(0, x1 - 1)
    x2 = jnp.minimum(n_in - 1, x1 + 1)
    x3 = jnp.minimum(n_in - 1, x2 + 1)
    t = xs - x1.astype(jnp.float32)
    t2, t3 = t * t, t * t * t
    w = jnp.stack([
        -0.5 * t3 + t2 - 0.5 * t,
        1.5 * t3 - 2.5 * t2 + 1.0,
        -1.5 * t3 + 2.0 * t2 + 0.5 * t,
        0.5 * t3 - 0.5 * t2,
    ], axis=1)
    return jnp.stack([x0, x1, x2, x3], axis=1), w


def opencv_taps(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Host: `cv2.resize` INTER_CUBIC taps (replicated borders) and float32 Keys weights."""
    fx = ((np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5)
    sx = np.floor(fx).astype(np.int64)
    f = (fx - sx).astype(np.float32)
    a = np.float32(-0.75)
    one = np.float32(1)
    x1 = f + one
    c0 = ((a * x1 - np.float32(5) * a) * x1 + np.float32(8) * a) * x1 - np.float32(4) * a
    c1 = ((a + np.float32(2)) * f - (a + np.float32(3))) * f * f + one
    g = one - f
    c2 = ((a + np.float32(2)) * g - (a + np.float32(3))) * g * g + one
    c3 = one - c0 - c1 - c2
    taps = np.clip(sx[:, None] + np.arange(-1, 3)[None, :], 0, n_in - 1).astype(np.int32)
    return taps, np.stack([c0, c1, c2, c3], axis=1).astype(np.float32)


def resample(maps: jnp.ndarray, y_taps, y_w, x_taps, x_w) -> jnp.ndarray:
    """(N, h, w, C) -> (N, Ht, Wt, C): 4-tap along x on every source row, then along y."""
    chex.assert_rank(maps, 4)
    maps = maps.astype(jnp.float32)
    across = sum(x_w[None, None, :, t, None] * maps[:, :, x_taps[:, t]] for t in range(4))
    return sum(y_w[None, :, t, None, None] * across[:, y_taps[:, t]] for t in range(4))


def upsample_merge(
    outputs: Sequence[jnp.ndarray],
    target_hw: tuple[int, int],
    ratios: jnp.ndarray,
    semantics: str = "cuda",
) -> jnp.ndarray:
    """Upsample each scale's net output to `target_hw` and average the scales (§4.3 / §4.4).

    outputs: per scale (N, hi, wi, C), scale 0 first. ratios: (n,) float32 `r_i / r_0`.
    Returns (N, Ht, Wt, C) float32.
    """
    ht, wt = target_hw
    h0, w0 = outputs[0].shape[1:3]
    merged = None
    for i, out in enumerate(outputs):
        h, w = out.shape[1:3]
        if semantics == "cuda":
            sx = jnp.float32(wt) / jnp.float32(w0) / ratios[i]
            sy = jnp.float32(ht) / jnp.float32(h0) / ratios[i]
            y_taps, y_w = cuda_taps(ht, h, sy)
            x_taps, x_w = cuda_taps(wt, w, sx)
        elif semantics == "cpu":
            y_taps, y_w = opencv_taps(ht, h)
            x_taps, x_w = opencv_taps(wt, w)
        else:
            raise ValueError(f"unknown semantics {semantics!r}")
        up = resample(out, y_taps, y_w, x_taps, x_w)
        merged = up if merged is None else merged + up
    return merged if len(outputs) == 1 else merged / jnp.float32(len(outputs))
