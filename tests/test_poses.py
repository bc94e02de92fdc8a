"""`Poses`: derived boxes (stated rule), default ids, rtmlib-style unpacking."""

import numpy as np

from jaxpose.poses import UNTRACKED, Poses, keypoint_boxes


def _poses(keypoints):
    keypoints = np.asarray(keypoints, np.float32)
    return Poses(keypoints, np.ones(len(keypoints), np.float32), "COCO", (100, 80), (96, 80), 1.0)


def test_box_is_min_max_of_present_keypoints_only():
    poses = _poses([
        [[10, 20, 0.9], [0, 0, 0], [30, 5, 0.2], [12, 50, 0.01]],   # (0,0,0) = absent, ignored
        [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]],               # nobody: zeros
        [[7, 8, 0.5], [0, 0, 0], [0, 0, 0], [0, 0, 0]],             # one point: zero size
    ])
    np.testing.assert_array_equal(poses.boxes, [[10, 5, 20, 45], [0, 0, 0, 0], [7, 8, 0, 0]])


def test_no_people_gives_empty_boxes_and_ids():
    poses = _poses(np.zeros((0, 18, 3)))
    assert poses.boxes.shape == (0, 4) and poses.ids.shape == (0,)


def test_ids_default_to_untracked_and_unpacking_gives_keypoints_and_scores():
    poses = _poses(np.ones((2, 3, 3)))
    np.testing.assert_array_equal(poses.ids, [UNTRACKED, UNTRACKED])
    keypoints, scores = poses
    assert keypoints is poses.keypoints and scores is poses.scores
    assert poses.replace(ids=np.array([4, 7])).ids.tolist() == [4, 7]
    np.testing.assert_array_equal(keypoint_boxes(poses.keypoints), poses.boxes)
