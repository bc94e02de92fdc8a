"""Undistorting whole frames (`--frame_undistort`, features §5.2): OpenPose's remap, same K.

OpenPose builds the maps with `cv::initUndistortRectifyMap(K, dist, I, K, size, CV_16SC2)` (the
same K as the new camera matrix: no cropping or scaling, fixed-point maps) and remaps each frame
bilinearly; `cv2.undistort` does the same, so the result equals it. `FrameUndistorter` keeps the
maps of one camera and reuses them for every frame of that size.
"""

from __future__ import annotations

import numpy as np

from jaxpose.cameras import Camera
from jaxpose.errors import InputError


class FrameUndistorter:
    """Undistorts frames of one camera; the remap tables are built once per frame size."""

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self._maps: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(H, W[, C]) image -> the same shape and dtype, distortion removed (pixels keep K)."""
        import cv2

        image = np.asarray(image)
        if image.ndim not in (2, 3) or image.size == 0:
            raise InputError(f"an image must be (H, W) or (H, W, C), got shape {image.shape}")
        size = (image.shape[1], image.shape[0])
        expected = self.camera.image_size
        if expected is not None and expected != size:
            raise InputError(
                f"camera {self.camera.name}: the frame is {size[0]}x{size[1]} but the camera was calibrated at "
                f"{expected[0]}x{expected[1]}; use frames of the calibrated size (or recalibrate)"
            )
        if size not in self._maps:
            cam = self.camera
            self._maps[size] = cv2.initUndistortRectifyMap(cam.K, cam.dist if cam.dist.size else None, None,
                                                           cam.K, size, cv2.CV_16SC2)
        map1, map2 = self._maps[size]
        return cv2.remap(image, map1, map2, cv2.INTER_LINEAR)


def undistort_image(camera: Camera, image: np.ndarray) -> np.ndarray:
    """One frame without lens distortion, as OpenPose's `--frame_undistort` (same K; see module doc)."""
    return FrameUndistorter(camera)(image)
