"""The H36M multi-view triangulation protocol of the basis doc (3d-tracking-basis.md §2.3).

The sample's 4 frames (4 subjects) each have 3D ground truth in their source camera. Each is lifted
to the world with that camera, projected into all 4 real cameras of its subject (exact H36M
distortion), and observed `trials` times with seeded noise:

    gaussian   isotropic, sigma pixels per coordinate
    random     each (trial, view, joint) observation independently with probability p displaced
               by a random direction x U(30, 150) px (the basis doc's outlier model)
    swap       each (trial, view, left/right joint pair) with probability p swapped: the left
               joint is observed where the right one is and vice versa (a correlated outlier,
               the basis doc's suggested second model)

Used by tests/test_triangulate_h36m.py and benchmarks/bench_triangulate.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from jaxpose.cameras import CameraGroup

FRAMES = [("S1", "54138969"), ("S5", "54138969"), ("S7", "55011271"), ("S8", "55011271")]
# MMPose's H36M-17 order (basis doc §2.1): 1-3 right hip/knee/foot, 4-6 left, 11-13 left arm,
# 14-16 right arm.
LEFT_RIGHT = ((4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16))
LIMBS = ((0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
         (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16))


@dataclasses.dataclass
class Frame:
    """One frame of the protocol: cameras, world ground truth (17, 3) metres, observations
    (V, trials, 17, 3) distorted pixels + score 1, and which observations are outliers."""

    subject: str
    group: CameraGroup
    truth: np.ndarray
    observations: np.ndarray
    outliers: np.ndarray


def world_truth(h36m_dir: Path) -> list[tuple[str, CameraGroup, np.ndarray]]:
    """(subject, its 4-camera group, (17, 3) world joints in metres) per sample frame."""
    body = np.load(h36m_dir / "test_h36m_body3d.npz")
    out = []
    for i, (subject, source) in enumerate(FRAMES):
        group = CameraGroup.from_h36m(h36m_dir / "cameras.pkl", subject)
        cam = group[source]
        S = body["S"][i, :, :3].astype(np.float64)
        out.append((subject, group, (S - cam.t) @ cam.R))  # x_cam = R X + t
    return out


def observe(h36m_dir: Path, sigma: float, outlier_p: float = 0.0, model: str = "random",
            trials: int = 300, seed: int = 0) -> list[Frame]:
    """The protocol's observations, one `Frame` per sample frame (numpy seed `seed`)."""
    rng = np.random.default_rng(seed)
    frames = []
    for subject, group, truth in world_truth(h36m_dir):
        ideal = group.project(truth)  # (V, 17, 2)
        views, joints = ideal.shape[:2]
        obs = np.broadcast_to(ideal[:, None], (views, trials, joints, 2)).copy()
        outliers = np.zeros((views, trials, joints), bool)
        if model == "swap":
            swap = rng.random((views, trials, len(LEFT_RIGHT))) < outlier_p
            for j, (left, right) in enumerate(LEFT_RIGHT):
                s = swap[..., j, None]
                at_left, at_right = obs[:, :, left].copy(), obs[:, :, right].copy()
                obs[:, :, left] = np.where(s, at_right, at_left)
                obs[:, :, right] = np.where(s, at_left, at_right)
                outliers[:, :, left] |= swap[..., j]
                outliers[:, :, right] |= swap[..., j]
        obs += rng.normal(0.0, sigma, obs.shape)
        if model == "random" and outlier_p > 0:
            outliers = rng.random((views, trials, joints)) < outlier_p
            angle = rng.uniform(0, 2 * np.pi, outliers.shape)
            length = rng.uniform(30, 150, outliers.shape)
            shift = np.stack([np.cos(angle), np.sin(angle)], -1) * length[..., None]
            obs += np.where(outliers[..., None], shift, 0.0)
        elif model not in ("random", "swap"):
            raise ValueError(model)
        observations = np.concatenate([obs, np.ones(obs.shape[:-1] + (1,))], axis=-1)
        frames.append(Frame(subject, group, truth, observations, outliers))
    return frames


@dataclasses.dataclass
class Score:
    """MPJPE (mean / median / p95 mm, kept joints), kept share (%), mean reprojection error (px)."""

    mpjpe: float
    median: float
    p95: float
    kept: float
    reprojection: float


def score(frames: list[Frame], results: list) -> Score:
    """Score `triangulate_details` results (one per frame, points (trials, 17, 4)) on `frames`."""
    errors, kept, reproj = [], [], []
    for frame, result in zip(frames, results):
        k = result.points[..., 3] > 0
        e = np.linalg.norm(result.points[..., :3] - frame.truth, axis=-1) * 1000.0
        errors.append(e[k])
        kept.append(k.ravel())
        reproj.append(result.reprojection_error[k])
    errors = np.concatenate(errors)
    return Score(float(errors.mean()), float(np.median(errors)), float(np.percentile(errors, 95)),
                 float(np.concatenate(kept).mean() * 100), float(np.concatenate(reproj).mean()))


# COCO-18 part <- H36M-17 joint (eyes and ears have no H36M counterpart: -1)
H36M_TO_COCO = (10, 8, 14, 15, 16, 11, 12, 13, 1, 2, 3, 4, 5, 6, -1, -1, -1, -1)
SPOTS = ((-1.0, -0.6), (0.9, 0.5), (0.1, 1.3), (-0.9, 0.9))  # metres, inside S1's capture volume


def scene(h36m_dir: Path, people: int, seed: int = 0) -> tuple[CameraGroup, np.ndarray]:
    """Several of the sample's skeletons in one world: S1's 4 cameras and (people, 17, 3) joints,
    metres, each skeleton turned by a random angle about the vertical and standing at one of SPOTS."""
    rng = np.random.default_rng(seed)
    sample = world_truth(h36m_dir)
    group = sample[0][1]
    skeletons = []
    for n in range(people):
        joints = sample[(0, 2, 3, 0)[n]][2]  # the three standing subjects
        pelvis = joints[0]
        a = rng.uniform(0, 2 * np.pi)
        turn = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        skeletons.append((joints - pelvis) @ turn.T + [SPOTS[n][0], SPOTS[n][1], pelvis[2]])
    return group, np.array(skeletons)


def as_coco(keypoints: np.ndarray) -> np.ndarray:
    """(..., 17, C) H36M joints -> (..., 18, C) COCO parts; eyes and ears are zeros (missing)."""
    out = np.zeros(keypoints.shape[:-2] + (18, keypoints.shape[-1]), keypoints.dtype)
    for part, joint in enumerate(H36M_TO_COCO):
        if joint >= 0:
            out[..., part, :] = keypoints[..., joint, :]
    return out
