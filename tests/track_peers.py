"""The peers' tracking rules, each in a few lines, for comparison columns (basis doc §4.2).

    GreedyIoU(threshold=0.3, expansion=1.25, min_area=1000, buffer=0)   rtmlib PoseTracker / MMPose
    LightweightOpenPose(threshold=3)                                    lightweight-openpose
Both are callables `step(poses, t) -> ids` (t unused: neither has a motion model).

rtmlib (`rtmlib/tools/solution/pose_tracker.py`): boxes from the keypoints expanded x1.25 about
their centre; each detection, in detection order, takes the id of the previous frame's box with
the highest IoU if that IoU > 0.3 (the box is then used up), else a new id when its area >= 1000
px², else -1. Only the previous frame is remembered (`buffer=0`; the basis doc's variant keeps
unmatched boxes for `buffer` more frames). jaxpose writes absent keypoints as (0, 0, 0), so the
box is taken over the present keypoints.
lightweight-openpose (`modules/pose.py` track_poses, get_similarity): detections sorted by
confidence; similarity = number of keypoints present in both whose exp(-d² / (2 (area + eps)
(2σ)²)) > 0.5, area = the larger of the two cv2.boundingRect areas; the best previous-frame pose
(not yet taken) is matched when similarity >= 3, else a new id (last id + 1).
"""

from __future__ import annotations

import cv2
import numpy as np

from track_scenarios import SCORING_SIGMAS


def _expanded_box(kp: np.ndarray, expansion: float) -> np.ndarray:
    p = kp[:, 2] > 0
    lo, hi = kp[p, :2].min(0), kp[p, :2].max(0)
    centre = (lo + hi) / 2
    return np.concatenate([centre - (centre - lo) * expansion, centre + (hi - centre) * expansion])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / (union if union > 0 else 1e-5)


class GreedyIoU:
    def __init__(self, threshold=0.3, expansion=1.25, min_area=1000.0, buffer=0):
        self.threshold, self.expansion, self.min_area, self.buffer = threshold, expansion, min_area, buffer
        self.tracks = []  # [box, id, frames since seen]
        self.next_id = 0

    def __call__(self, poses, t=None):
        ids = np.full(poses.num_people, -1, np.int64)
        pool = list(self.tracks)
        current = []
        for n, kp in enumerate(poses.keypoints):
            if not (kp[:, 2] > 0).any():
                continue
            box = _expanded_box(kp, self.expansion)
            ious = [_iou(box, b) for b, _, _ in pool]
            best = int(np.argmax(ious)) if ious else -1
            if best >= 0 and ious[best] > self.threshold:
                ids[n] = pool.pop(best)[1]
            elif (box[2] - box[0]) * (box[3] - box[1]) >= self.min_area:
                ids[n] = self.next_id
                self.next_id += 1
            if ids[n] >= 0:
                current.append([box, int(ids[n]), 0])
        kept = [[b, i, age + 1] for b, i, age in pool if age + 1 <= self.buffer]
        self.tracks = current + kept
        return ids


class LightweightOpenPose:
    def __init__(self, threshold=3):
        self.threshold = threshold
        self.previous = []  # (keypoints, rect area, id)
        self.last_id = -1
        self.vars = (SCORING_SIGMAS * 2) ** 2

    @staticmethod
    def _area(kp):
        found = kp[kp[:, 2] > 0, :2].astype(np.int32)
        _, _, w, h = cv2.boundingRect(found)
        return w * h

    def _similarity(self, a, area_a, b, area_b):
        both = (a[:, 2] > 0) & (b[:, 2] > 0)
        d2 = ((a[:, :2] - b[:, :2]) ** 2).sum(1)
        sim = np.exp(-d2 / (2 * (max(area_a, area_b) + np.spacing(1)) * self.vars))
        return int((both & (sim > 0.5)).sum())

    def __call__(self, poses, t=None):
        ids = np.full(poses.num_people, -1, np.int64)
        free = np.ones(len(self.previous), bool)
        current = []
        for n in np.argsort(-poses.scores, kind="stable"):
            kp = poses.keypoints[n]
            if not (kp[:, 2] > 0).any():
                continue
            area = self._area(kp)
            best, best_sim = None, 0
            for j, (pk, parea, _) in enumerate(self.previous):
                if free[j]:
                    sim = self._similarity(kp, area, pk, parea)
                    if sim > best_sim:
                        best, best_sim = j, sim
            if best is not None and best_sim >= self.threshold:
                free[best] = False
                ids[n] = self.previous[best][2]
            else:
                self.last_id += 1
                ids[n] = self.last_id
            current.append((kp, area, int(ids[n])))
        self.previous = current
        return ids
