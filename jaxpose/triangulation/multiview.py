"""From the 2D people of V synchronised views to `Poses3D`, and a multi-view pose function.

    poses3d = reconstruct(group, poses_per_view)            # V `Poses` of one instant -> Poses3D
    multiview = make_multiview_pose_fn(pose_fn, group)
    poses3d, views = multiview(params, images)             # (V, H, W, 3) uint8 RGB -> Poses3D, V Poses
    results = multiview.batch(params, instants)            # (T, V, H, W, 3): one 2D batch of T x V

`reconstruct` associates people across views (`associate`), then triangulates the body and, when
every view has them, the face and both hands of each associated person with the same detections.
With `associate=False` person n of every view is taken to be the same person (OpenPose's
single-person `--3d`, which uses person 0). Fewer than 2 views with people give no one (as OpenPose:
no error).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from jaxpose.errors import InputError
from jaxpose.poses import Poses
from jaxpose.poses3d import Poses3D
from jaxpose.triangulation.api import DEFAULT_SCORE_THRESHOLD, camera_set, triangulate_details
from jaxpose.triangulation.associate import ABSENT, Association, associate

KEYPOINT_SETS = ("keypoints", "face", "hand_left", "hand_right")


class MultiViewPoses(NamedTuple):
    """One instant: the 3D people and the V views' 2D `Poses` (person order of each detector)."""

    poses3d: Poses3D
    views: list[Poses]


def _check_views(group: Any, poses: Sequence[Poses]) -> list[Poses]:
    poses = list(poses)
    if len(poses) != len(group):
        raise InputError(f"{len(poses)} views of poses for {len(group)} cameras; give one Poses per "
                         "camera, in the cameras' order")
    models = {p.model for p in poses}
    if len(models) > 1:
        raise InputError(f"the views were detected with different models {sorted(models)}")
    for view, (p, cam) in enumerate(zip(poses, group)):
        size = getattr(cam, "image_size", None)
        if size is not None and tuple(p.image_size) != tuple(size):
            raise InputError(
                f"view {view}: image is {p.image_size[0]}x{p.image_size[1]} but camera "
                f"{getattr(cam, 'name', view)!r} was calibrated at {size[0]}x{size[1]}; use frames "
                "of the calibrated size (or recalibrate)")
    return poses


def _in_order(poses: Sequence[Poses]) -> Association:
    """Person n of every view = person n (OpenPose's single-person --3d)."""
    most = max(p.num_people for p in poses)
    members = np.full((most, len(poses)), ABSENT, np.int64)
    for v, p in enumerate(poses):
        members[:p.num_people, v] = np.arange(p.num_people)
    return Association(members, np.zeros(most, np.float32))


def reconstruct(group: Any, poses: Sequence[Poses], method: str = "robust", *,
                associate_people: bool = True, min_views: int | None = None,
                score_threshold: float = DEFAULT_SCORE_THRESHOLD, **options: Any) -> Poses3D:
    """The 3D people of one instant from V views' `Poses` (one per camera, cameras' order).

    method, min_views, score_threshold and the robust options as `jaxpose.triangulate`;
    associate_people=False takes person n of every view as one person (no association).
    Association options (`gate`, `min_keypoints`, `iterations`) go to `associate`.
    """
    poses = _check_views(group, poses)
    sizes = np.array([p.image_size for p in poses])
    cameras = camera_set(group, sizes)
    assoc_keys = {"gate", "min_keypoints", "iterations"}
    assoc_options = {k: options.pop(k) for k in list(options) if k in assoc_keys}
    model = poses[0].model
    units = getattr(group, "units", "m")
    if sum(p.num_people > 0 for p in poses) < 2:
        parts = poses[0].keypoints.shape[1]
        return Poses3D(np.zeros((0, parts, 4), np.float32), model, units,
                       views=np.zeros((0, parts, len(poses)), bool),
                       detections=np.zeros((0, len(poses)), np.int64))
    if associate_people:
        association = associate(cameras, [p.keypoints for p in poses],
                                score_threshold=score_threshold, **assoc_options)
    else:
        association = _in_order(poses)
    results = {}
    for name in KEYPOINT_SETS:
        arrays = [getattr(p, name) for p in poses]
        if any(a is None for a in arrays):
            continue
        results[name] = triangulate_details(cameras, association.gather(arrays), method,
                                            min_views=min_views, score_threshold=score_threshold,
                                            **options)
    body = results["keypoints"]
    return Poses3D(body.points, model, units, reprojection_error=body.reprojection_error,
                   views=body.views, detections=association.members,
                   **{name: results[name].points for name in KEYPOINT_SETS[1:] if name in results})


class MultiViewPoseFn:
    """Returned by `make_multiview_pose_fn`; see the module docstring."""

    def __init__(self, pose_fn: Any, group: Any, **reconstruct_options: Any):
        if len(group) < 2:
            raise InputError(f"3D needs at least 2 cameras, the group has {len(group)}")
        self.pose_fn = pose_fn
        self.group = group
        self.options = reconstruct_options

    def _views(self, params: Any, images: Any) -> list[Poses]:
        if isinstance(images, np.ndarray) and images.ndim == 4:
            return self.pose_fn.batch(params, images)
        images = list(images)
        shapes = {np.shape(image) for image in images}
        if len(shapes) == 1:
            return self.pose_fn.batch(params, np.stack(images))
        return [self.pose_fn(params, image) for image in images]

    def __call__(self, params: Any, images: Any) -> MultiViewPoses:
        """V images of one instant ((V, H, W, 3) uint8 RGB, or a list when sizes differ)."""
        if len(images) != len(self.group):
            raise InputError(f"{len(images)} images for {len(self.group)} cameras; give one image "
                             "per camera, in the cameras' order")
        views = self._views(params, images)
        return MultiViewPoses(reconstruct(self.group, views, **self.options), views)

    def batch(self, params: Any, instants: Any) -> list[MultiViewPoses]:
        """(T, V, H, W, 3) uint8 RGB -> T results; the 2D pipeline runs once on all T x V frames."""
        instants = np.asarray(instants)
        if instants.ndim != 5 or instants.shape[1] != len(self.group):
            raise InputError(f"instants of shape {instants.shape}: expected (T, {len(self.group)}, "
                             "H, W, 3) uint8 RGB")
        t, v = instants.shape[:2]
        flat = self.pose_fn.batch(params, instants.reshape((t * v,) + instants.shape[2:]))
        return [MultiViewPoses(reconstruct(self.group, flat[i * v:(i + 1) * v], **self.options),
                               flat[i * v:(i + 1) * v]) for i in range(t)]


def make_multiview_pose_fn(pose_fn: Any, group: Any, method: str = "robust",
                           **options: Any) -> MultiViewPoseFn:
    """A function `(params, images) -> MultiViewPoses(poses3d, views)` for calibrated cameras.

    pose_fn: from `jaxpose.make_pose_fn` (body, optionally hands/face); group: a
    `jaxpose.CameraGroup` with one camera per view; method and options as `reconstruct`.
    """
    return MultiViewPoseFn(pose_fn, group, method=method, **options)
