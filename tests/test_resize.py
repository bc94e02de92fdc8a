"""Upsampling x8 and the multi-scale merge (openpose-core §4.3, §4.4).

References: a plain NumPy transcription of §4.3 (below) and cv2.resize(INTER_CUBIC).
"""

from __future__ import annotations

import math

import cv2
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpose.device.resize import upsample_merge


def _cubic(v0, v1, v2, v3, t):
    """§4.3, written as in the document."""
    return ((-0.5 * v0 + 1.5 * v1 - 1.5 * v2 + 0.5 * v3) * t ** 3
            + (v0 - 2.5 * v1 + 2 * v2 - 0.5 * v3) * t ** 2 + (-0.5 * v0 + 0.5 * v2) * t + v1)


def _taps(xs, n):
    x1 = min(max(math.floor(xs), 0), n - 1)
    x0, x2 = max(0, x1 - 1), min(n - 1, x1 + 1)
    return (x0, x1, x2, min(n - 1, x2 + 1)), xs - x1


def _reference_cuda(a, out_h, out_w, sx, sy):
    """One channel (h, w): target pixel (x, y) samples ((x+.5)/sx-.5, (y+.5)/sy-.5)."""
    h, w = a.shape
    out = np.zeros((out_h, out_w))
    for y in range(out_h):
        ys, ty = _taps((y + 0.5) / sy - 0.5, h)
        for x in range(out_w):
            xs, tx = _taps((x + 0.5) / sx - 0.5, w)
            rows = [_cubic(*(a[r, c] for c in xs), tx) for r in ys]
            out[y, x] = _cubic(*rows, ty)
    return out


def _maps(h, w, c, seed=0):
    return np.random.default_rng(seed).standard_normal((1, h, w, c)).astype(np.float32)


def test_cuda_x8_matches_the_formula():
    m = _maps(5, 7, 2)
    got = np.asarray(upsample_merge([jnp.asarray(m)], (40, 56), jnp.ones(1), "cuda"))[0]
    for c in range(2):
        np.testing.assert_allclose(got[c], _reference_cuda(m[0, :, :, c], 40, 56, 8, 8), atol=2e-6)


def test_cuda_left_border_extrapolates_instead_of_replicating():
    # a ramp along x: at x = 0 the CUDA rule uses taps [0, 0, 1, 2] with t = -7/16 (§4.3)
    ramp = np.tile(np.arange(6, dtype=np.float32), (4, 1))[None, :, :, None]
    got = np.asarray(upsample_merge([jnp.asarray(ramp)], (32, 48), jnp.ones(1), "cuda"))[0, 0, 8]
    assert got[0] == pytest.approx(_cubic(0, 0, 1, 2, -7 / 16), abs=1e-6)  # = +0.0145
    # edge replication would read taps (0, 0, 0, 1) at t = 9/16 instead: -0.069
    assert abs(got[0] - _cubic(0, 0, 0, 1, 9 / 16)) > 0.05


def test_cpu_matches_cv2_resize_inter_cubic():
    m = _maps(6, 9, 3, seed=1)
    got = np.asarray(upsample_merge([jnp.asarray(m)], (48, 72), jnp.ones(1), "cpu"))[0]
    for c in range(3):
        ref = cv2.resize(m[0, :, :, c], (72, 48), interpolation=cv2.INTER_CUBIC)
        np.testing.assert_allclose(got[c], ref, atol=2e-6)


def test_cpu_and_cuda_differ():
    m = _maps(6, 9, 1, seed=2)
    cuda = np.asarray(upsample_merge([jnp.asarray(m)], (48, 72), jnp.ones(1), "cuda"))
    cpu = np.asarray(upsample_merge([jnp.asarray(m)], (48, 72), jnp.ones(1), "cpu"))
    assert np.abs(cuda - cpu).max() > 1e-2


def test_multi_scale_merge_aligns_by_scale_ratio_and_averages():
    # two scales of a 48x64 heatmap: scale 1 is a 4x6 map whose image factor is 0.6 of scale 0's
    m0, m1 = _maps(6, 8, 1, seed=3), _maps(4, 6, 1, seed=4)
    ratio = np.float32(0.6)
    got = np.asarray(upsample_merge([jnp.asarray(m0), jnp.asarray(m1)], (48, 64),
                                    jnp.asarray([1.0, ratio], jnp.float32), "cuda"))[0, 0]
    s = 8 / float(ratio)
    expected = (_reference_cuda(m0[0, :, :, 0], 48, 64, 8, 8)
                + _reference_cuda(m1[0, :, :, 0], 48, 64, s, s)) / 2
    np.testing.assert_allclose(got, expected, atol=1e-5)
