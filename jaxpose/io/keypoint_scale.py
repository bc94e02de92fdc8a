"""OpenPose's `--keypoint_scale` (core §8.2, features §7.4): the coordinate space of saved keypoints.

Public functions:
    scale_keypoints(poses, mode, *, output_size=None) -> Poses   body, hands and face rescaled
    scale_points(points, mode, *, image_size, scale_net_to_output, output_size=None) -> ndarray
                                                                 any (..., >=2) x, y array
    scale_input_to_output(image_size, output_size) -> float     OpenPose's `scaleInputToOutput`

Modes (W, H = input image size, s = `scale_net_to_output`, q = `scale_input_to_output`):
    0 input-image pixels (identity)        1 net-input pixels: x / s
    2 `--output_resolution` canvas: x * q  3 [0, 1]: x / (W - 1), y / (H - 1)
    4 [-1, 1]: 2x / (W - 1) - 1, ...       5 [0, 1] fixed aspect: both / (max(W, H) - 1)
    6 [-1, 1] fixed aspect: 2x / (max(W, H) - 1) - 1, same for y
Every entry is transformed, missing parts (0, 0, 0) included (so mode 4 gives (-1, -1, 0)), as
OpenPose does; scores are untouched. Rectangles (hand_rects, face_rects) stay in image pixels.
"""

from __future__ import annotations

import numpy as np

from jaxpose.errors import InputError
from jaxpose.poses import Poses

KEYPOINT_SCALE_MODES = (0, 1, 2, 3, 4, 5, 6)


def scale_input_to_output(image_size: tuple[int, int],
                          output_size: tuple[int, int] | None) -> float:
    """`resizeGetScaleFactor((W, H), output)`; 1 when `output_size` is None or has a value <= 0."""
    w, h = image_size
    if output_size is None or output_size[0] <= 0 or output_size[1] <= 0:
        return 1.0
    ow, oh = output_size
    if w <= 1 or h <= 1:
        raise InputError(f"image size {w}x{h} is too small to rescale (needs at least 2x2 pixels)")
    return min((ow - 1) / (w - 1), (oh - 1) / (h - 1))


def _affine(mode: int, image_size: tuple[int, int], scale_net_to_output: float,
            output_size: tuple[int, int] | None) -> tuple[np.float32, np.float32, np.float32]:
    """(scale_x, scale_y, offset) in float32, as OpenPose's `KeypointScaler` computes them."""
    if mode not in KEYPOINT_SCALE_MODES:
        raise InputError(f"--keypoint_scale must be one of 0..6, got {mode!r}")
    f32 = np.float32
    if mode == 0:
        return f32(1), f32(1), f32(0)
    if mode == 1:
        k = f32(1.0 / float(scale_net_to_output))
        return k, k, f32(0)
    if mode == 2:
        k = f32(scale_input_to_output(image_size, output_size))
        return k, k, f32(0)
    w, h = image_size
    if w <= 1 or h <= 1:
        raise InputError(f"--keypoint_scale {mode} needs an image of at least 2x2 pixels, got {w}x{h}")
    numerator = f32(1) if mode in (3, 5) else f32(2)
    sx = numerator / (f32(w) - f32(1))
    sy = numerator / (f32(h) - f32(1))
    if mode in (5, 6):
        sx = sy = min(sx, sy)
    offset = f32(0) if mode in (3, 5) else f32(-1)
    return sx, sy, offset


def scale_points(points: np.ndarray, mode: int, *, image_size: tuple[int, int],
                 scale_net_to_output: float,
                 output_size: tuple[int, int] | None = None) -> np.ndarray:
    """Rescale x, y (the first two entries of the last axis) of a (..., >=2) array; a new float32 array."""
    points = np.asarray(points, dtype=np.float32)
    if points.ndim == 0 or points.shape[-1] < 2:
        raise InputError(f"points need a last axis of x, y[, ...]; got shape {points.shape}")
    sx, sy, offset = _affine(mode, image_size, scale_net_to_output, output_size)
    out = points.copy()
    out[..., 0] = points[..., 0] * sx + offset
    out[..., 1] = points[..., 1] * sy + offset
    return out


def scale_keypoints(poses: Poses, mode: int, *,
                    output_size: tuple[int, int] | None = None) -> Poses:
    """`poses` with body, hand and face keypoints moved to `--keypoint_scale` space `mode`.

    output_size: `--output_resolution` (W, H) for mode 2; None or a value <= 0 means the input size.
    """
    if mode == 0:
        _affine(mode, poses.image_size, poses.scale_net_to_output, output_size)
        return poses

    def rescale(array: np.ndarray | None) -> np.ndarray | None:
        if array is None:
            return None
        return scale_points(array, mode, image_size=poses.image_size,
                            scale_net_to_output=poses.scale_net_to_output, output_size=output_size)

    return poses.replace(keypoints=rescale(poses.keypoints), hand_left=rescale(poses.hand_left),
                         hand_right=rescale(poses.hand_right), face=rescale(poses.face))
