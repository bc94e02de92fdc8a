"""Synthetic calibration rigs: a chessboard of known size rendered into known cameras (with distortion).

Each pixel of a camera is undistorted (OpenCV, iterated to convergence), its ray intersected with the
board plane, and the board texture sampled there. Board square (0, 0) is black, so the inner corner
(c, r) of the board is object point (c * s, r * s, 0) of jaxpose's canonical corner order.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from jaxpose.cameras import Camera, CameraGroup

PX_PER_SQUARE = 32  # texture resolution
MARGIN = 1  # white squares around the board


def board_texture(cols: int, rows: int) -> np.ndarray:
    """(H, W) uint8: (cols + 1) x (rows + 1) squares, square (0, 0) black, in a white margin."""
    sq = np.indices((rows + 1, cols + 1)).sum(0) % 2  # 0 = black at (0, 0)
    board = np.kron(sq, np.ones((PX_PER_SQUARE, PX_PER_SQUARE))) * 255
    return np.pad(board, MARGIN * PX_PER_SQUARE, constant_values=255).astype(np.uint8)


def pose(rvec, tvec) -> np.ndarray:
    M = np.eye(4)
    M[:3, :3] = cv2.Rodrigues(np.asarray(rvec, np.float64))[0]
    M[:3, 3] = tvec
    return M


def camera_rays(camera: Camera) -> np.ndarray:
    """(H * W, 2) normalized undistorted coordinates of every pixel centre (OpenCV, iterated)."""
    w, h = camera.image_size
    grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).reshape(-1, 1, 2).astype(np.float64)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10)
    return cv2.undistortPointsIter(grid, camera.K, camera.dist, None, None, criteria).reshape(-1, 2)


def render(camera: Camera, board_to_world: np.ndarray, cols: int, rows: int, square: float,
           rays: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB view of the board (background grey) through `camera`."""
    w, h = camera.image_size
    ray = camera_rays(camera) if rays is None else rays
    world_to_cam = np.eye(4)
    world_to_cam[:3, :3], world_to_cam[:3, 3] = camera.R, camera.t
    M = world_to_cam @ board_to_world  # board -> camera
    H = np.c_[M[:3, 0], M[:3, 1], M[:3, 3]]  # board (u, v, 1) -> normalized homogeneous
    uvw = np.c_[ray, np.ones(len(ray))] @ np.linalg.inv(H).T
    in_front = uvw[:, 2] > 0  # (u, v, 1) / depth
    uv = uvw[:, :2] / uvw[:, 2:]
    texture = board_texture(cols, rows)
    scale = PX_PER_SQUARE / square
    tex_xy = (uv * scale + (MARGIN + 1) * PX_PER_SQUARE - 0.5).astype(np.float32)
    tex_xy[~in_front] = -1e6
    image = cv2.remap(texture, tex_xy[:, 0].reshape(h, w), tex_xy[:, 1].reshape(h, w), cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=128)
    return np.repeat(image[..., None], 3, axis=2)


def rig(roll_last: bool = True) -> CameraGroup:
    """Three 640x480 cameras 300 mm apart looking at a point 800 mm ahead; the last one upside down."""
    K = np.array([[610.0, 0, 322.0], [0, 605.0, 236.0], [0, 0, 1]])
    target = np.array([0.0, 0.0, 800.0])
    cams = []
    for i, (x, dist) in enumerate([(0.0, [-0.12, 0.05, 0.0005, -0.0004, 0.0]),
                                   (300.0, [-0.08, 0.02, -0.0003, 0.0002, 0.0]),
                                   (-300.0, [-0.10, 0.04, 0.0, 0.0003, 0.0])]):
        centre = np.array([x, 30.0 * i, 0.0])
        z = (target - centre) / np.linalg.norm(target - centre)
        xa = np.cross([0.0, 1.0, 0.0], z)
        xa /= np.linalg.norm(xa)
        ya = np.cross(z, xa)
        R = np.stack([xa, ya, z])  # world -> camera, camera looks at the target
        if roll_last and i == 2:
            R = np.diag([-1.0, -1.0, 1.0]) @ R  # rolled by 180 degrees about its axis
        cams.append(Camera(f"cam{i}", K * [[1 + 0.02 * i], [1 + 0.02 * i], [1]], dist, R, -R @ centre, (640, 480), "mm"))
    # camera 0 is the world frame of a calibration: express the rig in camera 0's frame
    R0, t0 = cams[0].R, cams[0].t
    return CameraGroup(tuple(c.replace(R=c.R @ R0.T, t=c.t - c.R @ R0.T @ t0) for c in cams))


def board_poses(n: int, seed: int = 0, square: float = 30.0, cols: int = 9, rows: int = 6) -> list[np.ndarray]:
    """Board -> world (camera 0) poses 650-850 mm ahead, tilted up to ~35 degrees, spread over the view."""
    rng = np.random.default_rng(seed)
    centre = np.array([cols - 1, rows - 1, 0.0]) * square / 2
    poses = []
    for _ in range(n):
        R = cv2.Rodrigues(rng.uniform(-0.6, 0.6, 3) * [1, 1, 0.5])[0]
        t = np.array([rng.uniform(-110, 110), rng.uniform(-70, 70), rng.uniform(650, 850)]) - R @ centre
        poses.append(pose(cv2.Rodrigues(R)[0].ravel(), t))
    return poses


def render_rig(group: CameraGroup, poses: list[np.ndarray], cols: int = 9, rows: int = 6,
               square: float = 30.0) -> list[list[np.ndarray]]:
    """frames[camera][instant]: every board pose seen by every camera."""
    frames = []
    for cam in group:
        rays = camera_rays(cam)
        frames.append([render(cam, M, cols, rows, square, rays) for M in poses])
    return frames


@functools.lru_cache(maxsize=1)
def cached_rig(n_poses: int = 10) -> tuple[CameraGroup, list[list[np.ndarray]]]:
    """The default rig and its rendered frames, rendered once per test process."""
    truth = rig()
    return truth, render_rig(truth, board_poses(n_poses))
