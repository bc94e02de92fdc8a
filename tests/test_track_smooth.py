"""Smoothing (issue #11): One Euro against the published formula on hand-computed steps (frames and
seconds), Savitzky-Golay and Butterworth equal to scipy's filters, the gap rule, per-track
application to Poses (2D and 3D), and the no-fps behaviour."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.signal import butter, filtfilt, savgol_filter

from jaxpose.errors import InputError
from jaxpose.poses import Poses
from jaxpose.track import (
    NoFpsWarning, OneEuroFilter, OneEuroSmoother, butterworth_smooth, interpolate_gaps,
    one_euro_smooth, savgol_smooth, smooth_series, smooth_tracks,
)

TWO_PI = 2 * math.pi


# ----------------------------------------------------------------------------- One Euro


@pytest.mark.parametrize("period,min_cutoff", [(1.0, 1 / TWO_PI), (0.1, 10 / TWO_PI)])
def test_one_euro_hand_computed_steps(period, min_cutoff):
    """Casiez et al. 2012 by hand. With min_cutoff = d_cutoff = 1/(2π·te), alpha = 1/2 at rest;
    beta = 1/(2π) per unit of speed.
        t0: x=0  -> 0
        t1: x=4  dx=4/te, edx=2/te, cutoff=3/(2π te), alpha=3/4      -> 3
        t2: x=4  dx=1/te, edx=1.5/te, alpha=1/(1+0.4)=5/7            -> 26/7
        t3: x=-2 dx=-40/7/te, edx=-59/28/te, alpha=87/115             -> -14/23
    The same steps in frames (te = 1) and in seconds (te = 0.1 s, cutoffs x10, beta unchanged)."""
    filt = OneEuroFilter(min_cutoff=min_cutoff, beta=1 / TWO_PI, d_cutoff=min_cutoff)
    got = [float(filt(np.array([x]), i * period)[0]) for i, x in enumerate([0.0, 4.0, 4.0, -2.0])]
    np.testing.assert_allclose(got, [0.0, 3.0, 26 / 7, -14 / 23], rtol=1e-12, atol=1e-12)


def test_one_euro_masked_elements_pass_through_and_keep_their_state():
    filt = OneEuroFilter(min_cutoff=1 / TWO_PI, beta=0.0, d_cutoff=1 / TWO_PI)
    filt(np.array([0.0, 0.0]), 0.0)
    out = filt(np.array([4.0, 9.0]), 1.0, present=np.array([True, False]))
    np.testing.assert_allclose(out, [2.0, 9.0])  # alpha 1/2; the hidden one untouched
    # the second element's previous sample is at t=0, so te = 2: alpha = 1/(1 + 1/2) = 2/3
    out = filt(np.array([4.0, 6.0]), 2.0)
    np.testing.assert_allclose(out, [3.0, 4.0])


def test_one_euro_rejects_time_going_backwards_and_bad_parameters():
    filt = OneEuroFilter()
    filt(np.zeros(2), 1.0)
    with pytest.raises(InputError, match="increase"):
        filt(np.zeros(2), 1.0)
    for bad in ({"min_cutoff": 0}, {"beta": -1}, {"d_cutoff": -2}):
        with pytest.raises(InputError):
            OneEuroFilter(**bad)


# --------------------------------------------------------------------- offline vs scipy


def _series(frames=60, parts=3, dims=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None]
    coords = 100 + 3 * t + 20 * np.sin(t / 7.0 + np.arange(parts * dims).reshape(parts, dims))
    coords = coords + rng.normal(0, 2, coords.shape)
    scores = rng.uniform(0.3, 0.9, (frames, parts, 1))
    return np.concatenate([coords, scores], axis=-1)


@pytest.mark.parametrize("dims", [2, 3])
def test_savgol_equals_scipy_on_a_full_series(dims):
    series = _series(dims=dims)
    got = savgol_smooth(series, window=11, polyorder=2)
    np.testing.assert_allclose(got[..., :-1], savgol_filter(series[..., :-1], 11, 2, axis=0),
                               rtol=1e-12)
    np.testing.assert_array_equal(got[..., -1], series[..., -1])


@pytest.mark.parametrize("dims", [2, 3])
def test_butterworth_equals_butter_filtfilt_as_pose2sim(dims):
    series = _series(dims=dims)
    got = butterworth_smooth(series, cutoff=6.0, fps=30.0, order=4)
    b, a = butter(2, 6.0 / 15.0)  # order 4 zero-phase = butter(4 / 2) forwards and backwards
    np.testing.assert_allclose(got[..., :-1], filtfilt(b, a, series[..., :-1], axis=0),
                               rtol=1e-12)


def test_butterworth_is_zero_phase_and_removes_jitter():
    fps = 30.0
    t = np.arange(300) / fps
    slow = 50 * np.sin(2 * np.pi * 0.5 * t)                    # 0.5 Hz motion
    noisy = slow + 5 * np.sin(2 * np.pi * 12 * t)              # 12 Hz jitter
    series = np.stack([noisy, noisy, np.ones_like(t)], -1)[:, None, :]
    out = butterworth_smooth(series, cutoff=6.0, fps=fps)[:, 0, 0]
    inner = slice(30, -30)
    assert np.abs(out - slow)[inner].max() < 0.6              # jitter gone, no lag
    lag = np.argmax(np.correlate(out - out.mean(), slow - slow.mean(), "full")) - (len(t) - 1)
    assert lag == 0


def test_short_gaps_are_interpolated_and_long_gaps_stay_missing():
    series = _series(frames=40, parts=2)
    series[10:13, 0] = 0        # 3 frames: filled
    series[20:30, 1] = 0        # 10 frames: left missing
    filled = interpolate_gaps(series, max_gap=5)
    w = np.arange(1, 4)[:, None] / 4
    np.testing.assert_allclose(filled[10:13, 0, :2], (1 - w) * series[9, 0, :2] + w * series[13, 0, :2])
    assert np.all(filled[10:13, 0, 2] == min(series[9, 0, 2], series[13, 0, 2]))
    assert np.all(filled[20:30, 1] == 0)
    out = savgol_smooth(series, window=11, polyorder=2, max_gap=5)
    # keypoint 0: one run after filling; keypoint 1: two runs, each filtered on its own
    np.testing.assert_allclose(out[:, 0, :2], savgol_filter(filled[:, 0, :2], 11, 2, axis=0))
    np.testing.assert_allclose(out[:20, 1, :2], savgol_filter(series[:20, 1, :2], 11, 2, axis=0))
    np.testing.assert_array_equal(out[20:30, 1], 0)
    np.testing.assert_array_equal(out[30:, 1], series[30:, 1])  # 10 frames < window 11: as is


def test_leading_and_trailing_gaps_are_never_filled():
    series = _series(frames=20, parts=1)
    series[:3, 0] = 0
    series[-2:, 0] = 0
    filled = interpolate_gaps(series, max_gap=50)
    np.testing.assert_array_equal(filled[:3], 0)
    np.testing.assert_array_equal(filled[-2:], 0)


def test_every_filter_reduces_jitter_on_a_synthetic_trajectory():
    fps = 30.0
    rng = np.random.default_rng(1)
    t = np.arange(150) / fps
    truth = np.stack([200 + 60 * t + 30 * np.sin(2 * np.pi * 0.7 * t), 300 + 20 * np.cos(t)], -1)
    noisy = truth + rng.normal(0, 4, truth.shape)
    series = np.concatenate([noisy, np.ones((len(t), 1))], -1)[:, None]
    for method, params in (("savgol", {}), ("butterworth", {"fps": fps}),
                           ("one_euro", {"fps": fps, "min_cutoff": 1.0, "beta": 0.05})):
        out = smooth_series(series, method, **params)[:, 0, :2]
        jitter = np.abs(np.diff(out, 2, axis=0)).mean()
        assert jitter < 0.5 * np.abs(np.diff(noisy, 2, axis=0)).mean(), method
        assert np.sqrt(((out - truth) ** 2).mean()) < np.sqrt(((noisy - truth) ** 2).mean()), method


# ------------------------------------------------------------------- per-track on Poses


def _tracked_frames(frames=30, dims=2):
    """Two tracked people whose order in the list swaps every frame, one untracked person."""
    a, b = _series(frames, parts=18, dims=dims, seed=1), _series(frames, parts=18, dims=dims, seed=2)
    b[..., :dims] += 300
    a[12:14, 3] = 0  # a short gap in person A's keypoint 3
    a[16, :] = 0     # A undetected in frame 16 (absent from that frame)
    c = _series(frames, parts=18, dims=dims, seed=3)
    out = []
    for t in range(frames):
        people, ids = [b[t], c[t]], [7, -1]
        if t != 16:
            people.insert(t % 2, a[t])
            ids.insert(t % 2, 3)
        keypoints = np.array(people, np.float32)
        out.append(Poses(keypoints, np.ones(len(people), np.float32), "MOBILENET_THIN",
                         (1280, 720), (432, 240), 1.0, ids=np.array(ids, np.int64)))
    return out, a, b, c


def test_smooth_tracks_smooths_each_id_on_its_own():
    frames, a, b, _ = _tracked_frames()
    out = smooth_tracks(frames, "savgol", window=7, polyorder=2, max_gap=3)
    expect_a = savgol_smooth(a.astype(np.float32).astype(np.float64), 7, 2, max_gap=3)
    expect_b = savgol_smooth(b.astype(np.float32).astype(np.float64), 7, 2, max_gap=3)
    for t, (before, after) in enumerate(zip(frames, out)):
        np.testing.assert_array_equal(after.ids, before.ids)
        for person, pid in enumerate(before.ids.tolist()):
            got = after.keypoints[person]
            if pid == -1:
                np.testing.assert_array_equal(got, before.keypoints[person])
            else:
                expect = (expect_a if pid == 3 else expect_b)[t].astype(np.float32)
                np.testing.assert_allclose(got, expect, rtol=1e-6, atol=1e-4)
    assert all(f.num_people == g.num_people for f, g in zip(frames, out))  # nobody invented
    assert np.all(out[12].keypoints[out[12].ids == 3][0, 3, 2] > 0)       # short gap filled


def test_smooth_tracks_works_on_3d_people():
    frames, a, _, _ = _tracked_frames(dims=3)
    out = smooth_tracks(frames, "butterworth", fps=25.0, cutoff=4.0)
    expect = butterworth_smooth(a.astype(np.float32).astype(np.float64), 4.0, 25.0)
    person = list(out[5].ids).index(3)
    np.testing.assert_allclose(out[5].keypoints[person], expect[5], rtol=1e-5, atol=1e-3)


def test_online_smoother_is_one_filter_per_id():
    frames, a, b, _ = _tracked_frames()
    smoother = OneEuroSmoother(min_cutoff=1.0, beta=0.05, d_cutoff=1.0, fps=30.0, max_gap=2)
    filters = {3: OneEuroFilter(1.0, 0.05, 1.0), 7: OneEuroFilter(1.0, 0.05, 1.0)}
    for t, poses in enumerate(frames):
        out = smoother.update(poses)
        for person, pid in enumerate(poses.ids.tolist()):
            kp = poses.keypoints[person].astype(np.float64)
            if pid == -1:
                np.testing.assert_array_equal(out.keypoints[person], poses.keypoints[person])
                continue
            present = kp[:, 2:] > 0
            expect = filters[pid](kp[:, :2], t / 30.0, present)
            np.testing.assert_allclose(out.keypoints[person, :, :2], expect, rtol=1e-5, atol=1e-3)
            np.testing.assert_array_equal(out.keypoints[person, :, 2], poses.keypoints[person, :, 2])


def test_online_smoother_starts_afresh_after_a_long_absence():
    kp = np.zeros((1, 18, 3), np.float32)
    kp[0, :, 2] = 0.8

    def frame(x, pid=0):
        k = kp.copy()
        k[0, :, 0] = x
        return Poses(k, np.ones(1, np.float32), "COCO", (100, 100), (96, 96), 1.0,
                     ids=np.array([pid]))

    empty = Poses(np.zeros((0, 18, 3), np.float32), np.zeros(0, np.float32), "COCO", (100, 100),
                  (96, 96), 1.0)
    smoother = OneEuroSmoother(fps=10.0, max_gap=2)
    smoother.update(frame(0.0))
    for _ in range(3):
        smoother.update(empty)
    out = smoother.update(frame(50.0))
    np.testing.assert_array_equal(out.keypoints[0, :, 0], 50.0)  # a fresh start passes through


def test_without_fps_time_counts_frames_and_says_so():
    series = _series()
    with pytest.warns(NoFpsWarning, match="frames"):
        butterworth_smooth(series, cutoff=0.1)
    with pytest.warns(NoFpsWarning, match="frames"):
        one_euro_smooth(series)
    with pytest.raises(InputError, match="cycles per frame"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoFpsWarning)
            butterworth_smooth(series, cutoff=6.0)
    frames, *_ = _tracked_frames()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        smooth_tracks(frames, "butterworth", cutoff=0.1)
    assert [type(w.message) for w in caught] == [NoFpsWarning]   # once per call, not per track
    smoother = OneEuroSmoother()
    with pytest.warns(NoFpsWarning):
        smoother.update(frames[0])
    assert smoother.time_unit == "frame"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        savgol_smooth(series)  # frames by nature: no warning


def test_bad_smoothing_parameters_are_clear_errors():
    series = _series()
    with pytest.raises(InputError, match="odd"):
        savgol_smooth(series, window=10)
    with pytest.raises(InputError, match="polyorder"):
        savgol_smooth(series, window=5, polyorder=5)
    with pytest.raises(InputError, match="even"):
        butterworth_smooth(series, fps=30, order=3)
    with pytest.raises(InputError, match="Nyquist"):
        butterworth_smooth(series, fps=30, cutoff=20)
    with pytest.raises(InputError, match="unknown smoothing"):
        smooth_series(series, "kalman")
    with pytest.raises(InputError, match="savgol"):
        smooth_series(series, "savgol", cutoff=3)
    with pytest.raises(InputError, match="frames, parts"):
        savgol_smooth(np.zeros((10, 3)))
    with pytest.raises(InputError, match="max_gap"):
        interpolate_gaps(series, max_gap=-1)
