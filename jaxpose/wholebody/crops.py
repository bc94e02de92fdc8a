"""Hand/face crops, network, up-sampling and one peak per part (features doc §1.5, §1.6, §2.4).

The crop of a square box (x0, y0, L, L) into an N x N net input is OpenCV's
`warpAffine(image, A, (N, N), INTER_LINEAR | WARP_INVERSE_MAP, BORDER_CONSTANT 0)` with the
crop -> image map A:

    right hand, face:  x = s u + x0,        y = s v + y0
    left hand:         x = -s u + (x0 + L), y = s v + y0      (mirrored: the net sees a right hand)

with s = L / N. The host computes A (float64, like OpenPose) and OpenCV's fixed-point sample
positions (1/32 pixel, `sample_grid`); the device gathers and interpolates with OpenCV's integer
weights, so the crop equals OpenCV's bit for bit. The device part is one jitted function per
network: crops -> net -> bicubic x8 -> per-part global arg-max (u, v, score) in crop pixels; the host
maps (u, v) back to image pixels with A (`peaks_to_image`).
"""

from __future__ import annotations

from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxpose.device.resize import upsample_merge

# OpenCV's warpAffine fixed point (imgwarp.cpp): AB_BITS = 10, INTER_BITS = 5.
_AB_SCALE = 1 << 10
_INTER_BITS = 5
_INTER_TAB = 1 << _INTER_BITS
_ROUND_DELTA = _AB_SCALE // _INTER_TAB // 2

ApplyFn = Callable[[Any, jax.Array], jax.Array]


def crop_affines(rects: np.ndarray, mirrored: np.ndarray, net_side: int, *, face: bool) -> np.ndarray:
    """(M, 4) boxes x, y, w, h and (M,) mirror flags -> (M, 4) float64 maps (a00, a02, a11, a12).

    The crop pixel (u, v) comes from image pixel (a00 u + a02, a11 v + a12). Precision as OpenPose:
    the hand scale is float32 w / N; the face scale is float64 max(w, h) / N (face crops are never
    mirrored).
    """
    rects = np.asarray(rects, np.float32).reshape(-1, 4)
    mirrored = np.asarray(mirrored, bool).reshape(-1)
    x, y, w, h = (rects[:, i] for i in range(4))
    if face:
        scale = np.maximum(w, h).astype(np.float64) / float(net_side)
    else:
        scale = (w / np.float32(net_side)).astype(np.float64)
    a00 = np.where(mirrored, -scale, scale)
    a02 = np.where(mirrored, (x + w).astype(np.float64), x.astype(np.float64))
    return np.stack([a00, a02, scale, y.astype(np.float64)], axis=-1)


def sample_grid(affines: np.ndarray, net_side: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's source positions of every crop column / row, in 1/32 pixel: (M, N) int32 each.

    warpAffine computes X(u) = (round(a02 * 1024) + 16 + round(a00 u 1024)) >> 5 and
    Y(v) = (round((a11 v + a12) * 1024) + 16) >> 5 (round half to even, arithmetic shift).
    """
    affines = np.asarray(affines, np.float64).reshape(-1, 4)
    steps = np.arange(net_side, dtype=np.float64)
    a00, a02, a11, a12 = (affines[:, i : i + 1] for i in range(4))
    xq = (np.round(a02 * _AB_SCALE).astype(np.int64) + _ROUND_DELTA
          + np.round(a00 * steps * _AB_SCALE).astype(np.int64)) >> (10 - _INTER_BITS)
    yq = (np.round((a11 * steps + a12) * _AB_SCALE).astype(np.int64) + _ROUND_DELTA) >> (10 - _INTER_BITS)
    limit = np.iinfo(np.int32).max // 2
    return np.clip(xq, -limit, limit).astype(np.int32), np.clip(yq, -limit, limit).astype(np.int32)


def peaks_to_image(peaks: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """(M, J, 3) crop peaks (u, v, score) -> (M, J, 3) image pixels (x, y, score), float32.

    x = a00 u + a02, y = a11 v + a12 in float64, then float32, as OpenPose's `connectKeypoints`.
    """
    peaks = np.asarray(peaks, np.float32)
    affines = np.asarray(affines, np.float64)
    a00, a02, a11, a12 = (affines[:, None, i] for i in range(4))
    x = a00 * peaks[..., 0].astype(np.float64) + a02
    y = a11 * peaks[..., 1].astype(np.float64) + a12
    return np.stack([x, y, peaks[..., 2]], axis=-1).astype(np.float32)


def warp_crops(image: jax.Array, xq: jax.Array, yq: jax.Array) -> jax.Array:
    """Bilinear crops with a black border: (H, W, 3) uint8, (M, N) x2 int32 -> (M, N, N, 3) float32.

    Values are integers 0..255, equal to OpenCV's uint8 result: weights (32 - k, k) per axis for
    the 1/32 fraction k, sum rounded as (acc + 512) >> 10. Samples outside the image read 0.
    """
    chex.assert_rank(image, 3)
    chex.assert_equal_shape([xq, yq])
    height, width = image.shape[:2]
    x0, kx = xq >> _INTER_BITS, (xq & (_INTER_TAB - 1))
    y0, ky = yq >> _INTER_BITS, (yq & (_INTER_TAB - 1))
    pixels = image.astype(jnp.int32)

    def tap(ys: jax.Array, xs: jax.Array) -> jax.Array:
        inside = ((ys >= 0) & (ys < height))[:, :, None] & ((xs >= 0) & (xs < width))[:, None, :]
        values = pixels[jnp.clip(ys, 0, height - 1)[:, :, None], jnp.clip(xs, 0, width - 1)[:, None, :]]
        return jnp.where(inside[..., None], values, 0)

    wx0, wx1 = (_INTER_TAB - kx)[:, None, :, None], kx[:, None, :, None]
    wy0, wy1 = (_INTER_TAB - ky)[:, :, None, None], ky[:, :, None, None]
    acc = (wy0 * (wx0 * tap(y0, x0) + wx1 * tap(y0, x0 + 1))
           + wy1 * (wx0 * tap(y0 + 1, x0) + wx1 * tap(y0 + 1, x0 + 1)))
    return ((acc + (1 << (2 * _INTER_BITS - 1))) >> (2 * _INTER_BITS)).astype(jnp.float32)


def normalize_rgb_crops(crops: jax.Array) -> jax.Array:
    """(M, N, N, 3) RGB 0..255 -> BGR `v / 256 - 0.5` (OpenPose's hand/face net input)."""
    return crops[..., ::-1] / 256.0 - 0.5


def upsample_cubic(maps: jax.Array, out_size: int, semantics: str = "cpu") -> jax.Array:
    """(M, h, w, C) -> (M, C, out, out) channel-first bicubic up-sampling per channel (§1.6).

    The body pipeline's `jaxpose.device.resize.upsample_merge`, one scale: semantics "cpu" is
    OpenCV's INTER_CUBIC (OpenPose CPU build), "cuda" OpenPose's GPU resize kernel.
    """
    chex.assert_rank(maps, 4)
    return upsample_merge([maps], (out_size, out_size), jnp.ones((1,), jnp.float32), semantics=semantics)


def argmax_peaks(maps: jax.Array) -> jax.Array:
    """(M, J, H, W) -> (M, J, 3) float32 (u, v, score): each channel's global maximum.

    Row-major scan, the first maximum wins on ties; the score is the raw map value.
    """
    chex.assert_rank(maps, 4)
    m, parts, n_rows, n_cols = maps.shape
    flat = maps.reshape(m, parts, n_rows * n_cols)
    index = jnp.argmax(flat, axis=-1)
    score = jnp.take_along_axis(flat, index[..., None], axis=-1)[..., 0]
    u = (index % n_cols).astype(jnp.float32)
    v = (index // n_cols).astype(jnp.float32)
    return jnp.stack([u, v, score.astype(jnp.float32)], axis=-1)


def crop_peaks(
    apply_fn: ApplyFn, params: Any, image: jax.Array, xq: jax.Array, yq: jax.Array, num_parts: int,
    semantics: str = "cpu", peak_batch: int = 4, per_crop: bool = False,
) -> jax.Array:
    """Crops -> net -> bicubic to N x N -> (M, num_parts, 3) crop peaks (u, v, score).

    image (H, W, 3) uint8 RGB; xq, yq (M, N) from `sample_grid`. `apply_fn(params, x)` maps
    (M, N, N, 3) normalized BGR to (M, N/8, N/8, C >= num_parts); channels past `num_parts`
    (background) are ignored. `semantics`: "cpu" / "cuda" up-sampling (`upsample_cubic`).
    Up-sampling and arg-max run `peak_batch` crops at a time to bound memory (a 368 x 368 x 70 map
    is 38 MB).

    per_crop: run the whole chain one crop after the other (`lax.map`; on CPU the network of one
    crop stays in the caches); otherwise all M crops go through at once.
    """
    if per_crop:
        return jax.lax.map(lambda xy: crop_peaks(apply_fn, params, image, xy[0][None], xy[1][None],
                                                 num_parts, semantics)[0], (xq, yq))
    net_side = xq.shape[1]
    crops = normalize_rgb_crops(warp_crops(image, xq, yq))
    out = apply_fn(params, crops)[..., :num_parts].astype(jnp.float32)
    chex.assert_rank(out, 4)

    def peaks_of(one: jax.Array) -> jax.Array:
        return argmax_peaks(upsample_cubic(one[None], net_side, semantics))[0]

    return jax.lax.map(peaks_of, out, batch_size=min(peak_batch, out.shape[0]))


def make_crop_peaks_fn(apply_fn: ApplyFn, num_parts: int, semantics: str = "cpu",
                       per_crop: bool = False) -> Callable[..., jax.Array]:
    """Jitted `fn(params, image (H, W, 3) uint8, xq, yq (M, N) int32) -> (M, num_parts, 3)`.

    per_crop: one crop after the other (`crop_peaks`).
    Compiles once per (H, W, M, N).
    """

    def fn(params: Any, image: jax.Array, xq: jax.Array, yq: jax.Array) -> jax.Array:
        return crop_peaks(apply_fn, params, image, xq, yq, num_parts, semantics, per_crop=per_crop)

    return jax.jit(fn)
