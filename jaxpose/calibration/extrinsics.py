"""Extrinsics of 2+ cameras from simultaneous board views: pairwise initialisation, then bundle adjustment.

World frame = camera 0's frame (as OpenPose's calibration tool), lengths in the board's units.

1. Board pose in every camera and instant: `cv2.solvePnP` (iterative) with that camera's intrinsics.
2. Pairwise: for every pair of cameras, the relative pose per shared instant (M_b · M_a^-1), averaged
   (chordal mean of rotations after dropping those > max(3 x median, 1 degree) from the first
   mean; median translation); a maximum spanning tree over the number of shared instants, rooted
   at camera 0, chains the pairs into camera poses.
3. Bundle adjustment with `scipy.optimize.least_squares` (trust-region, analytic Jacobian from
   OpenCV's `projectPoints` and `composeRT` derivatives): the poses of cameras 1..V-1 and of every
   board seen by 2+ cameras, minimising the pixel reprojection error of all corners (intrinsics and
   distortion fixed); then views whose RMS exceeds max(outlier_factor x median, outlier_px) are
   dropped and the adjustment re-run (at most 5 rounds).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxpose.errors import InputError

MAX_ROUNDS = 5


@dataclasses.dataclass(frozen=True)
class ExtrinsicsFit:
    """R (V, 3, 3), t (V, 3) world->camera; RMS over all kept views; per-(camera, instant) RMS; outliers."""

    R: np.ndarray
    t: np.ndarray
    rms: float
    view_rms: dict[tuple[int, int], float]
    outliers: dict[tuple[int, int], str]
    instants: tuple[int, ...]


def _rt_matrix(rvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    import cv2

    M = np.eye(4)
    M[:3, :3] = cv2.Rodrigues(np.asarray(rvec, np.float64).reshape(3, 1))[0]
    M[:3, 3] = np.ravel(tvec)
    return M


def _mean_rotation(rotations: list[np.ndarray]) -> np.ndarray:
    """Chordal L2 mean: the rotation nearest to the sum of the matrices."""
    u, _, vt = np.linalg.svd(np.sum(rotations, axis=0))
    R = u @ vt
    if np.linalg.det(R) < 0:
        R = u @ np.diag([1.0, 1.0, -1.0]) @ vt
    return R


def _angle(Ra: np.ndarray, Rb: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(Ra.T @ Rb) - 1) / 2, -1.0, 1.0))))


def _average_pose(transforms: list[np.ndarray]) -> np.ndarray:
    rotations = [M[:3, :3] for M in transforms]
    R = _mean_rotation(rotations)
    angles = np.array([_angle(R, Ri) for Ri in rotations])
    keep = angles <= max(3 * np.median(angles), 1.0)
    M = np.eye(4)
    M[:3, :3] = _mean_rotation([r for r, k in zip(rotations, keep) if k])
    M[:3, 3] = np.median([T[:3, 3] for T, k in zip(transforms, keep) if k], axis=0)
    return M


def board_poses(corners: dict[int, np.ndarray], obj: np.ndarray, K: np.ndarray, dist: np.ndarray) -> dict[int, np.ndarray]:
    """{instant: 4x4 board->camera} by iterative PnP."""
    import cv2

    poses = {}
    for i, pts in corners.items():
        ok, rvec, tvec = cv2.solvePnP(obj, pts.reshape(-1, 1, 2).astype(np.float64), K, dist,
                                      flags=cv2.SOLVEPNP_ITERATIVE)
        if ok:
            poses[i] = _rt_matrix(rvec, tvec)
    return poses


def initial_cameras(poses: list[dict[int, np.ndarray]], names: list[str]) -> list[np.ndarray]:
    """World (= camera 0) -> camera 4x4 transforms from pairwise relative poses along a spanning tree."""
    V = len(poses)
    shared = np.zeros((V, V), int)
    for a in range(V):
        for b in range(V):
            if a != b:
                shared[a, b] = len(set(poses[a]) & set(poses[b]))
    cams: list[np.ndarray | None] = [None] * V
    cams[0] = np.eye(4)
    while any(c is None for c in cams):
        edges = [(shared[a, b], a, b) for a in range(V) if cams[a] is not None for b in range(V) if cams[b] is None]
        count, a, b = max(edges)
        if count == 0:
            lost = [names[c] for c in range(V) if cams[c] is None]
            raise InputError(
                f"cameras {lost} never see the board at the same instant as camera {names[0]} (directly or "
                "through other cameras); extrinsics need simultaneous board views of overlapping cameras"
            )
        rel = _average_pose([poses[b][i] @ np.linalg.inv(poses[a][i]) for i in sorted(set(poses[a]) & set(poses[b]))])
        cams[b] = rel @ cams[a]
    return cams  # type: ignore[return-value]


def _pose_vector(M: np.ndarray) -> np.ndarray:
    import cv2

    return np.r_[cv2.Rodrigues(M[:3, :3])[0].ravel(), M[:3, 3]]


def bundle_adjust(observations: list[tuple[int, int, np.ndarray]], obj: np.ndarray, Ks: list[np.ndarray],
                  dists: list[np.ndarray], cams: list[np.ndarray], boards: dict[int, np.ndarray]
                  ) -> tuple[list[np.ndarray], dict[int, np.ndarray], np.ndarray]:
    """Refine cameras 1..V-1 and boards; returns (cams 4x4, boards 4x4, per-observation residuals (O, N, 2))."""
    import cv2
    from scipy.optimize import least_squares

    V = len(cams)
    instants = sorted(boards)
    slot = {i: 6 * (V - 1) + 6 * k for k, i in enumerate(instants)}
    x0 = np.concatenate([_pose_vector(cams[c]) for c in range(1, V)] + [_pose_vector(boards[i]) for i in instants])
    n = len(obj)
    obj64 = obj.astype(np.float64)

    def project(x: np.ndarray, with_jac: bool):
        residuals = np.empty((len(observations), 2 * n))
        blocks = []
        for o, (c, i, pts) in enumerate(observations):
            rb, tb = x[slot[i]: slot[i] + 3], x[slot[i] + 3: slot[i] + 6]
            if c == 0:
                r, t = rb, tb
                d_board = [np.eye(3), np.zeros((3, 3)), np.zeros((3, 3)), np.eye(3)]
            else:
                k = 6 * (c - 1)
                rc, tc = x[k: k + 3], x[k + 3: k + 6]
                r, t, dr_rb, dr_tb, dr_rc, dr_tc, dt_rb, dt_tb, dt_rc, dt_tc = cv2.composeRT(rb, tb, rc, tc)
                d_board = [dr_rb, dr_tb, dt_rb, dt_tb]
                d_cam = [dr_rc, dr_tc, dt_rc, dt_tc]
            uv, jac = cv2.projectPoints(obj64, r, t, Ks[c], dists[c])
            residuals[o] = (uv.reshape(-1, 2) - pts).ravel()
            if with_jac:
                dp_dr, dp_dt = jac[:, 0:3], jac[:, 3:6]

                def chain(d):
                    dr_a, dr_b, dt_a, dt_b = d
                    return np.hstack([dp_dr @ dr_a + dp_dt @ dt_a, dp_dr @ dr_b + dp_dt @ dt_b])

                blocks.append((o, slot[i], chain(d_board)))
                if c != 0:
                    blocks.append((o, 6 * (c - 1), chain(d_cam)))
        return residuals, blocks

    def fun(x):
        return project(x, False)[0].ravel()

    block_cols = []
    block_rows = []
    for o, (c, i, _) in enumerate(observations):
        for col in ([slot[i]] if c == 0 else [slot[i], 6 * (c - 1)]):
            block_rows.append(o)
            block_cols.append(col)
    r_idx, c_idx = np.meshgrid(np.arange(2 * n), np.arange(6), indexing="ij")
    rows = np.concatenate([r_idx.ravel() + o * 2 * n for o in block_rows])
    cols = np.concatenate([c_idx.ravel() + col for col in block_cols])

    def jac(x):
        from scipy.sparse import csr_matrix

        _, blocks = project(x, True)
        vals = np.concatenate([block.ravel() for _, _, block in blocks])
        return csr_matrix((vals, (rows, cols)), shape=(len(observations) * 2 * n, len(x0)))

    result = least_squares(fun, x0, jac=jac, method="trf", x_scale="jac", ftol=1e-10, xtol=1e-10, gtol=1e-10,
                           max_nfev=100, tr_solver="lsmr")
    x = result.x
    new_cams = [np.eye(4)] + [_rt_matrix(x[6 * (c - 1): 6 * (c - 1) + 3], x[6 * (c - 1) + 3: 6 * c]) for c in range(1, V)]
    new_boards = {i: _rt_matrix(x[slot[i]: slot[i] + 3], x[slot[i] + 3: slot[i] + 6]) for i in instants}
    return new_cams, new_boards, project(x, False)[0].reshape(len(observations), n, 2)


def fit_extrinsics(corners: list[dict[int, np.ndarray]], obj: np.ndarray, Ks: list[np.ndarray],
                   dists: list[np.ndarray], names: list[str], outlier_factor: float = 3.0,
                   outlier_px: float = 1.0) -> ExtrinsicsFit:
    """corners[c][instant] (N, 2) pixels of camera c -> camera poses in camera 0's frame (module doc)."""
    V = len(corners)
    if V < 2:
        raise InputError("extrinsics need at least 2 cameras")
    corners = [dict(c) for c in corners]
    outliers: dict[tuple[int, int], str] = {}
    for round_ in range(MAX_ROUNDS):
        poses = [board_poses(corners[c], obj, Ks[c], dists[c]) for c in range(V)]
        seen = {}
        for c in range(V):
            for i in poses[c]:
                seen.setdefault(i, []).append(c)
        instants = sorted(i for i, cs in seen.items() if len(cs) >= 2)
        if not instants:
            raise InputError(
                f"no instant shows the board to 2 or more cameras ({', '.join(names)}); extrinsics need the same "
                "board seen by several cameras at once (synchronised frames, the i-th frame of every camera)"
            )
        cams = initial_cameras([{i: p for i, p in poses[c].items() if i in instants} for c in range(V)], names)
        boards = {}
        for i in instants:
            c = seen[i][0]
            boards[i] = np.linalg.inv(cams[c]) @ poses[c][i]
        observations = [(c, i, corners[c][i].astype(np.float64)) for i in instants for c in seen[i]]
        cams, boards, residuals = bundle_adjust(observations, obj, Ks, dists, cams, boards)
        per_view = np.sqrt((residuals ** 2).sum(-1).mean(-1))
        threshold = max(outlier_factor * float(np.median(per_view)), outlier_px)
        bad = [(c, i, e) for (c, i, _), e in zip(observations, per_view) if e > threshold]
        if not bad or round_ == MAX_ROUNDS - 1:
            break
        for c, i, e in bad:
            outliers[(c, i)] = (f"extrinsics outlier: RMS {e:.3f} px > {threshold:.3f} px "
                                f"(max of {outlier_factor:g} x median, {outlier_px:g} px)")
            del corners[c][i]
    rms = float(np.sqrt((residuals ** 2).sum(-1).mean()))
    view_rms = {(c, i): float(e) for (c, i, _), e in zip(observations, per_view)}
    R = np.stack([M[:3, :3] for M in cams])
    t = np.stack([M[:3, 3] for M in cams])
    return ExtrinsicsFit(R, t, rms, view_rms, outliers, tuple(instants))
