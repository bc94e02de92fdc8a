"""Hand and face boxes from body keypoints, against OpenPose's rules worked out by hand.

Rules: ../shared/docs/openpose-features.md §1.2 (hands), §1.7 (hand scales), §2.2 (face), §1.5 / §2.4
(processing conditions), §2.3 (OpenCV face detector). Every expected number below is computed in
the comments from those rules, not by jaxpose.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from jaxpose.errors import InputError
from jaxpose.specs import BODY_25, COCO, FACE, MOBILENET_THIN, MPI, ModelSpec
from jaxpose.wholebody import regions

from conftest import MEDIA_DIR, need_shared


def body(spec: ModelSpec, people: list[dict[str, tuple[float, float, float]]]) -> np.ndarray:
    """(P, K, 3) keypoints from {part name: (x, y, score)} per person; other parts (0, 0, 0)."""
    kp = np.zeros((len(people), spec.num_parts, 3), np.float32)
    for p, parts in enumerate(people):
        for name, value in parts.items():
            kp[p, spec.part_index(name)] = value
    return kp


# Right arm straight down: S (100, 100), E (100, 160), W (100, 200).
#   |W - E| = 40, |E - S| = 60 -> 0.9 * 60 = 54 > 40 -> L = 1.5 * 54 = 81
#   C = W + 0.33 (W - E) = (100, 200 + 13.2) = (100, 213.2)
#   box = (100 - 40.5, 213.2 - 40.5, 81, 81) = (59.5, 172.7, 81, 81)
RIGHT_ARM = {"RShoulder": (100, 100, 0.9), "RElbow": (100, 160, 0.9), "RWrist": (100, 200, 0.9)}
RIGHT_BOX = (59.5, 172.7, 81, 81)
# Left arm: S (200, 100), E (230, 140), W (260, 180).
#   |W - E| = |(30, 40)| = 50, |E - S| = 50 -> 0.9 * 50 = 45 < 50 -> L = 1.5 * 50 = 75
#   C = (260 + 0.33 * 30, 180 + 0.33 * 40) = (269.9, 193.2)
#   box = (269.9 - 37.5, 193.2 - 37.5, 75, 75) = (232.4, 155.7, 75, 75)
LEFT_ARM = {"LShoulder": (200, 100, 0.9), "LElbow": (230, 140, 0.9), "LWrist": (260, 180, 0.9)}
LEFT_BOX = (232.4, 155.7, 75, 75)


@pytest.mark.parametrize("spec", [BODY_25, COCO, MOBILENET_THIN, MPI], ids=lambda s: s.name)
def test_hand_boxes_follow_openpose_rule_for_every_body_layout(spec):
    rects = regions.hand_rects(spec, body(spec, [{**RIGHT_ARM, **LEFT_ARM}]))
    assert rects.shape == (1, 2, 4) and rects.dtype == np.float32
    np.testing.assert_allclose(rects[0, 0], LEFT_BOX, atol=1e-4)  # index 0 = left
    np.testing.assert_allclose(rects[0, 1], RIGHT_BOX, atol=1e-4)


@pytest.mark.parametrize("missing", ["RWrist", "RElbow", "RShoulder"])
def test_hand_box_is_zero_when_a_joint_scores_at_most_0_03(missing):
    arm = dict(RIGHT_ARM)
    x, y, _ = arm[missing]
    at_threshold = {**arm, missing: (x, y, 0.03)}  # validity is score > 0.03 (strict)
    just_above = {**arm, missing: (x, y, 0.0301)}
    rects = regions.hand_rects(BODY_25, body(BODY_25, [at_threshold, just_above, {}]))
    np.testing.assert_array_equal(rects[0, 1], 0)
    np.testing.assert_allclose(rects[1, 1], RIGHT_BOX, atol=1e-4)
    np.testing.assert_array_equal(rects[:, 0], 0)  # no left arm anywhere
    np.testing.assert_array_equal(rects[2], 0)


def test_hand_box_at_image_edge_is_not_clipped():
    # S (5, 95), E (5, 45), W (5, 5): |W - E| = 40, 0.9 |E - S| = 45 -> L = 67.5
    # C = (5, 5 + 0.33 * (5 - 45)) = (5, -8.2); box = (5 - 33.75, -8.2 - 33.75) = (-28.75, -41.95)
    arm = {"RShoulder": (5, 95, 1), "RElbow": (5, 45, 1), "RWrist": (5, 5, 1)}
    rects = regions.hand_rects(COCO, body(COCO, [arm]))
    np.testing.assert_allclose(rects[0, 1], (-28.75, -41.95, 67.5, 67.5), atol=1e-4)


def test_hand_boxes_are_per_person_in_body_order():
    rects = regions.hand_rects(BODY_25, body(BODY_25, [LEFT_ARM, {}, RIGHT_ARM]))
    np.testing.assert_allclose(rects[0, 0], LEFT_BOX, atol=1e-4)
    np.testing.assert_array_equal(rects[0, 1], 0)
    np.testing.assert_array_equal(rects[1], 0)
    np.testing.assert_allclose(rects[2, 1], RIGHT_BOX, atol=1e-4)
    assert regions.hand_rects(BODY_25, np.zeros((0, 25, 3), np.float32)).shape == (0, 2, 4)


# Frontal face: Neck (100, 200), Nose (100, 140), LEye (110, 130), REye (90, 130),
# LEar (120, 135), REar (80, 135), all scores 0.9.
FACE_PARTS = {
    "Neck": (100, 200, 0.9), "Nose": (100, 140, 0.9), "LEye": (110, 130, 0.9),
    "REye": (90, 130, 0.9), "LEar": (120, 135, 0.9), "REar": (80, 135, 0.9),
}


@pytest.mark.parametrize("spec", [BODY_25, COCO, MOBILENET_THIN], ids=lambda s: s.name)
def test_frontal_face_averages_neck_nose_eyes_ears(spec):
    # Not a profile (both eyes and both ears valid), so:
    #   (a) C += (Neck + Nose)/2 = (100, 170);  F += 2 |Neck - Nose| = 120
    #   (b) C += (LEye + REye)/2 = (100, 130);  F += 3 |LEye - REye| = 60
    #   (c) C += (LEar + REar)/2 = (100, 135);  F += 2 |LEar - REar| = 80
    #   k = 3: C = (100, 435/3 = 145), F = 260/3 = 86.6667
    #   box = (100 - 43.3333, 145 - 43.3333, 86.6667, 86.6667)
    rects = regions.face_rects(spec, body(spec, [FACE_PARTS]))
    f = 260 / 3
    np.testing.assert_allclose(rects[0], (100 - f / 2, 145 - f / 2, f, f), atol=1e-4)


def test_profile_face_uses_the_visible_eye_and_ear():
    # Right eye and ear below 0.25: valid(LEye) == valid(LEar), valid(REye) == valid(REar),
    # valid(LEye) != valid(REye) -> profile:
    #   C = mean(LEye, LEar, Nose) = ((110 + 120 + 100)/3, (130 + 135 + 140)/3) = (110, 135)
    #   F = 0.85 (|Nose - LEye| + |Nose - LEar| + |Neck - Nose|)
    #     = 0.85 (sqrt(200) + sqrt(425) + 60) = 0.85 * 94.75768 = 80.54403
    #   eyes / ears terms need both sides: absent; k = 1.
    parts = {**FACE_PARTS, "REye": (90, 130, 0.25), "REar": (80, 135, 0.1)}
    rects = regions.face_rects(BODY_25, body(BODY_25, [parts]))
    f = 0.85 * (np.sqrt(200) + np.sqrt(425) + 60)
    np.testing.assert_allclose(rects[0], (110 - f / 2, 135 - f / 2, f, f), atol=1e-3)


def test_profile_mirrored_side_uses_the_right_eye_and_ear():
    # Only REye (90, 130) and REar (80, 135) visible on the head's side:
    #   C = ((90 + 80 + 100)/3, (130 + 135 + 140)/3) = (90, 135)
    #   F = 0.85 (|Nose - REye| + |Nose - REar| + 60) = 0.85 (sqrt(200) + sqrt(425) + 60)
    parts = {**FACE_PARTS, "LEye": (110, 130, 0.0), "LEar": (120, 135, 0.0)}
    rects = regions.face_rects(COCO, body(COCO, [parts]))
    f = 0.85 * (np.sqrt(200) + np.sqrt(425) + 60)
    np.testing.assert_allclose(rects[0], (90 - f / 2, 135 - f / 2, f, f), atol=1e-3)


def test_eye_without_its_ear_is_not_a_profile():
    # LEye valid, LEar not; REye and REar not: valid(LEye) != valid(LEar) -> not a profile:
    #   (a) C = (100, 170), F = 120; no eyes pair, no ears pair -> box (40, 110, 120, 120)
    parts = {**FACE_PARTS, "LEar": (120, 135, 0.2), "REye": (90, 130, 0.2), "REar": (80, 135, 0.2)}
    rects = regions.face_rects(BODY_25, body(BODY_25, [parts]))
    np.testing.assert_allclose(rects[0], (40, 110, 120, 120), atol=1e-4)


def test_face_from_eyes_alone_and_nothing_valid():
    # No neck: only (b) and (c). Eyes only (ears invisible):
    #   C = (100, 130), F = 3 * 20 = 60 -> (70, 100, 60, 60)
    eyes = {"LEye": FACE_PARTS["LEye"], "REye": FACE_PARTS["REye"], "Nose": FACE_PARTS["Nose"]}
    at_threshold = {k: (x, y, 0.25) for k, (x, y, _) in FACE_PARTS.items()}  # need > 0.25
    rects = regions.face_rects(BODY_25, body(BODY_25, [eyes, at_threshold, {}]))
    np.testing.assert_allclose(rects[0], (70, 100, 60, 60), atol=1e-4)
    np.testing.assert_array_equal(rects[1:], 0)


def test_mpi_face_is_head_centred():
    # MPI: Nose, LEar, REar all resolve to Head -> C = Head = (100, 140),
    #   F = 1.33 |Neck - Head| = 1.33 * 60 = 79.8 -> (60.1, 100.1, 79.8, 79.8); Neck at 0.25 -> zeros.
    head = {"Head": (100, 140, 0.9), "Neck": (100, 200, 0.9)}
    no_neck = {"Head": (100, 140, 0.9), "Neck": (100, 200, 0.25)}
    rects = regions.face_rects(MPI, body(MPI, [head, no_neck]))
    np.testing.assert_allclose(rects[0], (60.1, 100.1, 79.8, 79.8), atol=1e-4)
    np.testing.assert_array_equal(rects[1], 0)


def test_hand_scale_boxes_round_to_even_sides_around_the_same_centre():
    # Right box (59.5, 172.7, 81, 81), centre (100, 213.2).
    # n = 6, range 0.4: scales 0.8, 0.88, 0.96, 1.04, 1.12, 1.2
    #   81 * scale = 64.8, 71.28, 77.76, 84.24, 90.72, 97.2 -> round 65, 71, 78, 84, 91, 97
    #   -> even (floor(r / 2) * 2) 64, 70, 78, 84, 90, 96
    base = np.array([RIGHT_BOX], np.float32)
    scaled = regions.hand_scale_rects(base, 6, 0.4)
    sides = [64, 70, 78, 84, 90, 96]
    assert scaled.shape == (6, 1, 4)
    for s, side in enumerate(sides):
        np.testing.assert_allclose(scaled[s, 0], (100 - side / 2, 213.2 - side / 2, side, side), atol=1e-4)
    # n = 2: scales 0.8, 1.2 -> 64, 96. n = 1: unchanged (no rounding).
    np.testing.assert_allclose(regions.hand_scale_rects(base, 2, 0.4)[:, 0, 2], [64, 96])
    np.testing.assert_array_equal(regions.hand_scale_rects(base, 1, 0.4)[0], base)


def test_processing_conditions():
    # hands: min side > 1 and area > 10: 3.2^2 = 10.24 runs, 3.1^2 = 9.61 does not,
    #   (20, 0.9) has area 18 but min side 0.9 -> no. faces: min side > 40.
    hands = np.array([[0, 0, 3.2, 3.2], [0, 0, 3.1, 3.1], [0, 0, 20, 0.9], [0, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(regions.hand_processable(hands), [True, False, False, False])
    faces = np.array([[0, 0, 40, 40], [5, 5, 40.5, 40.5], [0, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(regions.face_processable(faces), [False, True, False])


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(InputError, match="people, 25, 3"):
        regions.hand_rects(BODY_25, np.zeros((1, 18, 3), np.float32))
    with pytest.raises(InputError, match="LWrist"):
        regions.hand_rects(FACE, np.zeros((1, 70, 3), np.float32))
    with pytest.raises(InputError, match="at least 1"):
        regions.hand_scale_rects(np.zeros((1, 4), np.float32), 0, 0.4)


def test_opencv_face_detector_finds_messi():
    path = need_shared(MEDIA_DIR / "messi5.jpg")
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)  # 548 x 342: no pyrDown
    faces = regions.opencv_face_rects(image)
    assert faces.shape[1:] == (4,) and faces.shape[0] >= 1
    # Checked by eye once: the player's face spans about x 222..268, y 85..135 in messi5.jpg.
    centres = faces[:, :2] + faces[:, 2:] / 2
    near = (np.linalg.norm(centres - (245, 110), axis=1) < 20) & (faces[:, 2] > 30) & (faces[:, 2] < 120)
    assert near.any(), faces
    assert np.all(faces[:, 2] == faces[:, 3])  # Haar boxes are square, enlarged x1.5 stays square


def test_opencv_face_detector_scales_back_after_pyrdown():
    # A 4x upscaled image has 4^2 * 548 * 342 pixels > 640 * 360: pyrDown twice (multiplier 4),
    # which nearly undoes the upscale, so boxes come back ~4x the boxes of the original.
    path = need_shared(MEDIA_DIR / "messi5.jpg")
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    small = regions.opencv_face_rects(image)
    big = regions.opencv_face_rects(cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR))
    assert len(big) >= 1
    centre = (small[:, :2] + small[:, 2:] / 2)[0] * 4
    big_centres = big[:, :2] + big[:, 2:] / 2
    best = np.argmin(np.linalg.norm(big_centres - centre, axis=1))
    assert np.linalg.norm(big_centres[best] - centre) < 0.25 * big[best, 2]
    assert 0.7 < big[best, 2] / (4 * small[0, 2]) < 1.4
    # Integer detections (x, y, w) scaled by 4: (4x - w, 4y - w, 6w, 6w) are whole pixels.
    np.testing.assert_array_equal(big, np.round(big))
