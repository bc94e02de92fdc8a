"""`--tracking`, `--smooth`, `--write_posetrack`, `--render_ids` through the command: the files
carry the ids and smoothed keypoints that `jaxpose.Tracker` and `jaxpose.track.smooth_tracks`
give on the same per-frame poses, whatever `--batch`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import jaxpose
from jaxpose.cli import run
from jaxpose.io.writers.people_json import people_json
from jaxpose.track import Tracker, smooth_tracks
from conftest import MEDIA_DIR, need_shared


def _cli(*argv) -> tuple[int, str]:
    err = io.StringIO()
    return run.main([str(a) for a in argv], stdout=io.StringIO(), stderr=err), err.getvalue()


def test_tracking_flags_are_checked_before_any_work(tmp_path):
    code, err = _cli(tmp_path, "--smooth", "kalman")
    assert code == 2 and "--smooth 'kalman': use one of one_euro, savgol, butterworth" in err
    code, err = _cli(tmp_path, "--write_posetrack", tmp_path / "pt")
    assert code == 2 and "--write_posetrack needs --tracking 0" in err
    code, err = _cli(tmp_path, "--render_ids", "--write_images", tmp_path / "i")
    assert code == 2 and "--render_ids draws tracked ids" in err
    code, err = _cli(tmp_path, "--tracking", "0", "--tracking_buffer", "-3")
    assert code == 2 and "buffer_frames" in err
    assert not (tmp_path / "pt").exists() and not (tmp_path / "i").exists()


@pytest.fixture(scope="module")
def clip():
    """The first 8 frames of video.avi, and the default model's poses for them (frame by frame)."""
    video = need_shared(MEDIA_DIR / "video.avi")
    try:
        model = jaxpose.load_model("mobilenet_thin")
    except jaxpose.JaxposeError as exc:
        pytest.skip(f"default model unavailable: {exc}")
    pose_fn = jaxpose.make_pose_fn(model, net_resolution=(-1, 192), net_resolution_dynamic=-1)
    capture = cv2.VideoCapture(str(video))
    poses = []
    for _ in range(8):
        ok, bgr = capture.read()
        assert ok
        poses.append(pose_fn(model.params, np.ascontiguousarray(bgr[:, :, ::-1])))
    return video, poses, capture.get(cv2.CAP_PROP_FPS)


def _json_people(folder: Path, name: str) -> list[dict]:
    return json.loads((folder / f"{name}_keypoints.json").read_text())["people"]


@pytest.mark.slow
def test_ids_in_the_json_are_the_trackers_whatever_the_batch(clip, tmp_path):
    video, poses, fps = clip
    tracker = Tracker()
    expected = [tracker.update(p, timestamp=i / fps) for i, p in enumerate(poses)]
    assert len({int(i) for p in expected for i in p.ids}) >= 2  # several people, not vacuous
    for batch in ("1", "4"):
        out = tmp_path / f"b{batch}"
        code, err = _cli(video, "--frame_last", "7", "--net_resolution", "-1x192", "--tracking", "0",
                         "--batch", batch, "--write_json", out / "json", "--write_posetrack", out / "pt",
                         "--write_images", out / "img", "--render_ids", "--quiet")
        assert code == 0, err
        for i, p in enumerate(expected):
            name = f"video_{i:012d}"
            assert (out / "json" / f"{name}_keypoints.json").read_text() == people_json(p)
            assert [q["person_id"] for q in _json_people(out / "json", name)] == [[int(x)] for x in p.ids]
        posetrack = json.loads((out / "pt" / "video.json").read_text())
        assert len(posetrack["images"]) == 8
        assert {a["track_id"] for a in posetrack["annotations"]} <= {int(x) for p in expected for x in p.ids}


@pytest.mark.slow
def test_offline_smoothing_writes_smooth_tracks_of_the_tracked_poses(clip, tmp_path):
    video, poses, fps = clip
    tracker = Tracker()
    tracked = [tracker.update(p, timestamp=i / fps) for i, p in enumerate(poses)]
    expected = smooth_tracks(tracked, "savgol", window=5, polyorder=2, max_gap=5)
    assert any(not np.array_equal(a.keypoints, b.keypoints) for a, b in zip(expected, tracked))
    code, err = _cli(video, "--frame_last", "7", "--net_resolution", "-1x192", "--smooth", "savgol",
                     "--smooth_window", "5", "--write_json", tmp_path / "json", "--write_video",
                     tmp_path / "v.avi")
    assert code == 0, err
    assert "tracking is on" in err and "written once all its frames are processed" in err
    for i, p in enumerate(expected):
        name = f"video_{i:012d}"
        assert (tmp_path / "json" / f"{name}_keypoints.json").read_text() == people_json(p)
    assert int(cv2.VideoCapture(str(tmp_path / "v.avi")).get(cv2.CAP_PROP_FRAME_COUNT)) == 8


def test_tracking_a_folder_says_ids_are_per_video(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((32, 32, 3), np.uint8))
    code, err = _cli(folder, "--tracking", "0", "--net_resolution", "-1x64", "--write_json", tmp_path / "j")
    assert code == 0 and "ids are per video" in err
