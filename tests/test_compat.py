"""`jaxpose.OpenPose`: pyopenpose's parameters and Datum fields on top of make_pose_fn."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import jaxpose
import jaxpose.compat
from conftest import MEDIA_DIR, need_shared
from jaxpose.compat import Datum, OpenPose
from jaxpose.errors import InputError
from jaxpose.poses import Poses
from jaxpose.specs import get_spec


class RecordingPoseFn:
    """Returns `poses` and records the image it was given."""

    def __init__(self, poses: Poses | None):
        self.poses = poses
        self.images = []

    def __call__(self, params, image):
        self.images.append(image)
        return self.poses


def _poses(num_people: int, size=(8, 6)) -> Poses:
    k = get_spec("MOBILENET_THIN").num_parts
    keypoints = np.zeros((num_people, k, 3), np.float32)
    keypoints[..., 0] = 7.0 - 0.3 * np.arange(k)  # part 0 at (7, 5), part 17 at (1.9, 10.1)
    keypoints[..., 1] = 5.0 + 0.3 * np.arange(k)
    keypoints[..., 2] = 0.9
    return Poses(
        keypoints=keypoints,
        scores=np.full((num_people,), 0.5, np.float32),
        model="MOBILENET_THIN",
        image_size=size,
        net_input_size=size,
        scale_net_to_output=1.0,
    )


@pytest.fixture
def stub(monkeypatch):
    seen = {}

    def build(options):
        seen["options"] = dict(options)
        return jaxpose.compat.Pipeline(pose_fn=seen["pose_fn"], params=None, model_pose="MOBILENET_THIN")

    monkeypatch.setattr(jaxpose.compat, "build_pipeline", build)
    return seen


def test_exported_from_package():
    assert jaxpose.OpenPose is OpenPose


def test_params_take_openpose_names_and_python_or_text_values(stub):
    stub["pose_fn"] = RecordingPoseFn(_poses(1))
    op = OpenPose({"net_resolution": "-1x128", "hand": "true", "number_people_max": 2, "render_pose": 0})
    op.process(np.zeros((6, 8, 3), np.uint8))
    options = stub["options"]
    assert options["net_resolution"] == "-1x128" and options["hand"] is True
    assert options["number_people_max"] == 2 and options["model_pose"] == "MOBILENET_THIN"


def test_unknown_param_names_the_closest_one():
    with pytest.raises(InputError, match="net_resolution"):
        OpenPose({"net_resolutoin": "-1x128"})


def test_input_is_bgr_and_outputs_are_bgr(stub):
    stub["pose_fn"] = fake = RecordingPoseFn(_poses(1))
    bgr = np.zeros((6, 8, 3), np.uint8)
    bgr[..., 0] = 200  # blue
    datum = OpenPose({"render_pose": 0}).process(bgr)
    assert fake.images[0][0, 0].tolist() == [0, 0, 200]  # the pipeline received RGB
    np.testing.assert_array_equal(datum.cvOutputData, bgr)  # render_pose 0: the input, BGR
    assert datum.poseKeypoints.shape == (1, 18, 3) and datum.poseKeypoints.dtype == np.float32
    assert datum.poseScores.tolist() == [0.5] and datum.poseIds.tolist() == [-1]
    assert datum.handKeypoints is None and datum.faceKeypoints is None and datum.poseHeatMaps is None


def test_rendered_output_is_bgr_with_the_part_colour(stub):
    stub["pose_fn"] = RecordingPoseFn(_poses(1, size=(16, 12)))
    datum = OpenPose({"render_pose": 1}).process(np.zeros((12, 16, 3), np.uint8))
    r, g, b = get_spec("MOBILENET_THIN").part_colors[17]  # last part, drawn on top, at (2, 10)
    assert datum.cvOutputData[10, 2].tolist() == [b, g, r]


def test_nobody_gives_none_like_pyopenpose(stub):
    stub["pose_fn"] = RecordingPoseFn(_poses(0))
    datum = OpenPose().process(np.zeros((6, 8, 3), np.uint8))
    assert datum.poseKeypoints is None and datum.poseScores is None


def test_keypoint_scale_applies_to_returned_keypoints(stub):
    stub["pose_fn"] = RecordingPoseFn(_poses(1))
    datum = OpenPose({"keypoint_scale": 3, "render_pose": 0}).process(np.zeros((6, 8, 3), np.uint8))
    np.testing.assert_allclose(datum.poseKeypoints[0, 0], [7 / 7, 5 / 5, 0.9], rtol=1e-6)
    assert datum.poses.keypoints[0, 0, 0] == 7.0  # jaxpose's own result stays in pixels


def test_pyopenpose_call_pattern_and_image_checks(stub):
    stub["pose_fn"] = RecordingPoseFn(_poses(1))
    wrapper = jaxpose.compat.WrapperPython()
    wrapper.configure({"render_pose": 0})
    wrapper.start()
    datum = Datum()
    datum.cvInputData = np.zeros((6, 8), np.uint8)  # grey is accepted, as OpenPose
    assert wrapper.emplaceAndPop([datum]) is True
    assert datum.poseKeypoints.shape == (1, 18, 3) and datum.cvOutputData.shape == (6, 8, 3)
    with pytest.raises(InputError, match="BGR"):
        wrapper.process(np.zeros((6, 8, 4), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        wrapper.process(np.zeros((6, 8, 3), np.float32))
    with pytest.raises(InputError, match="cvInputData"):
        wrapper.emplaceAndPop([Datum()])


@pytest.mark.slow
def test_real_default_model_matches_make_pose_fn():
    photo = need_shared(MEDIA_DIR / "COCO_val2014_000000000192.jpg")
    bgr = cv2.imread(str(photo))
    op = OpenPose({"net_resolution": "-1x160", "heatmaps_add_parts": True, "heatmaps_add_PAFs": True})
    datum = op.process(bgr)
    model = jaxpose.load_model("mobilenet_thin")
    poses = jaxpose.make_pose_fn(model, net_resolution=(-1, 160))(model.params, bgr[:, :, ::-1].copy())
    np.testing.assert_allclose(datum.poseKeypoints, poses.keypoints, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(datum.poseScores, poses.scores, rtol=1e-5, atol=1e-5)
    spec = get_spec("MOBILENET_THIN")
    w, h = poses.net_input_size
    assert datum.poseHeatMaps.shape == (spec.num_parts + 2 * spec.num_pairs, h, w)
    assert datum.cvOutputData.shape == bgr.shape and not np.array_equal(datum.cvOutputData, bgr)
