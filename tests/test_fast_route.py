"""The post-processing fast route (one scale, CUDA semantics) against independent references.

Each piece is checked on its own: `upsample_rows` and `sample_taps` against the §4.3 formula and
cv2.resize, `find_peaks_rows` against `find_peaks` (itself checked by test_peaks.py) on maps
with many peaks per row, plateaus and border peaks, packed limb scoring against scoring every
pair, and the whole route against the general route on random and planted net outputs.
"""

from __future__ import annotations

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpose.device.paf import ScoreThresholds, score_with_sampler
from jaxpose.device.peaks import find_peaks, find_peaks_rows
from jaxpose.device.postprocess import fast_route_taps, pair_capacities, postprocess
from jaxpose.device.resize import sample_taps, static_taps, upsample_rows
from jaxpose.specs import get_spec

from planted import render, standing
from test_resize import _maps, _reference_cuda


def _thresholds(nms=0.05, inter=0.05, above=0.95):
    return ScoreThresholds(jnp.float32(nms), jnp.float32(inter), jnp.float32(above))


# ------------------------------------------------------------------ upsampling


def test_upsample_rows_matches_the_cuda_formula():
    m = _maps(5, 7, 3)
    got = np.asarray(upsample_rows(jnp.asarray(m), static_taps((40, 56), (5, 7), "cuda")))
    assert got.shape == (40, 1, 3, 56)  # rows first
    for c in range(3):
        np.testing.assert_allclose(got[:, 0, c], _reference_cuda(m[0, :, :, c], 40, 56, 8, 8), atol=2e-6)


def test_upsample_rows_with_cpu_taps_matches_cv2():
    m = _maps(6, 9, 2, seed=1)
    got = np.asarray(upsample_rows(jnp.asarray(m), static_taps((48, 72), (6, 9), "cpu")))
    for c in range(2):
        ref = cv2.resize(m[0, :, :, c], (72, 48), interpolation=cv2.INTER_CUBIC)
        np.testing.assert_allclose(got[:, 0, c], ref, atol=2e-6)


def test_upsample_rows_refuses_a_fractional_factor():
    with pytest.raises(ValueError, match="integer factor"):
        upsample_rows(jnp.zeros((1, 5, 7, 1)), static_taps((36, 56), (5, 7), "cuda"))


def test_sample_taps_matches_the_formula_at_chosen_pixels():
    m = _maps(5, 7, 4, seed=3)
    taps = static_taps((40, 56), (5, 7), "cuda")
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, 40, 50), rng.integers(0, 56, 50)
    cs = rng.integers(0, 4, 50)
    got = np.asarray(sample_taps(jnp.asarray(m), taps, jnp.zeros(50, jnp.int32), jnp.asarray(cs),
                                 jnp.asarray(ys), jnp.asarray(xs)))
    full = [_reference_cuda(m[0, :, :, c], 40, 56, 8, 8) for c in range(4)]
    np.testing.assert_allclose(got, [full[c][y, x] for c, y, x in zip(cs, ys, xs)], atol=2e-6)


# ------------------------------------------------------------------ peaks


def _compare_peaks(maps, thr=0.05, offset=0.25, max_peaks=16):
    """find_peaks_rows on (H, N, P, W) == find_peaks on (N, P, H, W), exactly."""
    maps = np.asarray(maps, np.float32)
    want = jax.jit(find_peaks, static_argnums=(3, 4))(
        jnp.asarray(maps), jnp.float32(thr), jnp.float32(offset), max_peaks, "cuda")
    got = jax.jit(find_peaks_rows, static_argnums=3)(
        jnp.asarray(maps.transpose(2, 0, 1, 3)), jnp.float32(thr), jnp.float32(offset), max_peaks)
    for name, a, b in zip(("peaks", "counts", "totals"), want, got):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a), err_msg=name)
    return want


def test_rows_peaks_equal_find_peaks_on_busy_random_maps():
    rng = np.random.default_rng(1)
    # smooth bumps: many peaks, several per row, some above and some below the threshold
    maps = cv2.GaussianBlur(rng.random((2 * 3 * 40, 60), np.float32), (0, 0), 1.2)
    maps = (maps - maps.mean()) * 8.0
    want = _compare_peaks(maps.reshape(2, 3, 40, 60), thr=0.05, max_peaks=16)
    assert (np.asarray(want.totals) > 16).any() and (np.asarray(want.totals) > 0).all()
    _compare_peaks(maps.reshape(2, 3, 40, 60), thr=0.05, max_peaks=127)


def test_rows_peaks_equal_find_peaks_on_plateaus_ties_and_non_finite_values():
    """Equal neighbours (quantized maps), NaN and inf pixels: the separable neighbour maximum of
    the rows route decides every pixel as the 8 comparisons of `find_peaks` do."""
    rng = np.random.default_rng(7)
    maps = np.round(rng.random((2, 3, 30, 41)) * 4).astype(np.float32) / 4  # many ties
    maps[rng.random(maps.shape) < 0.02] = np.nan
    maps[rng.random(maps.shape) < 0.01] = np.inf
    maps[rng.random(maps.shape) < 0.01] = -np.inf
    want = _compare_peaks(maps, thr=0.3, max_peaks=127)
    assert (np.asarray(want.totals) > 0).any()


def test_rows_peaks_equal_find_peaks_on_hand_built_cases():
    m = np.zeros((1, 4, 16, 16), np.float32)
    spots = [(1, 9), (1, 2), (6, 5), (10, 1), (10, 8), (14, 13), (1, 14), (14, 1)]
    for n, (y, x) in enumerate(spots):  # first / last interior rows and columns included
        m[0, 0, y, x] = 0.3 + 0.05 * n
    m[0, 1, 4, 5] = m[0, 1, 4, 6] = 0.7  # plateau: no peak
    m[0, 1, 0, 3] = 0.9  # outer border: never a CUDA peak
    m[0, 2, 1:15:2, 1:15:2] = 0.5  # 49 isolated peaks: the cap
    m[0, 3, 8, 8] = 0.05  # equal to the threshold: not above it
    want = _compare_peaks(m, max_peaks=4)
    np.testing.assert_array_equal(np.asarray(want.totals)[0], [8, 0, 49, 0])


# ------------------------------------------------------------------ limb scoring


PAIRS = ((0, 1), (1, 2), (2, 3))
CHANNELS = jnp.asarray(np.array(((0, 3), (1, 4), (2, 5)), np.int32).T)  # (2, K): x, y channels


def _random_limb_problem(seed, n=2, parts=4, m=8, h=40, w=60):
    """Random PAFs and peaks; up to 2, 4 or 8 candidates per part as seed % 3 = 0, 1, 2."""
    rng = np.random.default_rng(seed)
    pafs = (0.5 + 0.6 * rng.standard_normal((n, 6, h, w))).astype(np.float32)
    peaks = np.zeros((n, parts, m, 3), np.float32)
    peaks[..., 0] = rng.uniform(0, w - 1, (n, parts, m))
    peaks[..., 1] = rng.uniform(0, h - 1, (n, parts, m))
    peaks[..., 2] = 0.5
    counts = rng.integers(0, (3, 5, m + 1)[seed % 3], (n, parts)).astype(np.int32)
    return pafs, peaks, counts


@jax.jit
def _every_pair(pafs, peaks, counts):
    return _scores(pafs, peaks, counts, ())


@jax.jit
def _packed(pafs, peaks, counts):
    # 12 slots hold few frames' candidates, 40 most; the rest fall back to every pair
    return _scores(pafs, peaks, counts, (12, 40))


def _scores(pafs, peaks, counts, capacities):
    n, _, h, w = pafs.shape
    flat = pafs.reshape(-1)

    def sample(axis, frame, limb, sy, sx):
        return flat[((frame * 6 + CHANNELS[axis][limb]) * h + sy) * w + sx]

    return score_with_sampler(sample, (h, w), peaks, counts, PAIRS, _thresholds(above=0.5),
                              capacities=capacities)


def test_packed_pairs_give_the_table_of_all_pairs():
    """Frames with few, some and many candidate pairs: every branch gives the same table (the
    same connections; scores up to the rounding of a differently fused sum)."""
    branches = set()
    for seed in range(6):
        pafs, peaks, counts = _random_limb_problem(seed)
        every = np.asarray(_every_pair(pafs, peaks, counts))
        got = np.asarray(_packed(pafs, peaks, counts))
        assert (every > 1e-6).any()
        np.testing.assert_array_equal(got > 1e-6, every > 1e-6)
        np.testing.assert_allclose(got, every, rtol=1e-6, atol=1e-7)
        most = max(int((counts[f, :3] * counts[f, 1:]).sum()) for f in range(2))
        branches.add(sum(most > c for c in (12, 40)))
    assert branches == {0, 1, 2}, branches


def test_pair_capacities_are_static_and_below_all_pairs():
    caps = pair_capacities(19, 16)
    assert caps == (304, 1216, 2432) and all(c < 19 * 16 * 16 for c in caps)


# ------------------------------------------------------------------ the whole route


def _both_routes(outputs, heat_hw, spec, max_peaks=16, thr=_thresholds()):
    kw = dict(spec=spec, heat_hw=heat_hw, max_peaks=max_peaks)
    args = ([jnp.asarray(o) for o in outputs], jnp.ones((len(outputs),), jnp.float32),
            jnp.float32(0.5 / 8), thr)
    assert fast_route_taps(args[0], heat_hw, "cuda", False) is not None
    fast = jax.jit(lambda *a: postprocess(*a, **kw))(*args)
    general = jax.jit(lambda *a: postprocess(*a, route="general", **kw))(*args)
    return jax.device_get(fast), jax.device_get(general)


def _assert_same(fast, general):
    np.testing.assert_array_equal(fast["counts"], general["counts"])
    np.testing.assert_array_equal(fast["totals"], general["totals"])
    np.testing.assert_allclose(fast["peaks"], general["peaks"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(fast["scores"], general["scores"], atol=1e-5, rtol=0)


@pytest.mark.slow
def test_fast_route_equals_general_route_on_planted_people():
    spec = get_spec("COCO")
    people = [standing(spec, 5.0, 12.0), standing(spec, 16.0, 12.5), standing(spec, 27.0, 11.0)]
    for person, paf in zip(people, (1.0, 0.7, 0.4)):
        person.paf = paf
    low = render(spec, people, (384, 192))  # (24, 48, C) net output of a 384x192 heat-map
    fast, general = _both_routes([low[None]], (192, 384), spec)
    assert fast["counts"].sum() >= 3 * 17 and (fast["scores"] > 0.3).any()
    _assert_same(fast, general)


@pytest.mark.slow
def test_fast_route_equals_general_route_on_random_outputs_of_a_batch():
    spec = get_spec("BODY_25")
    rng = np.random.default_rng(4)
    low = cv2.GaussianBlur(rng.random((3 * 12, 20 * spec.num_channels), np.float32), (0, 0), 1.0)
    low = ((low - low.mean()) * 6.0).reshape(3, 12, 20, spec.num_channels)
    fast, general = _both_routes([low], (96, 160), spec)
    assert (fast["totals"] > 0).all()
    _assert_same(fast, general)


def test_the_fast_route_only_takes_what_it_can_do():
    one = [jnp.zeros((1, 12, 20, 57))]
    assert fast_route_taps(one, (96, 160), "cuda", False) is not None
    assert fast_route_taps(one, (96, 160), "cpu", False) is None  # OpenPose CPU build rules
    assert fast_route_taps(one, (96, 160), "cuda", True) is None  # heat-maps wanted
    assert fast_route_taps(one * 2, (96, 160), "cuda", False) is None  # multi-scale
    assert fast_route_taps(one, (90, 160), "cuda", False) is None  # fractional factor


@pytest.mark.slow
def test_fast_route_equals_general_route_on_the_default_model_and_photos():
    """Real heat-maps (the default model on two photos and a video frame): the same peaks and
    connections from both routes, and the same people from `make_pose_fn`."""
    import jaxpose
    from conftest import MEDIA_DIR, need_shared

    try:
        model = jaxpose.load_model("mobilenet_thin")
    except jaxpose.JaxposeError as exc:
        pytest.skip(f"default model unavailable: {exc}")
    images = [cv2.imread(str(need_shared(MEDIA_DIR / name)))[..., ::-1].copy()
              for name in ("COCO_val2014_000000000192.jpg", "COCO_val2014_000000000395.jpg")]
    capture = cv2.VideoCapture(str(need_shared(MEDIA_DIR / "video.avi")))
    images.append(capture.read()[1][..., ::-1].copy())
    capture.release()
    for image in images:
        h, w = image.shape[:2]
        pose_fn = jaxpose.make_pose_fn(model, net_resolution_dynamic=-1)
        plan, (geoms, ratios, offset) = pose_fn._plan_with_device_arrays((w, h))
        from jaxpose.device.preprocess import normalize, warp_image

        x = normalize(warp_image(jnp.asarray(image[None]), geoms[0]), model.spec.normalization)
        out = jax.jit(model.net.apply)({"params": model.params}, x)
        fast, general = _both_routes([out], plan.heat_hw, model.spec, max_peaks=127,
                                     thr=pose_fn._score_thresholds)
        assert general["totals"].sum() > 20
        _assert_same(fast, general)
