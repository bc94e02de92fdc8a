"""Synthetic tracking ground truth from real pose shapes, and its scoring with motmetrics.

Shapes: the annotated people of ../shared/eval (COCO val and PoseTrack18 val keypoints), mapped by
name onto the default model's COCO-18 parts (Neck = mid-shoulder), centred and scaled to unit
height. A scenario moves people along scripted paths in a 1280x720 frame with a walking sway of the
limbs, and makes detections the way a pose detector fails: per-keypoint jitter, keypoints hidden
by closer people (depth = feet height) or outside the frame, missing keypoints, whole-person
dropout, scripted hiding (an occluder), left/right swaps, and false poses. Every detection remembers the ground-truth
person it came from (`truth`, -1 for false poses), for known-answer checks; scoring itself only
uses positions (motmetrics on OKS >= 0.5, with an OKS written here from COCO's definition).

    shapes() -> list[(18, 3) array]            x, y, present; unit height, centred
    SCENARIOS: dict name -> builder(shapes) -> Scenario
    run_tracker(scenario, step) -> list[np.ndarray]   ids per frame; step(poses, t) -> ids
    score(scenario, ids_per_frame) -> dict mota, idf1, switches, ... (motmetrics)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import motmetrics as mm
import numpy as np

from conftest import SHARED
from jaxpose.poses import Poses
from jaxpose.specs import MOBILENET_THIN

WIDTH, HEIGHT = 1280, 720
FPS = 10.0
PARTS = MOBILENET_THIN.part_names
K = len(PARTS)
# COCO's published keypoint sigmas by our part names (cocoapi COCOeval), neck .079 (CrowdPose).
SCORING_SIGMAS = np.array([{"Nose": .026, "Neck": .079, "RShoulder": .079, "RElbow": .072,
                            "RWrist": .062, "LShoulder": .079, "LElbow": .072, "LWrist": .062,
                            "RHip": .107, "RKnee": .087, "RAnkle": .089, "LHip": .107,
                            "LKnee": .087, "LAnkle": .089, "REye": .025, "LEye": .025,
                            "REar": .035, "LEar": .035}[p] for p in PARTS])
_BY_DATASET_NAME = {
    "nose": "Nose", "left_eye": "LEye", "right_eye": "REye", "left_ear": "LEar",
    "right_ear": "REar", "left_shoulder": "LShoulder", "right_shoulder": "RShoulder",
    "left_elbow": "LElbow", "right_elbow": "RElbow", "left_wrist": "LWrist",
    "right_wrist": "RWrist", "left_hip": "LHip", "right_hip": "RHip", "left_knee": "LKnee",
    "right_knee": "RKnee", "left_ankle": "LAnkle", "right_ankle": "RAnkle",
}
MIRROR = np.array([PARTS.index(("R" if p[0] == "L" else "L") + p[1:])
                   if p[0] in "LR" and p[1].isupper() else k for k, p in enumerate(PARTS)])
SWAY = {"RWrist": 1.0, "LWrist": -1.0, "RElbow": 0.5, "LElbow": -0.5, "RAnkle": -0.8,
        "LAnkle": 0.8, "RKnee": -0.4, "LKnee": 0.4}
ANNOTATIONS = (SHARED / "eval/coco/test_coco.json",
               SHARED / "eval/posetrack18/annotations/test_posetrack18_val.json")


def shapes(files: tuple[Path, ...] = ANNOTATIONS, min_present: int = 10) -> list[np.ndarray]:
    """Real people as (18, 3) x, y, present, centred on their box and scaled to unit height."""
    out = []
    for path in files:
        data = json.loads(Path(path).read_text())
        names = data["categories"][0]["keypoints"]
        for ann in data["annotations"]:
            raw = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
            person = np.zeros((K, 3))
            for name, (x, y, v) in zip(names, raw):
                if v > 0 and name in _BY_DATASET_NAME:
                    person[PARTS.index(_BY_DATASET_NAME[name])] = (x, y, 1)
            rs, ls = PARTS.index("RShoulder"), PARTS.index("LShoulder")
            if person[rs, 2] and person[ls, 2]:
                person[PARTS.index("Neck")] = ((person[rs, :2] + person[ls, :2]) / 2).tolist() + [1]
            present = person[:, 2] > 0
            if present.sum() < min_present:
                continue
            lo, hi = person[present, :2].min(0), person[present, :2].max(0)
            if hi[1] - lo[1] < 1:
                continue
            person[present, :2] = (person[present, :2] - (lo + hi) / 2) / (hi[1] - lo[1])
            out.append(person)
    return out


@dataclasses.dataclass
class Walker:
    """One ground-truth person: shape (18, 3), height px, start centre, velocity px/frame."""

    shape: np.ndarray
    height: float
    start: tuple[float, float]
    velocity: tuple[float, float]
    first: int = 0                     # first frame in the scene
    last: int = 10 ** 9                # last frame in the scene (inclusive)
    hidden: tuple[tuple[int, int], ...] = ()   # [a, b) frame ranges behind an occluder
    turns: tuple[tuple[int, tuple[float, float]], ...] = ()  # (frame, new velocity)

    def centre(self, t: int) -> np.ndarray:
        pos = np.array(self.start, np.float64)
        vel = np.array(self.velocity, np.float64)
        prev = self.first
        for frame, new_velocity in self.turns:
            if frame >= t:
                break
            pos += vel * (frame - prev)
            vel, prev = np.array(new_velocity, np.float64), frame
        return pos + vel * (t - prev)

    def keypoints(self, t: int) -> np.ndarray:
        """(18, 3) x, y, present in image pixels (present regardless of the frame's edges)."""
        kp = self.shape.copy()
        speed = np.hypot(*self.velocity)
        phase = np.sin(2 * np.pi * t / 12.0) * min(1.0, speed / 4.0)
        for name, amount in SWAY.items():
            k = PARTS.index(name)
            kp[k, 0] += 0.06 * amount * phase
        kp[:, :2] = kp[:, :2] * self.height + self.centre(t)
        return kp

    def on_stage(self, t: int) -> bool:
        return self.first <= t <= self.last and not any(a <= t < b for a, b in self.hidden)


@dataclasses.dataclass
class Scenario:
    name: str
    frames: list[Poses]          # detections
    truth: list[np.ndarray]      # per frame, per detection: ground-truth person, -1 = false pose
    gt_ids: list[np.ndarray]     # per frame: visible ground-truth people
    gt_keypoints: list[np.ndarray]  # per frame: (G, 18, 3) their true keypoints (in frame)


def _poses(keypoints: np.ndarray) -> Poses:
    keypoints = np.asarray(keypoints, np.float32).reshape(-1, K, 3)
    present = keypoints[..., 2] > 0
    scores = np.where(present.any(1), keypoints[..., 2].sum(1) / np.maximum(present.sum(1), 1), 0)
    return Poses(keypoints, scores.astype(np.float32), MOBILENET_THIN.name, (WIDTH, HEIGHT),
                 (432, 240), 1.0)


def _box(kp: np.ndarray) -> np.ndarray:
    p = kp[:, 2] > 0
    return np.concatenate([kp[p, :2].min(0), kp[p, :2].max(0)]) if p.any() else np.zeros(4)


def build(name: str, walkers: list[Walker], frames: int, *, seed: int, jitter: float = 2.0,
          missing: float = 0.0, dropout: float = 0.0, false_rate: float = 0.0, swaps: float = 0.0,
          occlusion: bool = True, shape_bank: list[np.ndarray] | None = None) -> Scenario:
    """Render walkers into detections (see the module docstring for the failure model)."""
    rng = np.random.default_rng(seed)
    out_frames, truth, gt_ids, gt_kps = [], [], [], []
    for t in range(frames):
        staged = [(i, w.keypoints(t)) for i, w in enumerate(walkers) if w.on_stage(t)]
        inside = []
        for i, kp in staged:
            kp = kp.copy()
            out = ((kp[:, 0] < 0) | (kp[:, 0] >= WIDTH) | (kp[:, 1] < 0) | (kp[:, 1] >= HEIGHT))
            kp[out] = 0
            if (kp[:, 2] > 0).sum() >= 3:
                inside.append((i, kp))
        gt_ids.append(np.array([i for i, _ in inside], np.int64))
        gt_kps.append(np.array([kp for _, kp in inside]).reshape(-1, K, 3))
        dets, labels = [], []
        boxes = [_box(kp) for _, kp in inside]
        for (i, kp), box in zip(inside, boxes):
            det = kp.copy()
            present = det[:, 2] > 0
            if occlusion:
                for (j, _), (x0, y0, x1, y1) in zip(inside, boxes):
                    if j != i and y1 > box[3]:  # the other's feet are lower: it is closer
                        shrink = 0.15 * (x1 - x0)
                        hid = ((det[:, 0] > x0 + shrink) & (det[:, 0] < x1 - shrink)
                               & (det[:, 1] > y0) & (det[:, 1] < y1))
                        present &= ~hid
            present &= rng.random(K) >= missing
            if present.sum() < 3 or rng.random() < dropout:
                continue
            det[:, :2] += rng.normal(0.0, jitter, (K, 2))
            det[:, 2] = np.where(present, rng.uniform(0.3, 0.9, K), 0.0)
            det[~present] = 0
            if swaps and rng.random() < swaps:  # the detector mixes up left and right
                det = det[MIRROR]
            dets.append(det)
            labels.append(i)
        for _ in range(rng.poisson(false_rate)):
            bank = shape_bank or [w.shape for w in walkers]
            shape = bank[rng.integers(len(bank))]
            fake = shape.copy()
            fake[:, :2] = fake[:, :2] * rng.uniform(100, 250) + rng.uniform([100, 150], [1180, 570])
            fake[:, 2] = np.where(shape[:, 2] > 0, rng.uniform(0.1, 0.5, K), 0.0)
            fake[fake[:, 2] == 0] = 0
            dets.append(fake)
            labels.append(-1)
        order = rng.permutation(len(dets))  # detectors list people in no particular order
        out_frames.append(_poses(np.array(dets)[order] if dets else np.zeros((0, K, 3))))
        truth.append(np.array(labels, np.int64)[order] if dets else np.zeros(0, np.int64))
    return Scenario(name, out_frames, truth, gt_ids, gt_kps)


# ------------------------------------------------------------------------- the scenario set

BUFFER = 30  # the Tracker's default buffer_frames; hiding scenarios straddle it


def _walkers(bank, rng, count, **kw):
    return [Walker(bank[rng.integers(len(bank))], **{k: v[i] for k, v in kw.items()})
            for i in range(count)]


def parallel(bank, seed=0):
    rng = np.random.default_rng(1 + 100 * seed)
    walkers = _walkers(bank, rng, 4, height=[150] * 4,
                       start=[(150, 90), (150, 260), (150, 430), (150, 600)],
                       velocity=[(6, 0), (7, 0), (5, 0), (8, 0)])
    return build("parallel lanes", walkers, 100, seed=11 + 100 * seed)


def crossing(bank, seed=0):
    rng = np.random.default_rng(2 + 100 * seed)
    walkers = _walkers(bank, rng, 4, height=[220, 200, 210, 230],
                       start=[(150, 330), (1130, 360), (640, 120), (500, 620)],
                       velocity=[(10, 0), (-10, 0), (0, 6), (6, -5)])
    return build("crossing paths", walkers, 100, seed=12 + 100 * seed)


def hidden(bank, gap, label, seed=0):
    rng = np.random.default_rng(3 + 100 * seed)
    walkers = _walkers(bank, rng, 3, height=[200, 210, 190],
                       start=[(100, 250), (200, 520), (1150, 380)],
                       velocity=[(6, 0), (5, 0), (-6, 0)])
    walkers[0].hidden = ((30, 30 + gap),)
    return build(label, walkers, 30 + gap + 40, seed=13 + 100 * seed)


def enter_leave(bank, seed=0):
    rng = np.random.default_rng(4 + 100 * seed)
    walkers = _walkers(bank, rng, 5, height=[200, 220, 180, 210, 200],
                       start=[(-80, 250), (1360, 420), (-80, 560), (640, -120), (1360, 200)],
                       velocity=[(12, 0), (-11, 0), (9, 0), (0, 8), (-14, 0)],
                       first=[0, 10, 25, 30, 50])
    return build("entering and leaving", walkers, 120, seed=14 + 100 * seed)


def missing_keypoints(bank, seed=0):
    rng = np.random.default_rng(5 + 100 * seed)
    walkers = _walkers(bank, rng, 5, height=[200] * 5,
                       start=[(150 + 200 * i, 200 + 80 * (i % 3)) for i in range(5)],
                       velocity=[(4, 1), (-3, 2), (5, -1), (-4, 0), (3, 3)])
    return build("missing keypoints 30 %", walkers, 100, seed=15 + 100 * seed, missing=0.3)


def jitter(bank, seed=0):
    rng = np.random.default_rng(6 + 100 * seed)
    walkers = _walkers(bank, rng, 5, height=[180] * 5,
                       start=[(300 + 130 * i, 330 + 30 * (i % 2)) for i in range(5)],
                       velocity=[(3, 0)] * 5)
    return build("group, jitter 8 px", walkers, 100, seed=16 + 100 * seed, jitter=8.0)


def dropout(bank, seed=0):
    rng = np.random.default_rng(7 + 100 * seed)
    walkers = _walkers(bank, rng, 6, height=[200] * 6,
                       start=[(100 + 200 * i, 250 + 200 * (i % 2)) for i in range(6)],
                       velocity=[(5, 0), (-5, 0)] * 3)
    return build("detection dropout 25 %", walkers, 100, seed=17 + 100 * seed, dropout=0.25)


def false_poses(bank, seed=0):
    rng = np.random.default_rng(8 + 100 * seed)
    walkers = _walkers(bank, rng, 4, height=[210] * 4,
                       start=[(150, 200), (1100, 250), (150, 520), (1100, 560)],
                       velocity=[(8, 0), (-8, 0), (7, 0), (-7, 0)])
    return build("false poses 1 per frame", walkers, 100, seed=18 + 100 * seed, false_rate=1.0,
                 shape_bank=bank)


def fast(bank, seed=0):
    rng = np.random.default_rng(9 + 100 * seed)
    walkers = _walkers(bank, rng, 4, height=[160] * 4,
                       start=[(100, 200), (1180, 260), (100, 500), (1180, 560)],
                       velocity=[(30, 0), (-30, 0), (26, 2), (-26, -2)])
    return build("fast (half frame rate)", walkers, 40, seed=19 + 100 * seed)


def stop_and_go(bank, seed=0):
    rng = np.random.default_rng(10 + 100 * seed)
    walkers = _walkers(bank, rng, 4, height=[200] * 4,
                       start=[(200, 250), (500, 260), (800, 500), (1100, 480)],
                       velocity=[(6, 0), (-6, 0), (0, 0), (-5, 0)],
                       turns=[((30, (0, 0)), (60, (-6, 0))), ((25, (6, 0)), (50, (0, 0))),
                              ((20, (-8, 0)), (55, (8, 0))), ((40, (5, 0)),)])
    return build("stop, go, reverse", walkers, 100, seed=20 + 100 * seed)


def crowd(bank, seed=0):
    rng = np.random.default_rng(11 + 100 * seed)
    n = 10
    walkers = _walkers(
        bank, rng, n, height=list(rng.uniform(150, 240, n)),
        start=[tuple(rng.uniform([100, 120], [1180, 600])) for _ in range(n)],
        velocity=[tuple(rng.normal(0, 5, 2)) for _ in range(n)],
        first=list(rng.integers(0, 30, n)))
    return build("crowd (all failures)", walkers, 120, seed=21 + 100 * seed, jitter=3.0,
                 missing=0.1, dropout=0.1, false_rate=0.2, shape_bank=bank)


def small(bank, seed=0):
    rng = np.random.default_rng(12 + 100 * seed)
    n = 8
    walkers = _walkers(
        bank, rng, n, height=list(rng.uniform(60, 100, n)),
        start=[tuple(rng.uniform([100, 100], [1180, 620])) for _ in range(n)],
        velocity=[tuple(rng.normal(0, 4, 2)) for _ in range(n)])
    return build("small people (60-100 px), jitter 3 px, left/right swaps", walkers, 100,
                 seed=22 + 100 * seed, jitter=3.0, missing=0.15, dropout=0.05, swaps=0.1)


SCENARIOS: dict[str, Callable[[list[np.ndarray]], Scenario]] = {
    "parallel": parallel,
    "crossing": crossing,
    "hidden_short": lambda bank, seed=0: hidden(bank, BUFFER - 10, f"hidden {BUFFER - 10} frames",
                                                seed),
    "hidden_long": lambda bank, seed=0: hidden(bank, BUFFER + 10, f"hidden {BUFFER + 10} frames",
                                               seed),
    "enter_leave": enter_leave,
    "missing_keypoints": missing_keypoints,
    "jitter": jitter,
    "dropout": dropout,
    "false_poses": false_poses,
    "fast": fast,
    "stop_and_go": stop_and_go,
    "small": small,
    "crowd": crowd,
}


# ------------------------------------------------------------------------------- scoring

def run_tracker(scenario: Scenario, step: Callable[[Poses, float], np.ndarray]) -> list[np.ndarray]:
    """Ids per frame from `step(poses, seconds)`."""
    return [np.asarray(step(poses, t / FPS)) for t, poses in enumerate(scenario.frames)]


def reference_oks(gt: np.ndarray, det: np.ndarray) -> np.ndarray:
    """(G, D) OKS as COCO defines it: over the ground truth's visible keypoints, s² = its box
    area; a keypoint the detection misses scores 0."""
    if len(gt) == 0 or len(det) == 0:
        return np.zeros((len(gt), len(det)))
    visible = gt[:, :, 2] > 0
    area = np.array([max((b[2] - b[0]) * (b[3] - b[1]), 1.0) for b in map(_box, gt)])
    d2 = ((gt[:, None, :, :2] - det[None, :, :, :2]) ** 2).sum(-1)
    var = (2 * SCORING_SIGMAS) ** 2
    sim = np.exp(-d2 / (2 * area[:, None, None] * var)) * (det[None, :, :, 2] > 0)
    return (sim * visible[:, None]).sum(-1) / visible.sum(-1)[:, None]


def score(scenario: Scenario, ids: list[np.ndarray], threshold: float = 0.5) -> dict:
    """MOTA, IDF1, id switches ... of one run (motmetrics; matches need OKS >= threshold)."""
    acc = accumulate(scenario, ids, threshold)
    summary = mm.metrics.create().compute(
        acc, metrics=["mota", "idf1", "num_switches", "num_false_positives", "num_misses",
                      "num_objects", "num_unique_objects"], name=scenario.name)
    return {k: float(v) for k, v in summary.iloc[0].items()}


def accumulate(scenario: Scenario, ids: list[np.ndarray], threshold: float = 0.5):
    acc = mm.MOTAccumulator(auto_id=True)
    for frame, poses, hyp in zip(range(len(ids)), scenario.frames, ids):
        keep = hyp >= 0
        det = poses.keypoints[keep]
        sim = reference_oks(scenario.gt_keypoints[frame], det)
        dist = np.where(sim >= threshold, 1.0 - sim, np.nan)
        acc.update(scenario.gt_ids[frame].tolist(), hyp[keep].tolist(), dist)
    return acc


def score_many(runs: dict[str, tuple[Scenario, list[np.ndarray]]]) -> dict:
    """Per scenario and OVERALL scores (motmetrics compute_many, generate_overall)."""
    accs = [accumulate(s, ids) for s, ids in runs.values()]
    summary = mm.metrics.create().compute_many(
        accs, names=list(runs), metrics=["mota", "idf1", "num_switches"], generate_overall=True)
    return {name: {k: float(v) for k, v in row.items()} for name, row in summary.iterrows()}
