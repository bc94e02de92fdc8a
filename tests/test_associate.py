"""Many people: cross-view association on synthetic scenes of several H36M skeletons in one world,
projected into S1's 4 real cameras, with occlusions (people missing from views), false 2D
detections and shuffled detection orders; then each recovered person's 3D skeleton."""

from __future__ import annotations

import numpy as np
import pytest

import jaxpose
from conftest import SHARED, need_shared
from h36m_protocol import as_coco, scene
from jaxpose.errors import InputError
from jaxpose.poses import Poses
from jaxpose.triangulation import associate, reconstruct

H36M = SHARED / "eval" / "h36m"
FAKE = -1


def _views(group, truth, visible, rng, sigma=2.0, fakes=()):
    """Per view: shuffled (N_v, 17, 3) detections and the truth index of each row (-1 = false).

    visible: (people, V) bool. fakes: (view, kind) pairs; "copy" is a real person's 2D skeleton
    moved by 150-250 px (a plausible body where there is none), "junk" random points."""
    pixels = group.project(truth)  # (V, P, 17, 2)
    detections, labels = [], []
    for v in range(len(group)):
        rows, names = [], []
        for p in np.flatnonzero(visible[:, v]):
            xy = pixels[v, p] + rng.normal(0, sigma, (17, 2))
            rows.append(np.c_[xy, rng.uniform(0.5, 0.9, 17)])
            names.append(p)
        for view, kind in fakes:
            if view != v:
                continue
            if kind == "copy":
                shift = rng.uniform(150, 250) * np.array([np.cos(rng.uniform(0, 6.3)), np.sin(rng.uniform(0, 6.3))])
                xy = pixels[v, 0] + shift
            else:
                xy = rng.uniform(100, 900, (17, 2))
            rows.append(np.c_[xy, rng.uniform(0.4, 0.8, 17)])
            names.append(FAKE)
        order = rng.permutation(len(rows))
        detections.append(np.array(rows).reshape(-1, 17, 3)[order])
        labels.append(np.array(names, int)[order])
    return detections, labels


def _check(association, labels, visible, truth, detections, group, tolerance_mm=25.0):
    """Every association is one true person, every person visible in >= 2 views is found with all
    its views, no false detection is used; the triangulated skeletons are close to the truth
    (`tolerance_mm` with >= 3 views; S1's cameras 1 and 2 face each other, so 2 views get 2.5 x)."""
    found = {}
    for row in association.members:
        who = {int(labels[v][i]) for v, i in enumerate(row) if i >= 0}
        assert len(who) == 1 and FAKE not in who, (row, who)
        person = who.pop()
        assert person not in found
        found[person] = row
    expected = {p for p in range(len(truth)) if visible[p].sum() >= 2}
    assert set(found) == expected
    for person, row in found.items():
        assert np.array_equal(row >= 0, visible[person])
    points = jaxpose.triangulate(group, association.gather(detections))
    for m, row in enumerate(association.members):
        person = int(labels[np.flatnonzero(row >= 0)[0]][row[row >= 0][0]])
        kept = points[m, :, 3] > 0
        assert kept.mean() > 0.9
        error = np.linalg.norm(points[m, kept, :3] - truth[person, kept], axis=-1).mean() * 1000
        assert error < tolerance_mm * (1 if (row >= 0).sum() >= 3 else 2.5), (person, error)


@pytest.fixture(scope="module")
def h36m():
    return need_shared(H36M)


def test_two_people_in_every_view(h36m):
    group, truth = scene(h36m, 2, seed=0)
    pixels = group.project(truth)
    sizes = np.array([c.image_size for c in group])[:, None, None]
    assert np.all((pixels > 8) & (pixels < sizes - 8))  # everyone inside every image
    rng = np.random.default_rng(1)
    visible = np.ones((2, 4), bool)
    detections, labels = _views(group, truth, visible, rng)
    _check(associate(group, detections), labels, visible, truth, detections, group)


def test_three_people_some_missing_from_views(h36m):
    group, truth = scene(h36m, 3, seed=1)
    visible = np.array([[1, 1, 1, 1], [0, 1, 1, 0], [1, 0, 1, 1]], bool)
    detections, labels = _views(group, truth, visible, np.random.default_rng(2))
    _check(associate(group, detections), labels, visible, truth, detections, group)


def test_four_people_with_false_detections_and_occlusions(h36m):
    group, truth = scene(h36m, 4, seed=2)
    visible = np.array([[1, 1, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1], [1, 0, 0, 1]], bool)
    fakes = [(0, "copy"), (1, "copy"), (3, "copy"), (2, "junk"), (3, "junk")]
    detections, labels = _views(group, truth, visible, np.random.default_rng(3), fakes=fakes)
    association = associate(group, detections)
    _check(association, labels, visible, truth, detections, group)
    assert association.num_people == 4


def test_a_person_seen_once_is_not_reconstructed_and_does_not_disturb_others(h36m):
    group, truth = scene(h36m, 3, seed=4)
    visible = np.array([[1, 1, 1, 1], [0, 0, 1, 0], [1, 1, 0, 1]], bool)
    detections, labels = _views(group, truth, visible, np.random.default_rng(5))
    association = associate(group, detections)
    assert association.num_people == 2
    _check(association, labels, visible, truth, detections, group)


def test_deterministic_and_independent_of_detection_order(h36m):
    group, truth = scene(h36m, 3, seed=6)
    visible = np.ones((3, 4), bool)
    detections, labels = _views(group, truth, visible, np.random.default_rng(7))
    first = associate(group, detections)
    again = associate(group, [d.copy() for d in detections])
    np.testing.assert_array_equal(first.members, again.members)
    # persons come out in view 0's detection order
    assert first.members[:, 0].tolist() == sorted(first.members[:, 0].tolist())
    rng = np.random.default_rng(8)
    orders = [rng.permutation(len(d)) for d in detections]
    shuffled = associate(group, [d[o] for d, o in zip(detections, orders)])
    back = np.array([[orders[v][i] for v, i in enumerate(row)] for row in shuffled.members])
    assert {tuple(r) for r in back} == {tuple(r) for r in first.members}


def test_views_without_people(h36m):
    group, truth = scene(h36m, 2, seed=9)
    visible = np.array([[1, 0, 1, 0], [1, 0, 1, 0]], bool)  # views 1 and 3 see nobody
    detections, labels = _views(group, truth, visible, np.random.default_rng(10))
    assert [len(d) for d in detections] == [2, 0, 2, 0]
    _check(associate(group, detections), labels, visible, truth, detections, group)
    only_one = [detections[0], detections[1], np.zeros((0, 17, 3)), detections[3]]
    assert associate(group, only_one).num_people == 0  # OpenPose: < 2 views, no 3D, no error


def test_bad_detections_are_clear_errors(h36m):
    group, truth = scene(h36m, 1)
    detections, _ = _views(group, truth, np.ones((1, 4), bool), np.random.default_rng(0))
    with pytest.raises(InputError, match="3 views of detections for 4 cameras"):
        associate(group, detections[:3])
    broken = [d.copy() for d in detections]
    broken[2][0, 3, 1] = np.nan
    with pytest.raises(InputError, match="view 2.*NaN"):
        associate(group, broken)
    with pytest.raises(InputError, match="disagree on the number of keypoints"):
        associate(group, [detections[0], detections[1][:, :10], detections[2], detections[3]])


def _poses(keypoints: np.ndarray, size) -> Poses:
    return Poses(keypoints=keypoints.astype(np.float32), scores=np.ones(len(keypoints), np.float32),
                 model="COCO", image_size=size, net_input_size=(368, 368), scale_net_to_output=1.0)


def test_reconstruct_from_poses_of_each_view(h36m):
    """2D `Poses` per view (COCO layout) -> Poses3D: everyone, their detections, units."""
    group, truth = scene(h36m, 3, seed=11)
    visible = np.array([[1, 1, 1, 1], [1, 1, 0, 1], [0, 1, 1, 1]], bool)
    detections, labels = _views(group, truth, visible, np.random.default_rng(12))
    views = [_poses(as_coco(d), cam.image_size) for d, cam in zip(detections, group)]
    poses3d = reconstruct(group, views)
    assert isinstance(poses3d, jaxpose.Poses3D) and poses3d.model == "COCO" and poses3d.units == "m"
    assert poses3d.keypoints.shape == (3, 18, 4) and poses3d.detections.shape == (3, 4)
    assert np.all(poses3d.ids == -1)
    coco_truth = as_coco(truth)
    for m, row in enumerate(poses3d.detections):
        v = int(np.flatnonzero(row >= 0)[0])
        person = labels[v][row[v]]
        assert np.array_equal(row >= 0, visible[person])
        present = poses3d.keypoints[m, :, 3] > 0
        assert present.sum() == 14  # eyes and ears were never detected
        error = np.linalg.norm(poses3d.keypoints[m, present, :3] - coco_truth[person, present], axis=-1)
        assert error.mean() < 0.025
        assert np.all(np.isfinite(poses3d.reprojection_error[m, present]))
        assert np.all(np.isnan(poses3d.reprojection_error[m, ~present]))
    tracked = poses3d.with_ids([7, 8, 9])
    assert tracked.ids.tolist() == [7, 8, 9] and poses3d.ids.tolist() == [-1, -1, -1]
    single = reconstruct(group, views, associate_people=False)  # OpenPose: person n = person n
    assert single.num_people == 3
    wrong_size = views[:3] + [_poses(as_coco(detections[3]), (640, 480))]
    with pytest.raises(InputError, match="view 3: image is 640x480 but camera '60457274' was calibrated at 1000x1002"):
        reconstruct(group, wrong_size)


@pytest.mark.slow  # compiles the rules for 18 and 21 keypoints
def test_reconstruct_triangulates_hands_of_the_associated_people(h36m):
    """Hands ride on the body's association: each person's hand keypoints come from the same
    detections (a 21-point hand planted around each person's wrist)."""
    group, truth = scene(h36m, 2, seed=13)
    rng = np.random.default_rng(14)
    hands = truth[:, None, 13] + rng.normal(0, 0.05, (2, 21, 3))  # around the left wrist
    visible = np.ones((2, 4), bool)
    detections, labels = _views(group, truth, visible, rng)
    hand_pixels = group.project(hands)
    views = []
    for v, (d, cam) in enumerate(zip(detections, group)):
        order = labels[v]
        hand = np.concatenate([hand_pixels[v, order] + rng.normal(0, 1, (2, 21, 2)),
                               np.full((2, 21, 1), 0.7)], -1)
        views.append(_poses(as_coco(d), cam.image_size).replace(hand_left=hand.astype(np.float32)))
    poses3d = reconstruct(group, views)
    assert poses3d.hand_left.shape == (2, 21, 4) and poses3d.hand_right is None
    for m, row in enumerate(poses3d.detections):
        person = labels[0][row[0]]
        error = np.linalg.norm(poses3d.hand_left[m, :, :3] - hands[person], axis=-1)
        assert np.all(poses3d.hand_left[m, :, 3] > 0) and error.mean() < 0.02
