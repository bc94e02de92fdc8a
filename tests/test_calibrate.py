"""Calibration toolbox: OpenCV's stereo chessboard figures, a synthetic 3-camera rig, bad input."""

from __future__ import annotations

import glob

import cv2
import numpy as np
import pytest

import chessboard_scene as scene
import jaxpose
from conftest import SHARED, need_shared
from jaxpose.calibration import Chessboard, FrameUndistorter, calibrate, find_corners, undistort_image
from jaxpose.calibration.board import refine_window
from jaxpose.calibration.extrinsics import fit_extrinsics
from jaxpose.calibration.intrinsics import fit_intrinsics
from jaxpose.cameras import CameraGroup
from jaxpose.errors import InputError

STEREO = SHARED / "calibration" / "stereo_chessboard"
BOARD = Chessboard(9, 6, 30.0, "mm")


def _angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(Ra.T @ Rb) - 1) / 2, -1, 1))))


# ---------------------------------------------------------------- the stereo anchor (basis doc §3)

@pytest.fixture(scope="module")
def stereo():
    need_shared(STEREO / "left01.jpg")
    sources = [str(STEREO / "left*.jpg"), str(STEREO / "right*.jpg")]
    runs = {model: calibrate(sources, "9x6", 1.0, "squares", model=model) for model in ("standard", "rational")}
    runs["opencv"] = calibrate(sources, "9x6", 1.0, "squares", corner_rule="opencv")
    runs["opencv, all views"] = calibrate(sources, "9x6", 1.0, "squares", corner_rule="opencv", outlier_px=100)
    return runs


@pytest.mark.slow
def test_stereo_chessboard_reaches_the_basis_figures_with_openposes_rule(stereo):
    """Basis doc §3, OpenPose's corner rule: RMS left 0.1949 / right 0.1838 (k1 k2 p1 p2 k3),
    0.1938 / 0.1831 (rational); stereo RMS 0.2056 and |T| = 3.327 squares (fixed 5-coefficient intrinsics)."""
    group, report = stereo["standard"]
    assert report.intrinsics_rms[0] == pytest.approx(0.1949, abs=0.01)
    assert report.intrinsics_rms[1] == pytest.approx(0.1838, abs=0.01)
    assert report.extrinsics_rms == pytest.approx(0.2056, abs=0.01)
    assert report.baselines[0, 1] == pytest.approx(3.327, rel=0.005)
    assert group[0].K[0, 0] == pytest.approx(533.25, rel=0.002) and group[1].K[0, 0] == pytest.approx(537.62, rel=0.002)
    assert report.views_used == (13, 13) and report.instants_used == 13 and not report.dropped
    _, rational = stereo["rational"]
    assert rational.intrinsics_rms[0] == pytest.approx(0.1938, abs=0.01)
    assert rational.intrinsics_rms[1] == pytest.approx(0.1831, abs=0.01)
    assert rational.baselines[0, 1] == pytest.approx(3.327, rel=0.005)
    assert "max(5, pitch/4)" in report.summary()


@pytest.mark.slow
def test_stereo_chessboard_with_the_opencv_sample_rule(stereo):
    """Basis doc §3, OpenCV sample's corners, all views: 0.4080 / 0.4578, stereo 0.4470, |T| = 3.345.
    By default the outlier rule drops pair 02 (1.2 px per view, the set's known worst view)."""
    group, report = stereo["opencv, all views"]
    assert report.intrinsics_rms[0] == pytest.approx(0.4080, abs=0.01)
    assert report.intrinsics_rms[1] == pytest.approx(0.4578, abs=0.01)
    assert report.extrinsics_rms == pytest.approx(0.4470, abs=0.01)
    assert report.baselines[0, 1] == pytest.approx(3.345, rel=0.005)
    assert group[0].K[0, 0] == pytest.approx(536.07, rel=0.002) and group[1].K[0, 0] == pytest.approx(542.34, rel=0.002)
    _, report = stereo["opencv"]
    assert sorted((d.camera, d.view) for d in report.dropped) == [("cam0", "left02.jpg"), ("cam1", "right02.jpg")]
    assert all("outlier" in d.reason for d in report.dropped)
    assert report.baselines[0, 1] == pytest.approx(3.345, rel=0.005)


@pytest.mark.slow
def test_bundle_adjustment_equals_opencv_stereo_calibrate(stereo):
    """Same corners, same intrinsics: our adjustment reaches OpenCV's stereoCalibrate(FIX_INTRINSIC) optimum."""
    group, report = stereo["standard"]
    board = Chessboard(9, 6, 1.0, "squares")
    corners = []
    for side in ("left", "right"):
        files = sorted(glob.glob(str(STEREO / f"{side}*.jpg")))
        corners.append([find_corners(cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2GRAY), board) for f in files])
    rms, *_, R, T, _, _ = cv2.stereoCalibrate(
        [board.object_points()] * 13, [c.reshape(-1, 1, 2) for c in corners[0]], [c.reshape(-1, 1, 2) for c in corners[1]],
        group[0].K.copy(), group[0].dist.copy(), group[1].K.copy(), group[1].dist.copy(), (640, 480),
        flags=cv2.CALIB_FIX_INTRINSIC)
    assert report.extrinsics_rms == pytest.approx(rms, abs=1e-4)
    np.testing.assert_allclose(group[1].t, T.ravel(), atol=2e-3)
    assert _angle_deg(group[1].R, R) < 0.01


# ---------------------------------------------------------------- a synthetic rig with known cameras

@pytest.fixture(scope="module")
def rig():
    return scene.cached_rig()


def test_synthetic_rig_bundle_adjustment_recovers_the_poses(rig):
    """With the true intrinsics, extrinsics come back to 0.02 degrees and 0.5 mm (camera 2 is upside down)."""
    truth, frames = rig
    group, report = calibrate(frames, BOARD, intrinsics=truth)
    assert report.instants_used == 10 and not report.dropped and report.extrinsics_rms < 0.3
    assert np.array_equal(group[0].R, np.eye(3)) and np.array_equal(group[0].t, np.zeros(3))
    for cam, ref in zip(group, truth):
        assert _angle_deg(cam.R, ref.R) < 0.02
        assert np.linalg.norm(cam.center - ref.center) < 0.5
    assert group.units == "mm" and group.names == ("cam0", "cam1", "cam2")


def test_synthetic_rig_full_calibration(rig):
    truth, frames = rig
    group, report = calibrate(frames, BOARD, names=["a", "b", "c"])
    assert group.names == ("a", "b", "c") and all(r < 0.3 for r in report.intrinsics_rms)
    for cam, ref in zip(group, truth):
        np.testing.assert_allclose(cam.K[[0, 1], [0, 1]], ref.K[[0, 1], [0, 1]], rtol=0.005)
        assert _angle_deg(cam.R, ref.R) < 0.5
        assert np.linalg.norm(cam.center - ref.center) < 0.015 * 300
    true_baselines = np.linalg.norm(truth[1].center - truth[0].center)
    assert report.baselines[0, 1] == pytest.approx(true_baselines, rel=0.01)
    # what triangulation needs: true corresponding points satisfy the calibrated epipolar geometry
    M = scene.board_poses(10)[3]
    Xw = BOARD.object_points() @ M[:3, :3].T + M[:3, 3]
    undistorted = group.undistort(truth.project(Xw), iterations=30)
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        R = group[b].R @ group[a].R.T
        t = group[b].t - R @ group[a].t
        E = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]]) @ R
        F = np.linalg.inv(group[b].K).T @ E @ np.linalg.inv(group[a].K)
        xa, xb = (np.c_[undistorted[v], np.ones(len(Xw))] for v in (a, b))
        lines = xa @ F.T  # epipolar lines in view b
        distance = np.abs((xb * lines).sum(1)) / np.linalg.norm(lines[:, :2], axis=1)
        assert distance.max() < 1.0, (a, b, distance.max())


def test_corner_order_is_the_same_in_every_camera(rig):
    """The upside-down camera numbers the corners as the others do (canonical order, board.py)."""
    truth, frames = rig
    obj = BOARD.object_points().astype(np.float64)
    M = scene.board_poses(10)[0]
    Xw = obj @ M[:3, :3].T + M[:3, 3]
    expected = truth.project(Xw)
    for c in range(3):
        gray = cv2.cvtColor(frames[c][0], cv2.COLOR_RGB2GRAY)
        found = find_corners(gray, BOARD)
        assert np.abs(found - expected[c]).max() < 0.5
        rotated = find_corners(np.ascontiguousarray(gray[::-1, ::-1]), BOARD)  # the image turned by 180 degrees
        assert np.abs(rotated - ([639, 479] - expected[c])).max() < 0.5


def test_openpose_refinement_window():
    corners = np.array([[100.0, 100.0], [131.0, 108.0]])
    assert refine_window(corners, "openpose") == 8  # round(31 / 4)
    assert refine_window(np.array([[0.0, 0.0], [12.0, 3.0]]), "openpose") == 5  # never below 5
    assert refine_window(corners, "opencv") == 11


def test_intrinsics_drop_outlier_views(rig):
    truth, frames = rig
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames[0]]
    corners = {i: find_corners(g, BOARD) for i, g in enumerate(gray)}
    corners[4] = corners[4] + np.random.default_rng(0).normal(0, 4.0, corners[4].shape).astype(np.float32)
    fit = fit_intrinsics(corners, BOARD, (640, 480))
    assert list(fit.outliers) == [4] and "outlier" in fit.outliers[4] and 4 not in fit.view_rms
    assert fit.rms < 0.3


def test_dropped_views_are_reported(rig, tmp_path):
    truth, frames = rig
    blank = np.full((480, 640, 3), 200, np.uint8)
    cam0 = frames[0][:6] + [blank]
    cam1 = frames[1][:6] + [frames[1][6]]
    group, report = calibrate([cam0, cam1], BOARD)
    assert [(d.camera, d.view, d.reason) for d in report.dropped] == [("cam0", "frame 6", "board not found")]
    assert report.views_used == (6, 7) and report.instants_used == 6
    # an unreadable file and an odd-sized image in a folder
    folder = tmp_path / "cam"
    folder.mkdir()
    for i, frame in enumerate(frames[0][:5]):
        cv2.imwrite(str(folder / f"img{i}.png"), frame[..., ::-1])
    (folder / "img5.png").write_bytes(b"not an image")
    cv2.imwrite(str(folder / "img6.png"), frames[0][5][:240])
    _, report = calibrate([folder], BOARD)
    reasons = {d.view: d.reason for d in report.dropped}
    assert reasons["img5.png"].startswith("unreadable") and "640x480" in reasons["img6.png"]


def test_bad_calibration_input(rig):
    truth, frames = rig
    blank = [np.full((480, 640), 255, np.uint8)] * 4
    with pytest.raises(InputError, match="found in none of its 4 frames"):
        calibrate([blank], BOARD)
    with pytest.raises(InputError, match="at least 3"):
        calibrate([frames[0][:2]], BOARD)
    with pytest.raises(InputError, match="different numbers of frames"):
        calibrate([frames[0][:5], frames[1][:6]], BOARD)
    with pytest.raises(InputError, match="the pattern matches no image files"):
        calibrate(["/nonexistent/left*.jpg"], BOARD)
    with pytest.raises(InputError, match="at least 2x2"):
        Chessboard(1, 6)
    with pytest.raises(InputError, match="WIDTHxHEIGHT"):
        calibrate([frames[0]], "9by6")
    with pytest.raises(InputError, match="unknown distortion model"):
        calibrate([frames[0]], BOARD, model="fisheye")
    with pytest.raises(InputError, match="at least 2 cameras"):
        fit_extrinsics([{}], BOARD.object_points(), [truth[0].K], [truth[0].dist], ["cam0"])
    # two cameras that never see the board at the same instant
    blank3 = np.full((480, 640, 3), 128, np.uint8)
    cam0 = frames[0][:4] + [blank3] * 4
    cam1 = [blank3] * 4 + frames[1][4:8]
    with pytest.raises(InputError, match="2 or more cameras"):
        calibrate([cam0, cam1], BOARD)


def test_single_camera_is_the_world_frame(rig):
    truth, frames = rig
    group, report = calibrate([frames[1]], BOARD, model="simple")
    assert len(group) == 1 and group[0].dist.size == 4 and report.extrinsics_rms is None
    assert np.array_equal(group[0].R, np.eye(3)) and np.array_equal(group[0].t, np.zeros(3))


def test_export():
    assert jaxpose.calibrate is calibrate


# ---------------------------------------------------------------- --frame_undistort

def test_undistort_image_is_opencvs_remap_with_the_same_k(rig):
    truth, frames = rig
    cam = truth[0]
    image = frames[0][0]
    expected = cv2.undistort(image, cam.K, cam.dist)  # = initUndistortRectifyMap(K, d, I, K, CV_16SC2) + bilinear
    assert np.array_equal(undistort_image(cam, image), expected)
    undistorter = FrameUndistorter(cam)
    assert np.array_equal(undistorter(image[..., 0]), expected[..., 0])
    with pytest.raises(InputError, match="calibrated at 640x480"):
        undistorter(image[:100])
    # a straight board edge is straight again: corners of the undistorted frame fit the ideal pinhole
    corners = find_corners(cv2.cvtColor(expected, cv2.COLOR_RGB2GRAY), BOARD)
    M = scene.board_poses(10)[0]
    Xw = BOARD.object_points() @ M[:3, :3].T + M[:3, 3]
    ideal = CameraGroup((cam.replace(dist=np.zeros(0)),)).project(Xw)[0]
    assert np.abs(corners - ideal).max() < 0.5


def test_intrinsics_from_a_video(rig, tmp_path):
    truth, frames = rig
    path = tmp_path / "cam1.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for frame in frames[1]:
        writer.write(frame[..., ::-1])
    writer.release()
    group, report = calibrate([path], BOARD, frame_step=2)
    assert report.views_used == (5,)
    assert {e.view for e in report.view_errors} == {f"cam1_{i:012d}" for i in (0, 2, 4, 6, 8)}
    np.testing.assert_allclose(group[0].K[[0, 1], [0, 1]], truth[1].K[[0, 1], [0, 1]], rtol=0.01)
