"""Peak detection (NMS) with 7x7 centroid refinement (openpose-core §6), static shapes.

`find_peaks` returns, per part channel, the first `max_peaks` peaks in raster order (OpenPose keeps
127 = `POSE_MAX_PEOPLE`), their count (capped) and the uncapped total, so the host can tell when a
smaller buffer overflowed.

`find_peaks_rows` is the same for CUDA semantics on maps in row-major layout (H, N, P, W) (the
layout of `resize.upsample_rows`): one pass over the maps counts the peaks of every row; only the
rows that hold one of the first M peaks are tested again to find the columns.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

MAX_PEAKS = 127  # OpenPose's POSE_MAX_PEOPLE
_NEIGHBOURS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


class Peaks(NamedTuple):
    """peaks: (N, P, M, 3) x, y (heatmap pixels, nmsOffset included), score; rows >= count are 0.
    counts: (N, P) int32 number kept (<= M); totals: (N, P) int32 number found (uncapped)."""

    peaks: jnp.ndarray
    counts: jnp.ndarray
    totals: jnp.ndarray


def _shifted(padded: jnp.ndarray, dy: int, dx: int, h: int, w: int) -> jnp.ndarray:
    return padded[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def peak_mask(maps: jnp.ndarray, threshold: jnp.ndarray, semantics: str = "cuda") -> jnp.ndarray:
    """(..., H, W) -> bool (..., H, W): which pixels are peaks (§6.1)."""
    h, w = maps.shape[-2:]
    y = jnp.arange(h)[:, None]
    x = jnp.arange(w)[None, :]
    above = maps > threshold
    pad = [(0, 0)] * (maps.ndim - 2) + [(1, 1), (1, 1)]
    if semantics == "cuda":
        padded = jnp.pad(maps, pad, constant_values=-jnp.inf)
        strict = above
        for dy, dx in _NEIGHBOURS:
            strict = strict & (maps > _shifted(padded, dy, dx, h, w))
        inner = (x >= 1) & (x <= w - 2) & (y >= 1) & (y <= h - 2)
        return strict & inner
    if semantics == "cpu":
        padded = jnp.pad(maps, pad, constant_values=-jnp.inf)
        strict = above
        for dy, dx in _NEIGHBOURS:
            strict = strict & (maps > _shifted(padded, dy, dx, h, w))
        padded_thr = jnp.pad(maps, pad) + 0.0
        padded_thr = jnp.where(_border_of(padded_thr.shape[-2:]), threshold, padded_thr)
        loose = above
        for dy, dx in _NEIGHBOURS:
            loose = loose & (maps >= _shifted(padded_thr, dy, dx, h, w))
        inner = (x >= 2) & (x <= w - 3) & (y >= 2) & (y <= h - 3)
        ring = (x == 1) | (x == w - 2) | (y == 1) | (y == h - 2)
        return jnp.where(inner, strict, ring & loose)
    raise ValueError(f"unknown semantics {semantics!r}")


def _border_of(hw: tuple[int, int]) -> jnp.ndarray:
    y = jnp.arange(hw[0])[:, None]
    x = jnp.arange(hw[1])[None, :]
    return (y == 0) | (y == hw[0] - 1) | (x == 0) | (x == hw[1] - 1)


def _searchsorted_last_axis(sorted_rows: jnp.ndarray, queries: jnp.ndarray) -> jnp.ndarray:
    """Row-wise `searchsorted(side="left")`: (..., L) sorted, (..., Q) -> (..., Q) int32."""
    search = lambda r, q: jnp.searchsorted(r, q, side="left", method="scan")
    for _ in range(sorted_rows.ndim - 1):
        search = jax.vmap(search)
    return search(sorted_rows, queries).astype(jnp.int32)


def _first_in_raster_order(mask: jnp.ndarray, max_peaks: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(..., H, W) bool -> (..., M) flat indices of the first M true entries, and their total.

    Two binary searches instead of a scatter over the whole map: the running count of peaks per
    row finds the row of the r-th peak, the running count within that row finds its column.
    Unused slots hold index 0.
    """
    h, w = mask.shape[-2:]
    per_row = jnp.cumsum(jnp.sum(mask, axis=-1, dtype=jnp.int32), axis=-1)  # (..., H)
    total = per_row[..., -1]
    ranks = jnp.broadcast_to(jnp.arange(1, max_peaks + 1, dtype=jnp.int32),
                             per_row.shape[:-1] + (max_peaks,))
    rows = jnp.minimum(_searchsorted_last_axis(per_row, ranks), h - 1)  # (..., M)
    before = jnp.where(rows > 0, jnp.take_along_axis(per_row, jnp.maximum(rows - 1, 0), -1), 0)
    row_masks = jnp.take_along_axis(mask, rows[..., None], axis=-2)  # (..., M, W)
    within = jnp.cumsum(row_masks, axis=-1, dtype=jnp.int32)
    cols = _searchsorted_last_axis(within, (ranks - before)[..., None])[..., 0]
    found = ranks <= total[..., None]
    return jnp.where(found, rows * w + jnp.minimum(cols, w - 1), 0), total


def _window(py: jnp.ndarray, px: jnp.ndarray, h: int, w: int):
    """7x7 pixel window around each (py, px): rows, columns (..., 7, 7) clipped, and inside mask."""
    d = jnp.arange(-3, 4, dtype=jnp.int32)
    ys = py[..., None, None] + d[:, None]
    xs = px[..., None, None] + d[None, :]
    inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    return ys, xs, inside


def _centroid(v: jnp.ndarray, ys: jnp.ndarray, xs: jnp.ndarray, inside: jnp.ndarray):
    """Weighted centroid of the positive values `v` (..., 7, 7) inside the map (§6.3)."""
    v = jnp.where(inside & (v > 0), v, 0.0)
    sw = v.sum(axis=(-2, -1))
    sx = (v * xs.astype(jnp.float32)).sum(axis=(-2, -1))
    sy = (v * ys.astype(jnp.float32)).sum(axis=(-2, -1))
    return sx / sw, sy / sw


def _refine(channel: jnp.ndarray, py: jnp.ndarray, px: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """7x7 weighted centroid (positive values only) around each (py, px) (§6.3)."""
    h, w = channel.shape
    ys, xs, inside = _window(py, px, h, w)
    v = channel[jnp.clip(ys, 0, h - 1), jnp.clip(xs, 0, w - 1)]
    return _centroid(v, ys, xs, inside)


def find_peaks(
    heatmaps: jnp.ndarray,
    threshold: jnp.ndarray,
    offset: jnp.ndarray,
    max_peaks: int = MAX_PEAKS,
    semantics: str = "cuda",
) -> Peaks:
    """NMS on part heatmaps (N, P, H, W) -> Peaks with M = `max_peaks` rows per part (§6).

    threshold: NMS threshold (float32, may be traced); offset: nmsOffset = 0.5 / s (§5).
    """
    chex.assert_rank(heatmaps, 4)
    n, p, h, w = heatmaps.shape
    maps = heatmaps.astype(jnp.float32)
    mask = peak_mask(maps, threshold, semantics)
    flat, totals = _first_in_raster_order(mask, max_peaks)  # (N, P, M), (N, P)
    counts = jnp.minimum(totals, max_peaks)
    py, px = flat // w, flat % w
    refine = jax.vmap(jax.vmap(_refine))
    cx, cy = refine(maps, py, px)
    score = jnp.take_along_axis(maps.reshape(n, p, h * w), flat, axis=2)
    valid = jnp.arange(max_peaks)[None, None, :] < counts[..., None]
    peaks = jnp.stack([cx + offset, cy + offset, score], axis=-1)
    peaks = jnp.where(valid[..., None], peaks, 0.0)
    return Peaks(peaks, counts, totals)


PREFIX_BLOCK = 32


def _prefix_sum(counts: jnp.ndarray) -> jnp.ndarray:
    """Inclusive prefix sum of int32 counts along the last axis, as two small matrix products.

    Within blocks of 32 a product with a triangular matrix, across blocks one more: exact for
    totals below 2^24 (float32 integers), and a handful of HLO ops, where `jnp.cumsum` or an
    associative scan cost seconds of XLA:CPU compile time and run slower.
    """
    n = counts.shape[-1]
    hi = jax.lax.Precision.HIGHEST
    b = min(PREFIX_BLOCK, n)
    g = -(-n // b)
    x = jnp.pad(counts.astype(jnp.float32), [(0, 0)] * (counts.ndim - 1) + [(0, g * b - n)])
    x = x.reshape(counts.shape[:-1] + (g, b))
    within = jnp.einsum("...gb,bc->...gc", x, np.triu(np.ones((b, b), np.float32)), precision=hi)
    before = jnp.einsum("...g,gh->...h", within[..., -1], np.triu(np.ones((g, g), np.float32), 1),
                        precision=hi)
    total = (within + before[..., None]).reshape(counts.shape[:-1] + (g * b,))[..., :n]
    return jnp.round(total).astype(jnp.int32)


def _strict_interior(rows: jnp.ndarray, threshold: jnp.ndarray) -> jnp.ndarray:
    """(R, ..., W) rows -> bool (R - 2, ..., W - 2): CUDA peak test (§6.1) of the interior pixels.

    centre > threshold and centre > each of its 8 neighbours, written as centre > the neighbours'
    maximum, taken separably (left/right in each row, then the 3-wide maxima of the rows above and
    below): the same result (a NaN neighbour makes the maximum NaN and the test false, as it
    makes one comparison false), in fewer operations per pixel.
    """
    centre = rows[1:-1, ..., 1:-1]
    sides = jnp.maximum(rows[..., :-2], rows[..., 2:])  # (R, ..., W - 2): left / right neighbours
    wide = jnp.maximum(sides, rows[..., 1:-1])  # 3-wide maxima
    neighbours = jnp.maximum(jnp.maximum(wide[:-2], wide[2:]), sides[1:-1])
    return (centre > threshold) & (centre > neighbours)


def find_peaks_rows(
    maps: jnp.ndarray,
    threshold: jnp.ndarray,
    offset: jnp.ndarray,
    max_peaks: int = MAX_PEAKS,
) -> Peaks:
    """`find_peaks` with CUDA semantics for maps in row-major layout (H, N, P, W) -> Peaks (N, P, M).

    Equal to `find_peaks(maps.transpose(1, 2, 0, 3), ..., semantics="cuda")`. A CUDA peak is
    never on the outer border, so only interior pixels are tested (no padding). The first pass
    only counts peaks per row; the M rows holding the first M peaks are tested again, and the
    rank of a peak within its row gives its column.
    """
    chex.assert_rank(maps, 4)
    h, n, p, w = maps.shape
    maps = maps.astype(jnp.float32)
    inner_counts = jnp.sum(_strict_interior(maps, threshold), axis=-1, dtype=jnp.int32)  # (H-2, N, P)
    per_row = _prefix_sum(jnp.moveaxis(inner_counts, 0, -1))  # (N, P, H-2): peaks in rows 1..r+1
    totals = per_row[..., -1]
    ranks = jnp.arange(1, max_peaks + 1, dtype=jnp.int32)  # (M,)
    # interior row index (0 = image row 1) of the rank-th peak, and the peaks before that row
    inner_row = jnp.sum(per_row[..., None, :] < ranks[:, None], axis=-1, dtype=jnp.int32)
    inner_row = jnp.minimum(inner_row, h - 3)  # (N, P, M)
    before = jnp.where(inner_row > 0,
                       jnp.take_along_axis(per_row, jnp.maximum(inner_row - 1, 0), axis=-1), 0)
    rows = inner_row + 1  # image rows, 1..H-2
    frame = jnp.arange(n)[:, None, None]
    part = jnp.arange(p)[None, :, None]
    three = jnp.stack([maps[rows + dy, frame, part] for dy in (-1, 0, 1)])  # (3, N, P, M, W)
    row_mask = _strict_interior(three, threshold)[0]  # (N, P, M, W-2): columns 1..W-2
    within = _prefix_sum(row_mask.astype(jnp.int32))
    cols = 1 + jnp.sum(within < (ranks - before)[..., None], axis=-1, dtype=jnp.int32)
    counts = jnp.minimum(totals, max_peaks)
    valid = jnp.arange(max_peaks)[None, None, :] < counts[..., None]
    py = jnp.where(valid, rows, 0)
    px = jnp.where(valid, jnp.minimum(cols, w - 2), 0)
    ys, xs, inside = _window(py, px, h, w)
    v = maps[jnp.clip(ys, 0, h - 1), frame[..., None, None], part[..., None, None],
             jnp.clip(xs, 0, w - 1)]
    cx, cy = _centroid(v, ys, xs, inside)
    score = maps[py, frame, part, px]
    peaks = jnp.stack([cx + offset, cy + offset, score], axis=-1)
    peaks = jnp.where(valid[..., None], peaks, 0.0)
    return Peaks(peaks, counts, totals)
