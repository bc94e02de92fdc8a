"""The multi-view pose function: all V views through the 2D pipeline as one batch, then
association and triangulation. The 2D detector is replaced by a projector that returns the known
2D skeletons of each view (a test double for `make_pose_fn`'s function with the same interface),
so the wiring is checked against known 3D people."""

from __future__ import annotations

import numpy as np
import pytest

import jaxpose
from conftest import SHARED, need_shared
from h36m_protocol import as_coco, scene
from jaxpose.cameras import Camera, CameraGroup
from jaxpose.errors import InputError
from jaxpose.poses import Poses

H36M = SHARED / "eval" / "h36m"


class Projector:
    """pose_fn double: image -> the Poses of the view whose index is the image's first pixel."""

    def __init__(self, pixels: np.ndarray):
        self.pixels = pixels  # (V, P, 18, 2) COCO
        self.calls: list[tuple[str, int]] = []

    def _poses(self, image: np.ndarray) -> Poses:
        view = int(image[0, 0, 0])
        kp = np.concatenate([self.pixels[view], np.full(self.pixels.shape[1:3] + (1,), 0.8)], -1)
        kp[:, 14:] = 0  # no eyes and ears
        h, w = image.shape[:2]
        return Poses(kp.astype(np.float32), np.ones(len(kp), np.float32), "COCO", (w, h), (368, 368), 1.0)

    def __call__(self, params, image):
        self.calls.append(("single", 1))
        return self._poses(np.asarray(image))

    def batch(self, params, frames):
        self.calls.append(("batch", len(frames)))
        return [self._poses(f) for f in np.asarray(frames)]


def _square_group(group: CameraGroup) -> CameraGroup:
    """S1's cameras with one image size (1000 x 1000) so that all views batch together."""
    return CameraGroup(tuple(Camera(c.name, c.K, c.dist, c.R, c.t, (1000, 1000)) for c in group))


def _images(views: int, sizes) -> list[np.ndarray]:
    images = []
    for v in range(views):
        w, h = sizes[v]
        image = np.zeros((h, w, 3), np.uint8)
        image[0, 0, 0] = v
        images.append(image)
    return images


@pytest.fixture(scope="module")
def world():
    group, truth = scene(need_shared(H36M), 2, seed=0)
    return _square_group(group), as_coco(truth)


def test_all_views_in_one_batch(world):
    group, truth = world
    fake = Projector(group.project(truth))
    multiview = jaxpose.make_multiview_pose_fn(fake, group)
    poses3d, views = multiview(None, np.stack(_images(4, [(1000, 1000)] * 4)))
    assert fake.calls == [("batch", 4)]
    assert len(views) == 4 and all(v.num_people == 2 for v in views)
    assert poses3d.num_people == 2
    for m, row in enumerate(poses3d.detections):
        person = row[0]  # the projector lists people in truth order in every view
        assert np.all(row == person)
        kept = poses3d.keypoints[m, :, 3] > 0
        assert kept.sum() == 14
        assert np.abs(poses3d.keypoints[m, kept, :3] - truth[person, kept]).max() < 1e-3


def test_many_instants_in_one_batch_and_views_of_different_sizes(world):
    group, truth = world
    fake = Projector(group.project(truth))
    multiview = jaxpose.make_multiview_pose_fn(fake, group, method="openpose")
    instants = np.stack([np.stack(_images(4, [(1000, 1000)] * 4))] * 3)
    results = multiview.batch(None, instants)
    assert fake.calls == [("batch", 12)] and len(results) == 3
    assert all(r.poses3d.num_people == 2 for r in results)
    assert set(np.unique(results[0].poses3d.keypoints[..., 3])) <= {0.0, 1.0}  # OpenPose's c
    original, _ = scene(need_shared(H36M), 2, seed=0)  # S1's own sizes: 1000x1002 and 1000x1000
    fake = Projector(original.project(truth))
    sizes = [c.image_size for c in original]
    poses3d, _ = jaxpose.make_multiview_pose_fn(fake, original)(None, _images(4, sizes))
    assert fake.calls == [("single", 1)] * 4 and poses3d.num_people == 2


def test_bad_input(world):
    group, truth = world
    fake = Projector(group.project(truth))
    with pytest.raises(InputError, match="at least 2 cameras"):
        jaxpose.make_multiview_pose_fn(fake, group[:1])
    multiview = jaxpose.make_multiview_pose_fn(fake, group)
    with pytest.raises(InputError, match="3 images for 4 cameras"):
        multiview(None, np.stack(_images(3, [(1000, 1000)] * 3)))
    with pytest.raises(InputError, match=r"expected \(T, 4, H, W, 3\)"):
        multiview.batch(None, np.zeros((2, 3, 10, 10, 3), np.uint8))
