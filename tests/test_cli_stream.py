"""The command on the streaming engine, with the real default model: the overlapped run writes
exactly the files of the sequential run (`--disable_multi_thread`) and of `pose_fn` called frame by
frame, on a video and on an image folder with a corrupt image in the middle."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import jaxpose
from jaxpose.cli import run
from jaxpose.io.writers.people_json import people_json
from conftest import MEDIA_DIR, need_shared

pytestmark = pytest.mark.slow
SMALL = "-1x128"  # a small net input keeps these runs quick; the engine does not care


def _cli(*argv) -> tuple[int, str]:
    err = io.StringIO()
    code = run.main([str(a) for a in argv] + ["--net_resolution", SMALL], stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def folder_with_a_bad_image(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    photos = sorted(need_shared(MEDIA_DIR).glob("COCO_val2014_*.jpg"))[:4]
    for i, photo in enumerate(photos[:2]):
        shutil.copy(photo, folder / f"img_{i}.jpg")
    (folder / "img_2.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    for i, photo in enumerate(photos[2:4], start=3):
        shutil.copy(photo, folder / f"img_{i}.jpg")
    return folder


def _outputs(root: Path, video: bool = False) -> list[str]:
    files = ["--write_json", root / "json", "--write_images", root / "img", "--write_keypoint",
             root / "csv", "--write_keypoint_format", "csv", "--write_coco_json", root / "coco.json",
             "--quiet"]
    return files + (["--write_video", root / "out.avi"] if video else [])


def test_folder_overlapped_equals_sequential_and_pose_fn(default_model, folder_with_a_bad_image, tmp_path):
    code_o, err_o = _cli(folder_with_a_bad_image, "--batch", "2", *_outputs(tmp_path / "o"))
    code_s, err_s = _cli(folder_with_a_bad_image, "--batch", "2", "--disable_multi_thread",
                         *_outputs(tmp_path / "s"))
    assert code_o == code_s == 1  # the corrupt image is a failure, the others are written
    assert err_o == err_s and err_o.count("\n") == 1 and "img_2.jpg: not a readable image" in err_o
    overlapped, sequential = _tree(tmp_path / "o"), _tree(tmp_path / "s")
    assert overlapped == sequential
    assert sorted(k for k in overlapped if k.startswith("json/")) == [
        f"json/img_{i}_keypoints.json" for i in (0, 1, 3, 4)]
    pose_fn = jaxpose.make_pose_fn(default_model, net_resolution=(-1, 128))
    for i in (0, 1, 3, 4):
        rgb = cv2.imread(str(folder_with_a_bad_image / f"img_{i}.jpg"))[:, :, ::-1]
        expected = people_json(pose_fn(default_model.params, np.ascontiguousarray(rgb)))
        assert overlapped[f"json/img_{i}_keypoints.json"].decode() == expected


def test_video_overlapped_equals_sequential_and_pose_fn(default_model, tmp_path):
    video = need_shared(MEDIA_DIR / "video.avi")
    args = ["--video", video, "--frame_last", "4", "--batch", "4"]
    assert _cli(*args, *_outputs(tmp_path / "o", video=True))[0] == 0
    assert _cli(*args, "--disable_multi_thread", *_outputs(tmp_path / "s", video=True))[0] == 0
    overlapped = _tree(tmp_path / "o")
    assert overlapped == _tree(tmp_path / "s")
    pose_fn = jaxpose.make_pose_fn(default_model, net_resolution=(-1, 128), net_resolution_dynamic=-1)
    capture = cv2.VideoCapture(str(video))
    people = 0
    for index in range(5):
        ok, bgr = capture.read()
        assert ok
        poses = pose_fn(default_model.params, np.ascontiguousarray(bgr[:, :, ::-1]))
        people += poses.num_people
        assert overlapped[f"json/video_{index:012d}_keypoints.json"].decode() == people_json(poses)
    assert people > 0  # the comparison is not vacuous
    assert len(json.loads(overlapped["coco.json"])) == people
    assert int(cv2.VideoCapture(str(tmp_path / "o" / "out.avi")).get(cv2.CAP_PROP_FRAME_COUNT)) == 5
