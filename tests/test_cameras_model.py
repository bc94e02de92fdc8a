"""Camera model: projection and undistortion equal OpenCV for every distortion model; validation."""

from __future__ import annotations

import chex
import cv2
import jax
import numpy as np
import pytest

import jaxpose
from jaxpose.cameras import Camera, CameraGroup, distortion, project_points, undistort_points
from jaxpose.errors import InputError

K = np.array([[812.5, 0.0, 331.2], [0.0, 798.4, 244.9], [0.0, 0.0, 1.0]])
COUNTS = (0, 4, 5, 8, 12, 14)


def _dist(n: int, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Random but realistic coefficients: radial terms dominate, tilt within a few degrees."""
    scale = np.array([0.2, 0.05, 0.002, 0.002, 0.01, 0.1, 0.02, 0.005, 0.003, 0.001, 0.003, 0.001, 0.05, 0.05])
    return rng.normal(0.0, 1.0, n) * scale[:n] * strength


def _pose(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    R = cv2.Rodrigues(rng.normal(0, 0.4, 3))[0]
    return R, rng.normal(0, 0.3, 3)


def _points(rng: np.random.Generator, R: np.ndarray, t: np.ndarray, n: int = 200) -> np.ndarray:
    """World points that land in front of the camera, within about +-35 degrees of its axis."""
    cam = np.c_[rng.uniform(-0.7, 0.7, (n, 2)), np.ones(n)] * rng.uniform(1.0, 8.0, (n, 1))
    return (cam - t) @ R  # R^T (x_cam - t)


def _cv_dist(d: np.ndarray):
    return d if d.size else None


@pytest.mark.parametrize("n", COUNTS)
def test_project_points_equals_opencv(n):
    rng = np.random.default_rng(n)
    for _ in range(3):
        d = _dist(n, rng)
        R, t = _pose(rng)
        X = _points(rng, R, t)
        ref = cv2.projectPoints(X, cv2.Rodrigues(R)[0], t, K, _cv_dist(d))[0][:, 0]
        with jax.enable_x64(True):
            ours = np.asarray(project_points(K, d, R, t, X))
        assert ours.dtype == np.float64
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
        ours32 = np.asarray(project_points(K, d, R, t, X))  # default float32 JAX
        np.testing.assert_allclose(ours32, ref, rtol=0, atol=2e-3)


@pytest.mark.parametrize("n", COUNTS)
def test_undistort_points_equals_opencv(n):
    rng = np.random.default_rng(100 + n)
    d = _dist(n, rng, strength=2.0)
    pts = rng.uniform([0, 0], [660, 490], (200, 2))
    ref = cv2.undistortPoints(pts.reshape(-1, 1, 2), K, _cv_dist(d), P=K)[:, 0]
    with jax.enable_x64(True):
        ours = np.asarray(undistort_points(K, d, pts))
        four = np.asarray(undistort_points(K, d, pts, iterations=4))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
    if n:  # 5 iterations, as OpenCV: 4 would be visibly different
        assert np.abs(four - ref).max() > 1e-6


@pytest.mark.parametrize("n", [5, 8, 14])
def test_undistort_with_eps_criterion_equals_undistort_points_iter(n):
    rng = np.random.default_rng(200 + n)
    d = _dist(n, rng, strength=3.0)
    pts = rng.uniform([0, 0], [660, 490], (200, 2))
    for iterations, eps in [(20, 1e-3), (20, 1e-8), (3, 0.5)]:
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, iterations, eps)
        ref = cv2.undistortPointsIter(pts.reshape(-1, 1, 2), K, d, None, K, criteria)[:, 0]
        with jax.enable_x64(True):
            ours = np.asarray(undistort_points(K, d, pts, iterations=iterations, eps=eps))
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)


def test_undistort_inverts_project_with_enough_iterations():
    rng = np.random.default_rng(7)
    for n in COUNTS[1:]:
        d = _dist(n, rng)
        R, t = _pose(rng)
        X = _points(rng, R, t)
        with jax.enable_x64(True):
            distorted = project_points(K, d, R, t, X)
            ideal = project_points(K, np.zeros(0), R, t, X)
            back = np.asarray(undistort_points(K, d, distorted, iterations=300, eps=1e-11))
        np.testing.assert_allclose(back, np.asarray(ideal), rtol=0, atol=1e-6)


def test_opencv_edge_cases_z_zero_and_negative_radial_factor():
    # A point on the camera plane (z = 0) is divided by 1, as OpenCV does.
    X = np.array([[0.3, -0.2, 0.0], [0.1, 0.1, -2.0]])
    d = np.array([-0.3, 0.1, 0.001, 0.002, 0.0])
    ref = cv2.projectPoints(X, np.zeros(3), np.zeros(3), K, d)[0][:, 0]
    with jax.enable_x64(True):
        np.testing.assert_allclose(np.asarray(project_points(K, d, np.eye(3), np.zeros(3), X)), ref, atol=1e-9)
    # Strong barrel distortion far off-centre: OpenCV's radial factor turns negative and it falls back.
    d = np.array([-1.5, 0.0, 0.0, 0.0, 0.0])
    pts = np.array([[5000.0, 4000.0], [-3000.0, 100.0], [330.0, 240.0]])
    ref = cv2.undistortPoints(pts.reshape(-1, 1, 2), K, d, P=K)[:, 0]
    with jax.enable_x64(True):
        np.testing.assert_allclose(np.asarray(undistort_points(K, d, pts)), ref, atol=1e-9)


def test_distortion_vectors_opencv_would_refuse_are_refused():
    with pytest.raises(InputError, match="0, 4, 5, 8, 12 or 14"):
        project_points(K, np.zeros(6), np.eye(3), np.zeros(3), np.ones((2, 3)))
    with pytest.raises(InputError, match="0, 4, 5, 8, 12 or 14"):
        undistort_points(K, np.zeros((5, 1)), np.ones((2, 2)))


def test_one_compile_per_shape_whatever_the_coefficient_count():
    distortion.project_points_padded.clear_cache()
    distortion.undistort_points_padded.clear_cache()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3)).astype(np.float32) + [0, 0, 5]
    for n in COUNTS:
        d = _dist(n, rng).astype(np.float32)
        uv = project_points(K.astype(np.float32), d, np.eye(3, dtype=np.float32), np.zeros(3, np.float32), X)
        undistort_points(K.astype(np.float32), d, uv)
        undistort_points(K.astype(np.float32), d, uv, eps=0.01 * (n + 1))
    assert distortion.project_points_padded._cache_size() == 1
    assert distortion.undistort_points_padded._cache_size() == 1


def _camera(name="c0", n=5, seed=0, units="m") -> Camera:
    rng = np.random.default_rng(seed)
    R, t = _pose(rng)
    return Camera(name, K, _dist(n, rng), R, t, (660, 490), units)


def test_camera_properties():
    cam = _camera()
    np.testing.assert_allclose(cam.P, K @ np.hstack([cam.R, cam.t[:, None]]))
    np.testing.assert_allclose(cam.R @ cam.center + cam.t, 0, atol=1e-12)  # the centre maps to the origin
    np.testing.assert_allclose(cv2.Rodrigues(cam.rvec)[0], cam.R, atol=1e-12)
    np.testing.assert_allclose(Camera.from_rvec("c0", K, cam.dist, cam.rvec, cam.t).R, cam.R, atol=1e-14)
    assert not cam.K.flags.writeable
    with pytest.raises(Exception):
        cam.name = "other"
    mm = cam.with_units("mm")
    np.testing.assert_allclose(mm.t, cam.t * 1000)
    assert mm.units == "mm"
    with pytest.raises(InputError, match="not a known length"):
        cam.replace(units="squares").with_units("m")


def _facing_origin(name: str, n: int, seed: int) -> Camera:
    """A camera about 5 units from the world origin, looking roughly at it."""
    rng = np.random.default_rng(seed)
    R = cv2.Rodrigues(rng.normal(0, 0.15, 3))[0]
    return Camera(name, K, _dist(n, rng), R, np.array([0.0, 0.0, 5.0]) + rng.normal(0, 0.2, 3), (660, 490))


def test_group_project_and_undistort_equal_opencv_per_view():
    group = CameraGroup(tuple(_facing_origin(f"c{i}", n, seed=i) for i, n in enumerate((4, 5, 8, 12, 14))))
    X = np.random.default_rng(3).normal(0, 0.5, (2, 7, 3))
    uv = group.project(X)
    assert uv.shape == (5, 2, 7, 2) and uv.dtype == np.float64
    for v, cam in enumerate(group):
        ref = cv2.projectPoints(X.reshape(-1, 3), cam.rvec, cam.t, cam.K, cam.dist)[0].reshape(2, 7, 2)
        np.testing.assert_allclose(uv[v], ref, atol=1e-8)
        und = cv2.undistortPoints(ref.reshape(-1, 1, 2), cam.K, cam.dist, P=cam.K).reshape(2, 7, 2)
        np.testing.assert_allclose(group.undistort(uv)[v], und, atol=1e-8)
    P = group.projection_matrices()
    assert P.shape == (5, 3, 4)
    arrays = group.arrays()
    assert arrays.dist.shape == (5, 14) and np.array_equal(arrays.dist[0, :4], group[0].dist)
    assert group.names == ("c0", "c1", "c2", "c3", "c4") and len(group) == 5
    assert group[1:3].names == ("c1", "c2") and group.subset(["c3", 0]).names == ("c3", "c0")


def test_exports():
    assert jaxpose.Camera is Camera and jaxpose.CameraGroup is CameraGroup


BAD_CAMERAS = [
    (dict(K=np.zeros((3, 3))), "K must be"),
    (dict(K=np.diag([0.0, 800.0, 1.0])), "singular"),
    (dict(K=np.array([[800, 0, 320], [0, -800, 240], [0, 0, 1.0]])), "singular or flipped"),
    (dict(K=np.array([[800, 2.0, 320], [0, 800, 240], [0, 0, 1.0]])), "skew"),
    (dict(K=np.eye(4)), r"shape \(3, 3\)"),
    (dict(K=np.array([[np.nan, 0, 320], [0, 800, 240], [0, 0, 1.0]])), "non-finite"),
    (dict(dist=np.zeros(6)), "6 coefficients"),
    (dict(dist=[0.1, np.inf, 0, 0]), "non-finite"),
    (dict(R=np.diag([1.0, 1.0, -1.0])), "not a rotation"),
    (dict(R=np.eye(3) * 2), "not a rotation"),
    (dict(R=np.zeros((3, 3))), "not a rotation"),
    (dict(t=np.zeros(4)), r"shape \(3,\)"),
    (dict(t=[0, np.nan, 1]), "non-finite"),
    (dict(t="abc"), "must be numbers"),
    (dict(image_size=(640,)), "image_size"),
    (dict(image_size=(640.5, 480)), "whole pixel"),
    (dict(image_size=(0, 480)), "positive"),
    (dict(units=""), "units"),
    (dict(name=3), "name must be a string"),
]


@pytest.mark.parametrize("change,message", BAD_CAMERAS)
def test_bad_cameras_raise_clear_input_errors(change, message):
    fields = dict(name="c0", K=K, dist=np.zeros(5), R=np.eye(3), t=np.zeros(3), image_size=(640, 480), units="m")
    fields.update(change)
    with pytest.raises(InputError, match=message):
        Camera(**fields)


def test_bad_groups_and_arguments():
    with pytest.raises(InputError, match="at least one"):
        CameraGroup(())
    with pytest.raises(InputError, match="unique"):
        CameraGroup((_camera("a"), _camera("a", seed=1)))
    with pytest.raises(InputError, match="different units"):
        CameraGroup((_camera("a"), _camera("b", units="mm")))
    with pytest.raises(InputError, match="Camera objects"):
        CameraGroup(("a",))
    group = CameraGroup((_camera("a"), _camera("b", seed=1)))
    with pytest.raises(InputError, match=r"\(\.\.\., 3\)"):
        group.project(np.zeros((4, 2)))
    with pytest.raises(InputError, match="V=2"):
        group.undistort(np.zeros((3, 4, 2)))
    with pytest.raises(InputError, match="no camera named"):
        group.subset(["zz"])
