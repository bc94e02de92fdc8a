"""Net input sizes, scales and the warp into the net input (openpose-core §3, §5).

References: the worked tables of §3.2 / §3.6 (numbers from the document) and cv2.warpAffine.
"""

from __future__ import annotations

import cv2
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpose.device.preprocess import (
    net_input_size, normalize, resize_get_scale_factor, scale_net_to_output, scale_sizes,
    warp_geometry, warp_image,
)
from jaxpose.errors import InputError

# §3.6: image, net input, r0, scaleNetToOutput, NMS offset
WORKED = [
    ((640, 480), (496, 368), 0.766180, 1.305177, 0.383090),
    ((1280, 720), (656, 368), 0.510431, 1.959128, 0.255216),
    ((640, 427), (544, 368), 0.849765, 1.176796, 0.424883),
    ((480, 640), (272, 368), 0.565762, 1.767528, 0.282881),
    ((1920, 1080), (656, 368), 0.340130, 2.943252, 0.169880),
]


@pytest.mark.parametrize("image, net, r0, s, offset", WORKED)
def test_worked_sizes_table(image, net, r0, s, offset):
    assert net_input_size(image, (-1, 368), 1.0) == net
    assert resize_get_scale_factor(image, net) == pytest.approx(r0, abs=5e-7)
    got_s, got_offset = scale_net_to_output(image, net)
    assert got_s == pytest.approx(s, abs=5e-7)
    assert got_offset == pytest.approx(offset, abs=5e-7)


def test_scale_net_to_output_is_not_one_over_r0():
    # §3.6 last row: s = 2.943252 while 1/r0 = 2.940054
    s, _ = scale_net_to_output((1920, 1080), (656, 368))
    assert abs(s - 1 / resize_get_scale_factor((1920, 1080), (656, 368))) > 3e-3


def test_multi_scale_example():
    # §3.2: 640x480, -1x368, 4 scales, gap 0.25
    sizes, factors = scale_sizes((640, 480), (496, 368), 4, 0.25)
    assert sizes == ((496, 368), (368, 272), (240, 176), (112, 80))
    assert factors == pytest.approx([0.766180, 0.565762, 0.365344, 0.164927], abs=5e-7)


def test_dynamic_resolution_caps_wide_images_only_when_positive():
    # 2560x1080: 368 * 2560 / 1080 = 872.3 -> 880 without the cap; 16:9 cap -> 656
    assert net_input_size((2560, 1080), (-1, 368), 1.0) == (656, 368)
    assert net_input_size((2560, 1080), (-1, 368), -1.0) == (880, 368)
    # fixed width, derived height: 656 * 1080 / 1920 = 369 -> 368
    assert net_input_size((1920, 1080), (656, -1), 1.0) == (656, 368)


@pytest.mark.parametrize("bad", [(-1, 360), (650, 368), (-1, -1)])
def test_bad_net_resolution_is_refused(bad):
    with pytest.raises(InputError):
        net_input_size((640, 480), bad, 1.0)


def test_bad_scales_are_refused():
    with pytest.raises(InputError):
        scale_sizes((640, 480), (496, 368), 6, 0.25)  # scale 5 would be 1 - 1.25 < 0
    with pytest.raises(InputError):
        scale_sizes((640, 480), (496, 368), 2, 0.0)


def _cv2_reference(image_bgr, net_wh, r):
    m = np.array([[r, 0, 0], [0, r, 0]], np.float64)
    flag = cv2.INTER_CUBIC if r > 1 else cv2.INTER_AREA  # what OpenPose asks for (§3.4)
    return cv2.warpAffine(image_bgr, m, net_wh, flags=flag, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))


@pytest.mark.parametrize("image_wh, net_wh", [
    ((640, 480), (496, 368)),   # bilinear, padding on the right
    ((333, 517), (272, 368)),   # bilinear, padding at the bottom
    ((200, 150), (496, 368)),   # bicubic (r > 1)
    ((61, 23), (656, 368)),     # strong upscaling, r ~ 10
    ((656, 368), (656, 368)),   # r == 1: plain copy
])
def test_warp_matches_cv2_warpaffine_bit_exact(image_wh, net_wh):
    rng = np.random.default_rng(sum(image_wh))
    w, h = image_wh
    image = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), np.uint8), (0, 0), 1.5)
    image[::7] = rng.integers(0, 256, (len(image[::7]), w, 3), np.uint8)  # sharp edges too
    r = resize_get_scale_factor(image_wh, net_wh)
    expected = _cv2_reference(image, net_wh, r)
    # the image sits in the top-left corner of a larger, non-zero padded buffer: the padding must
    # never leak into the result (taps outside the true image read 0)
    buffer = np.full((h + 37, w + 51, 3), 201, np.uint8)
    buffer[:h, :w] = image
    got = np.asarray(warp_image(jnp.asarray(buffer[None]), warp_geometry(image_wh, net_wh, r)))[0]
    np.testing.assert_array_equal(got, expected)


def test_normalize_openpose_and_raw_bgr():
    rgb = np.array([[[10, 128, 255]]], np.uint8)[None]
    op = np.asarray(normalize(jnp.asarray(rgb), "openpose"))[0, 0, 0]
    np.testing.assert_array_equal(op, np.array([255 / 256 - 0.5, 0.0, 10 / 256 - 0.5], np.float32))
    raw = np.asarray(normalize(jnp.asarray(rgb), "raw_bgr"))[0, 0, 0]
    np.testing.assert_array_equal(raw, np.array([255, 128, 10], np.float32))
