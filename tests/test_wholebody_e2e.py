"""Whole-body end to end with random-weight HAND / FACE Caffe models (written by tests/caffe_writer.py,
converted by jaxpose's Caffe converter) on photos from ../shared/media.

The reference for the chain around the networks is OpenCV: `cv2.warpAffine` crop of the doc's map
(§1.5, §2.4), the same network, `cv2.resize` INTER_CUBIC, NumPy arg-max, the doc's back-mapping
(OpenPose's CPU build, so these tests use semantics="cpu").
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import jaxpose
from jaxpose.errors import JaxposeError
from jaxpose.specs import BODY_25
from jaxpose.wholebody import make_wholebody_fn, regions

from caffe_writer import write_random_caffemodel
from conftest import MEDIA_DIR, PROTOTXTS, need_shared

SIDE = 64  # small nets in tests: --hand_net_resolution / --face_net_resolution 64


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = {}
    for seed, name in enumerate(("HAND", "FACE")):
        prototxt = need_shared(PROTOTXTS[name])
        weights = write_random_caffemodel(prototxt, tmp_path_factory.mktemp(name) / "w.caffemodel", seed=seed)
        out[name] = jaxpose.from_caffe(prototxt, weights, expect=name)
    return out


@pytest.fixture(scope="module")
def messi():
    path = need_shared(MEDIA_DIR / "messi5.jpg")
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def planted_person() -> np.ndarray:
    """BODY_25 keypoints placed by eye on messi5.jpg: raised right arm (image left), left arm
    stretched to the right, head around (245, 110). One hand box leaves the image."""
    kp = np.zeros((2, 25, 3), np.float32)
    parts = {
        "Nose": (243, 108), "Neck": (245, 140), "REye": (236, 100), "LEye": (254, 100),
        "REar": (228, 104), "LEar": (262, 104), "RShoulder": (205, 130), "RElbow": (150, 110),
        "RWrist": (90, 95), "LShoulder": (290, 135), "LElbow": (330, 160), "LWrist": (365, 160),
    }
    for name, (x, y) in parts.items():
        kp[0, BODY_25.part_index(name)] = (x, y, 0.8)
    # Person 1: only a right arm reaching off the top-left corner.
    for name, (x, y) in {"RShoulder": (60, 60), "RElbow": (30, 30), "RWrist": (8, 8)}.items():
        kp[1, BODY_25.part_index(name)] = (x, y, 0.5)
    return kp


def reference_keypoints(model, image: np.ndarray, box, mirrored: bool) -> np.ndarray:
    """OpenPose's extractor written with OpenCV around the same network: (J, 3) image pixels."""
    x0, y0, side, _ = (float(v) for v in box)
    s = side / SIDE
    affine = np.array([[-s if mirrored else s, 0, x0 + side if mirrored else x0], [0, s, y0]])
    crop = cv2.warpAffine(image[..., ::-1], affine, (SIDE, SIDE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    net_in = crop.astype(np.float32)[None] / 256.0 - 0.5
    out = np.asarray(model.net.apply({"params": model.params}, net_in))[0]
    parts = model.spec.num_parts
    maps = cv2.resize(out, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)[..., :parts]
    flat = maps.reshape(-1, parts)
    index = flat.argmax(axis=0)
    u, v = index % SIDE, index // SIDE
    return np.stack([affine[0, 0] * u + affine[0, 2], affine[1, 1] * v + affine[1, 2], flat.max(axis=0)], -1)


def test_wholebody_matches_an_opencv_reference_chain(models, messi):
    kp = planted_person()
    fn = make_wholebody_fn(BODY_25, models["HAND"], models["FACE"], hand_net_resolution=SIDE,
                           face_net_resolution=SIDE, semantics="cpu")
    out = fn(models["HAND"].params, models["FACE"].params, messi, kp)
    assert {k: v.shape for k, v in out.items()} == {
        "hand_left": (2, 21, 3), "hand_right": (2, 21, 3), "hand_rects": (2, 2, 4),
        "face": (2, 70, 3), "face_rects": (2, 4)}
    assert all(v.dtype == np.float32 for v in out.values())
    hands = out["hand_rects"]
    assert hands[1, 1, 0] < 0  # person 1's right hand box leaves the image: not clipped
    checks = [("hand_left", 0, hands[0, 0], True, "HAND"), ("hand_right", 0, hands[0, 1], False, "HAND"),
              ("hand_right", 1, hands[1, 1], False, "HAND"), ("face", 0, out["face_rects"][0], False, "FACE")]
    for key, person, box, mirrored, name in checks:
        expected = reference_keypoints(models[name], messi, box, mirrored)
        np.testing.assert_allclose(out[key][person, :, :2], expected[:, :2], atol=1e-3, err_msg=key)
        np.testing.assert_allclose(out[key][person, :, 2], expected[:, 2], rtol=1e-3, atol=1e-4, err_msg=key)
    # Nothing to process: person 1 has no left arm and no face.
    np.testing.assert_array_equal(out["hand_left"][1], 0)
    np.testing.assert_array_equal(out["face"][1], 0)
    np.testing.assert_array_equal(out["face_rects"][1], 0)


def test_multi_scale_hands_keep_the_scale_with_the_best_mean(models, messi):
    kp = planted_person()[:1]
    scales = regions.hand_scale_rects(regions.hand_rects(BODY_25, kp), 3, 0.4)  # (3, 1, 2, 4)
    fn = make_wholebody_fn(BODY_25, models["HAND"], None, hand_net_resolution=SIDE, hand_scale_number=3,
                           semantics="cpu")
    out = fn(models["HAND"].params, None, messi, kp)
    assert set(out) == {"hand_left", "hand_right", "hand_rects"}
    for side, key in ((0, "hand_left"), (1, "hand_right")):
        per_scale = [reference_keypoints(models["HAND"], messi, scales[s, 0, side], side == 0) for s in range(3)]
        best = int(np.argmax([p[:, 2].mean() for p in per_scale]))
        np.testing.assert_allclose(out[key][0], per_scale[best], rtol=1e-3, atol=1e-3)


def test_opencv_face_detector_gives_one_row_per_face(models, messi):
    fn = make_wholebody_fn(BODY_25, None, models["FACE"], face_net_resolution=SIDE, face_detector="opencv")
    out = fn(None, models["FACE"].params, messi, planted_person())
    faces = regions.opencv_face_rects(messi)
    assert out["face"].shape == (len(faces), 70, 3) and out["face_rects"].shape == (len(faces), 4)
    np.testing.assert_array_equal(out["face_rects"], faces)
    big = faces[:, 2] > 40
    assert big.any() and np.all(out["face"][big, :, 2] != 0)


def test_bad_arguments_are_named(models, messi):
    with pytest.raises(JaxposeError, match="hand_net_resolution"):
        make_wholebody_fn(BODY_25, models["HAND"], None, hand_net_resolution=100)
    with pytest.raises(JaxposeError, match="face_detector"):
        make_wholebody_fn(BODY_25, None, models["FACE"], face_detector="haar")
    with pytest.raises(JaxposeError, match="semantics"):
        make_wholebody_fn(BODY_25, models["HAND"], None, semantics="gpu")
    with pytest.raises(JaxposeError, match="HAND"):
        make_wholebody_fn(BODY_25, models["FACE"], None)
    fn = make_wholebody_fn(BODY_25, models["HAND"], None, hand_net_resolution=SIDE)
    with pytest.raises(JaxposeError, match="uint8"):
        fn(models["HAND"].params, None, messi.astype(np.float32), planted_person())
    with pytest.raises(JaxposeError, match="people, 25, 3"):
        fn(models["HAND"].params, None, messi, planted_person()[:, :18])


@pytest.mark.slow
@pytest.mark.parametrize("photo", ["COCO_val2014_000000000192.jpg", "basketball1.png"])
def test_pose_fn_with_hands_and_face_on_photos(models, photo):
    try:
        body = jaxpose.load_model("mobilenet_thin")
    except JaxposeError as exc:
        pytest.skip(f"default body model unavailable: {exc}")
    image = cv2.cvtColor(cv2.imread(str(need_shared(MEDIA_DIR / photo))), cv2.COLOR_BGR2RGB)
    pose_fn = jaxpose.make_pose_fn(body, hand=models["HAND"], face=models["FACE"],
                                   hand_net_resolution=SIDE, face_net_resolution=SIDE)
    poses = pose_fn({"body": body.params, "hand": models["HAND"].params, "face": models["FACE"].params}, image)
    people = poses.num_people
    assert people >= 1
    assert poses.hand_left.shape == poses.hand_right.shape == (people, 21, 3)
    assert poses.hand_rects.shape == (people, 2, 4) and poses.face.shape == (people, 70, 3)
    assert poses.face_rects.shape == (people, 4)
    np.testing.assert_array_equal(poses.hand_rects, regions.hand_rects(body.spec, poses.keypoints))
    # Every processed hand's keypoints lie in its box (the arg-max is a crop pixel).
    for key, side in (("hand_left", 0), ("hand_right", 1)):
        rects = poses.hand_rects[:, side]
        done = regions.hand_processable(rects)
        pts = getattr(poses, key)[done]
        lo, hi = rects[done, None, :2] - 1e-3, rects[done, None, :2] + rects[done, None, 2:] + 1e-3
        assert np.all((pts[..., :2] >= lo) & (pts[..., :2] <= hi))
        np.testing.assert_array_equal(getattr(poses, key)[~done], 0)
