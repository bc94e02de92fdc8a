"""make_pose_fn end to end: planted people for every body model, options, batching, compiles,
input validation, and the default model on real photos (counts and positions checked by eye)."""

from __future__ import annotations

import dataclasses
import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpose
from jaxpose import pipeline
from jaxpose.errors import InputError
from jaxpose.specs import BODY_MODELS, get_spec

from conftest import MEDIA_DIR, need_shared
from planted import expected_keypoints, render, standing
from tiny_net import TinyNet

HEAT = (384, 192)  # heatmap = net input = image size: scaleNetToOutput = 1


def _fake_model(spec, net=None, params=None):
    return types.SimpleNamespace(name=spec.name, spec=spec, net=net, params=params)


def _scene(spec):
    """Planted people (OpenPose's expected order = strongest limbs first) and the ones dropped.

    0: full person, PAF 1.0.  1: close to 0 (wrists one cell apart), PAF 0.8.
    2: partial (no legs), one part below the NMS threshold (missing), one weak part (kept), PAF 0.6.
    3 and 4: forearms of the same type (LElbow->LWrist) crossing each other, PAF 0.45 and 0.3.
    dropped: a leg-only person (2 parts; BODY_25: 5 parts, 3 of them feet -> foot rule).
    """
    nms = spec.thresholds.nms_threshold
    p0 = standing(spec, 5.0, 12.0)
    p1 = standing(spec, 12.0, 12.4)
    legs = ("RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "MidHip", "LBigToe",
            "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
    p2 = standing(spec, 21.0, 11.0, drop=legs)
    missing, weak = spec.part_index("LWrist"), spec.part_index("RWrist")
    p2.weak = {missing: 0.5 * nms, weak: nms + 0.3 * (1 - nms)}
    p3 = standing(spec, 35.0, 12.0)
    p4 = standing(spec, 41.0, 12.2)
    lw = spec.part_index("LWrist")
    p3.parts[lw] = (p3.parts[lw][0] + 8 * 3.0, p3.parts[lw][1] + 8 * 1.7)   # -> right, down
    p4.parts[lw] = (p4.parts[lw][0] - 8 * 6.0, p4.parts[lw][1] + 8 * 1.7)   # -> left: crosses p3
    for person, paf in zip((p0, p1, p2, p3, p4), (1.0, 0.8, 0.6, 0.45, 0.3)):
        person.paf = paf
    only = ("LKnee", "LAnkle") + (("LBigToe", "LSmallToe", "LHeel") if spec.name == "BODY_25" else ())
    dropped = standing(spec, 28.0, 10.0, only=only)
    dropped.paf = 1.0
    return [p0, p1, p2, p3, p4], dropped


def _render(spec, people, heat=HEAT):
    return render(spec, people, heat)


def _match(spec, poses, people, scale=1.0, tol=1.0):
    """Assert poses.keypoints are `people` in this order, each present part within `tol` px."""
    assert poses.num_people == len(people)
    for kp, person in zip(poses.keypoints, people):
        expected = expected_keypoints(spec, person, scale)
        for part in range(spec.num_parts):
            below = person.weak.get(part, 1.0) <= spec.thresholds.nms_threshold
            if np.isnan(expected[part, 0]) or below:
                assert (kp[part] == 0).all(), (spec.name, part)
            else:
                assert kp[part, 2] > 0, (spec.name, spec.part_names[part])
                np.testing.assert_allclose(kp[part, :2], expected[part], atol=tol,
                                           err_msg=f"{spec.name} {spec.part_names[part]}")


@pytest.mark.parametrize("semantics", ["cuda", "cpu"])
@pytest.mark.parametrize("model", BODY_MODELS)
def test_planted_people_are_recovered(model, semantics):
    spec = get_spec(model)
    people, dropped = _scene(spec)
    out = _render(spec, people + [dropped])
    pose_fn = jaxpose.make_pose_fn(_fake_model(spec), net_resolution=HEAT, semantics=semantics,
                                   max_peaks=16)
    poses = pose_fn.from_net_output(out, HEAT)
    assert poses.net_input_size == HEAT and poses.scale_net_to_output == 1.0
    assert poses.image_size == HEAT and poses.model == spec.name
    # CUDA (§7.3): people appear in the order of their strongest limb (PAF 1.0, 0.8, ...).
    # CPU (§7.4): people are created pair by pair; pair 0 (COCO Neck-RShoulder, MPI Head-Neck,
    # BODY_25 Neck-MidHip) comes first, in score order, so a person lacking pair 0's parts (the
    # partial one has no MidHip in BODY_25) comes after all those that have them.
    a, b = spec.pairs[0]
    order = list(range(5))
    if semantics == "cpu":
        order.sort(key=lambda n: not (a in people[n].parts and b in people[n].parts))
    _match(spec, poses, [people[n] for n in order])
    # the weak part is kept with its own (low) score
    weak = spec.part_index("RWrist")
    row = order.index(2)
    assert poses.keypoints[row, weak, 2] == pytest.approx(people[2].weak[weak], abs=0.05)
    # person scores: summed score / (P + K); full people in order of limb strength
    full = [order.index(n) for n in (0, 1, 3, 4)]
    assert (np.diff(poses.scores[full]) < 0).all() and (poses.scores > 0).all()


def test_planted_people_in_a_larger_image_are_scaled():
    spec = get_spec("COCO")
    people, _ = _scene(spec)
    image = (768, 384)  # net input 384x192: r0 = min(383/767, 191/383)
    pose_fn = jaxpose.make_pose_fn(_fake_model(spec), net_resolution=HEAT, max_peaks=16)
    poses = pose_fn.from_net_output(_render(spec, people), image)
    # §5: a = min(383/767, 191/383) = 0.498695; netSize = (int(383.0), int(191.999)) = (383, 191);
    # s = min(767/382, 383/190) = 2.007853
    s = poses.scale_net_to_output
    assert s == pytest.approx(2.007853, abs=1e-6) and poses.image_size == image
    _match(spec, poses, people, scale=s, tol=s)


def test_planted_people_over_two_scales_are_merged():
    # §3.2: 384x192 image and net: scale 1 (0.75) is 288x144 with r1 = min(287/383, 143/191)
    # = 0.748691; its heatmap shows the people at r1 x their image position (top-left anchored).
    spec = get_spec("COCO")
    people, _ = _scene(spec)
    r1 = min(287 / 383, 143 / 191)
    shrunk = [dataclasses.replace(p, parts={k: (x * r1, y * r1) for k, (x, y) in p.parts.items()})
              for p in people]
    pose_fn = jaxpose.make_pose_fn(_fake_model(spec), net_resolution=HEAT, scale_number=2,
                                   max_peaks=16)
    assert pose_fn.plan(HEAT).net_sizes == ((384, 192), (288, 144))
    poses = pose_fn.from_net_output([_render(spec, people), _render(spec, shrunk, (288, 144))],
                                    HEAT)
    # §4.3 aligns scale 1 by (x + 0.5) / ratio - 0.5, i.e. 0.5 (1 / r1 - 1) = 0.17 px off the
    # image geometry, on top of the centroid's sub-pixel bias: 1.5 px tolerance
    _match(spec, poses, people, tol=1.5)


def test_threshold_overrides_reach_the_pipeline():
    spec = get_spec("COCO")
    people, dropped = _scene(spec)
    out = _render(spec, people + [dropped])

    def count(**kw):
        fn = jaxpose.make_pose_fn(_fake_model(spec), net_resolution=HEAT, max_peaks=16, **kw)
        return fn.from_net_output(out, HEAT)

    assert count().num_people == 5
    # the partial person has 18 - 6 legs - 1 missing wrist = 11 parts
    assert count(min_subset_cnt=11).num_people == 5
    assert count(min_subset_cnt=12).num_people == 4
    # the weak wrist (peak ~0.335) disappears when the NMS threshold passes it
    kp = count(nms_threshold=0.4).keypoints
    assert kp[2, spec.part_index("RWrist"), 2] == 0
    # the weakest person's PAF is 0.3: no limb survives an inter threshold of 0.35
    assert count(inter_threshold=0.35).num_people == 4
    # the leg-only person (2 parts) comes back with min_subset_cnt 2
    assert count(min_subset_cnt=2).num_people == 6
    # averages are ~2 x amplitude: 1.0 drops nobody, 2.5 everybody
    assert count(min_subset_score=2.5).num_people == 0
    assert count(number_people_max=2).num_people == 2


def test_override_validation():
    spec = get_spec("COCO")
    model = _fake_model(spec)
    with pytest.raises(InputError, match="unknown option"):
        jaxpose.make_pose_fn(model, nms_treshold=0.1)
    with pytest.raises(InputError, match="nms_threshold"):
        jaxpose.make_pose_fn(model, nms_threshold=1.5)
    with pytest.raises(InputError, match="min_subset_cnt"):
        jaxpose.make_pose_fn(model, min_subset_cnt=2.5)
    with pytest.raises(InputError, match="finite"):
        jaxpose.make_pose_fn(model, inter_threshold=float("nan"))
    with pytest.raises(InputError, match="semantics"):
        jaxpose.make_pose_fn(model, semantics="gpu")
    with pytest.raises(InputError, match="multi-scale"):
        jaxpose.make_pose_fn(model, semantics="cpu", scale_number=2)
    with pytest.raises(InputError, match="multiple of 16"):
        jaxpose.make_pose_fn(model, net_resolution=(-1, 360))
    fn = jaxpose.make_pose_fn(model, maximize_positives=True, min_subset_cnt=4)
    assert fn.thresholds == dataclasses.replace(spec.thresholds_maximize_positives, min_subset_cnt=4)


# ------------------------------------------------------------------ with a (tiny) network


@pytest.fixture(scope="module")
def tiny():
    spec = get_spec("COCO")
    net = TinyNet(spec.num_channels)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))["params"]
    return _fake_model(spec, net, params)


def _frames(t, h, w, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (t, h, w, 3), np.uint8)


def test_batch_equals_frame_by_frame(tiny):
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64), max_peaks=16,
                              maximize_positives=True)
    frames = _frames(3, 100, 150)
    batched = fn.batch(tiny.params, frames)
    single = [fn(tiny.params, f) for f in frames]
    assert len(batched) == 3
    assert sum(p.num_people for p in single) > 0  # the comparison is not vacuous
    for b, s in zip(batched, single):
        np.testing.assert_array_equal(b.keypoints, s.keypoints)
        np.testing.assert_array_equal(b.scores, s.scores)
        assert b.net_input_size == s.net_input_size == (96, 64)
    # and the exposed device function gives the same arrays, under jit
    out = jax.jit(fn.device_fn)(tiny.params, jnp.asarray(frames))
    assert out["peaks"].shape == (3, 18, 16, 3) and out["scores"].shape == (3, 19, 16, 16)
    ref = fn._run_device(tiny.params, frames, (150, 100))[0]
    np.testing.assert_allclose(np.asarray(out["scores"]), ref["scores"], atol=1e-5)


def test_peak_buffer_grows_when_a_part_has_more_peaks(tiny, monkeypatch):
    """A part with more peaks than the first buffer: the call is redone with `max_peaks` rows and
    gives what the device function with the full buffer gives."""
    monkeypatch.setattr(pipeline, "FIRST_PEAK_BUFFER", 2)
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64), max_peaks=24)
    frames = _frames(1, 100, 150, seed=5)
    out, _ = fn._run_device(tiny.params, frames, (150, 100))
    full = jax.jit(fn.device_fn)(tiny.params, jnp.asarray(frames))
    assert out["peaks"].shape[2] == 24 and int(np.asarray(full["totals"]).max()) > 2
    for key in ("peaks", "counts", "totals", "scores"):
        np.testing.assert_allclose(out[key], np.asarray(full[key]), atol=1e-5)


def test_one_compile_per_bucket(tiny, monkeypatch):
    chex.clear_trace_counter()
    monkeypatch.setattr(pipeline, "_device_core",
                        chex.assert_max_traces(pipeline._device_core, n=1))
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64), max_peaks=16)
    # 150x100, 149x101 and 152x100 all give a 96x64 net input and a 256x128 padded buffer
    for (w, h) in [(150, 100), (149, 101), (152, 100), (150, 100)]:
        fn(tiny.params, _frames(1, h, w, seed=w + h)[0])
    fn(tiny.params, _frames(1, 100, 150, seed=1)[0])  # a repeated frame size


def test_heatmaps_are_returned_on_request(tiny):
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64), return_heatmaps=True, max_peaks=16)
    poses = fn(tiny.params, _frames(1, 100, 150)[0])
    assert poses.heatmaps.shape == (64, 96, 57) and poses.heatmaps.dtype == np.float32


@pytest.mark.parametrize("image, message", [
    (np.zeros((10, 10, 3), np.float32), "dtype"),
    (np.zeros((10, 10, 4), np.uint8), "alpha"),
    (np.zeros((0, 10, 3), np.uint8), "empty"),
    (np.zeros((10, 10, 3, 1), np.uint8), "shape"),
    (np.zeros((20000, 3, 3), np.uint8), "larger than"),
    ("image.png", "NumPy array"),
])
def test_bad_images_are_refused(tiny, image, message):
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64))
    with pytest.raises(InputError, match=message):
        fn(tiny.params, image)


def test_gray_images_are_accepted(tiny):
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64), max_peaks=16)
    gray = _frames(1, 100, 150)[0, :, :, 0]
    a = fn(tiny.params, gray)
    b = fn(tiny.params, np.repeat(gray[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(a.keypoints, b.keypoints)


def test_hand_and_face_are_wired_through_wholebody(tiny, monkeypatch):
    import sys

    calls = {}

    def make_wholebody_fn(body_spec, hand, face, **kw):
        calls["make"] = (body_spec.name, hand, face, kw)

        def fn(hand_params, face_params, image, body_keypoints):
            calls["run"] = (hand_params, face_params, image.shape, body_keypoints.shape)
            n = len(body_keypoints)
            return {"face": np.zeros((n, 70, 3), np.float32), "face_rects": np.zeros((n, 4))}

        return fn

    stub = types.ModuleType("jaxpose.wholebody")
    stub.make_wholebody_fn = make_wholebody_fn
    monkeypatch.setitem(sys.modules, "jaxpose.wholebody", stub)
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64), face="FACE-MODEL",
                              face_net_resolution=320, max_peaks=16)
    poses = fn({"body": tiny.params, "face": "face-params"}, _frames(1, 100, 150)[0])
    assert calls["make"][0] == "COCO" and calls["make"][2] == "FACE-MODEL"
    assert calls["make"][3]["face_net_resolution"] == 320
    assert calls["run"][1] == "face-params" and calls["run"][2] == (100, 150, 3)
    assert poses.face.shape == (poses.num_people, 70, 3)
    with pytest.raises(InputError, match="body"):
        fn(tiny.params, _frames(1, 100, 150)[0])


# ------------------------------------------------------------------ the default model on photos

# People checked by eye on renderings of our output (centre of the detected keypoints, pixels).
PHOTOS = {
    # baseball: batter (centre), umpire (front), catcher (right); a player cut by the left edge
    "COCO_val2014_000000000192.jpg": [(330, 263), (416, 365), (483, 314)],
    # living room: seated man (left), standing man (centre), seated woman (right)
    "COCO_val2014_000000000241.jpg": [(81, 389), (228, 276), (342, 374)],
    # the man holding the basketball on the left
    "basketball1.png": [(97, 222)],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_default_model_finds_the_people_in_photos(default_model, name):
    import cv2

    path = need_shared(MEDIA_DIR / name)
    image = cv2.imread(str(path))[..., ::-1].copy()
    poses = jaxpose.make_pose_fn(default_model)(default_model.params, image)
    assert len(PHOTOS[name]) <= poses.num_people <= len(PHOTOS[name]) + 2
    centres = []
    for kp in poses.keypoints:
        found = kp[kp[:, 2] > 0]
        centres.append(found[:, :2].mean(axis=0))
    for x, y in PHOTOS[name]:
        dist = min(np.hypot(cx - x, cy - y) for cx, cy in centres)
        assert dist < 40, (name, (x, y), centres)
