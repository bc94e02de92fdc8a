"""Hand and face rectangles, as OpenPose's detectors compute them (features doc §1.2, §1.7, §2.2, §2.3).

Host-side NumPy, vectorized over people. Inputs are body keypoints `(P, K, 3)` (x, y, score) in
input-image pixels; outputs are rectangles `(..., 4)` = (x, y, width, height) in the same pixels,
float32 like OpenPose's `Rectangle<float>`. A rectangle of zeros means "no hand / no face". The
rectangles are not clipped to the image: the crop's black border handles boxes that leave it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from jaxpose.errors import InputError
from jaxpose.specs import ModelSpec
from jaxpose.wholebody import tables as T

_F32 = np.float32


def _find_part(spec: ModelSpec, candidates: tuple[str, ...]) -> int:
    for name in candidates:
        if name in spec.part_names:
            return spec.part_index(name)
    raise InputError(
        f"body model {spec.name} has no keypoint named {' or '.join(candidates)}, which the "
        "hand/face detectors need; use a body model with wrists, elbows, shoulders, neck and head "
        "(BODY_25, COCO, MPI or MOBILENET_THIN)."
    )


def _check_keypoints(spec: ModelSpec, keypoints: np.ndarray) -> np.ndarray:
    kp = np.asarray(keypoints, dtype=_F32)
    if kp.ndim != 3 or kp.shape[1:] != (spec.num_parts, 3):
        raise InputError(
            f"body keypoints have shape {kp.shape}; model {spec.name} needs (people, "
            f"{spec.num_parts}, 3) with x, y, score in image pixels."
        )
    return kp


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """OpenPose's `getDistance`: sqrt(dx*dx + dy*dy) in float32; a, b: (P, 2+)."""
    dx = a[:, 0] - b[:, 0]
    dy = a[:, 1] - b[:, 1]
    return np.sqrt(dx * dx + dy * dy).astype(_F32)


def _square(center: np.ndarray, side: np.ndarray) -> np.ndarray:
    """(P, 2) centres and (P,) sides -> (P, 4) squares (x, y, side, side)."""
    half = side / _F32(2)
    return np.stack([center[:, 0] - half, center[:, 1] - half, side, side], axis=-1).astype(_F32)


def hand_rects(spec: ModelSpec, keypoints: np.ndarray) -> np.ndarray:
    """Hand boxes of every person: (P, K, 3) body keypoints -> (P, 2, 4) [left, right] x, y, w, h.

    Per side (§1.2): valid when wrist W, elbow E and shoulder S all score > 0.03; centre
    C = W + 0.33 (W - E); side L = 1.5 max(|W - E|, 0.9 |E - S|); box (C - L/2, L, L). Else zeros.
    """
    kp = _check_keypoints(spec, keypoints)
    sides = []
    for names in T.HAND_BODY_PARTS:
        wrist, elbow, shoulder = (kp[:, _find_part(spec, (n,))] for n in names)
        threshold = _F32(T.HAND_SCORE_THRESHOLD)
        valid = (wrist[:, 2] > threshold) & (elbow[:, 2] > threshold) & (shoulder[:, 2] > threshold)
        center = wrist[:, :2] + _F32(T.HAND_WRIST_ELBOW_RATIO) * (wrist[:, :2] - elbow[:, :2])
        side = _F32(T.HAND_SIZE_FACTOR) * np.maximum(
            _distance(wrist, elbow), _F32(T.HAND_ELBOW_SHOULDER_RATIO) * _distance(elbow, shoulder)
        )
        sides.append(np.where(valid[:, None], _square(center, side), _F32(0)))
    return np.stack(sides, axis=1).astype(_F32)


def face_rects(spec: ModelSpec, keypoints: np.ndarray) -> np.ndarray:
    """Face box of every person: (P, K, 3) body keypoints -> (P, 4) x, y, w, h (§2.2).

    MPI-like models (nose and both ears resolve to `Head`): centre Head, side 1.33 |Neck - Head|.
    Otherwise the average of up to three estimates: neck-nose (or the profile estimate when exactly
    one side's eye and ear are visible), the eyes, the ears. Keypoints count when score > 0.25.
    """
    kp = _check_keypoints(spec, keypoints)
    idx = {key: _find_part(spec, names) for key, names in (
        ("neck", T.FACE_NECK), ("nose", T.FACE_NOSE), ("lear", T.FACE_LEAR),
        ("rear", T.FACE_REAR), ("leye", T.FACE_LEYE), ("reye", T.FACE_REYE))}
    pt = {key: kp[:, i] for key, i in idx.items()}
    ok = {key: p[:, 2] > _F32(T.FACE_SCORE_THRESHOLD) for key, p in pt.items()}
    xy = {key: p[:, :2] for key, p in pt.items()}
    people = kp.shape[0]

    if idx["nose"] == idx["lear"] == idx["rear"]:
        valid = ok["neck"] & ok["nose"]
        side = _F32(T.FACE_HEAD_NECK_FACTOR) * _distance(pt["neck"], pt["nose"])
        return np.where(valid[:, None], _square(xy["nose"], side), _F32(0)).astype(_F32)

    center = np.zeros((people, 2), _F32)
    size = np.zeros((people,), _F32)
    count = np.zeros((people,), _F32)

    neck_nose = ok["neck"] & ok["nose"]
    profile = (ok["leye"] == ok["lear"]) & (ok["reye"] == ok["rear"]) & (ok["leye"] != ok["reye"])
    eye = np.where(ok["leye"][:, None], xy["leye"], xy["reye"])
    ear = np.where(ok["leye"][:, None], xy["lear"], xy["rear"])
    eye_pt = np.where(ok["leye"][:, None], pt["leye"], pt["reye"])
    ear_pt = np.where(ok["leye"][:, None], pt["lear"], pt["rear"])
    profile_center = (eye + ear + xy["nose"]) / _F32(3)
    profile_size = _F32(T.FACE_PROFILE_FACTOR) * (
        _distance(pt["nose"], eye_pt) + _distance(pt["nose"], ear_pt) + _distance(pt["neck"], pt["nose"])
    )
    frontal_center = (xy["neck"] + xy["nose"]) / _F32(2)
    frontal_size = _F32(T.FACE_NECK_NOSE_FACTOR) * _distance(pt["neck"], pt["nose"])
    center += np.where((neck_nose & profile)[:, None], profile_center,
                       np.where(neck_nose[:, None], frontal_center, _F32(0)))
    size += np.where(neck_nose & profile, profile_size, np.where(neck_nose, frontal_size, _F32(0)))
    count += neck_nose

    eyes = ok["leye"] & ok["reye"]
    center += np.where(eyes[:, None], (xy["leye"] + xy["reye"]) / _F32(2), _F32(0))
    size += np.where(eyes, _F32(T.FACE_EYES_FACTOR) * _distance(pt["leye"], pt["reye"]), _F32(0))
    count += eyes

    ears = ok["lear"] & ok["rear"]
    center += np.where(ears[:, None], (xy["lear"] + xy["rear"]) / _F32(2), _F32(0))
    size += np.where(ears, _F32(T.FACE_EARS_FACTOR) * _distance(pt["lear"], pt["rear"]), _F32(0))
    count += ears

    divisor = np.maximum(count, _F32(1))
    return _square(center / divisor[:, None], size / divisor)


def hand_scale_rects(rects: np.ndarray, scale_number: int, scale_range: float) -> np.ndarray:
    """Per-scale hand boxes (§1.7): (..., 4) -> (S, ..., 4), S = scale_number.

    One scale returns the boxes unchanged. Otherwise scale_i = (1 - range/2) + range i / (S - 1),
    same centre, side = 2 floor(round(side * scale_i) / 2) (even integer pixels).
    """
    rects = np.asarray(rects, _F32)
    if scale_number < 1:
        raise InputError(f"hand_scale_number is {scale_number}; it must be at least 1.")
    if scale_number == 1:
        return rects[None]
    init = _F32(1) - _F32(scale_range) / _F32(2)
    out = []
    for i in range(scale_number):
        scale = init + _F32(scale_range) * _F32(i) / _F32(scale_number - 1)
        width = (np.floor(rects[..., 2] * scale + _F32(0.5)) // 2 * 2).astype(_F32)
        height = (np.floor(rects[..., 3] * scale + _F32(0.5)) // 2 * 2).astype(_F32)
        cx = rects[..., 0] + rects[..., 2] / _F32(2)
        cy = rects[..., 1] + rects[..., 3] / _F32(2)
        out.append(np.stack([cx - width / _F32(2), cy - height / _F32(2), width, height], axis=-1))
    return np.stack(out).astype(_F32)


def hand_processable(rects: np.ndarray) -> np.ndarray:
    """(..., 4) -> (...,) bool: OpenPose runs the hand net only if min(w, h) > 1 and w h > 10."""
    rects = np.asarray(rects, _F32)
    w, h = rects[..., 2], rects[..., 3]
    return (np.minimum(w, h) > _F32(T.HAND_MIN_SIDE)) & (w * h > _F32(T.HAND_MIN_AREA))


def face_processable(rects: np.ndarray) -> np.ndarray:
    """(..., 4) -> (...,) bool: OpenPose runs the face net only if min(w, h) > 40."""
    rects = np.asarray(rects, _F32)
    return np.minimum(rects[..., 2], rects[..., 3]) > _F32(T.FACE_MIN_SIDE)


@lru_cache(maxsize=1)
def _cascade():
    import cv2

    path = cv2.data.haarcascades + T.OPENCV_CASCADE_FILE
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise InputError(
            f"OpenCV could not load its face cascade {path}; reinstall opencv-python-headless, "
            "which ships it, or use face_detector='body'."
        )
    return cascade


def opencv_face_rects(image_rgb: np.ndarray) -> np.ndarray:
    """Faces found by OpenCV's Haar cascade (§2.3): (H, W, 3) uint8 RGB -> (F, 4) x, y, w, h.

    Grey image, pyrDown while W * H > 640 * 360 (doubling a multiplier), detectMultiScale with
    scale 1.2, 3 neighbours, scale-image mode; each box enlarged to (x - w/4, y - h/4, 1.5 w,
    1.5 h) and multiplied by the multiplier. One row per detected face, not per body.
    """
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(image_rgb), cv2.COLOR_RGB2GRAY)
    multiplier = 1
    while grey.shape[0] * grey.shape[1] > T.OPENCV_MAX_PIXELS:
        grey = cv2.pyrDown(grey)
        multiplier *= 2
    faces = _cascade().detectMultiScale(
        grey, scaleFactor=T.OPENCV_SCALE_FACTOR, minNeighbors=T.OPENCV_MIN_NEIGHBORS,
        flags=cv2.CASCADE_SCALE_IMAGE,
    )
    faces = np.asarray(faces, _F32).reshape(-1, 4)
    margin = _F32((T.OPENCV_ENLARGE - 1) / 2)
    enlarged = np.stack([
        faces[:, 0] - margin * faces[:, 2], faces[:, 1] - margin * faces[:, 3],
        _F32(T.OPENCV_ENLARGE) * faces[:, 2], _F32(T.OPENCV_ENLARGE) * faces[:, 3],
    ], axis=-1)
    return (enlarged * _F32(multiplier)).astype(_F32)
