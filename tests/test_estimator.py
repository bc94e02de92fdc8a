"""`PoseEstimator`: every input kind gives the poses `pose_fn` gives on the same RGB pixels, and
`stream` over a video equals the command's JSON."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import jaxpose
from jaxpose.cli import run
from jaxpose.errors import InputError
from jaxpose.io.writers.people_json import people_json
from conftest import MEDIA_DIR, need_shared

pytestmark = pytest.mark.slow
PHOTO = "COCO_val2014_000000000192.jpg"


@pytest.fixture(scope="module")
def est():
    try:
        return jaxpose.PoseEstimator(net_resolution=(-1, 160), batch=4)
    except jaxpose.JaxposeError as exc:
        pytest.skip(f"default model unavailable: {exc}")


@pytest.fixture(scope="module")
def photo() -> tuple[Path, np.ndarray]:
    path = need_shared(MEDIA_DIR / PHOTO)
    return path, np.ascontiguousarray(cv2.imread(str(path))[:, :, ::-1])


@pytest.fixture(scope="module")
def expected(est, photo):
    poses = est.pose_fn(est.model.params, photo[1])
    assert poses.num_people >= 2  # the comparisons below are not vacuous
    return poses


def _same(a, b):
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_path_pil_numpy_jax_inputs_agree(est, photo, expected):
    path, rgb = photo
    _same(est(path), expected)
    _same(est(str(path)), expected)
    _same(est(Image.open(path)), expected)
    _same(est(rgb), expected)
    _same(est(np.ascontiguousarray(rgb[:, :, ::-1]), bgr=True), expected)
    _same(est(jnp.asarray(rgb)), expected)
    keypoints, scores = est(rgb)  # rtmlib-style unpacking
    np.testing.assert_array_equal(keypoints, expected.keypoints)
    assert est(rgb).boxes.shape == (expected.num_people, 4)


def test_make_pose_fn_accepts_a_model_name(photo, expected):
    pose_fn = jaxpose.make_pose_fn("mobilenet_thin", net_resolution=(-1, 160))
    _same(pose_fn(pose_fn.params, photo[1]), expected)


def test_stream_of_a_video_equals_the_command_json(est, tmp_path):
    video = need_shared(MEDIA_DIR / "video.avi")
    code = run.main([str(video), "--frame_last", "5", "--net_resolution", "-1x160", "--write_json",
                     str(tmp_path), "--quiet"], stdout=io.StringIO(), stderr=io.StringIO())
    assert code == 0
    names = []
    for name, image, poses in est.stream(str(video)):
        if len(names) == 6:
            break
        names.append(name)
        assert image.shape == (720, 1280, 3)
        assert (tmp_path / f"{name}_keypoints.json").read_text() == people_json(poses)
    assert names == [f"video_{i:012d}" for i in range(6)]


def test_stream_of_frames_in_memory_and_of_a_folder(est, photo, expected, tmp_path):
    rgb = photo[1]
    results = list(est.stream([rgb, np.ascontiguousarray(rgb[:, :, ::-1])], bgr=False))
    assert [name for name, _, _ in results] == ["000000000000", "000000000001"]
    _same(results[0][2], expected)
    cv2.imwrite(str(tmp_path / "a.png"), rgb[:, :, ::-1])
    (tmp_path / "b.png").write_bytes(b"garbage")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = list(est.stream(tmp_path))
    assert [name for name, _, _ in folder] == ["a"]
    _same(folder[0][2], expected)
    assert len(caught) == 1 and "b.png" in str(caught[0].message)
    with pytest.raises(InputError, match="b.png"):
        list(est.stream(tmp_path, errors="raise"))


def test_bad_inputs_are_clear_errors(est, tmp_path):
    with pytest.raises(InputError, match="no such image file"):
        est(tmp_path / "absent.jpg")
    with pytest.raises(InputError, match="uint8"):
        est(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InputError, match="errors="):
        next(est.stream([], errors="loud"))
    with pytest.raises(InputError, match="stream source"):
        next(est.stream(3.5))
    with pytest.raises(InputError, match="batch"):
        jaxpose.PoseEstimator(batch=0)


def test_stream_with_tracking_yields_the_trackers_ids(est):
    video = need_shared(MEDIA_DIR / "video.avi")
    tracked = []
    for name, image, poses in est.stream(str(video), track=True):
        tracked.append(poses)
        if len(tracked) == 6:
            break
    tracker, fps = jaxpose.Tracker(), cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FPS)
    plain = []
    for name, image, poses in est.stream(str(video)):
        plain.append(tracker.update(poses, timestamp=len(plain) / fps))
        if len(plain) == 6:
            break
    assert any(p.num_people for p in plain)
    for a, b in zip(tracked, plain):
        np.testing.assert_array_equal(a.ids, b.ids)
        assert (a.ids >= 0).all()
    with pytest.raises(InputError, match="track=True"):
        next(est.stream(str(video), smoother=object()))


def test_conv_impl_auto_gives_the_hands_of_xla(photo, tmp_path):
    """PoseEstimator(conv_impl="auto") prepares the hand net for hand_net_resolution and finds the
    same hand keypoints as the default XLA convolutions (random-weight HAND caffemodel)."""
    from caffe_writer import write_random_caffemodel
    from conftest import PROTOTXTS
    from jaxpose.nets.winograd import WINOGRAD_KERNEL

    prototxt = need_shared(PROTOTXTS["HAND"])
    hand = jaxpose.from_caffe(prototxt, write_random_caffemodel(prototxt, tmp_path / "hand.caffemodel", seed=3))
    try:
        plain = jaxpose.PoseEstimator(hand=hand, net_resolution=(-1, 160), hand_net_resolution=192)
    except jaxpose.JaxposeError as exc:
        pytest.skip(f"default model unavailable: {exc}")
    fast = jaxpose.PoseEstimator(hand=hand, net_resolution=(-1, 160), hand_net_resolution=192, conv_impl="auto")
    assert fast.hand.net.conv3x3_impl == "auto" and plain.hand is hand
    assert sum(WINOGRAD_KERNEL in layer for layer in fast.params["hand"].values()) == 9  # 3x3, >= 256 channels
    a, b = plain(photo[1]), fast(photo[1])
    hands_a, hands_b = (np.stack([p.hand_left, p.hand_right]) for p in (a, b))
    assert a.num_people >= 2 and np.count_nonzero(hands_a[..., 2]) > 20  # people with hands found
    np.testing.assert_allclose(hands_b[..., :2], hands_a[..., :2], atol=1e-3)
    np.testing.assert_allclose(hands_b[..., 2], hands_a[..., 2], atol=1e-5)
    _same(a, b)  # the body is untouched
    with pytest.raises(jaxpose.JaxposeError, match="acts on OpenPose's Caffe networks only"):
        jaxpose.PoseEstimator(conv_impl="auto")
