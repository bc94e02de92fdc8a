"""Tracker (issue #11): ids against synthetic ground truth built from real annotated people
(tests/track_scenarios.py), scored with motmetrics; known answers; the peers' rules as a floor;
OKS against pycocotools; 3D with plain arrays."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import jaxpose
from conftest import SHARED, need_shared
from jaxpose.errors import InputError
from jaxpose.poses import Poses
from jaxpose.specs import COCO as COCO_SPEC
from jaxpose.specs.sigmas import part_sigmas
from jaxpose.track import Tracker, track_stream
from jaxpose.track.similarity import box_iou, box_scale, near_pairs, oks, point_boxes
from track_peers import GreedyIoU, LightweightOpenPose
from track_scenarios import (
    SCENARIOS, Walker, build, hidden, run_tracker, score, score_many, shapes,
)


@pytest.fixture(scope="module")
def bank():
    need_shared(SHARED / "eval/coco/test_coco.json")
    need_shared(SHARED / "eval/posetrack18/annotations/test_posetrack18_val.json")
    return shapes()


_BUILT: dict = {}


def scenario_named(bank, name):
    """Each scenario is built once per test session (they are deterministic)."""
    if name not in _BUILT:
        _BUILT[name] = SCENARIOS[name](bank)
    return _BUILT[name]


def ours(**params):
    tracker = Tracker(**params)
    return lambda poses, t: tracker.update(poses, t).ids


def id_runs(scenario, ids):
    """ground-truth person -> list of the ids it got, in frame order (from the detections' labels)."""
    got: dict[int, list[int]] = {}
    for labels, frame_ids in zip(scenario.truth, ids):
        for label, pid in zip(labels.tolist(), frame_ids.tolist()):
            if label >= 0:
                got.setdefault(label, []).append(pid)
    return got


# ------------------------------------------------------------------------ known answers


def test_separated_people_keep_one_id_each(bank):
    scenario = scenario_named(bank, "parallel")
    ids = run_tracker(scenario, ours())
    result = score(scenario, ids)
    assert result["num_switches"] == 0 and result["mota"] == 1.0 and result["idf1"] == 1.0
    runs = id_runs(scenario, ids)
    assert all(len(set(r)) == 1 for r in runs.values())
    assert len({r[0] for r in runs.values()}) == len(runs)  # and nobody shares one


@pytest.mark.parametrize("name", ["crossing", "hidden_short", "missing_keypoints", "jitter",
                                  "dropout", "false_poses", "fast", "stop_and_go", "crowd"])
def test_no_id_switch_where_the_answer_is_clear(bank, name):
    scenario = scenario_named(bank, name)
    ids = run_tracker(scenario, ours())
    assert score(scenario, ids)["num_switches"] == 0
    assert all(len(set(r)) == 1 for r in id_runs(scenario, ids).values())


@pytest.mark.parametrize("gap,kept", [(5, True), (6, False)])
def test_hidden_person_keeps_the_id_within_the_buffer_and_is_renewed_beyond(bank, gap, kept):
    scenario = hidden(bank, gap, f"hidden {gap}")
    ids = run_tracker(scenario, ours(buffer_frames=5))
    runs = id_runs(scenario, ids)
    first_id, last_id = runs[0][0], runs[0][-1]
    assert (first_id == last_id) is kept
    if not kept:  # a new id, never one used before
        assert last_id not in {pid for frame in ids[:30] for pid in frame.tolist()}
        assert set(runs[0]) == {first_id, last_id}
    for other in (1, 2):  # the people who stayed visible are untouched
        assert len(set(runs[other])) == 1


def test_ids_are_new_in_order_of_appearance_and_never_reused(bank):
    scenario = scenario_named(bank, "crowd")
    ids = run_tracker(scenario, ours(buffer_frames=3))  # short buffer: many tracks end
    seen: list[int] = []
    last_frame: dict[int, int] = {}
    for frame, frame_ids in enumerate(ids):
        for pid in frame_ids.tolist():
            if pid < 0:
                continue
            if pid not in last_frame:
                assert pid == len(seen)  # 0, 1, 2, ... in order of first appearance
                seen.append(pid)
            else:  # an id comes back only while its track is held (gap <= buffer)
                assert frame - last_frame[pid] - 1 <= 3
            last_frame[pid] = frame
        assert len(set(frame_ids[frame_ids >= 0].tolist())) == int((frame_ids >= 0).sum())


def test_deterministic_and_reset_starts_afresh(bank):
    scenario = scenario_named(bank, "crowd")
    tracker = Tracker()
    first = run_tracker(scenario, lambda p, t: tracker.update(p, t).ids)
    tracker.reset()
    again = run_tracker(scenario, lambda p, t: tracker.update(p, t).ids)
    fresh = run_tracker(scenario, ours())
    for a, b, c in zip(first, again, fresh):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_seconds_or_frames_give_the_same_ids(bank):
    scenario = scenario_named(bank, "crossing")
    by_seconds = run_tracker(scenario, ours())
    tracker = Tracker()
    by_frames = [tracker.update(p).ids for p in scenario.frames]
    for a, b in zip(by_seconds, by_frames):
        np.testing.assert_array_equal(a, b)


def test_motion_model_bridges_a_gap_that_a_static_model_cannot(bank):
    walker = Walker(bank[0], 150, (100, 300), (25, 0), hidden=((10, 14),))
    scenario = build("fast gap", [walker], 30, seed=0)
    moving = id_runs(scenario, run_tracker(scenario, ours()))[0]
    static = id_runs(scenario, run_tracker(scenario, ours(motion_model="none")))[0]
    assert len(set(moving)) == 1      # 4 frames x 25 px: predicted where it reappears
    assert len(set(static)) == 2      # last seen 125 px away: a new id


def test_assignment_is_global_not_greedy():
    # Two tracks A (x=0) and B (x=40). Detection 0 lies between them, a bit nearer A; detection 1
    # is on A. Greedy in detection order gives 0 -> A and 1 -> new; the best total is 0 -> B, 1 -> A.
    part = np.array([[0.0, 0.0], [0.0, 60.0], [20.0, 30.0], [-20.0, 30.0]])

    def person(dx):
        return np.concatenate([part + [dx, 0], np.ones((4, 1))], axis=1)

    tracker = Tracker(sigmas=np.full(4, 0.1), oks_weight=1.0, min_similarity=0.05,
                      min_common_keypoints=1)
    np.testing.assert_array_equal(tracker.update(np.stack([person(0), person(40)])), [0, 1])
    got = tracker.update(np.stack([person(18), person(1)]))
    np.testing.assert_array_equal(got, [1, 0])


def test_one_strong_match_is_never_traded_for_several_weak_ones(monkeypatch):
    """Detection 0 is clearly track 0 (S = 0.9); detection 1 is weakly like track 0 (0.12), and
    detection 0 weakly like track 1 (0.15). Maximising the number of gated matches would give
    0 -> 1 and 1 -> 0; the rule (maximise the summed margin above the gate 0.1) gives 0 -> 0 and
    a new id for detection 1."""
    tracker = Tracker()
    people = np.ones((2, 18, 3))
    people[1, :, 0] += 500
    np.testing.assert_array_equal(tracker.update(people), [0, 1])
    monkeypatch.setattr(tracker, "_similarity",
                        lambda *args: np.array([[0.9, 0.15], [0.12, 0.0]]))
    np.testing.assert_array_equal(tracker.update(people), [0, 2])


def test_people_without_enough_keypoints_are_untracked_and_empty_frames_are_fine():
    tracker = Tracker(min_keypoints=2, model="COCO")
    empty = np.zeros((0, 18, 3), np.float32)
    assert tracker.update(empty).shape == (0,)
    one = np.zeros((2, 18, 3), np.float32)
    one[0, :5] = [[10, 10, 0.9], [10, 30, 0.9], [0, 30, 0.9], [20, 30, 0.9], [10, 60, 0.9]]
    one[1, 0] = (200, 200, 0.9)  # a single keypoint: below min_keypoints
    np.testing.assert_array_equal(tracker.update(one), [0, -1])
    assert tracker.update(empty).shape == (0,) and tracker.active_ids == [0]


# ------------------------------------------------------------------ the peers as a floor


@pytest.mark.slow
def test_ours_beats_the_peers_rules_on_idf1_and_id_switches(bank):
    runs = {"ours": {}, "greedy IoU 0.3": {}, "lightweight": {}}
    for name, builder in SCENARIOS.items():
        scenario = scenario_named(bank, name)
        for tracker_name, step in (("ours", ours()), ("greedy IoU 0.3", GreedyIoU()),
                                   ("lightweight", LightweightOpenPose())):
            runs[tracker_name][name] = (scenario, run_tracker(scenario, step))
    overall = {name: score_many(r)["OVERALL"] for name, r in runs.items()}
    for peer in ("greedy IoU 0.3", "lightweight"):
        assert overall["ours"]["idf1"] > overall[peer]["idf1"], overall
        assert overall["ours"]["num_switches"] < overall[peer]["num_switches"], overall
        assert overall["ours"]["mota"] >= overall[peer]["mota"], overall


# ------------------------------------------------------------------------------- 3D


def _people_3d(bank, frames=60, hide=None):
    """Walkers on the ground plane in metres: x, y = image-like layout / 100, z = depth."""
    starts = [(1.0, 2.0, 4.0), (6.0, 2.2, 5.0), (3.0, 2.1, 8.0)]
    velocities = [(0.08, 0.0, 0.01), (-0.08, 0.0, -0.01), (0.0, 0.0, -0.06)]
    out = []
    for t in range(frames):
        people = []
        for i, (start, vel) in enumerate(zip(starts, velocities)):
            if hide and i == hide[0] and hide[1] <= t < hide[2]:
                continue
            shape = bank[i]
            kp = np.zeros((18, 4))
            kp[:, 0] = shape[:, 0] * 1.7 + start[0] + vel[0] * t
            kp[:, 1] = shape[:, 1] * 1.7 + start[1] + vel[1] * t
            kp[:, 2] = start[2] + vel[2] * t + 0.1 * np.sin(np.arange(18))
            kp[:, 3] = shape[:, 2] * 0.8
            kp[shape[:, 2] == 0] = 0
            people.append((i, kp))
        out.append(people)
    return out


def test_3d_people_keep_ids_with_plain_arrays(bank):
    frames = _people_3d(bank, hide=(0, 20, 26))
    tracker = Tracker(model="MOBILENET_THIN")
    got: dict[int, set[int]] = {}
    for t, people in enumerate(frames):
        order = list(reversed(people)) if t % 2 else people
        ids = tracker.update(np.stack([kp for _, kp in order]), timestamp=t / 30)
        for (truth, _), pid in zip(order, ids.tolist()):
            got.setdefault(truth, set()).add(pid)
    assert got == {0: {0}, 1: {1}, 2: {2}}


def test_2d_and_3d_share_one_core(bank):
    """Flat 3D people (constant z) score exactly as their 2D projection: same ids."""
    scenario = scenario_named(bank, "crowd")
    two, three = Tracker(oks_weight=1.0), Tracker(oks_weight=1.0, model="MOBILENET_THIN")
    for t, poses in enumerate(scenario.frames):
        kp = poses.keypoints
        flat = np.concatenate([kp[..., :2], np.full(kp.shape[:2] + (1,), 3.0), kp[..., 2:]], -1)
        np.testing.assert_array_equal(two.update(poses, t).ids, three.update(flat, t))


@dataclasses.dataclass(frozen=True)
class FakePoses3D:
    """What a Poses3D looks like to the tracker: keypoints (N, K, 4), ids, a model name."""

    keypoints: np.ndarray
    model: str = "MOBILENET_THIN"
    ids: np.ndarray | None = None


def test_update_adapts_any_poses_like_dataclass(bank):
    people = _people_3d(bank, frames=2)
    tracker = Tracker()
    for t, frame in enumerate(people):
        out = tracker.update(FakePoses3D(np.stack([kp for _, kp in frame])), t)
        assert isinstance(out, FakePoses3D)
        np.testing.assert_array_equal(out.ids, [0, 1, 2])


# ------------------------------------------------------------------- similarity parts


def test_oks_equals_pycocotools_on_real_annotations():
    path = need_shared(SHARED / "eval/coco/test_coco.json")
    data = json.loads(path.read_text())
    data["annotations"] = [a for a in data["annotations"] if a["num_keypoints"] > 0]
    image_id = data["annotations"][0]["image_id"]
    gts = [a for a in data["annotations"] if a["image_id"] == image_id]
    rng = np.random.default_rng(0)
    dets = []
    for n, g in enumerate(gts * 2):
        k = np.asarray(g["keypoints"], np.float64).reshape(17, 3)
        k[:, :2] += rng.normal(0, 6 + 4 * n, (17, 2))
        k[:, 2] = 1
        dets.append({"image_id": image_id, "category_id": 1, "keypoints": k.ravel().tolist(),
                     "score": 1.0 - 0.01 * n})
    coco_gt = COCO()
    coco_gt.dataset = copy.deepcopy(data)
    coco_gt.createIndex()
    evaluator = COCOeval(coco_gt, coco_gt.loadRes(dets), "keypoints")
    evaluator._prepare()
    reference = np.asarray(evaluator.computeOks(image_id, 1))  # (dets, gts), dets by score
    names = ("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow",
             "RElbow", "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle")
    sigmas = part_sigmas(COCO_SPEC)[[COCO_SPEC.part_index(n) for n in names]]
    g = np.array([np.asarray(a["keypoints"], np.float64).reshape(17, 3) for a in gts])
    d = np.array([np.asarray(x["keypoints"]).reshape(17, 3) for x in dets])
    area = np.array([a["area"] for a in gts])
    ours_oks = oks(d[..., :2], d[..., 2] > 0, g[..., :2], g[..., 2] > 0, sigmas,
                   np.broadcast_to(area[None] + np.spacing(1), (len(d), len(g))))
    np.testing.assert_allclose(ours_oks, reference, rtol=1e-12)


def test_boxes_iou_and_scale_by_hand():
    points = np.array([[[0, 0], [4, 2], [9, 9]], [[2, 1], [6, 5], [0, 0]]], np.float64)
    present = np.array([[True, True, False], [True, True, False]])
    boxes = point_boxes(points, present)
    np.testing.assert_array_equal(boxes, [[[0, 0], [4, 2]], [[2, 1], [6, 5]]])
    np.testing.assert_array_equal(box_scale(boxes), [8, 16])
    # overlap [2, 4] x [1, 2] = 2; union 8 + 16 - 2 = 22
    np.testing.assert_allclose(box_iou(boxes[:1], boxes[1:]), [[2 / 22]])
    cubes = np.array([[[0, 0, 0], [2, 2, 2]], [[1, 1, 1], [3, 3, 3]]], np.float64)
    np.testing.assert_allclose(box_iou(cubes[:1], cubes[1:]), [[1 / 15]])  # 1 / (8 + 8 - 1)
    np.testing.assert_array_equal(box_scale(np.array([[[0, 0, 0], [1, 5, 3]]], float)), [15])


def test_near_pairs_keeps_boxes_within_reach():
    boxes = np.array([[[0, 0], [10, 10]], [[30, 0], [40, 10]], [[15, 0], [25, 10]]], float)
    scale = np.full((3, 3), 100.0)   # s = 10: reach 2 -> centres within 20
    rows, cols = near_pairs(boxes, boxes, scale)
    assert set(zip(rows.tolist(), cols.tolist())) == {
        (0, 0), (1, 1), (2, 2), (0, 2), (2, 0), (1, 2), (2, 1)}   # 0 and 1 are 30 apart


def test_sigmas_come_from_the_published_tables():
    sigmas = dict(zip(COCO_SPEC.part_names, part_sigmas(COCO_SPEC)))
    # cocoapi's kpt_oks_sigmas, COCO-17 order, by name
    coco = dict(zip(("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow",
                     "RElbow", "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle",
                     "RAnkle"),
                    np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07,
                              .87, .87, .89, .89]) / 10.0))
    for name, sigma in coco.items():
        assert sigmas[name] == pytest.approx(sigma)
    assert sigmas["Neck"] == pytest.approx(0.079)
    with pytest.raises(InputError, match="sigma"):
        Tracker(model="HAND").update(np.ones((1, 21, 3)))


# --------------------------------------------------------------------- streams, errors


def test_track_stream_follows_frame_order_and_uses_frame_times(bank):
    scenario = scenario_named(bank, "crossing")
    items = [(3 * n, poses) for n, poses in enumerate(scenario.frames)]  # --frame_step 3
    streamed = [p.ids for p in track_stream(items, fps=30.0)]
    tracker = Tracker()
    by_hand = [tracker.update(p, 3 * n / 30.0).ids for n, p in enumerate(scenario.frames)]
    for a, b in zip(streamed, by_hand):
        np.testing.assert_array_equal(a, b)


def test_exported_and_poses_come_back_with_ids_and_boxes(bank):
    scenario = scenario_named(bank, "parallel")
    out = jaxpose.Tracker().update(scenario.frames[0])
    assert isinstance(out, Poses) and out.ids.dtype == np.int64
    assert sorted(out.ids.tolist()) == list(range(out.num_people))
    np.testing.assert_array_equal(out.boxes, scenario.frames[0].boxes)
    np.testing.assert_array_equal(out.keypoints, scenario.frames[0].keypoints)


def test_bad_input_is_a_clear_error():
    tracker = Tracker()
    with pytest.raises(InputError, match="shape"):
        tracker.update(np.zeros((2, 18)))
    with pytest.raises(InputError, match="NaN"):
        tracker.update(np.full((1, 18, 3), np.nan))
    tracker.update(np.ones((1, 18, 3)), 1.0)
    with pytest.raises(InputError, match="increase"):
        tracker.update(np.ones((1, 18, 3)), 0.5)
    with pytest.raises(InputError, match="timestamp"):
        tracker.update(np.ones((1, 18, 3)))
    with pytest.raises(InputError, match="one model"):
        tracker.update(np.ones((1, 25, 3)), 2.0)
    with pytest.raises(InputError, match="Poses"):
        tracker.update([1, 2, 3])
    for bad in ({"oks_weight": 2}, {"min_similarity": 0}, {"buffer_frames": -1},
                {"motion_model": "kalman9"}, {"velocity_smoothing": 0}, {"min_keypoints": 0}):
        with pytest.raises(InputError):
            Tracker(**bad)
    with pytest.raises(InputError, match="sigmas"):
        Tracker(sigmas=np.ones(3)).update(np.ones((1, 18, 3)))
