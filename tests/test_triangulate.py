"""jaxpose.triangulate: the maths against independent references (NumPy float64 DLT, OpenCV,
a transcription of OpenPose's rule from features §5.3), OpenPose's constants, shapes, bad input."""

from __future__ import annotations

import chex
import cv2
import jax
import numpy as np
import pytest

import jaxpose
from conftest import SHARED, need_shared
from h36m_protocol import observe, world_truth
from jaxpose.cameras import Camera, CameraGroup
from jaxpose.errors import InputError
from jaxpose.triangulation import core, triangulate_details
from jaxpose.triangulation.core import openpose_max_error

H36M = SHARED / "eval" / "h36m"


@pytest.fixture(scope="module")
def sample():
    """[(subject, 4-camera group, (17, 3) world joints, metres)] for the sample's 4 frames."""
    return world_truth(need_shared(H36M))


def _looking_at(name: str, centre, target=(0.0, 0.0, 1.0), size=(1000, 1000), dist=None) -> Camera:
    """A pinhole camera at `centre` looking at `target` (z up world), OpenCV axes."""
    centre, target = np.asarray(centre, float), np.asarray(target, float)
    z = target - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    K = [[1100.0, 0, size[0] / 2], [0, 1100.0, size[1] / 2], [0, 0, 1]]
    return Camera(name, K, np.zeros(5) if dist is None else dist, R, -R @ centre, size)


def _ring(views: int, radius: float = 4.0, height: float = 1.6, dist=None) -> CameraGroup:
    angles = np.linspace(0, 2 * np.pi, views, endpoint=False) + 0.3
    return CameraGroup(tuple(_looking_at(f"c{i}", (radius * np.cos(a), radius * np.sin(a), height),
                                         dist=dist) for i, a in enumerate(angles)))


def _observed(group: CameraGroup, points: np.ndarray) -> np.ndarray:
    pixels = group.project(points)
    return np.concatenate([pixels, np.ones(pixels.shape[:-1] + (1,))], axis=-1)


# ---- reference implementations (float64 NumPy, written from the spec) ----

def dlt_reference(P: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, float]:
    """features §5.3 steps 3-4: rows x p3 - p1, y p3 - p2; SVD; divide by w; mean pixel error."""
    A = np.concatenate([xy[:, :1] * P[:, 2] - P[:, 0], xy[:, 1:] * P[:, 2] - P[:, 1]])
    X = np.linalg.svd(A)[2][-1]
    X = X / X[3]
    u = P @ X
    error = np.linalg.norm(u[:, :2] / u[:, 2:] - xy, axis=-1).mean()
    return X[:3], error


def openpose_reference(P, undistorted, pixels, scores, sizes, min_views):
    """features §5.3 steps 1-8 (no Ceres) for one person: (K, 3) points, (K,) kept."""
    parts = undistorted.shape[1]
    max_error = 25 * np.sqrt(sizes[0][0] * sizes[0][1] / 1310720.0)
    points, errors, done = np.zeros((parts, 3)), np.full(parts, np.inf), np.zeros(parts, bool)
    for k in range(parts):
        views = [v for v in range(len(P)) if scores[v, k] > 0.35
                 and 8 < pixels[v, k, 0] < sizes[v][0] - 8 and 8 < pixels[v, k, 1] < sizes[v][1] - 8]
        if len(views) < min_views:
            continue
        X, e = dlt_reference(P[views], undistorted[views, k])
        if len(views) >= 4 and e > 0.5 * max_error:
            best, best_X = e, None
            for i in range(len(views)):
                subset = views[:i] + views[i + 1:]
                Xs, es = dlt_reference(P[subset], undistorted[subset, k])
                if best > es and es < 0.9 * e:
                    best, best_X = es, Xs
            if best_X is not None:
                X, e = best_X, best
        points[k], errors[k], done[k] = X, e, True
    mean = errors[done].mean() if done.any() else 0.0
    kept = done & np.all(np.isfinite(points), axis=1) & (errors < 5 * mean) & (errors < max_error)
    return points, kept


def _undistort_opencv(group: CameraGroup, pixels: np.ndarray) -> np.ndarray:
    """cv2.undistortPointsIter to convergence, per view (V, ..., 2) -> (V, ..., 2)."""
    out = np.empty_like(pixels)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-14)
    for v, cam in enumerate(group):
        flat = pixels[v].reshape(-1, 1, 2).astype(np.float64)
        und = cv2.undistortPointsIter(flat, cam.K, cam.dist, None, cam.K, criteria)
        out[v] = und.reshape(pixels[v].shape)
    return out


# ---- exact data ----

def test_noise_free_four_views_within_a_hundredth_of_a_millimetre(sample):
    for _, group, truth in sample:
        for method in ("dlt", "openpose", "robust"):
            points = jaxpose.triangulate(group, _observed(group, truth), method=method)
            assert points.shape == (17, 4)
            assert np.all(points[:, 3] == 1.0)
            error_mm = np.linalg.norm(points[:, :3] - truth, axis=-1).max() * 1000
            assert error_mm < 0.01, (method, error_mm)


def test_world_in_millimetres(sample):
    """Results come in the cameras' unit; float32 conditioning keeps mm worlds exact too."""
    _, group, truth = sample[0]
    observed = _observed(group, truth)
    for method in ("dlt", "openpose", "robust"):
        points = jaxpose.triangulate(group.with_units("mm"), observed, method=method)
        assert np.abs(points[:, :3] - truth * 1000).max() < 0.01, method


def test_undistortion_is_applied(sample):
    """Distortion ignored (OpenPose without --frame_undistort) costs ~6.37 mm (basis doc §2.3)."""
    errors = []
    for _, group, truth in sample:
        observed = _observed(group, truth)
        ignored = jaxpose.triangulate(group.projection_matrices(), observed, method="dlt",
                                      image_sizes=[c.image_size for c in group])
        errors.append(np.linalg.norm(ignored[:, :3] - truth, axis=-1))
    assert 5.5 < np.mean(errors) * 1000 < 7.5


def test_matches_opencv_triangulate_points_on_two_views():
    group = _ring(2, dist=np.array([-0.2, 0.1, 0.001, -0.002, 0.0]))
    rng = np.random.default_rng(3)
    truth = rng.uniform([-1, -1, 0], [1, 1, 2], (40, 3))
    observed = _observed(group, truth)
    observed[..., :2] += rng.normal(0, 2.0, observed[..., :2].shape)
    ours = jaxpose.triangulate(group, observed, method="dlt")[:, :3]  # one "person", 40 points
    und = _undistort_opencv(group, observed[..., :2])
    P = group.projection_matrices()
    X = cv2.triangulatePoints(P[0], P[1], und[0].T, und[1].T)
    theirs = (X[:3] / X[3]).T
    np.testing.assert_allclose(ours, theirs, atol=2e-4)  # metres: 0.2 mm on 2 px noise


def test_dlt_equals_numpy_reference_with_noise(sample):
    _, group, truth = sample[0]
    frame = observe(need_shared(H36M), 2.0, trials=60, seed=0)[0]
    ours = triangulate_details(group, frame.observations, "dlt")
    und = _undistort_opencv(group, frame.observations[..., :2])
    P = group.projection_matrices()
    ref = np.array([[dlt_reference(P, und[:, t, k])[0] for k in range(17)] for t in range(60)])
    np.testing.assert_allclose(ours.points[..., :3], ref, atol=1e-5)  # 0.01 mm
    error = np.linalg.norm(ref - truth, axis=-1).mean() * 1000
    assert 9.0 < error < 14.0  # basis doc table 2.4: 11.47 mm at sigma = 2


def test_openpose_rule_equals_its_transcription(sample):
    """Same kept keypoints and 3D as features §5.3 written in NumPy, on sigma = 1 with 10 % outliers."""
    frames = observe(need_shared(H36M), 1.0, 0.1, trials=80, seed=0)
    kept_share = []
    for frame in frames:
        group = frame.group
        ours = triangulate_details(group, frame.observations, "openpose")
        und = _undistort_opencv(group, frame.observations[..., :2])
        P = group.projection_matrices()
        sizes = [c.image_size for c in group]
        for t in range(frame.observations.shape[1]):
            points, kept = openpose_reference(P, und[:, t], frame.observations[:, t, :, :2],
                                              frame.observations[:, t, :, 2], sizes, 3)
            np.testing.assert_array_equal(ours.points[t, :, 3] > 0, kept)
            np.testing.assert_allclose(ours.points[t, kept, :3], points[kept], atol=1e-5)
            kept_share.append(kept.mean())
    assert 0.93 < np.mean(kept_share) < 0.98  # basis doc table 2.5: 95.4 %


def test_openpose_constants():
    assert float(openpose_max_error(np.array([1280, 1024]))) == pytest.approx(25.0)
    assert float(openpose_max_error(np.array([1000, 1002]))) == pytest.approx(21.86, abs=0.01)
    assert float(openpose_max_error(np.array([320, 240]))) > 0  # float division, never 0
    assert [core.default_min_views("openpose", v) for v in (2, 3, 4, 5, 6, 8)] == [2, 2, 3, 4, 4, 4]
    assert core.default_min_views("robust", 4) == 2


def test_openpose_validity_rules():
    """score > 0.35 (strictly) and 8 < x < W - 8, 8 < y < H - 8; 3 valid views needed with 4 cameras."""
    group = _ring(4)
    truth = np.array([[0.0, 0.0, 1.0]] * 4)
    observed = np.zeros((4, 4, 17, 3))  # (V, 4 people, 17 keypoints (16 missing), 3)
    observed[:, :, :1] = _observed(group, truth)[:, :, None]
    observed[..., :2] += np.random.default_rng(0).normal(0, 0.5, observed[..., :2].shape)
    observed[0, 0, 0, 2] = 0.35  # person 0: one view at exactly 0.35 -> 3 valid views: kept
    observed[:2, 1, 0, 2] = 0.35  # person 1: two such views -> 2 valid < 3: dropped
    observed[0, 2, 0, 0] = 8.0  # person 2: on the 8-pixel border in view 0 ...
    observed[1, 2, 0, 1] = 1000 - 8.0  # ... and in view 1 -> 2 valid: dropped
    points = jaxpose.triangulate(group, observed, method="openpose")
    assert points[:, 0, 3].tolist() == [1.0, 0.0, 0.0, 1.0]
    np.testing.assert_allclose(points[[0, 3], 0, :3], truth[[0, 3]], atol=5e-3)  # 0.5 px noise
    assert jaxpose.triangulate(group, observed, method="openpose", min_views=2)[1, 0, 3] == 1.0
    with pytest.raises(InputError, match="at least 2 views"):
        jaxpose.triangulate(group, observed, method="openpose", min_views=1)


def test_robust_survives_one_bad_view_in_four():
    group = _ring(4)
    rng = np.random.default_rng(0)
    truth = rng.uniform([-0.5, -0.5, 0.2], [0.5, 0.5, 1.8], (8, 17, 3))
    observed = _observed(group, truth)
    observed[..., :2] += rng.normal(0, 1.0, observed[..., :2].shape)
    bad = rng.integers(0, 4, (8, 17))
    shift = rng.uniform(40, 120, (8, 17, 1)) * np.array([np.cos(1.0), np.sin(1.0)])
    for v in range(4):
        observed[v, ..., :2] += np.where((bad == v)[..., None], shift, 0)
    result = triangulate_details(group, observed, "robust")
    error_mm = np.linalg.norm(result.points[..., :3] - truth, axis=-1) * 1000
    plain = jaxpose.triangulate(group, observed, method="dlt")
    plain_mm = np.linalg.norm(plain[..., :3] - truth, axis=-1) * 1000
    assert np.all(result.points[..., 3] > 0)
    assert error_mm.mean() < 10 and plain_mm.mean() > 50
    assert not np.any(result.views[np.arange(8)[:, None], np.arange(17), bad])  # bad view left out
    assert np.nanmean(result.reprojection_error) < 2.0


def test_shapes_scores_and_missing_keypoints():
    group = _ring(4)
    truth = np.random.default_rng(1).uniform([-0.5, -0.5, 0.2], [0.5, 0.5, 1.8], (2, 17, 3))
    observed = _observed(group, truth)
    observed[..., 2] = 0.8
    observed[1:, 0, 2, 2] = 0.0  # person 0, keypoint 2 only in view 0: not reconstructed
    observed[:, 1, 4] = 0.0  # person 1, keypoint 4 nowhere
    result = triangulate_details(group, observed, "robust")
    assert result.points.shape == (2, 17, 4) and result.points.dtype == np.float32
    assert result.views.shape == (2, 17, 4) and result.reprojection_error.shape == (2, 17)
    assert result.points[0, 2].tolist() == [0, 0, 0, 0] and result.points[1, 4].tolist() == [0, 0, 0, 0]
    assert np.isnan(result.reprojection_error[0, 2])
    assert result.points[0, 0, 3] == pytest.approx(0.8)  # the mean 2D score of the views used
    single = jaxpose.triangulate(group, observed[:, 0])
    np.testing.assert_allclose(single, result.points[0], atol=1e-6)
    empty = jaxpose.triangulate(group, np.zeros((4, 0, 17, 3)))
    assert empty.shape == (0, 17, 4)


def test_one_compile_for_any_crowd_up_to_the_bucket(monkeypatch):
    chex.clear_trace_counter()
    guarded = jax.jit(chex.assert_max_traces(core.triangulate_unjitted, n=1),
                      static_argnames=core.STATIC_ARGUMENTS)
    monkeypatch.setattr(core, "triangulate_conditioned", guarded)
    group = _ring(4)
    observed = _observed(group, np.zeros((8, 17, 3)) + [0, 0, 1])
    for people in (1, 3, 5, 8, 2):  # all in the 8-person bucket
        jaxpose.triangulate(group, observed[:, :people], method="dlt")


def test_bad_input_is_a_clear_error():
    group = _ring(4)
    good = _observed(group, np.zeros((2, 17, 3)) + [0, 0, 1])
    nan = good.copy()
    nan[2, 1, 5, 0] = np.nan
    with pytest.raises(InputError, match=r"NaN.*view 2.*score 0"):
        jaxpose.triangulate(group, nan)
    with pytest.raises(InputError, match="3 views but there are 4 cameras"):
        jaxpose.triangulate(group, good[:3])
    with pytest.raises(InputError, match="at least 2 cameras"):
        jaxpose.triangulate(group[:1], good[:1])
    with pytest.raises(InputError, match="view 1 has 0 people.*same people in every view"):
        jaxpose.triangulate(group, [good[0], good[1, :0], good[2], good[3]])
    with pytest.raises(InputError, match="method 'ransac'"):
        jaxpose.triangulate(group, good, method="ransac")
    with pytest.raises(InputError, match="more than the 4 cameras"):
        jaxpose.triangulate(group, good, min_views=5)
    with pytest.raises(InputError, match=r"\(views, \[people,\] keypoints, 3\)"):
        jaxpose.triangulate(group, good[..., :2])
    same_place = CameraGroup(tuple(_looking_at(f"c{i}", (4.0, 0.0, 1.6), target=(0.0, i, 1.0))
                                   for i in range(3)))
    with pytest.raises(InputError, match="share one centre"):
        jaxpose.triangulate(same_place, good[:3])
    singular = np.stack([group.projection_matrices()[0], np.zeros((3, 4))])
    with pytest.raises(InputError, match="camera 1 is degenerate"):
        jaxpose.triangulate(singular, good[:2])
