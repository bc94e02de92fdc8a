"""Cameras: calibrated pinhole cameras with OpenCV distortion, and their file formats (issue #10).

    group = jaxpose.CameraGroup.from_openpose_xml("cameraParameters/")   # or from_toml, from_h36m
    pixels = group.project(points3d)          # (V, ..., 2) distorted pixels, = cv2.projectPoints
    undist = group.undistort(pixels)          # (V, ..., 2) undistorted pixels, = cv2.undistortPoints(P=K)
    P = group.projection_matrices()           # (V, 3, 4) K [R | t] for DLT on undistorted points

Modules: `distortion` (pure jitted JAX projection / undistortion), `camera` (Camera, CameraGroup),
`openpose_xml`, `toml_format`, `h36m` (file formats), `units`. Imports nothing of jaxpose but errors.
"""

from jaxpose.cameras.camera import Camera, CameraArrays, CameraGroup
from jaxpose.cameras.distortion import project_points, undistort_points

__all__ = ["Camera", "CameraArrays", "CameraGroup", "project_points", "undistort_points"]
