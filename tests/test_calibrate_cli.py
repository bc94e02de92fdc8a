"""`jaxpose calibrate`: files written (read back by OpenCV / tomllib), report printed, exit codes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import chessboard_scene as scene
from jaxpose.cameras import CameraGroup
from jaxpose.cameras.toml_format import tomllib  # tomllib, or tomli before Python 3.11
from jaxpose.cli import main as cli_main


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two synchronised cameras of the synthetic rig, 6 PNG frames each, one folder per camera."""
    truth, frames = scene.cached_rig()
    root = tmp_path_factory.mktemp("calib")
    for c in range(2):
        (root / f"cam{c}").mkdir()
        for i, frame in enumerate(frames[c][:6]):
            cv2.imwrite(str(root / f"cam{c}" / f"frame{i}.png"), frame[..., ::-1])
    (root / "blank").mkdir()
    for i in range(3):
        cv2.imwrite(str(root / "blank" / f"b{i}.png"), np.full((480, 640), 255, np.uint8))
    return truth, root


def _run(capsys, *argv):
    code = cli_main.main(["calibrate", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_calibrates_and_writes_openpose_xml_and_toml(folders, capsys, tmp_path):
    truth, root = folders
    out = tmp_path / "cameras"
    code, stdout, stderr = _run(capsys, "--camera", root / "cam0", "--camera", root / "cam1",
                                "--grid_number_inner_corners", "9x6", "--grid_square_size_mm", "30",
                                "--camera_parameter_folder", out, "--toml", tmp_path / "calib.toml",
                                "--toml_style", "pose2sim", "--names", "left,right")
    assert code == 0, stderr
    assert "intrinsics RMS" in stdout and "baseline left - right" in stdout and "max(5, pitch/4)" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["left.xml", "right.xml"]
    fs = cv2.FileStorage(str(out / "right.xml"), cv2.FILE_STORAGE_READ)
    extrinsics = fs.getNode("CameraMatrix").mat()
    fs.release()
    true_t = truth[1].t / 1000  # OpenPose's XML: metres
    np.testing.assert_allclose(extrinsics[:, 3], true_t, atol=0.005)
    group = CameraGroup.from_openpose_xml(out)
    assert group.names == ("left", "right") and group.units == "m" and group[0].image_size == (640, 480)
    doc = tomllib.loads((tmp_path / "calib.toml").read_text())
    assert list(doc) == ["left", "right", "metadata"] and doc["right"]["fisheye"] is False
    np.testing.assert_allclose(doc["right"]["translation"], extrinsics[:, 3], rtol=1e-12)
    rms = float(stdout.split("bundle-adjusted RMS ")[1].split()[0])  # the report's figure
    assert doc["metadata"]["error"] == pytest.approx(rms, abs=1e-4) and rms > 0


def test_units_that_are_not_lengths_are_kept_with_a_warning(folders, capsys, tmp_path):
    truth, root = folders
    code, stdout, _ = _run(capsys, "--camera", root / "cam0", "--camera", root / "cam1",
                           "--grid_number_inner_corners", "9x6", "--grid_square_size", "1", "--units", "squares",
                           "-o", tmp_path / "out")
    assert code == 0 and "OpenPose's --3d assumes metres" in stdout
    group = CameraGroup.from_openpose_xml(tmp_path / "out")
    assert group.units == "squares"
    assert np.linalg.norm(group[1].center) == pytest.approx(np.linalg.norm(truth[1].center) / 30, rel=0.02)


@pytest.mark.parametrize("argv,message", [
    (["--camera", "{root}/missing", "--grid_number_inner_corners", "9x6", "--grid_square_size_mm", "30", "-o", "{out}"],
     "no such folder"),
    (["--camera", "{root}/cam0", "--grid_number_inner_corners", "9by6", "--grid_square_size_mm", "30", "-o", "{out}"],
     "WIDTHxHEIGHT"),
    (["--camera", "{root}/cam0", "--grid_number_inner_corners", "9x6", "-o", "{out}"], "grid_square_size"),
    (["--camera", "{root}/cam0", "--grid_number_inner_corners", "9x6", "--grid_square_size_mm", "30", "-o", "{out}",
      "--names", "a,b"], "2 names for 1 cameras"),
    (["--camera", "{root}/cam0", "--grid_number_inner_corners", "9x6", "--grid_square_size_mm", "30", "-o", "{out}",
      "--frame_step", "0"], "frame_step"),
])
def test_usage_errors_exit_2(folders, capsys, tmp_path, argv, message):
    _, root = folders
    argv = [a.format(root=root, out=tmp_path / "out") for a in argv]
    code, _, stderr = _run(capsys, *argv)
    assert code == 2 and message in stderr
    assert not (tmp_path / "out").exists()


def test_calibration_failures_exit_1_and_write_nothing(folders, capsys, tmp_path):
    _, root = folders
    code, _, stderr = _run(capsys, "--camera", root / "blank", "--grid_number_inner_corners", "9x6",
                           "--grid_square_size_mm", "30", "-o", tmp_path / "out")
    assert code == 1 and "found in none of its 3 frames" in stderr
    code, _, stderr = _run(capsys, "--camera", root / "cam0", "--camera", root / "blank", "--grid_number_inner_corners",
                           "9x6", "--grid_square_size_mm", "30", "-o", tmp_path / "out")
    assert code == 1 and "camera cam1: the 9x6 chessboard was found in none of its 3 frames" in stderr
    code, _, stderr = _run(capsys, "--camera", root / "cam0", "--grid_number_inner_corners", "9x6",
                           "--grid_square_size", "1", "--units", "squares", "-o", tmp_path / "out",
                           "--toml", tmp_path / "c.toml", "--toml_style", "pose2sim")
    assert code == 1 and "Pose2Sim stores translations in metres" in stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "c.toml").exists()


def test_extrinsics_only_with_given_intrinsics(folders, capsys, tmp_path):
    truth, root = folders
    truth[:2].to_openpose_xml(tmp_path / "intrinsics")
    code, stdout, stderr = _run(capsys, "--camera", root / "cam0", "--camera", root / "cam1",
                                "--grid_number_inner_corners", "9x6", "--grid_square_size_mm", "30",
                                "--intrinsics", tmp_path / "intrinsics", "-o", tmp_path / "out")
    assert code == 0, stderr
    assert "intrinsics given" in stdout
    group = CameraGroup.from_openpose_xml(tmp_path / "out")
    assert np.array_equal(group[1].K, truth[1].K) and np.array_equal(group[1].dist, truth[1].dist)
    np.testing.assert_allclose(group[1].center, truth[1].center / 1000, atol=0.001)


def test_destinations_that_cannot_be_written_are_refused_before_calibrating(folders, capsys, tmp_path):
    """Exit 2 at once (not after minutes of calibration, and nothing written): an output folder under
    a file, a folder already holding other cameras' XML, a TOML path that is a folder; and a glob the
    shell expanded because it was not quoted."""
    _, root = folders
    common = ["--camera", root / "cam0", "--grid_number_inner_corners", "9x6", "--grid_square_size_mm", "30"]
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "left.xml").write_text("<opencv_storage/>")
    cases = [
        (["-o", a_file / "cameras"], f"--camera_parameter_folder {a_file / 'cameras'}: {a_file} is not a folder"),
        (["-o", a_file], "exists and is not a folder"),
        (["-o", taken], "already holds other camera files ['left.xml']"),
        (["-o", tmp_path / "out", "--toml", tmp_path], f"--toml {tmp_path}: is a folder"),
        (["-o", tmp_path / "out", "--toml", a_file / "c.toml"], f"--toml {a_file / 'c.toml'}: {a_file} is not a folder"),
    ]
    for extra, message in cases:
        code, stdout, stderr = _run(capsys, *common, *extra)
        assert code == 2 and message in stderr and "intrinsics RMS" not in stdout + stderr, (extra, stderr)
    frames = sorted((root / "cam0").iterdir())
    code, _, stderr = _run(capsys, "--camera", *frames, "--grid_number_inner_corners", "9x6",
                           "--grid_square_size_mm", "30", "-o", tmp_path / "out")
    assert code == 2 and f"but {len(frames)} files followed it: quote a pattern" in stderr
    assert not (tmp_path / "out").exists() and a_file.read_text() == "x"
    assert sorted(p.name for p in taken.iterdir()) == ["left.xml"]
