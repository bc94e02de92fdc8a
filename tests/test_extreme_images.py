"""Odd images through the API: extreme aspect ratios, size limits, channels-first arrays, bad params.

References: OpenPose's `resizeGetScaleFactor` / `scaleNetToOutput` (openpose-core §3.3, §5) in
IEEE double arithmetic, worked by hand for the issue's sizes; planted people for the scaling.
"""

from __future__ import annotations

import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxpose
from jaxpose.device.preprocess import net_input_size, resize_get_scale_factor, scale_net_to_output
from jaxpose.errors import InputError
from jaxpose.limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, MAX_NET_SIDE
from jaxpose.pipeline import make_plan
from jaxpose.specs import get_spec

from planted import expected_keypoints, render, standing
from tiny_net import TinyNet


def _model(spec_name="COCO", seed=0):
    spec = get_spec(spec_name)
    net = TinyNet(spec.num_channels)
    params = net.init(jax.random.PRNGKey(seed), jnp.zeros((1, 64, 64, 3)))["params"]
    return types.SimpleNamespace(name=spec.name, spec=spec, net=net, params=params)


@pytest.fixture(scope="module")
def tiny():
    return _model()


# ------------------------------------------------------------------ scaleNetToOutput, by hand

# (image, net input, s) with s = OpenPose's double arithmetic worked by hand:
# a = min((Wn-1)/(W-1), (Hn-1)/(H-1)); netSize = (int(a W + .5), int(a H + .5));
# s = fastMin((W-1)/(netW-1), (H-1)/(netH-1)), where x/0 = +inf in double.
WIDE_CASES = [
    ((5000, 5), (656, 368), 4999 / 654),     # netSize (655, 1): height ratio 4/0 = inf
    ((1400, 2), (656, 368), 1399 / 654),     # netSize (655, 1): height ratio 1/0 = inf
    ((5000, 10), (656, 368), 4999 / 654),    # netSize (655, 1)
    ((1000, 3), (656, 368), 999 / 655),      # netSize (656, 2): finite height ratio 2/1 is larger
]


@pytest.mark.parametrize("image, net, s", WIDE_CASES)
def test_scale_net_to_output_of_very_wide_images_follows_openposes_double_arithmetic(image, net, s):
    got, offset = scale_net_to_output(image, net)
    assert got == pytest.approx(s, rel=1e-6)
    assert offset == pytest.approx(0.5 / s, rel=1e-6)


def test_resize_get_scale_factor_divides_by_zero_as_ieee_double():
    assert resize_get_scale_factor((655, 1), (5000, 5)) == pytest.approx(4999 / 654)
    assert resize_get_scale_factor((1, 655), (5, 5000)) == pytest.approx(4999 / 654)
    assert resize_get_scale_factor((1, 1), (5, 5)) == math.inf  # fastMin(inf, inf)


def test_image_thinner_than_half_a_net_row_is_refused_clearly():
    # 16384x2 with -1x368: a = 655/16383, netSize = (655, int(0.08 + 0.5) = 0): OpenPose's s would
    # be (2-1)/(0-1) = -1 (mirrored keypoints); refused instead.
    with pytest.raises(InputError, match="16384x2 pixels.*aspect ratio is too extreme"):
        make_plan((16384, 2), (-1, 368), 1.0, 1, 0.25)


def test_video_net_input_of_an_extreme_aspect_ratio_is_bounded():
    # --net_resolution_dynamic <= 0 (video): 5000x5 would ask for a 368000x368 net input
    with pytest.raises(InputError, match=f"above {MAX_NET_SIDE} pixels"):
        make_plan((5000, 5), (-1, 368), -1.0, 1, 0.25)


def test_scales_whose_net_input_would_vanish_are_refused():
    # 5 scales with gap 0.25: scale 4 is 0 -> OpenPose clamps the net input to 1 pixel
    with pytest.raises(InputError, match="below 16 pixels"):
        make_plan((640, 480), (-1, 368), 1.0, 5, 0.25)


def openpose_s(image_wh, net_wh):
    """scaleNetToOutput transcribed from OpenPose (poseExtractorCaffe.cpp, openCv.cpp) with C++
    double semantics: x / 0.0 = +-inf, fastMin(a, b) = a < b ? a : b."""
    def divide(num, den):
        return num / den if den != 0 else (math.copysign(math.inf, num) if num else math.nan)

    def scale_factor(src, dst):
        rw, rh = (divide(d - 1, s - 1) for s, d in zip(src, dst))
        return rw if rw < rh else rh

    a = scale_factor(image_wh, net_wh)
    net_size = (int(a * image_wh[0] + 0.5), int(a * image_wh[1] + 0.5))
    return scale_factor(net_size, image_wh)


SIDES = st.integers(2, MAX_IMAGE_SIDE)
LOG_SIDES = st.floats(math.log(2), math.log(MAX_IMAGE_SIDE)).map(
    lambda v: max(2, min(MAX_IMAGE_SIDE, int(math.exp(v)))))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=st.one_of(SIDES, LOG_SIDES), h=st.one_of(SIDES, LOG_SIDES),
       net=st.sampled_from([(-1, 368), (-1, 160), (368, -1), (656, 368), (-1, 16)]),
       dynamic=st.sampled_from([1.0, -1.0, 0.5]))
def test_any_image_size_gives_openposes_scale_or_an_input_error(w, h, net, dynamic):
    """Every size: OpenPose's scaleNetToOutput when it is meaningful (positive, finite) and the
    net input lies in [16, MAX_NET_SIDE]; our InputError exactly where it is not."""
    try:
        net0 = net_input_size((w, h), net, dynamic)
    except InputError:
        net0 = None
    s = openpose_s((w, h), net0) if net0 is not None else None
    meaningful = s is not None and math.isfinite(s) and s > 0
    try:
        plan = make_plan((w, h), net, dynamic, 1, 0.25)
    except InputError:
        assert not meaningful, (w, h, net, dynamic, s)
        return
    assert meaningful and plan.net_sizes[0] == net0
    assert 16 <= min(net0) and max(net0) <= MAX_NET_SIDE and net0[0] % 16 == net0[1] % 16 == 0
    assert plan.scale == pytest.approx(s, rel=1e-6)
    assert math.isfinite(plan.nms_offset) and np.isfinite(plan.ratios).all()
    # s is within a factor 2 of 1 / r0 (OpenPose rounds the image's size in the net input, which
    # is off by up to 2x for images of a few pixels); never 0, negative or infinite
    r0 = resize_get_scale_factor((w, h), net0)
    assert 0.45 < plan.scale * r0 < 1.25


@settings(max_examples=100, deadline=None)
@given(w=LOG_SIDES, h=LOG_SIDES, scales=st.integers(2, 8), gap=st.floats(0.01, 1.0))
def test_any_multi_scale_setting_gives_a_plan_or_an_input_error(w, h, scales, gap):
    try:
        plan = make_plan((w, h), (-1, 368), 1.0, scales, gap)
    except InputError:
        return
    assert len(plan.net_sizes) == scales and all(min(size) >= 16 for size in plan.net_sizes)
    assert np.isfinite(plan.ratios).all() and (plan.ratios > 0).all()


# ------------------------------------------------------------------ the API on those images


@pytest.mark.parametrize("w, h, processed", [
    (5000, 5, True), (1400, 2, True), (5000, 10, True), (1000, 3, True),  # the sizes
    (16384, 2, False),  # less than half a net row: OpenPose's s would be negative
    (5, 5000, False),  # tall: the net input width would be 0 (as before)
])
def test_pose_fn_on_very_wide_and_tall_images(tiny, w, h, processed):
    """Processed with sane output, or refused with our InputError (never another exception)."""
    fn = jaxpose.make_pose_fn(tiny, max_peaks=8)  # default net_resolution -1x368
    image = np.random.default_rng(w + h).integers(0, 256, (h, w, 3), np.uint8)
    if not processed:
        with pytest.raises(InputError, match=f"image of {w}x{h} pixels .*(too extreme|below 16)"):
            fn(tiny.params, image)
        return
    poses = fn(tiny.params, image)
    assert poses.scale_net_to_output == pytest.approx(openpose_s((w, h), poses.net_input_size), rel=1e-6)
    assert poses.image_size == (w, h) and poses.net_input_size == (656, 368)
    assert np.isfinite(poses.keypoints).all() and np.isfinite(poses.scores).all()


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(w=st.integers(3969, 4096), h=st.integers(2, 128), value=st.integers(0, 255))
def test_pose_fn_on_aspect_ratios_from_31_to_2048(tiny, w, h, value):
    """Widths and heights of one padded bucket (4096 x 128): one compile, aspect ratios 31..2048."""
    fn = jaxpose.make_pose_fn(tiny, max_peaks=8)
    image = np.full((h, w, 3), value, np.uint8)
    image[:, ::7] = 255 - value
    s = openpose_s((w, h), (656, 368))
    if not (math.isfinite(s) and s > 0):
        with pytest.raises(InputError, match="aspect ratio is too extreme"):
            fn(tiny.params, image)
        return
    poses = fn(tiny.params, image)
    assert poses.scale_net_to_output == pytest.approx(s, rel=1e-6)
    assert np.isfinite(poses.keypoints).all() and np.isfinite(poses.scores).all()


def test_planted_person_on_a_very_wide_image_is_scaled_by_the_hand_computed_s():
    spec = get_spec("COCO")
    fake = types.SimpleNamespace(name=spec.name, spec=spec, net=None, params=None)
    fn = jaxpose.make_pose_fn(fake, net_resolution=(-1, 368), max_peaks=16)
    person = standing(spec, 20.0, 20.0)
    poses = fn.from_net_output(render(spec, [person], (656, 368)), (5000, 5))
    s = 4999 / 654
    assert poses.num_people == 1
    expected = expected_keypoints(spec, person, s)
    present = ~np.isnan(expected[:, 0])
    np.testing.assert_allclose(poses.keypoints[0][present, :2], expected[present], atol=s)


@pytest.mark.parametrize("shape, message", [
    ((4, MAX_IMAGE_SIDE + 1, 3), "larger than 16384 pixels per side"),
    ((12000, 12000, 3), "-pixel limit"),
])
def test_images_over_the_limits_are_refused_before_any_work(tiny, shape, message):
    image = np.broadcast_to(np.uint8(0), shape)  # no memory behind it
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64))
    assert shape[0] * shape[1] > MAX_IMAGE_PIXELS or max(shape[:2]) > MAX_IMAGE_SIDE
    with pytest.raises(InputError, match=message):
        fn(tiny.params, image)


# ------------------------------------------------------------------ channels-first, params


@pytest.mark.parametrize("shape", [(3, 40, 60), (1, 40, 60), (4, 40, 60)])
def test_channels_first_array_is_named_with_the_fix(tiny, shape):
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64))
    with pytest.raises(InputError, match=r"channels-first.*np\.moveaxis\(image, 0, -1\)"):
        fn(tiny.params, np.zeros(shape, np.uint8))
    with pytest.raises(InputError, match="channels-first"):
        fn.batch(tiny.params, np.zeros((2,) + shape, np.uint8))


@pytest.mark.parametrize("params, message", [
    (None, "params is None"),
    ({}, "params is empty"),
    ([1, 2], "params is a list"),
    ({"Conv_0": {"kernel": np.zeros((1, 1, 3, 57), np.float32)}}, "1 missing"),
])
def test_missing_or_empty_params_give_an_input_error(tiny, params, message):
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64))
    image = np.zeros((40, 60, 3), np.uint8)
    with pytest.raises(InputError, match=message):
        fn(params, image)
    with pytest.raises(InputError, match=message):
        jax.jit(fn.device_fn)(params, image[None])


def test_params_of_another_model_give_an_input_error(tiny):
    other = _model("BODY_25")  # 78 output channels instead of COCO's 57
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64))
    with pytest.raises(InputError, match=r"wrong shape \(Conv_0/bias, Conv_0/kernel\).*COCO"):
        fn(other.params, np.zeros((40, 60, 3), np.uint8))
    assert fn(tiny.params, np.zeros((40, 60, 3), np.uint8)).image_size == (60, 40)  # still fine
