"""Host assembly (openpose-core §7.3-§7.8) on hand-built peaks and limb-score tables.

Every expected result below is worked out by hand from the document; the comments show the steps.
"""

from __future__ import annotations

import numpy as np
import pytest

from jaxpose.assemble import assemble_people, keep_top_n
from jaxpose.specs import BODY_25, COCO, Thresholds

COCO_DEFAULT = COCO.thresholds
COCO_MAXPOS = COCO.thresholds_maximize_positives


class Tables:
    """peaks (P, M, 3), counts (P,), scores (K, M, M) for one image, filled part by part."""

    def __init__(self, spec, semantics="cuda", m=3):
        self.spec = spec
        self.peaks = np.zeros((spec.num_parts, m, 3), np.float32)
        self.counts = np.zeros(spec.num_parts, np.int32)
        self.scores = np.full((spec.num_pairs, m, m), -1.0 if semantics == "cuda" else 0.0,
                              np.float32)
        self.semantics = semantics

    def peak(self, name, x, y, score):
        part = self.spec.part_index(name)
        i = int(self.counts[part])
        self.peaks[part, i] = (x, y, score)
        self.counts[part] += 1
        return i

    def limb(self, a, b, i, j, score):
        pair = (self.spec.part_index(a), self.spec.part_index(b))
        self.scores[self.spec.pairs.index(pair), i, j] = score

    def run(self, thresholds=None, scale=1.0, maximize_positives=False, number_people_max=-1):
        thresholds = thresholds or self.spec.thresholds_for(maximize_positives)
        return assemble_people(self.spec, self.peaks, self.counts, self.scores, thresholds, scale,
                               self.semantics, maximize_positives, number_people_max)


def _order_case(semantics):
    """Person X (Neck#0, RShoulder, RElbow) with weak limbs 0.5, person Y (Neck#1, LShoulder,
    LElbow) with strong limbs 0.9; all peak scores 0.8."""
    t = Tables(COCO, semantics)
    t.peak("Neck", 10, 10, 0.8)
    t.peak("Neck", 50, 10, 0.8)
    t.peak("RShoulder", 5, 12, 0.8)
    t.peak("RElbow", 4, 20, 0.8)
    t.peak("LShoulder", 55, 12, 0.8)
    t.peak("LElbow", 56, 20, 0.8)
    t.limb("Neck", "RShoulder", 0, 0, 0.5)
    t.limb("RShoulder", "RElbow", 0, 0, 0.5)
    t.limb("Neck", "LShoulder", 1, 0, 0.9)
    t.limb("LShoulder", "LElbow", 0, 0, 0.9)
    return t


def test_cuda_orders_people_by_the_global_greedy():
    # totals: Y's limbs 0.9 + 0.08 + 0.08 = 1.06, X's 0.66. Y's LShoulder-LElbow (k=4) comes
    # first (tie on total and score -> larger k): Y is created first, score 0.8+0.8+0.9 = 2.5,
    # + Neck#1: 2.5 + 0.8 + 0.9 = 4.2. Then X: 2.1, + Neck#0: 2.1 + 0.8 + 0.5 = 3.4.
    kp, scores = _order_case("cuda").run(scale=2.0)
    assert kp.shape == (2, 18, 3)
    np.testing.assert_allclose(scores, [4.2 / 37, 3.4 / 37], rtol=1e-6)
    np.testing.assert_allclose(kp[0, COCO.part_index("Neck")], [100, 20, 0.8], rtol=1e-6)  # x2
    np.testing.assert_allclose(kp[1, COCO.part_index("RElbow")], [8, 40, 0.8], rtol=1e-6)
    assert (kp[0, COCO.part_index("RElbow")] == 0).all()  # missing parts are (0, 0, 0)


def test_cpu_orders_people_by_pair_list_order():
    # pair 0 is Neck->RShoulder: X is created first (score 2.1), pair 1 (Neck->LShoulder) finds no
    # person with Neck#1 and creates Y (2.5); pairs 2 and 4 extend them: X 3.4, Y 4.2.
    kp, scores = _order_case("cpu").run(scale=2.0)
    np.testing.assert_allclose(scores, [3.4 / 37, 4.2 / 37], rtol=1e-6)
    np.testing.assert_allclose(kp[0, COCO.part_index("Neck")], [20, 20, 0.8], rtol=1e-6)
    np.testing.assert_allclose(kp[1, COCO.part_index("LElbow")], [112, 40, 0.8], rtol=1e-6)


def _ear_case(semantics):
    """Neck, RShoulder, REar; limbs Neck->RShoulder 0.9 and the redundant RShoulder->REar 0.9."""
    t = Tables(COCO, semantics)
    t.peak("Neck", 10, 10, 0.8)
    t.peak("RShoulder", 5, 12, 0.8)
    t.peak("REar", 8, 4, 0.8)
    t.limb("Neck", "RShoulder", 0, 0, 0.9)
    t.limb("RShoulder", "REar", 0, 0, 0.9)
    return t


def test_redundant_pair_counts_in_cuda_but_not_in_cpu():
    # CUDA treats shoulder->ear like any pair: (k=17) creates {RShoulder, REar} = 2.5, then Neck
    # joins: count 3, score 4.2 -> kept (3 >= 3, 4.2 / 3 >= 0.4).
    kp, scores = _ear_case("cuda").run()
    assert len(kp) == 1 and (kp[0, :, 2] > 0).sum() == 3
    np.testing.assert_allclose(scores, [4.2 / 37], rtol=1e-6)
    # CPU: pair 0 creates {Neck, RShoulder} (count 2, 2.5); pair 14 (REye->REar, no REye) makes a
    # single-part person {REar} (count 1, 0.8); pair 17 fills REar into the first person and
    # RShoulder into the second without counting: counts 2 and 1 -> nobody has 3 parts.
    kp, scores = _ear_case("cpu").run()
    assert kp.shape == (0, 18, 3) and scores.shape == (0,)


def test_redundant_pair_with_maximize_positives_cpu():
    # min count 2, min average 0.05: the first CPU person survives with its uncounted ear, score
    # 2.5 (the ear adds nothing); the single-part person (count 1) is still dropped.
    kp, scores = _ear_case("cpu").run(maximize_positives=True)
    assert len(kp) == 1
    np.testing.assert_allclose(scores, [2.5 / 37], rtol=1e-6)
    np.testing.assert_allclose(kp[0, COCO.part_index("REar")], [8, 4, 0.8])
    kp, scores = _ear_case("cuda").run(maximize_positives=True)
    np.testing.assert_allclose(scores, [4.2 / 37], rtol=1e-6)


def _merge_case(semantics):
    """Neck, RShoulder, RElbow, LShoulder (peaks 0.5): RShoulder-RElbow 0.9, Neck-LShoulder 0.8,
    Neck-RShoulder 0.3."""
    t = Tables(COCO, semantics)
    for name, x in (("Neck", 10), ("RShoulder", 5), ("RElbow", 4), ("LShoulder", 15)):
        t.peak(name, x, 10, 0.5)
    t.limb("RShoulder", "RElbow", 0, 0, 0.9)
    t.limb("Neck", "LShoulder", 0, 0, 0.8)
    t.limb("Neck", "RShoulder", 0, 0, 0.3)
    return t


@pytest.mark.parametrize("semantics", ["cuda", "cpu"])
def test_fragments_merge_into_one_person(semantics):
    # CUDA: {RShoulder, RElbow} = 1.9 and {Neck, LShoulder} = 1.8 are created first; the weakest
    # limb joins them: 1.9 + 1.8 + 0.3 = 4.0, count 4. CPU reaches the same person pair by pair:
    # 1.3 (pair 0) + 0.5 + 0.8 (pair 1) + 0.5 + 0.9 (pair 2) = 4.0.
    kp, scores = _merge_case(semantics).run()
    assert len(kp) == 1 and (kp[0, :, 2] > 0).sum() == 4
    np.testing.assert_allclose(scores, [4.0 / 37], rtol=1e-6)


@pytest.mark.parametrize("semantics", ["cuda", "cpu"])
def test_min_subset_cnt_flips(semantics):
    t = _merge_case(semantics)
    keep = dict(COCO_DEFAULT.__dict__)
    assert len(t.run(Thresholds(**{**keep, "min_subset_cnt": 4}))[0]) == 1
    assert len(t.run(Thresholds(**{**keep, "min_subset_cnt": 5}))[0]) == 0


@pytest.mark.parametrize("semantics", ["cuda", "cpu"])
def test_min_subset_score_flips(semantics):
    # average = 4.0 / 4 parts = 1.0
    t = _merge_case(semantics)
    keep = dict(COCO_DEFAULT.__dict__)
    assert len(t.run(Thresholds(**{**keep, "min_subset_score": 0.99}))[0]) == 1
    assert len(t.run(Thresholds(**{**keep, "min_subset_score": 1.01}))[0]) == 0


def _feet_case(with_other_person):
    t = Tables(BODY_25, "cuda")
    for name, x, y in (("LKnee", 40, 30), ("LAnkle", 40, 40), ("LBigToe", 44, 42),
                       ("LSmallToe", 46, 42), ("LHeel", 39, 42)):
        t.peak(name, x, y, 0.5)
    for a, b in (("LKnee", "LAnkle"), ("LAnkle", "LBigToe"), ("LBigToe", "LSmallToe"),
                 ("LAnkle", "LHeel")):
        t.limb(a, b, 0, 0, 0.9)
    if with_other_person:
        for name, x in (("Neck", 10), ("RShoulder", 5), ("LShoulder", 15)):
            t.peak(name, x, 10, 0.5)
        t.limb("Neck", "RShoulder", 0, 0, 0.9)
        t.limb("Neck", "LShoulder", 0, 0, 0.9)
    return t


def test_body25_foot_rule_and_second_pass():
    # the leg person has 5 parts of which 3 are feet: 5 - 3 = 2 <= 4 -> dropped by the foot rule
    kp, _ = _feet_case(with_other_person=True).run()
    assert len(kp) == 1 and kp[0, BODY_25.part_index("Neck"), 2] > 0
    # alone, the first pass keeps nobody, so the second pass (no foot rule) keeps it:
    # score 6.1 (4 limbs 0.9 + 5 peaks 0.5), average 6.1 / 5 >= 0.4
    kp, scores = _feet_case(with_other_person=False).run()
    assert len(kp) == 1 and (kp[0, :, 2] > 0).sum() == 5
    np.testing.assert_allclose(scores, [6.1 / 51], rtol=1e-6)
    # maximize_positives disables the rule: both people are kept
    kp, _ = _feet_case(with_other_person=True).run(maximize_positives=True)
    assert len(kp) == 2


def test_cpu_single_part_people_duplicate_check_coco_vs_mpi():
    from jaxpose.specs import MPI

    # one Neck and nothing else: every Neck pair has an empty side, so each such pair appends a
    # single-part person unless (COCO) one already holds it. With min count 1 and score 0:
    # COCO keeps 1 person, MPI (no duplicate check) one per Neck pair with an empty side.
    relaxed = Thresholds(0.05, 0.05, 0.95, 1, 0.0)
    for spec, expected in ((COCO, 1), (MPI, 4)):  # MPI pairs with Neck: 0->1, 1->2, 1->5, 1->14
        t = Tables(spec, "cpu")
        t.peak("Neck", 10, 10, 0.7)
        kp, _ = t.run(relaxed)
        assert len(kp) == expected, spec.name


def test_keep_top_n_by_score_times_sqrt_area_with_ties():
    def person(points, score):
        kp = np.zeros((18, 3), np.float32)
        for n, (x, y, c) in enumerate(points):
            kp[n] = (x, y, c)
        return kp, score

    people = [
        person([(0, 0, .9), (10, 0, .9), (0, 10, .9)], 0.5),            # 0.5 * sqrt(100) = 5
        person([(0, 0, .9), (20, 0, .9), (0, 5, .9)], 0.4),             # 0.4 * 10 = 4
        person([(0, 0, .9), (30, 0, .9), (0, 30, .9), (99, 99, .04)], 0.2),  # 0.2 * 30 = 6
        person([(5, 5, .9), (15, 5, .9), (5, 15, .9)], 0.5),            # 5, tie with person 0
    ]
    kp = np.stack([p[0] for p in people])
    scores = np.array([p[1] for p in people], np.float32)
    # N = 2: threshold = 2nd largest = 5; above it only person 2; one tie slot -> first tie (0)
    np.testing.assert_array_equal(keep_top_n(kp, scores, 2), [0, 2])
    np.testing.assert_array_equal(keep_top_n(kp, scores, 3), [0, 2, 3])
    np.testing.assert_array_equal(keep_top_n(kp, scores, 1), [2])
    np.testing.assert_array_equal(keep_top_n(kp, scores, -1), [0, 1, 2, 3])
    np.testing.assert_array_equal(keep_top_n(kp, scores, 4), [0, 1, 2, 3])


def test_number_people_max_in_assembly_keeps_scores_aligned():
    # the order case has Y (4.2/37, 3 parts spanning 6 x 10 px) and X (3.4/37, 6 x 10 px)
    kp, scores = _order_case("cuda").run(number_people_max=1)
    assert len(kp) == 1
    np.testing.assert_allclose(scores, [4.2 / 37], rtol=1e-6)
