"""Heatmap/PAF upsampling x8 and the multi-scale merge (openpose-core §4.3, §4.4).

Separable 4-tap cubic interpolation, x first then y:

* `"cuda"`: Catmull-Rom (a = -0.5), source `xs = (x + 0.5) / sx - 0.5`, taps
  `x1 = clamp(floor(xs), 0, w-1)`, `x0 = max(0, x1-1)`, `x2 = min(w-1, x1+1)`, `x3 = min(w-1, x2+1)`,
  `t = xs - x1` (negative at the left/top border: OpenPose's extrapolation quirk).
* `"cpu"`: `cv2.resize(..., INTER_CUBIC)` (Keys, A = -0.75), half-pixel mapping, replicated borders.

`upsample_merge` returns channel-first maps (N, C, Ht, Wt) for any scales. The body pipeline's
fast route (one scale, static taps) uses `upsample_rows`, the same interpolation with the x pass
as one matrix product (vectorized and materialized once by XLA:CPU; the elementwise x pass was
recomputed, unvectorized, in every consumer) in row-major layout (Ht, N, C, Wt), and
`sample_taps`, the value at chosen pixels straight from the source taps (PAF samples).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def cuda_taps(n_out: int, n_in: int, factor, xp=jnp):
    """(n_out, 4) int32 source taps and (n_out, 4) float32 Catmull-Rom weights.

    `factor` (float32 scalar) is output pixels per source pixel (8 for scale 0); with `xp=np` the
    taps are computed on the host (static), with `xp=jnp` the factor may be traced.
    """
    f32 = xp.float32
    xs = (xp.arange(n_out, dtype=f32) + f32(0.5)) / f32(factor) - f32(0.5)
    x1 = xp.clip(xp.floor(xs).astype(xp.int32), 0, n_in - 1)
    x0 = xp.maximum(0, x1 - 1)
    x2 = xp.minimum(n_in - 1, x1 + 1)
    x3 = xp.minimum(n_in - 1, x2 + 1)
    t = (xs - x1.astype(f32)).astype(f32)
    t2, t3 = t * t, t * t * t
    w = xp.stack([
        f32(-0.5) * t3 + t2 - f32(0.5) * t,
        f32(1.5) * t3 - f32(2.5) * t2 + f32(1.0),
        f32(-1.5) * t3 + f32(2.0) * t2 + f32(0.5) * t,
        f32(0.5) * t3 - f32(0.5) * t2,
    ], axis=1).astype(f32)
    return xp.stack([x0, x1, x2, x3], axis=1).astype(xp.int32), w


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


def _dense(taps, weights, n_in: int) -> jnp.ndarray:
    """(n_out, 4) taps and weights -> (n_out, n_in) interpolation matrix (repeated taps add up)."""
    hot = jnp.asarray(taps)[:, :, None] == jnp.arange(n_in)[None, None, :]
    return jnp.sum(jnp.where(hot, jnp.asarray(weights, jnp.float32)[:, :, None], 0.0), axis=1)


def _resample_dense(maps: jnp.ndarray, y_taps, y_w, x_taps, x_w) -> jnp.ndarray:
    """(N, C, h, w) -> (N, C, Ht, Wt) with two interpolation-matrix products (any ratio, traced)."""
    h, w = maps.shape[-2:]
    hi = jax.lax.Precision.HIGHEST  # full float32 (no TF32 on GPUs)
    across = jnp.einsum("nchw,Xw->nchX", maps, _dense(x_taps, x_w, w), precision=hi)
    return jnp.einsum("nchX,Yh->ncYX", across, _dense(y_taps, y_w, h), precision=hi)


BAND = 5  # at an integer factor every output row reads source rows k-2 .. k+2 of its block k


def _band_weights(taps: np.ndarray, weights: np.ndarray, n_in: int, factor: int) -> np.ndarray:
    """Host: (n_in, factor, BAND) weights of source row k-2+d for output row factor*k+j."""
    band = np.zeros((n_in, factor, BAND), np.float32)
    for out_row in range(taps.shape[0]):
        k, j = divmod(out_row, factor)
        for t in range(4):
            d = int(taps[out_row, t]) - k + 2
            if not 0 <= d < BAND:
                raise ValueError("tap outside the band")  # cannot happen for factor >= 2
            band[k, j, d] += weights[out_row, t]
    return band


def _upsample_axis(x: jnp.ndarray, band: np.ndarray, axis: int) -> jnp.ndarray:
    """Integer-factor upsampling of `x` along `axis` (-1 or -2) with static band weights.

    Five shifted slices and multiply-adds per output: no gathers, no dense matrices, and no
    transposes (along the rows the phases are laid out as (n_in, factor, W) and merged by a reshape).
    """
    n_in, factor, _ = band.shape
    if axis == -1:
        xp = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(2, 2)])
        out = sum(xp[..., d:d + n_in, None] * band[:, :, d] for d in range(BAND))  # (..., n_in, f)
        return out.reshape(x.shape[:-1] + (n_in * factor,))
    if axis == -2:
        xp = jnp.pad(x, [(0, 0)] * (x.ndim - 2) + [(2, 2), (0, 0)])
        out = sum(xp[..., d:d + n_in, None, :] * band[:, :, d, None] for d in range(BAND))
        return out.reshape(x.shape[:-2] + (n_in * factor, x.shape[-1]))  # (..., n_in * f, W)
    raise ValueError(f"axis must be -1 or -2, got {axis}")


def upsample_merge(
    outputs: Sequence[jnp.ndarray],
    target_hw: tuple[int, int],
    ratios: jnp.ndarray,
    semantics: str = "cuda",
) -> jnp.ndarray:
    """Upsample each scale's net output to `target_hw` and average the scales (§4.3 / §4.4).

    outputs: per scale (N, hi, wi, C), scale 0 first. ratios: (n,) float32 `r_i / r_0`.
    Returns (N, C, Ht, Wt) float32 (channel-first: NMS and PAF sampling read whole planes).
    Scale 0 (and every CPU-semantics scale) has static taps; when the target is an exact integer
    multiple of the map it runs on the banded path, otherwise on the dense one.
    """
    if semantics not in ("cuda", "cpu"):
        raise ValueError(f"unknown semantics {semantics!r}")
    ht, wt = target_hw
    h0, w0 = outputs[0].shape[1:3]
    merged = None
    for i, out in enumerate(outputs):
        maps = jnp.moveaxis(out.astype(jnp.float32), 3, 1)
        h, w = maps.shape[-2:]
        if semantics == "cpu":
            (y_taps, y_w), (x_taps, x_w) = opencv_taps(ht, h), opencv_taps(wt, w)
        elif i == 0:
            y_taps, y_w = cuda_taps(ht, h, np.float32(ht) / np.float32(h0), xp=np)
            x_taps, x_w = cuda_taps(wt, w, np.float32(wt) / np.float32(w0), xp=np)
        else:
            sy = jnp.float32(ht) / jnp.float32(h0) / ratios[i]
            sx = jnp.float32(wt) / jnp.float32(w0) / ratios[i]
            up = _resample_dense(maps, *cuda_taps(ht, h, sy), *cuda_taps(wt, w, sx))
            merged = merged + up
            continue
        if ht % h == 0 and wt % w == 0 and ht // h >= 2 and wt // w >= 2:
            up = _upsample_axis(maps, _band_weights(x_taps, x_w, w, wt // w), -1)
            up = _upsample_axis(up, _band_weights(y_taps, y_w, h, ht // h), -2)
        else:
            up = _resample_dense(maps, y_taps, y_w, x_taps, x_w)
        merged = up if merged is None else merged + up
    return merged if len(outputs) == 1 else merged / jnp.float32(len(outputs))



class StaticTaps(NamedTuple):
    """Host tables of one scale with static taps: (Ht, 4) rows and (Wt, 4) columns, int32 source
    indices and float32 weights, as `cuda_taps` / `opencv_taps` give them."""

    y_taps: np.ndarray
    y_weights: np.ndarray
    x_taps: np.ndarray
    x_weights: np.ndarray

    @property
    def target_hw(self) -> tuple[int, int]:
        return self.y_taps.shape[0], self.x_taps.shape[0]


def static_taps(target_hw: tuple[int, int], map_hw: tuple[int, int], semantics: str) -> StaticTaps:
    """Host: the taps of scale 0 (any ratio), or of any scale with CPU semantics."""
    (ht, wt), (h, w) = target_hw, map_hw
    if semantics == "cpu":
        return StaticTaps(*opencv_taps(ht, h), *opencv_taps(wt, w))
    if semantics == "cuda":
        return StaticTaps(*cuda_taps(ht, h, np.float32(ht) / np.float32(h), xp=np),
                          *cuda_taps(wt, w, np.float32(wt) / np.float32(w), xp=np))
    raise ValueError(f"unknown semantics {semantics!r}")


def upsample_rows(maps: jnp.ndarray, taps: StaticTaps) -> jnp.ndarray:
    """(N, h, w, C) -> (Ht, N, C, Wt): the upsampled maps (`upsample_merge` of one scale) in
    row-major layout. Needs an integer factor Ht / h >= 2.

    x: one matrix product with the (w, Wt) interpolation matrix (materialized once, vectorized);
    y: the banded sum over five source rows, left to XLA to fuse into the consumer.
    """
    n, h, w, c = maps.shape
    ht, wt = taps.target_hw
    if ht % h or ht // h < 2:
        raise ValueError(f"upsample_rows needs an integer factor >= 2, got {h} -> {ht} rows")
    x_matrix = np.zeros((w, wt), np.float32)
    np.add.at(x_matrix, (taps.x_taps, np.broadcast_to(np.arange(wt)[:, None], taps.x_taps.shape)),
              taps.x_weights)
    band = _band_weights(taps.y_taps, taps.y_weights, h, ht // h)  # (h, f, BAND)
    pad = BAND // 2
    rows = jnp.pad(jnp.moveaxis(maps.astype(jnp.float32), 1, 0), [(pad, pad), (0, 0), (0, 0), (0, 0)])
    xp = jnp.einsum("hnwc,wX->hncX", rows, x_matrix, precision=jax.lax.Precision.HIGHEST)
    up = sum(xp[d:d + h, None] * band[:, :, d, None, None, None] for d in range(BAND))
    return up.reshape((ht, n, c, wt))


def sample_taps(maps: jnp.ndarray, taps: StaticTaps, frame: jnp.ndarray, channel: jnp.ndarray,
                y: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """Upsampled values at integer target pixels, straight from the source maps (N, h, w, C).

    frame, channel, y, x: broadcastable int32 indices (y, x target pixels in range). Each value
    is the separable 4 x 4 tap sum (x first, then y), without building the upsampled maps.
    """
    n, h, w, c = maps.shape
    flat = jnp.moveaxis(maps.astype(jnp.float32), 3, 1).reshape(-1)  # (N, C, h, w)
    ty, wy = jnp.asarray(taps.y_taps)[y], jnp.asarray(taps.y_weights)[y]  # (..., 4)
    tx, wx = jnp.asarray(taps.x_taps)[x], jnp.asarray(taps.x_weights)[x]
    rows = ((frame * c + channel) * h)[..., None] + ty  # (..., 4)
    patch = flat[rows[..., :, None] * w + tx[..., None, :]]  # (..., 4, 4): [y tap, x tap]
    out = None
    for i in range(4):  # unrolled multiply-adds: one elementwise fusion, no small reductions
        row = patch[..., i, 0] * wx[..., 0]
        for j in range(1, 4):
            row = row + patch[..., i, j] * wx[..., j]
        out = row * wy[..., i] if out is None else out + row * wy[..., i]
    return out
