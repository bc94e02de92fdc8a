"""PAF line-integral limb scores (openpose-core §7.2).

Checked against a plain-Python transcription of §7.2 (below) and hand-built fields with known
values for each threshold.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from jaxpose.device.paf import ScoreThresholds, score_connections

F32 = np.float32


def _thresholds(nms=0.05, inter=0.05, above=0.95):
    return ScoreThresholds(jnp.float32(nms), jnp.float32(inter), jnp.float32(above))


def _score(paf_xy, peaks_a, peaks_b, thr=None, semantics="cuda", counts=None):
    """paf_xy: (2, H, W); peaks_*: lists of (x, y, score). One pair (0 -> 1)."""
    thr = thr or _thresholds()
    m = max(len(peaks_a), len(peaks_b), 1)
    peaks = np.zeros((1, 2, m, 3), np.float32)
    for part, ps in enumerate((peaks_a, peaks_b)):
        if ps:
            peaks[0, part, :len(ps)] = ps
    counts = counts or [len(peaks_a), len(peaks_b)]
    maps = jnp.asarray(paf_xy[None].astype(np.float32))
    out = score_connections(maps, jnp.asarray(peaks), jnp.asarray([counts], jnp.int32),
                            ((0, 1),), ((0, 1),), thr, semantics)
    return np.asarray(out)[0, 0]


def _reference(pafx, pafy, a, b, nms, inter, above, none):
    """§7.2 as written in the document, float32."""
    h, w = pafx.shape
    dx, dy = F32(b[0] - a[0]), F32(b[1] - a[1])
    n = max(5, min(25, int(math.sqrt(5 * max(abs(dx), abs(dy))) + 0.5)))
    norm = F32(math.sqrt(dx * dx + dy * dy))
    if norm <= 1e-6:
        return none
    ux, uy = dx / norm, dy / norm
    sx, sy = dx / F32(n), dy / F32(n)
    total, cnt = F32(0), 0
    for m in range(n):
        px = min(max(int(F32(a[0]) + F32(m) * sx + F32(0.5)), 0), w - 1)
        py = min(max(int(F32(a[1]) + F32(m) * sy + F32(0.5)), 0), h - 1)
        v = ux * pafx[py, px] + uy * pafy[py, px]
        if v > inter:
            total += v
            cnt += 1
    if cnt / n > above:
        return total / cnt
    if norm < math.sqrt(w * h) / 150:
        return F32(nms + 1e-6)
    return none


@pytest.mark.parametrize("semantics, none", [("cuda", -1.0), ("cpu", 0.0)])
def test_random_fields_match_the_reference(semantics, none):
    rng = np.random.default_rng(7)
    h, w = 40, 60
    # a smooth field mostly pointing +x, so that some pairs pass and some fail
    pafx = (0.6 + 0.5 * rng.standard_normal((h, w))).astype(np.float32)
    pafy = (0.3 * rng.standard_normal((h, w))).astype(np.float32)
    a = [(float(rng.uniform(1, 58)), float(rng.uniform(1, 38)), 0.5) for _ in range(6)]
    b = [(float(rng.uniform(1, 58)), float(rng.uniform(1, 38)), 0.5) for _ in range(5)]
    b.append((a[0][0] + 0.2, a[0][1] + 0.1, 0.5))  # very close parts (< sqrt(60*40)/150)
    b.append((a[1][0], a[1][1], 0.5))  # coincident parts: no connection
    thr = (0.05, 0.05, 0.3)
    got = _score(np.stack([pafx, pafy]), a, b, _thresholds(*thr), semantics)
    for i in range(len(a)):
        for j in range(len(b)):
            ref = _reference(pafx, pafy, a[i], b[j], *thr, none)
            assert got[i, j] == pytest.approx(float(ref), rel=1e-5, abs=1e-6), (i, j)
    assert got[1, 6] == none
    assert (got > 1e-6).any() and (got <= 1e-6).any()


def _constant_field(value, h=20, w=100):
    paf = np.zeros((2, h, w), np.float32)
    paf[0] = value
    return paf


def test_inter_threshold_is_strict():
    # a horizontal limb of length 80 on a field of constant x value 0.3: every sample is 0.3
    paf = _constant_field(0.3)
    a, b = [(10.0, 10.0, 1.0)], [(90.0, 10.0, 1.0)]
    assert _score(paf, a, b, _thresholds(inter=0.29))[0, 0] == pytest.approx(0.3)
    assert _score(paf, a, b, _thresholds(inter=0.3))[0, 0] == -1.0


def test_inter_min_above_threshold_nineteen_of_twenty():
    # length 80: n = round(sqrt(400)) = 20 samples at x = 10, 14, ..., 86; kill the one at x = 14
    paf = _constant_field(0.5)
    paf[0, :, 14] = 0.0
    a, b = [(10.0, 10.0, 1.0)], [(90.0, 10.0, 1.0)]
    # 19/20 = 0.95 is not > 0.95
    assert _score(paf, a, b, _thresholds(above=0.95))[0, 0] == -1.0
    assert _score(paf, a, b, _thresholds(above=0.94))[0, 0] == pytest.approx(0.5)
    assert _score(paf, a, b, _thresholds(above=0.94), semantics="cpu")[0, 0] == pytest.approx(0.5)
    assert _score(paf, a, b, _thresholds(above=0.95), semantics="cpu")[0, 0] == 0.0


def test_mean_of_counted_samples_only():
    # half the samples (x = 10, 18, ..., 82) see 1.0, the others 0.01 (below inter 0.05)
    paf = _constant_field(0.01)
    paf[0, :, 10:90:8] = 1.0
    a, b = [(10.0, 10.0, 1.0)], [(90.0, 10.0, 1.0)]
    assert _score(paf, a, b, _thresholds(above=0.45))[0, 0] == pytest.approx(1.0)


def test_close_parts_fallback_depends_on_heatmap_size():
    # no PAF at all; parts 3 px apart. sqrt(100 * 20) / 150 = 0.298 -> not close: no connection
    paf = np.zeros((2, 20, 100), np.float32)
    a, b = [(10.0, 10.0, 1.0)], [(13.0, 10.0, 1.0)]
    assert _score(paf, a, b)[0, 0] == -1.0
    # 600 x 400 heatmap: threshold 3.27 px > 3: the minimal positive score nms + 1e-6
    big = np.zeros((2, 400, 600), np.float32)
    assert _score(big, a, b, _thresholds(nms=0.05))[0, 0] == pytest.approx(0.050001, abs=1e-7)


def test_padding_rows_hold_the_no_connection_value():
    paf = _constant_field(1.0)
    a = [(10.0, 10.0, 1.0), (12.0, 12.0, 1.0)]
    b = [(60.0, 10.0, 1.0), (70.0, 11.0, 1.0)]
    got = _score(paf, a, b, counts=[1, 2])
    assert (got[1] == -1.0).all() and (got[0] > 0.9).all()
