"""Multi-view 3D: associate people across calibrated views, triangulate them (issue #10).

    points = jaxpose.triangulate(group, keypoints, method="robust")    # api.triangulate
    result = triangulate_details(group, keypoints)                      # + errors, views used
    association = associate(group, detections)                        # who is who across views
    poses3d = reconstruct(group, poses_per_view)                       # 2D Poses -> Poses3D
    multiview = make_multiview_pose_fn(pose_fn, group)                 # images -> Poses3D

Modules: `geometry` (conditioning, DLT, projection, Gauss-Newton), `methods` (per-point rules),
`core` (the jitted batched core, person-level steps), `api` (arrays in, arrays out),
`associate` (cross-view association), `multiview` (Poses per view -> Poses3D, the pose function).
Depends on cameras, specs and the 2D pipeline's `Poses`; nothing in the 2D pipeline imports it.
"""

from jaxpose.triangulation.api import Triangulation, camera_set, triangulate, triangulate_details
from jaxpose.triangulation.associate import Association, associate
from jaxpose.triangulation.multiview import (
    MultiViewPoseFn, MultiViewPoses, make_multiview_pose_fn, reconstruct,
)

__all__ = ["Association", "MultiViewPoseFn", "MultiViewPoses", "Triangulation", "associate",
           "camera_set", "make_multiview_pose_fn", "reconstruct", "triangulate",
           "triangulate_details"]
