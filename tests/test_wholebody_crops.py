"""Hand/face crops and the way back (features doc §1.5, §1.6, §1.7, §2.4).

References: OpenCV itself (`cv2.warpAffine` with WARP_INVERSE_MAP / INTER_LINEAR / BORDER_CONSTANT,
`cv2.resize` INTER_CUBIC) on affine maps written here from the doc's formulas, and planted peaks
whose image position is worked out by hand.
"""

from __future__ import annotations

import types

import cv2
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpose.specs import BODY_25, FACE, HAND
from jaxpose.wholebody import crops, make_wholebody_fn

from conftest import MEDIA_DIR, need_shared


def doc_affine(box, net_side: int, mirrored: bool) -> np.ndarray:
    """§1.5: crop -> image map, s = L / N; the left hand is x = -s u + (x0 + L)."""
    x0, y0, side, _ = box
    s = side / net_side
    return np.array([[-s if mirrored else s, 0, x0 + side if mirrored else x0], [0, s, y0]], np.float64)


def opencv_crop(image: np.ndarray, box, net_side: int, mirrored: bool) -> np.ndarray:
    return cv2.warpAffine(
        image, doc_affine(box, net_side, mirrored), (net_side, net_side),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
    )


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    path = need_shared(MEDIA_DIR / "messi5.jpg")
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)  # 548 x 342


BOXES = [
    ((100.3, 50.7, 81.0, 81.0), False),  # sub-pixel corner, inside
    ((232.4, 155.7, 75.0, 75.0), True),  # left hand: mirrored
    ((-28.75, -41.95, 67.5, 67.5), False),  # leaves the image at the top-left: black border
    ((500.0, 300.0, 90.0, 90.0), True),  # leaves it at the bottom-right
    ((-40.0, -60.0, 700.0, 700.0), False),  # larger than the image
    ((240.25, 90.5, 3.2, 3.2), True),  # tiny: magnified
]


@pytest.mark.parametrize("net_side", [64, 368])
def test_crops_equal_cv2_warpaffine(photo, net_side):
    rects = np.array([b for b, _ in BOXES], np.float32)
    mirrored = np.array([m for _, m in BOXES])
    affines = crops.crop_affines(rects, mirrored, net_side, face=False)
    xq, yq = crops.sample_grid(affines, net_side)
    ours = np.asarray(crops.warp_crops(jnp.asarray(photo), xq, yq))
    for i, (box, mirror) in enumerate(BOXES):
        reference = opencv_crop(photo, np.float32(box), net_side, mirror)
        np.testing.assert_array_equal(ours[i], reference, err_msg=f"box {box} mirrored={mirror}")
    assert ours[2, 0, 0].sum() == 0 and ours[2, -1, -1].sum() > 0  # black border, then the photo


def test_face_crop_scale_is_max_side_and_never_mirrored(photo):
    # §2.4: s = max(w, h) / N, x = s u + x0, y = s v + y0.
    box = np.float32([216.5, 82.5, 57.0, 57.0])
    affines = crops.crop_affines(box[None], np.array([False]), 128, face=True)
    np.testing.assert_allclose(affines[0], (57 / 128, 216.5, 57 / 128, 82.5))
    xq, yq = crops.sample_grid(affines, 128)
    ours = np.asarray(crops.warp_crops(jnp.asarray(photo), xq, yq))[0]
    np.testing.assert_array_equal(ours, opencv_crop(photo, box, 128, False))


def test_normalization_is_bgr_over_256_minus_half():
    rgb = jnp.asarray(np.array([[[[0.0, 128.0, 255.0]]]], np.float32))
    np.testing.assert_allclose(np.asarray(crops.normalize_rgb_crops(rgb))[0, 0, 0], [255 / 256 - 0.5, 0.0, -0.5])


@pytest.mark.parametrize("size", [8, 23, 46])
def test_upsample_equals_cv2_resize_cubic(size):
    maps = np.random.default_rng(size).standard_normal((2, size, size, 3)).astype(np.float32)
    ours = np.asarray(crops.upsample_cubic(jnp.asarray(maps), size * 8))
    for m in range(2):
        reference = cv2.resize(maps[m], (size * 8, size * 8), interpolation=cv2.INTER_CUBIC)
        np.testing.assert_allclose(ours[m].transpose(1, 2, 0), reference, atol=2e-5)


def test_argmax_peaks_first_maximum_in_row_major_order_wins():
    maps = np.zeros((1, 6, 5, 3), np.float32)
    maps[0, 4, 1, 0] = 2.0  # single maximum: u = 1, v = 4
    maps[0, 3, 4, 1] = maps[0, 3, 2, 1] = maps[0, 5, 0, 1] = 0.5  # ties: row 3 col 2 comes first
    maps[0, :, :, 2] = -1.0
    maps[0, 2, 3, 2] = -0.25  # all negative: raw score kept, not clamped
    peaks = np.asarray(crops.argmax_peaks(jnp.asarray(maps.transpose(0, 3, 1, 2))))[0]
    np.testing.assert_array_equal(peaks, [[1, 4, 2.0], [2, 3, 0.5], [3, 2, -0.25]])


def test_planted_peaks_map_back_to_image_pixels():
    # Right hand box (59.5, 172.7, 81, 81), N = 368: s = 81/368 = 0.22010870
    #   peak (u, v) = (100, 200) -> x = 59.5 + 100 s = 81.51087, y = 172.7 + 200 s = 216.72174
    # Left hand, same box, mirrored: x = (59.5 + 81) - 100 s = 118.48913, same y.
    # Face box (40, 110, 120, 120), N = 368: s = 120/368; (u, v) = (0, 367) -> (40, 229.67391)
    box = np.float32([59.5, 172.7, 81, 81])
    hands = crops.crop_affines(np.stack([box, box]), np.array([False, True]), 368, face=False)
    peaks = np.array([[[100, 200, 0.7]], [[100, 200, 0.6]]], np.float32)
    found = crops.peaks_to_image(peaks, hands)
    np.testing.assert_allclose(found[0, 0], (81.51087, 216.72174, 0.7), atol=1e-4)
    np.testing.assert_allclose(found[1, 0], (118.48913, 216.72174, 0.6), atol=1e-4)
    face = crops.crop_affines(np.float32([[40, 110, 120, 120]]), np.array([False]), 368, face=True)
    found = crops.peaks_to_image(np.array([[[0, 367, 0.5]]], np.float32), face)
    np.testing.assert_allclose(found[0, 0], (40, 110 + 367 * 120 / 368, 0.5), atol=1e-4)


class SpotNet:
    """A stand-in network: every part channel is the crop's brightness pooled 8 x 8 (stride 8).

    Its arg-max lands on the brightest spot of the crop, so a bright dot planted in the image must
    come back at the dot's image position (within about one output cell, 8 s pixels) through crop,
    mirror, up-sampling and back-mapping (the mirror itself is checked against OpenCV above).
    """

    def __init__(self, channels: int):
        self.channels = channels
        self.traces = 0

    def apply(self, variables, x):
        self.traces += 1
        grey = x.mean(-1)
        n, h, w = grey.shape
        pooled = grey.reshape(n, h // 8, 8, w // 8, 8).mean((2, 4))
        return jnp.repeat(pooled[..., None], self.channels, axis=-1)


def fake_model(spec, channels):
    return types.SimpleNamespace(spec=spec, net=SpotNet(channels), params={})


def arms_and_face():
    """BODY_25 person: left box (232.4, 155.7, 75, 75), right box (59.5, 172.7, 81, 81), face
    box (56.67, 101.67, 86.67, 86.67) (see test_wholebody_regions)."""
    kp = np.zeros((1, 25, 3), np.float32)
    parts = {
        "RShoulder": (100, 100), "RElbow": (100, 160), "RWrist": (100, 200),
        "LShoulder": (200, 100), "LElbow": (230, 140), "LWrist": (260, 180),
        "Neck": (100, 200), "Nose": (100, 140), "LEye": (110, 130), "REye": (90, 130),
        "LEar": (120, 135), "REar": (80, 135),
    }
    for name, (x, y) in parts.items():
        kp[0, BODY_25.part_index(name)] = (x, y, 0.9)
    return kp


@pytest.mark.parametrize("scale_number, semantics", [(1, "cpu"), (3, "cpu"), (1, "cuda")])
def test_bright_dot_comes_back_at_its_image_position(scale_number, semantics):
    image = np.zeros((300, 400, 3), np.uint8)
    dots = {"left": (250, 170), "right": (80, 230), "face": (120, 150)}  # off-centre in each box
    for x, y in dots.values():
        image[y - 1 : y + 2, x - 1 : x + 2] = 255
    hand, face = fake_model(HAND, 22), fake_model(FACE, 71)
    fn = make_wholebody_fn(BODY_25, hand, face, hand_net_resolution=64, face_net_resolution=64,
                           hand_scale_number=scale_number, semantics=semantics)
    out = fn({}, {}, image, arms_and_face())
    assert out["hand_left"].shape == (1, 21, 3) and out["face"].shape == (1, 70, 3)
    for key, cell in (("hand_left", 75 / 8), ("hand_right", 81 / 8), ("face", 86.67 / 8)):
        found = out[key][0, :, :2]
        np.testing.assert_array_less(np.abs(found - dots[key.replace("hand_", "")]), 1.2 * cell * 1.2)
        assert np.all(out[key][0, :, 2] > -0.5)  # the dot seen: black is 0/256 - 0.5


def test_tiny_boxes_are_skipped_and_stay_zero():
    kp = np.zeros((2, 25, 3), np.float32)
    # person 0: right arm of 2 px -> |W - E| = 1, |E - S| = 1 -> L = 1.5: min side > 1 but area 2.25
    for name, xy in (("RShoulder", (50, 48)), ("RElbow", (50, 49)), ("RWrist", (50, 50))):
        kp[0, BODY_25.part_index(name)] = (*xy, 0.9)
    kp[1] = arms_and_face()[0]
    hand = fake_model(HAND, 22)
    fn = make_wholebody_fn(BODY_25, hand, fake_model(FACE, 71), hand_net_resolution=32,
                           face_net_resolution=32, semantics="cpu")
    out = fn({}, {}, np.full((300, 400, 3), 7, np.uint8), kp)
    np.testing.assert_allclose(out["hand_rects"][0, 1, 2:], (1.5, 1.5))
    np.testing.assert_array_equal(out["hand_right"][0], 0)
    np.testing.assert_array_equal(out["hand_left"][0], 0)
    np.testing.assert_array_equal(out["face"][0], 0)  # no face box for person 0
    # Processed boxes carry the raw score: grey 7 pooled -> 7/256 - 0.5 at every pixel.
    np.testing.assert_allclose(out["hand_right"][1, :, 2], 7 / 256 - 0.5, atol=1e-6)
    np.testing.assert_allclose(out["face"][1, :, 2], 7 / 256 - 0.5, atol=1e-6)
    assert set(out) == {"hand_left", "hand_right", "hand_rects", "face", "face_rects"}


def test_one_compile_per_image_bucket_and_call_size():
    hand = fake_model(HAND, 22)
    fn = make_wholebody_fn(BODY_25, hand, None, hand_net_resolution=32, semantics="cpu")
    kp = arms_and_face()
    fn({}, None, np.zeros((300, 400, 3), np.uint8), kp)
    fn({}, None, np.ones((300, 400, 3), np.uint8), kp * np.float32([1.1, 1.0, 1.0]))
    fn({}, None, np.ones((290, 390, 3), np.uint8), kp)  # same 64-pixel bucket (320 x 448)
    assert hand.net.traces == 1
    fn({}, None, np.ones((290, 390, 3), np.uint8), np.concatenate([kp, kp]))  # 4 crops: new size
    assert hand.net.traces == 2
    out = fn({}, None, np.ones((290, 390, 3), np.uint8), np.zeros((0, 25, 3), np.float32))
    assert out["hand_left"].shape == (0, 21, 3) and hand.net.traces == 2


def test_multi_scale_tie_keeps_the_first_scale():
    # Uniform grey image: every scale scores the same (7/256 - 0.5 everywhere), so no later scale is
    # strictly better and scale 0 (0.8) stays. The arg-max is crop pixel (0, 0): the right hand maps
    # to the scale-0 box's top-left corner, the mirrored left hand to its top-right corner.
    # Right box (59.5, 172.7, 81, 81), centre (100, 213.2): scale 0.8 -> side 64 -> (68, 181.2).
    # Left box (232.4, 155.7, 75, 75), centre (269.9, 193.2): 0.8 * 75 = 60 -> x0 + L = 299.9, y 163.2.
    hand = fake_model(HAND, 22)
    fn = make_wholebody_fn(BODY_25, hand, None, hand_net_resolution=32, hand_scale_number=3, semantics="cpu")
    out = fn({}, None, np.full((300, 400, 3), 7, np.uint8), arms_and_face())
    np.testing.assert_allclose(out["hand_right"][0, :, :2], np.tile([68, 181.2], (21, 1)), atol=1e-4)
    np.testing.assert_allclose(out["hand_left"][0, :, :2], np.tile([299.9, 163.2], (21, 1)), atol=1e-4)
    np.testing.assert_allclose(out["hand_rects"][0], [[232.4, 155.7, 75, 75], [59.5, 172.7, 81, 81]], atol=1e-4)


class CountingSpotNet(SpotNet):
    """SpotNet that counts the crops it really computes (a host callback at run time)."""

    def __init__(self, channels: int):
        super().__init__(channels)
        self.crops_run = 0

    def apply(self, variables, x):
        import jax

        def count(n):
            self.crops_run += int(n)

        jax.debug.callback(count, x.shape[0])
        return super().apply(variables, x)


def test_per_crop_equals_all_at_once_and_computes_no_padding():
    import types

    people = 3  # 6 hand crops = calls of 4 + 2, 3 face crops = 2 + 1
    kp = np.concatenate([arms_and_face() + np.float32([20 * p, 5 * p, 0]) for p in range(people)])
    image = np.zeros((300, 400, 3), np.uint8)
    image[150:200:7, 60:300:11] = 255  # bright dots: the arg-max differs from crop to crop
    out = {}
    for per_crop in (True, False):
        hand = types.SimpleNamespace(spec=HAND, net=CountingSpotNet(22), params={})
        face = types.SimpleNamespace(spec=FACE, net=CountingSpotNet(71), params={})
        fn = make_wholebody_fn(BODY_25, hand, face, hand_net_resolution=32, face_net_resolution=32,
                               semantics="cpu", per_crop=per_crop)
        out[per_crop] = fn({}, {}, image, kp)
        # 2 hands + 1 face per person, in exact power-of-two calls on CPU: no padding computed
        assert (hand.net.crops_run, face.net.crops_run) == (2 * people, people)
    for key in out[True]:
        np.testing.assert_array_equal(out[True][key], out[False][key], err_msg=key)
    # the dots were seen (black alone scores 0/256 - 0.5): the comparison is not vacuous
    assert np.any(out[True]["hand_right"][:, :, 2] > -0.49) and np.any(out[True]["face"][:, :, 2] > -0.49)


def test_exact_buckets_are_the_binary_writing_of_the_count():
    from jaxpose.wholebody import _buckets

    assert _buckets(6, 16) == [(0, 8)]  # padded: one call
    assert _buckets(6, 16, exact=True) == [(0, 4), (4, 2)]
    assert _buckets(19, 16, exact=True) == [(0, 16), (16, 2), (18, 1)]
    assert _buckets(0, 4, exact=True) == []
    for count in range(40):
        calls = _buckets(count, 8, exact=True)
        assert sum(size for _, size in calls) == count
        assert [start for start, _ in calls] == list(np.cumsum([0] + [s for _, s in calls])[:-1])
        assert all(size & (size - 1) == 0 and size <= 8 for _, size in calls)
