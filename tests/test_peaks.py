"""Peak detection (openpose-core §6): the peak test, borders, raster order, cap, refinement.

Maps are built by hand at heatmap resolution; expected values are worked out in the comments.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxpose.device.peaks import MAX_PEAKS, find_peaks


def _find(maps, thr=0.05, offset=0.0, max_peaks=8, semantics="cuda"):
    """maps: list of (H, W) channels of one image."""
    stack = jnp.asarray(np.stack(maps)[None].astype(np.float32))
    out = find_peaks(stack, jnp.float32(thr), jnp.float32(offset), max_peaks, semantics)
    return (np.asarray(out.peaks)[0], np.asarray(out.counts)[0], np.asarray(out.totals)[0])


def _blank(h=9, w=11):
    return np.zeros((h, w), np.float32)


def test_threshold_is_strict():
    m = _blank()
    m[4, 5] = 0.5
    assert _find([m], thr=0.4999)[1][0] == 1
    assert _find([m], thr=0.5)[1][0] == 0  # v > thr, not >=


@pytest.mark.parametrize("semantics", ["cuda", "cpu"])
def test_plateau_in_the_interior_is_no_peak(semantics):
    m = _blank()
    m[4, 5] = m[4, 6] = 0.7  # two equal neighbours: neither is strictly greater
    assert _find([m], semantics=semantics)[1][0] == 0


def test_border_rules_cuda_vs_cpu():
    h, w = 9, 11
    cases = {  # (y, x): (peak in CUDA, peak in CPU)
        (0, 1): (False, True),   # one of the eight outer-border pixels the CPU build accepts
        (0, 0): (False, False),  # corner: never
        (0, 4): (False, False),  # outer border, not on the ring
        (1, 4): (True, True),    # ring pixel with a strict maximum
    }
    for (y, x), (cuda, cpu) in cases.items():
        m = _blank(h, w)
        m[y, x] = 0.9
        assert bool(_find([m], semantics="cuda")[1][0]) == cuda, (y, x)
        assert bool(_find([m], semantics="cpu")[1][0]) == cpu, (y, x)


def test_cpu_ring_is_non_strict():
    # two equal values on the ring (y = 1): the CPU rule uses >=, so both are peaks; CUDA: none
    m = _blank()
    m[1, 4] = m[1, 5] = 0.8
    assert _find([m], semantics="cpu")[1][0] == 2
    assert _find([m], semantics="cuda")[1][0] == 0


def test_cpu_ring_compares_outside_neighbours_with_the_threshold():
    # (y=0, x=1) has neighbours outside the image, read as thr: v = thr + 0.01 > thr passes
    m = _blank()
    m[0, 1] = 0.06
    assert _find([m], thr=0.05, semantics="cpu")[1][0] == 1


def test_raster_order_and_cap():
    m = _blank(16, 16)
    # (y, x), at least 4 apart so that no 7x7 refinement window sees another spot
    spots = [(1, 9), (1, 2), (6, 5), (10, 1), (10, 8), (14, 13)]
    for n, (y, x) in enumerate(spots):
        m[y, x] = 0.3 + 0.1 * n
    peaks, counts, totals = _find([m], max_peaks=4)
    assert counts[0] == 4 and totals[0] == 6
    # raster order: row by row, left to right; the first four of them are kept
    np.testing.assert_array_equal(peaks[0, :, :2], [[2, 1], [9, 1], [5, 6], [1, 10]])
    np.testing.assert_allclose(peaks[0, :, 2], [0.4, 0.3, 0.5, 0.6], rtol=1e-6)


def test_default_cap_is_openposes_127():
    assert MAX_PEAKS == 127
    m = _blank(40, 40)
    m[1:39:2, 1:39:2] = 0.5  # 19 x 19 = 361 isolated peaks
    _, counts, totals = _find([m], max_peaks=MAX_PEAKS)
    assert counts[0] == 127 and totals[0] == 361


def test_centroid_refinement_and_offset():
    m = _blank()
    m[4, 5] = 1.0
    m[4, 6] = 0.5
    m[3, 5] = 0.25
    m[4, 3] = -2.0  # negative values never contribute
    m[4, 8] = 0.5   # still inside the 7x7 window (dx = +3): contributes
    m[4, 9] = 0.5   # outside it (dx = +4); makes (4, 8) a plateau, not a second peak
    peaks, counts, _ = _find([m], offset=0.25)
    # sx = 5*1 + 6*0.5 + 5*0.25 + 8*0.5 = 13.25; sy = 4*1 + 4*0.5 + 3*0.25 + 4*0.5 = 8.75
    # sw = 2.25 -> x = 5.8889 + 0.25, y = 3.8889 + 0.25; score = the integer-peak value 1.0
    assert counts[0] == 1
    np.testing.assert_allclose(peaks[0, 0], [13.25 / 2.25 + 0.25, 8.75 / 2.25 + 0.25, 1.0], rtol=1e-6)


def test_window_is_clipped_at_the_image_border():
    m = _blank()
    m[1, 1] = 1.0
    m[0, 0] = 1.0  # a corner pixel inside the window
    peaks, counts, _ = _find([m])
    # (1,1) is not strictly greater than (0,0): no peak
    assert counts[0] == 0
    m[0, 0] = 0.5
    peaks, counts, _ = _find([m])
    np.testing.assert_allclose(peaks[0, 0, :2], [1 / 1.5, 1 / 1.5], rtol=1e-6)


def test_channels_are_independent_and_rows_past_count_are_zero():
    a, b = _blank(), _blank()
    a[4, 5] = 0.9
    peaks, counts, _ = _find([a, b])
    np.testing.assert_array_equal(counts, [1, 0])
    assert not peaks[0, 1:].any() and not peaks[1].any()
