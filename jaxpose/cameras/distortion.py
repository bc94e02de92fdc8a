"""OpenCV's pinhole camera model with lens distortion, as pure jitted JAX functions.

    project_points(K, dist, R, t, X)      == cv2.projectPoints(X, Rodrigues(R), t, K, dist)
    undistort_points(K, dist, pts)        == cv2.undistortPoints(pts, K, dist, P=K)

`dist` holds 0, 4, 5, 8, 12 or 14 coefficients in OpenCV's order
(k1, k2, p1, p2[, k3[, k4, k5, k6[, s1, s2, s3, s4[, tau_x, tau_y]]]]): radial (rational when
k4..k6 are set), tangential, thin-prism (s1..s4) and a tilted sensor (tau_x, tau_y, radians).
Missing coefficients are zeros, exactly as OpenCV pads them.

The arithmetic follows OpenCV 4.x (`calib3d/src/calibration.cpp`, `cvProjectPoints2Internal`;
`undistort.dispatch.cpp`, `cvUndistortPointsInternal`): a point at z == 0 is divided by 1, the
inverse model is OpenCV's fixed-point iteration (5 iterations by default, as `cv2.undistortPoints`;
`iterations`/`eps` give `cv2.undistortPointsIter`'s criteria), and a point where the radial factor
turns negative falls back to its undistorted-by-K position, as OpenCV does. Results are float64
when JAX runs with x64 enabled (then equal to OpenCV to ~1e-10 px), else float32.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxpose.errors import InputError

N_COEFFS = 14  # the longest OpenCV distortion vector
DIST_COUNTS = (0, 4, 5, 8, 12, 14)


def pad_distortion(dist: jax.Array) -> jax.Array:
    """(n,) OpenCV coefficients -> (14,) with zeros appended (OpenCV's own padding)."""
    dist = jnp.asarray(dist)
    if dist.ndim != 1 or dist.shape[0] not in DIST_COUNTS:
        raise InputError(f"OpenCV takes 0, 4, 5, 8, 12 or 14 distortion coefficients, got shape {dist.shape}")
    return jnp.concatenate([dist, jnp.zeros(N_COEFFS - dist.shape[-1], dist.dtype)])


def _matmul3(a: list, b: list) -> list:
    """3x3 product of nested lists of scalars (keeps the traced graph tiny: no array stacking)."""
    return [[a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j] for j in range(3)] for i in range(3)]


def tilt_matrices(tau_x: jax.Array, tau_y: jax.Array) -> tuple[list, list]:
    """The tilted-sensor projection matrix and its inverse (OpenCV `computeTiltProjectionMatrix`).

    Returned as 3x3 nested lists of scalars; both are the identity when tau_x = tau_y = 0.
    """
    cx, sx, cy, sy = jnp.cos(tau_x), jnp.sin(tau_x), jnp.cos(tau_y), jnp.sin(tau_y)
    rot_x = [[1.0, 0.0, 0.0], [0.0, cx, sx], [0.0, -sx, cx]]
    rot_y = [[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]]
    rot_xy = _matmul3(rot_y, rot_x)
    proj_z = [[rot_xy[2][2], 0.0, -rot_xy[0][2]], [0.0, rot_xy[2][2], -rot_xy[1][2]], [0.0, 0.0, 1.0]]
    inv = 1.0 / proj_z[0][0]
    inv_proj_z = [[inv, 0.0, inv * rot_xy[0][2]], [0.0, inv, inv * rot_xy[1][2]], [0.0, 0.0, 1.0]]
    rot_xy_t = [[rot_xy[j][i] for j in range(3)] for i in range(3)]
    return _matmul3(proj_z, rot_xy), _matmul3(rot_xy_t, inv_proj_z)


def _apply_homography(m: list, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(x, y) -> m @ (x, y, 1), divided by its third component (by 1 where that is 0, as OpenCV)."""
    u = m[0][0] * x + m[0][1] * y + m[0][2]
    v = m[1][0] * x + m[1][1] * y + m[1][2]
    w = m[2][0] * x + m[2][1] * y + m[2][2]
    inv_w = jnp.where(w != 0, 1.0 / jnp.where(w != 0, w, 1.0), 1.0)
    return u * inv_w, v * inv_w


def _distort_core(k: jax.Array, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Radial (rational), tangential and thin-prism terms on normalized coordinates; no tilt."""
    r2 = x * x + y * y
    r4 = r2 * r2
    r6 = r4 * r2
    a1 = 2 * x * y
    a2 = r2 + 2 * x * x
    a3 = r2 + 2 * y * y
    cdist = 1 + k[0] * r2 + k[1] * r4 + k[4] * r6
    icdist2 = 1.0 / (1 + k[5] * r2 + k[6] * r4 + k[7] * r6)
    xd = x * cdist * icdist2 + k[2] * a1 + k[3] * a2 + k[8] * r2 + k[9] * r4
    yd = y * cdist * icdist2 + k[2] * a3 + k[3] * a1 + k[10] * r2 + k[11] * r4
    return xd, yd


def distort_normalized(dist: jax.Array, xy: jax.Array) -> jax.Array:
    """Distort normalized image coordinates (..., 2) (x/z, y/z) -> distorted normalized (..., 2)."""
    k = pad_distortion(dist).astype(xy.dtype)
    xd, yd = _distort_core(k, xy[..., 0], xy[..., 1])
    mat_tilt, _ = tilt_matrices(k[12], k[13])
    xd, yd = _apply_homography(mat_tilt, xd, yd)
    return jnp.stack([xd, yd], axis=-1)


def project_points(K: jax.Array, dist: jax.Array, R: jax.Array, t: jax.Array, X: jax.Array) -> jax.Array:
    """World points X (..., 3) -> distorted pixel coordinates (..., 2), exactly as `cv2.projectPoints`.

    K (3, 3) intrinsics (fx, fy, cx, cy used; skew ignored as OpenCV), dist (n,) OpenCV
    coefficients, R (3, 3) world->camera rotation, t (3,) translation: x_cam = R @ X + t.
    Points at z = 0 are divided by 1 and points behind the camera are projected, as OpenCV does.
    Compiled once per points shape and dtype, whatever the number of coefficients.
    """
    return project_points_padded(K, pad_distortion(dist), R, t, X)


@jax.jit
def project_points_padded(K: jax.Array, dist: jax.Array, R: jax.Array, t: jax.Array, X: jax.Array) -> jax.Array:
    """`project_points` with `dist` already padded to 14 coefficients (for vmap over cameras)."""
    dtype = jnp.result_type(K, R, t, X, jnp.float32)
    K, R, t, X = (jnp.asarray(a, dtype) for a in (K, R, t, X))
    xc = X[..., 0] * R[0, 0] + X[..., 1] * R[0, 1] + X[..., 2] * R[0, 2] + t[0]
    yc = X[..., 0] * R[1, 0] + X[..., 1] * R[1, 1] + X[..., 2] * R[1, 2] + t[1]
    zc = X[..., 0] * R[2, 0] + X[..., 1] * R[2, 1] + X[..., 2] * R[2, 2] + t[2]
    inv_z = jnp.where(zc != 0, 1.0 / jnp.where(zc != 0, zc, 1.0), 1.0)
    xy = jnp.stack([xc * inv_z, yc * inv_z], axis=-1)
    xyd = distort_normalized(jnp.asarray(dist, dtype), xy)
    return jnp.stack([xyd[..., 0] * K[0, 0] + K[0, 2], xyd[..., 1] * K[1, 1] + K[1, 2]], axis=-1)


def undistort_points(K: jax.Array, dist: jax.Array, pts: jax.Array, iterations: int = 5,
                     eps: float | None = None) -> jax.Array:
    """Distorted pixels (..., 2) -> undistorted pixels (..., 2) with the same K.

    Equal to `cv2.undistortPoints(pts, K, dist, P=K)` (OpenCV's fixed-point iteration, 5 steps);
    with `eps`, equal to `cv2.undistortPointsIter(..., criteria=(COUNT + EPS, iterations, eps))`:
    a point stops iterating once its re-distorted position is within `eps` pixels of the input.
    More iterations give a closer inverse of `project_points` (the error shrinks geometrically
    for the mild distortion of real lenses).
    """
    return undistort_points_padded(K, pad_distortion(dist), pts, -jnp.inf if eps is None else eps,
                                   iterations=iterations)


@partial(jax.jit, static_argnames=("iterations",))
def undistort_points_padded(K: jax.Array, dist: jax.Array, pts: jax.Array, eps: jax.Array,
                            iterations: int = 5) -> jax.Array:
    """`undistort_points` with `dist` padded to 14 and `eps` a traced value (-inf = iterate to the count)."""
    dtype = jnp.result_type(K, pts, jnp.float32)
    K, pts = jnp.asarray(K, dtype), jnp.asarray(pts, dtype)
    k = jnp.asarray(dist, dtype)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    u, v = pts[..., 0], pts[..., 1]
    x_raw, y_raw = (u - cx) / fx, (v - cy) / fy
    mat_tilt, inv_mat_tilt = tilt_matrices(k[12], k[13])
    x0, y0 = _apply_homography(inv_mat_tilt, x_raw, y_raw)

    def step(_, state):
        x, y, error, stopped = state
        active = ~stopped & ~(error < eps)
        r2 = x * x + y * y
        icdist = (1 + ((k[7] * r2 + k[6]) * r2 + k[5]) * r2) / (1 + ((k[4] * r2 + k[1]) * r2 + k[0]) * r2)
        negative = icdist < 0
        delta_x = 2 * k[2] * x * y + k[3] * (r2 + 2 * x * x) + k[8] * r2 + k[9] * r2 * r2
        delta_y = k[2] * (r2 + 2 * y * y) + 2 * k[3] * x * y + k[10] * r2 + k[11] * r2 * r2
        x_new = jnp.where(negative, x_raw, (x0 - delta_x) * icdist)
        y_new = jnp.where(negative, y_raw, (y0 - delta_y) * icdist)
        xd, yd = _distort_core(k, x_new, y_new)
        xd, yd = _apply_homography(mat_tilt, xd, yd)
        new_error = jnp.sqrt((xd * fx + cx - u) ** 2 + (yd * fy + cy - v) ** 2)
        error = jnp.where(active & ~negative, new_error, error)
        x = jnp.where(active, x_new, x)
        y = jnp.where(active, y_new, y)
        return x, y, error, stopped | (active & negative)

    init = (x0, y0, jnp.full_like(x0, jnp.inf), jnp.zeros(x0.shape, bool))
    x, y, _, _ = jax.lax.fori_loop(0, iterations, step, init)
    return jnp.stack([x * fx + cx, y * fy + cy], axis=-1)
