"""Which 2D detection in each view is the same person: cross-view association before triangulation.

    association = associate(cameras, detections)          # detections: V arrays (N_v, K, 3)
    association.members                                   # (M, V) detection index, -1 = absent
    keypoints = association.gather(detections)            # (V, M, K, 3) for `triangulate`

OpenPose reconstructs person 0 of each view only; this reconstructs everyone. Host code (NumPy,
SciPy) on small arrays; the triangulations inside run the jitted core. The rule, in pixels of the
undistorted images, with g = `gate` (default 2 x OpenPose's maxErr of view 0, 43.7 px at 1000x1000)
and every distance capped at 2 g before averaging (a few wrong joints cannot dominate):

1. Pair candidates: for every pair of views and every pair of detections with >= `min_keypoints`
   keypoints valid in both (score > score_threshold), the mean symmetric epipolar distance of those
   keypoints; pairs under g are candidates.
2. Hypotheses: each candidate pair is triangulated (plain DLT of the two views) and projected into
   every view; in each view the detection with the smallest mean reprojection distance joins the
   hypothesis if that distance is under g (the pair's own two detections must pass too).
3. Greedy selection: the hypothesis with the most views (then the smallest mean distance) is
   accepted; its detections are used up; the others lose the used detections and are ranked
   again; hypotheses left with < 2 views are discarded. A detection joins at most one person.
4. Global refinement (`iterations` times): every person is triangulated with the robust rule and
   projected into every view; per view, `scipy.optimize.linear_sum_assignment` on the gated mean
   reprojection distances (persons x detections) reassigns the detections (a detection the greedy
   step missed can join; a wrong one leaves). Persons with < `min_views` views are dropped.
5. Order: persons sorted by their first view's detection index (view 0 first), so a fixed input
   always gives the same persons in the same order.

False detections find no partner consistent in a third view and are left out; a person missing
from some views is associated in the others (>= min_views). Ties are broken by index.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from jaxpose.errors import InputError
from jaxpose.triangulation.api import CameraSet, people_bucket, camera_set, triangulate_details
from jaxpose.triangulation.core import openpose_max_error
from jaxpose.triangulation.geometry import fundamental_matrix

ABSENT = -1


@dataclasses.dataclass(frozen=True)
class Association:
    """members: (M, V) int64 index of each person's detection per view, -1 where absent.
    cost: (M,) mean reprojection distance (pixels) of the members after refinement."""

    members: np.ndarray
    cost: np.ndarray

    @property
    def num_people(self) -> int:
        return int(self.members.shape[0])

    def gather(self, detections: Sequence[np.ndarray]) -> np.ndarray:
        """(V, M, K, C) arrays of the members' rows of `detections` (V arrays (N_v, K, C)); zeros
        where a person is absent from a view."""
        views = len(detections)
        first = np.asarray(detections[0])
        out = np.zeros((views, self.num_people) + first.shape[1:], np.float32)
        for v, dets in enumerate(detections):
            for m, index in enumerate(self.members[:, v]):
                if index != ABSENT:
                    out[v, m] = np.asarray(dets)[index]
        return out


def _checked(detections: Sequence[Any], views: int) -> list[np.ndarray]:
    if len(detections) != views:
        raise InputError(f"{len(detections)} views of detections for {views} cameras; give one "
                         "(people, keypoints, 3) array per camera, in the cameras' order")
    arrays = [np.asarray(d, np.float64) for d in detections]
    parts = {a.shape[1] for a in arrays if a.ndim == 3 and a.shape[0]}
    for v, a in enumerate(arrays):
        if a.ndim != 3 or a.shape[-1] != 3:
            raise InputError(f"view {v}: detections must be (people, keypoints, 3), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise InputError(f"view {v}: keypoints hold NaN or infinity; mark a missing keypoint "
                             "with score 0 (x = y = 0), as OpenPose does")
    if len(parts) > 1:
        raise InputError(f"views disagree on the number of keypoints {sorted(parts)}; use one model")
    return arrays


def _epipolar_costs(F, xa, xb, common, cap):
    """Mean capped symmetric epipolar distance, (Na, K, 2) x (Nb, K, 2) -> (Na, Nb)."""
    ha = np.concatenate([xa, np.ones(xa.shape[:-1] + (1,))], -1)  # (Na, K, 3)
    hb = np.concatenate([xb, np.ones(xb.shape[:-1] + (1,))], -1)
    lines_b = ha @ F.T  # epipolar lines in b of a's points (Na, K, 3)
    lines_a = hb @ F  # (Nb, K, 3)
    algebraic = np.einsum("jkc,ikc->ijk", hb, lines_b)  # (Na, Nb, K)
    norm_b = np.linalg.norm(lines_b[..., :2], axis=-1)[:, None]  # (Na, 1, K)
    norm_a = np.linalg.norm(lines_a[..., :2], axis=-1)[None]  # (1, Nb, K)
    distance = 0.5 * np.abs(algebraic) * (1 / np.maximum(norm_b, 1e-12) + 1 / np.maximum(norm_a, 1e-12))
    capped = np.minimum(distance, cap)
    count = common.sum(-1)
    return np.where(common, capped, 0).sum(-1) / np.maximum(count, 1), count


def _reprojection_costs(projected, reconstructed, points, valid, cap, min_keypoints, failed=None):
    """Mean capped distance between projected persons (M, K, 2) [reconstructed (M, K)] and the
    detections (N, K, 2) [valid (N, K)] of one view -> (M, N), inf with < min_keypoints shared.
    Keypoints in `failed` (M, K) (seen by >= 2 of the person's views yet not reconstructed) count
    as `cap` wherever the detection has them."""
    distance = np.minimum(np.linalg.norm(projected[:, None] - points[None], axis=-1), cap)
    if failed is not None:
        distance = np.where(failed[:, None], cap, distance)
        reconstructed = reconstructed | failed
    shared = reconstructed[:, None] & valid[None]
    count = shared.sum(-1)
    mean = np.where(shared, distance, 0).sum(-1) / np.maximum(count, 1)
    return np.where(count >= min_keypoints, mean, np.inf)


def _project(projections, points3d):
    """(V, 3, 4) x (M, K, 3) -> (V, M, K, 2) undistorted pixels."""
    h = np.concatenate([points3d, np.ones(points3d.shape[:-1] + (1,))], -1)
    u = np.einsum("vij,mkj->vmki", projections, h)
    return u[..., :2] / np.where(np.abs(u[..., 2:]) > 1e-12, u[..., 2:], 1e-12)


def associate(group: Any, detections: Sequence[Any], *, score_threshold: float = 0.3,
              gate: float | None = None, min_keypoints: int = 3, min_views: int = 2,
              iterations: int = 2, image_sizes: Any = None) -> Association:
    """Put V views' detections (N_v, K, 3) (x, y distorted pixels, score) in correspondence.

    group: a `jaxpose.CameraGroup` (or projection matrices / a `CameraSet`). See the module
    docstring for the rule and the parameters. Returns an `Association`.
    """
    cameras = group if isinstance(group, CameraSet) else camera_set(group, image_sizes)
    views = cameras.num_views
    dets = _checked(detections, views)
    counts = [a.shape[0] for a in dets]
    parts = next((a.shape[1] for a in dets if a.shape[0]), 0)
    if sum(c > 0 for c in counts) < 2 or parts == 0:
        return Association(np.zeros((0, views), np.int64), np.zeros(0, np.float32))
    if min_views < 2 or min_views > views:
        raise InputError(f"min_views={min_views}: use 2 .. {views} (the number of cameras)")
    if gate is None:
        gate = 2.0 * float(openpose_max_error(np.asarray(cameras.image_sizes[0], np.float64)))
    cap = 2.0 * gate
    most = people_bucket(max(counts))  # padded: one undistortion compile for any crowd size
    stacked = np.zeros((views, most, parts, 3))
    for v, a in enumerate(dets):
        stacked[v, :a.shape[0]] = a
    xy = cameras.undistort(stacked[..., :2]) if cameras.undistort is not None else stacked[..., :2]
    valid = stacked[..., 2] > score_threshold
    for v, c in enumerate(counts):
        valid[v, c:] = False

    hypotheses = _pair_hypotheses(cameras, stacked, xy, valid, counts, gate, cap, min_keypoints,
                                  score_threshold)
    members = _greedy(hypotheses, views)
    for _ in range(iterations):
        members = _refine(cameras, stacked, xy, valid, counts, members, gate, cap, min_keypoints,
                          min_views, score_threshold)
    members = members[sorted(range(len(members)), key=lambda m: _order_key(members[m]))]
    cost = _member_costs(cameras, stacked, xy, valid, counts, members, cap, min_keypoints,
                         score_threshold) if len(members) else np.zeros(0)
    return Association(members.astype(np.int64).reshape(-1, views), cost.astype(np.float32))


def _order_key(member_row: np.ndarray) -> tuple[int, int]:
    present = np.flatnonzero(member_row != ABSENT)
    return (int(present[0]), int(member_row[present[0]])) if present.size else (len(member_row), 0)


def _gathered(stacked, members):
    views = stacked.shape[0]
    out = np.zeros((views, len(members)) + stacked.shape[2:])
    for m, row in enumerate(members):
        for v in range(views):
            if row[v] != ABSENT:
                out[v, m] = stacked[v, row[v]]
    return out


def _pair_hypotheses(cameras, stacked, xy, valid, counts, gate, cap, min_keypoints,
                     score_threshold):
    """Candidate pairs -> list of (members (V,), per-view costs (V,)) hypotheses."""
    views = cameras.num_views
    pairs = []
    for a, b in itertools.combinations(range(views), 2):
        if not counts[a] or not counts[b]:
            continue
        F = fundamental_matrix(cameras.projections[a], cameras.projections[b])
        common = valid[a, :counts[a], None] & valid[b, None, :counts[b]]
        cost, count = _epipolar_costs(F, xy[a, :counts[a]], xy[b, :counts[b]], common, cap)
        for i, j in zip(*np.nonzero((cost < gate) & (count >= min_keypoints))):
            pairs.append((a, b, int(i), int(j)))
    if not pairs:
        return []
    rows = np.full((len(pairs), views), ABSENT)
    for n, (a, b, i, j) in enumerate(pairs):
        rows[n, a], rows[n, b] = i, j
    result = triangulate_details(cameras, _gathered(stacked, rows), "dlt", min_views=2,
                                 score_threshold=score_threshold)
    points = result.points
    projected = _project(cameras.projections, points[..., :3].astype(np.float64))
    reconstructed = points[..., 3] > 0
    out = []
    costs_per_view = [
        _reprojection_costs(projected[v], reconstructed, xy[v, :counts[v]], valid[v, :counts[v]],
                            cap, min_keypoints) if counts[v] else np.zeros((len(pairs), 0))
        for v in range(views)]
    for n, (a, b, i, j) in enumerate(pairs):
        member = np.full(views, ABSENT)
        cost = np.full(views, np.inf)
        for v in range(views):
            row = costs_per_view[v][n]
            if v in (a, b):
                index = i if v == a else j
                if row[index] < gate:
                    member[v], cost[v] = index, row[index]
            elif row.size and row.min() < gate:
                member[v], cost[v] = int(np.argmin(row)), row.min()
        if member[a] != ABSENT and member[b] != ABSENT:
            out.append((member, cost))
    return out


def _greedy(hypotheses, views):
    """Accept hypotheses by (views desc, mean cost asc), each detection used once."""
    used = [set() for _ in range(views)]
    accepted = []
    remaining = list(hypotheses)
    while remaining:
        ranked = []
        for n, (member, cost) in enumerate(remaining):
            live = np.array([member[v] != ABSENT and member[v] not in used[v] for v in range(views)])
            if live.sum() >= 2:
                ranked.append((-int(live.sum()), float(cost[live].mean()), n, live))
        if not ranked:
            break
        _, _, n, live = min(ranked, key=lambda r: r[:3])
        member = np.where(live, remaining[n][0], ABSENT)
        for v in np.flatnonzero(live):
            used[v].add(int(member[v]))
        accepted.append(member)
        remaining = [h for k, h in enumerate(remaining) if k != n]
    return np.array(accepted, np.int64).reshape(-1, views)


def _person_costs(cameras, stacked, xy, valid, counts, members, cap, min_keypoints,
                  score_threshold):
    """Robust triangulation of the members, then per view the (M, N_v) reprojection costs."""
    result = triangulate_details(cameras, _gathered(stacked, members), "robust",
                                 score_threshold=score_threshold)
    points = result.points
    projected = _project(cameras.projections, points[..., :3].astype(np.float64))
    reconstructed = points[..., 3] > 0
    seen = np.zeros(reconstructed.shape, int)
    for m, row in enumerate(members):
        for v in np.flatnonzero(row != ABSENT):
            seen[m] += valid[v, row[v]]
    failed = (seen >= 2) & ~reconstructed
    return [_reprojection_costs(projected[v], reconstructed, xy[v, :counts[v]],
                                valid[v, :counts[v]], cap, min_keypoints, failed)
            for v in range(cameras.num_views)]


def _refine(cameras, stacked, xy, valid, counts, members, gate, cap, min_keypoints, min_views,
            score_threshold):
    if not len(members):
        return members
    costs = _person_costs(cameras, stacked, xy, valid, counts, members, cap, min_keypoints,
                          score_threshold)
    new = np.full_like(members, ABSENT)
    for v, cost in enumerate(costs):
        if not cost.size:
            continue
        finite = np.where(np.isfinite(cost) & (cost < gate), cost, 1e9)
        rows, cols = linear_sum_assignment(finite)
        for m, d in zip(rows, cols):
            if finite[m, d] < 1e9:
                new[m, v] = d
    return new[(new != ABSENT).sum(-1) >= min_views]


def _member_costs(cameras, stacked, xy, valid, counts, members, cap, min_keypoints,
                  score_threshold):
    costs = _person_costs(cameras, stacked, xy, valid, counts, members, cap, min_keypoints,
                          score_threshold)
    out = np.zeros(len(members))
    for m, row in enumerate(members):
        values = [costs[v][m, row[v]] for v in range(len(row)) if row[v] != ABSENT]
        values = [c for c in values if np.isfinite(c)]
        out[m] = np.mean(values) if values else np.inf
    return out
