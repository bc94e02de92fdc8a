"""--keypoint_scale (core §8.2, features §7.4): every mode against its formula, evaluated by hand."""

from __future__ import annotations

import numpy as np
import pytest

from jaxpose.errors import InputError
from jaxpose.io.keypoint_scale import scale_input_to_output, scale_keypoints, scale_points
from jaxpose.poses import Poses

W, H = 641, 481  # W - 1 = 640, H - 1 = 480
S = 1.7421875  # scale_net_to_output


def _poses() -> Poses:
    body = np.zeros((2, 25, 3), np.float32)
    body[0, 0] = (320.0, 240.0, 0.9)
    body[0, 1] = (640.0, 0.0, 0.5)
    body[1, 3] = (160.0, 480.0, 0.7)
    hand = np.zeros((2, 21, 3), np.float32)
    hand[0, 4] = (64.0, 48.0, 0.3)
    face = np.zeros((2, 70, 3), np.float32)
    face[1, 69] = (32.0, 96.0, 0.6)
    return Poses(body, np.array([0.5, 0.4], np.float32), "BODY_25", (W, H), (368, 272), S,
                 hand_left=hand, hand_right=hand.copy(), face=face)


# (x, y) -> expected (x', y') per mode, written from the doc's table with W-1 = 640, H-1 = 480.
CASES = {
    0: lambda x, y: (x, y),
    1: lambda x, y: (x / S, y / S),
    3: lambda x, y: (x / 640, y / 480),
    4: lambda x, y: (2 * x / 640 - 1, 2 * y / 480 - 1),
    5: lambda x, y: (x / 640, y / 640),
    6: lambda x, y: (2 * x / 640 - 1, 2 * y / 640 - 1),
}


@pytest.mark.parametrize("mode", sorted(CASES))
def test_mode_formula_on_body_hands_and_face(mode):
    poses = _poses()
    out = scale_keypoints(poses, mode)
    for name in ("keypoints", "hand_left", "hand_right", "face"):
        before, after = getattr(poses, name), getattr(out, name)
        ex, ey = CASES[mode](before[..., 0].astype(np.float64), before[..., 1].astype(np.float64))
        np.testing.assert_allclose(after[..., 0], ex, rtol=1e-6, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(after[..., 1], ey, rtol=1e-6, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(after[..., 2], before[..., 2])  # scores untouched


def test_missing_parts_are_transformed_too():
    out = scale_keypoints(_poses(), 4)
    np.testing.assert_array_equal(out.keypoints[1, 0], [-1.0, -1.0, 0.0])  # quirk §9.11
    np.testing.assert_array_equal(out.face[0, 0], [-1.0, -1.0, 0.0])


def test_mode_2_uses_output_resolution():
    # q = min((1281 - 1) / 640, (961 - 1) / 480) = 2 ; wider target -> the height limits
    out = scale_keypoints(_poses(), 2, output_size=(1600, 961))
    np.testing.assert_allclose(out.keypoints[0, 0, :2], [640.0, 480.0])
    assert scale_input_to_output((W, H), (1600, 961)) == pytest.approx(2.0)
    assert scale_input_to_output((W, H), None) == 1.0
    assert scale_input_to_output((W, H), (-1, -1)) == 1.0
    same = scale_keypoints(_poses(), 2)
    np.testing.assert_array_equal(same.keypoints, _poses().keypoints)


def test_input_is_not_modified_and_points_helper():
    poses = _poses()
    keep = poses.keypoints.copy()
    scale_keypoints(poses, 3)
    np.testing.assert_array_equal(poses.keypoints, keep)
    cands = np.array([[320.0, 240.0, 0.8]], np.float32)
    got = scale_points(cands, 3, image_size=(W, H), scale_net_to_output=S)
    np.testing.assert_allclose(got, [[0.5, 0.5, 0.8]])


def test_missing_detectors_stay_none():
    poses = _poses().replace(hand_left=None, hand_right=None, face=None)
    out = scale_keypoints(poses, 3)
    assert out.hand_left is None and out.face is None


@pytest.mark.parametrize("mode", [-1, 7, "3"])
def test_unknown_mode_is_a_clear_error(mode):
    with pytest.raises(InputError, match="keypoint_scale"):
        scale_keypoints(_poses(), mode)
