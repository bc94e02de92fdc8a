"""Multi-view geometry on arrays: conditioned projections, DLT, reprojection, Gauss-Newton.

Host side (NumPy, float64, once per camera set):
    Conditioned.from_projections(P) -> .projections (V, 3, 4) float32, .to_conditioned(xy),
                                .to_world(X); Conditioned.raw(P): float64, no conditioning
    fundamental_matrix(P_a, P_b) -> (3, 3)        x_b^T F x_a = 0 (pixels)

Device side (JAX, one point, `vmap` over anything; float32 in the conditioned frame):
    dlt(P, xy, weights) -> X (3,)                 weighted DLT (features §5.3 step 3)
    linear_point(P, xy, weights) -> X (3,)        the same rows solved with w = 1 (cheaper)
    project(P, X) -> (V, 2), depth (V,)
    gauss_newton(P, xy, weights, X, iterations) -> X     reprojection least squares

`Conditioned.raw` skips all this and works in float64 in the given frame (OpenPose's exact DLT).
Conditioning keeps float32 exact enough (noise-free 4-view H36M: < 1e-3 mm): each projection is
scaled so that its third row's rotation part has unit norm (OpenPose's `K [R|t]` has exactly that),
image points are moved by the view's principal point and scaled by one global factor
`s = 1 / mean focal length` (pixel distances and the DLT rows `x p3 - p1` of all views are scaled
by the same `s`, so the pixel DLT of OpenPose is preserved), and the world is moved to the cameras'
centroid and scaled by their RMS distance from it.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose.errors import InputError


@dataclasses.dataclass(frozen=True)
class Conditioned:
    """A camera set in the conditioned frame (see the module docstring).

    projections: (V, 3, 4) conditioned projection matrices, in `dtype`.
    pixel_scale: s, conditioned units per pixel.
    principal:   (V, 2) principal points (pixels) subtracted from each view's points.
    world_shift, world_scale: X_world = world_scale * X_cond + world_shift.
    dtype:       float32 (conditioned) or float64 (`raw`).
    """

    projections: np.ndarray
    pixel_scale: float
    principal: np.ndarray
    world_shift: np.ndarray
    world_scale: float
    dtype: type = np.float32

    @classmethod
    def from_projections(cls, projections: np.ndarray) -> "Conditioned":
        """Condition `projections` (V, 3, 4), pixels; raises InputError for degenerate cameras."""
        P, principal, focal, centres = _checked_projections(projections)
        shift = centres.mean(axis=0)
        spread = float(np.sqrt(np.mean(np.sum((centres - shift) ** 2, axis=-1))))
        s = 1.0 / float(focal.mean())
        H = np.zeros((P.shape[0], 3, 3))
        H[:, 0, 0] = H[:, 1, 1] = s
        H[:, :2, 2] = -s * principal
        H[:, 2, 2] = 1.0
        T_inv = np.eye(4)
        T_inv[:3, :3] *= spread
        T_inv[:3, 3] = shift
        cond = H @ P @ T_inv
        return cls(cond.astype(np.float32), s, principal, shift, spread, np.float32)

    @classmethod
    def raw(cls, projections: np.ndarray) -> "Conditioned":
        """No conditioning: pixels and the world as given, in float64 (OpenPose's own frame, for
        the rules that reproduce its DLT exactly). Each P is scaled to a unit third-row rotation
        part, as OpenPose's K [R | t]. Validated like `from_projections`."""
        P, _, _, _ = _checked_projections(projections)
        return cls(P, 1.0, np.zeros((P.shape[0], 2)), np.zeros(3), 1.0, np.float64)

    def to_conditioned(self, xy: np.ndarray) -> np.ndarray:
        """(V, ..., 2) pixels -> conditioned image coordinates (`dtype`)."""
        xy = np.asarray(xy, np.float64)
        shape = (xy.shape[0],) + (1,) * (xy.ndim - 2) + (2,)
        out = (xy - np.asarray(self.principal, np.float64).reshape(shape)) * self.pixel_scale
        return out.astype(self.dtype)

    def to_world(self, X: np.ndarray) -> np.ndarray:
        """(..., 3) conditioned -> world units (float64)."""
        return np.asarray(X, np.float64) * self.world_scale + self.world_shift


def _checked_projections(projections: np.ndarray):
    """Validated P (V, 3, 4) scaled to unit third-row rotation part, principal points (V, 2),
    focal lengths (V, 2) and camera centres (V, 3); InputError for degenerate camera sets."""
    P = np.asarray(projections, np.float64)
    if P.ndim != 3 or P.shape[1:] != (3, 4):
        raise InputError(f"projection matrices must be (views, 3, 4), got {P.shape}")
    if P.shape[0] < 2:
        raise InputError(f"triangulation needs at least 2 cameras, got {P.shape[0]}; "
                         "add camera files (one per view)")
    if not np.all(np.isfinite(P)):
        raise InputError("a projection matrix holds NaN or infinity; check the camera files")
    row3 = np.linalg.norm(P[:, 2, :3], axis=-1)
    has_row3 = row3 > 0
    # |det(K R)| of P scaled to a unit third row: f_x f_y for a pinhole camera
    scale_free = np.where(has_row3, np.abs(np.linalg.det(P[:, :, :3]))
                          / np.where(has_row3, row3, 1.0) ** 3, 0.0)
    bad = np.flatnonzero(~has_row3 | (scale_free <= 1e-9 * scale_free.max()))
    if bad.size:
        raise InputError(f"camera {int(bad[0])} is degenerate (its 3x3 part K R is singular); "
                         "check its intrinsics and rotation")
    P = P / row3[:, None, None]
    principal = np.einsum("vij,vj->vi", P[:, :2, :3], P[:, 2, :3])
    focal = np.linalg.norm(P[:, :2, :3] - principal[..., None] * P[:, 2:3, :3], axis=-1)
    centres = -np.linalg.solve(P[:, :, :3], P[:, :, 3:])[..., 0]
    spread = float(np.sqrt(np.mean(np.sum((centres - centres.mean(axis=0)) ** 2, axis=-1))))
    if spread < 1e-12 * max(1.0, float(np.abs(centres).max())):
        raise InputError("all cameras share one centre: no baseline to triangulate from; "
                         "check the extrinsics (CameraMatrix / rotation and translation)")
    return P, principal, focal, centres


def check_camera_set(projections: np.ndarray) -> None:
    """InputError when cameras (V, 3, 4) cannot triangulate at all (degenerate, one shared centre):
    for checks before any work."""
    _checked_projections(projections)


def fundamental_matrix(P_a: np.ndarray, P_b: np.ndarray) -> np.ndarray:
    """F with x_b^T F x_a = 0 for homogeneous pixel points x_a, x_b of one 3D point (float64)."""
    P_a = np.asarray(P_a, np.float64)
    P_b = np.asarray(P_b, np.float64)
    centre_a = np.append(-np.linalg.solve(P_a[:, :3], P_a[:, 3]), 1.0)
    e_b = P_b @ centre_a
    cross = np.array([[0, -e_b[2], e_b[1]], [e_b[2], 0, -e_b[0]], [-e_b[1], e_b[0], 0]])
    return cross @ P_b @ np.linalg.pinv(P_a)


def _homogeneous(X: jnp.ndarray) -> jnp.ndarray:
    return jnp.concatenate([X, jnp.ones_like(X[..., :1])], axis=-1)


def dlt(P: jnp.ndarray, xy: jnp.ndarray, weights: jnp.ndarray) -> jnp.ndarray:
    """Weighted DLT of one point: P (V, 3, 4), xy (V, 2), weights (V,) >= 0 -> X (3,).

    Rows `w_v (x_v p3 - p1)`, `w_v (y_v p3 - p2)` (a zero weight drops the view); the right
    singular vector of the smallest singular value (here: eigenvector of A^T A, same thing),
    divided by its last coordinate. Non-finite when the views do not constrain the point.
    """
    rows = jnp.concatenate([xy[:, 0:1] * P[:, 2] - P[:, 0], xy[:, 1:2] * P[:, 2] - P[:, 1]], axis=0)
    rows = rows * jnp.concatenate([weights, weights])[:, None]
    _, vectors = jnp.linalg.eigh(rows.T @ rows)
    X = vectors[:, 0]
    return X[:3] / X[3]


def solve3(A: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """x with A x = b for one 3x3 system, by cofactors (cheap to compile and run; the systems
    here are small, symmetric and well conditioned in the conditioned frame)."""
    c0 = jnp.cross(A[1], A[2])
    c1 = jnp.cross(A[2], A[0])
    c2 = jnp.cross(A[0], A[1])
    det = jnp.dot(A[0], c0)
    return (c0 * b[0] + c1 * b[1] + c2 * b[2]) / det


def linear_point(P: jnp.ndarray, xy: jnp.ndarray, weights: jnp.ndarray) -> jnp.ndarray:
    """Weighted linear triangulation with w = 1: the DLT rows, least squares in (x, y, z) by the
    3x3 normal equations (cofactors). Equal to `dlt` on exact data, a little cheaper to run; the
    robust rule seeds its hypotheses and fits with it (then refines by Gauss-Newton)."""
    rows = jnp.concatenate([xy[:, 0:1] * P[:, 2] - P[:, 0], xy[:, 1:2] * P[:, 2] - P[:, 1]], axis=0)
    rows = rows * jnp.concatenate([weights, weights])[:, None]
    normal = rows.T @ rows
    return solve3(normal[:3, :3], -normal[:3, 3])


def project(P: jnp.ndarray, X: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Projection of one point into every view: P (V, 3, 4), X (3,) -> (xy (V, 2), depth (V,))."""
    u = P @ _homogeneous(X)
    return u[:, :2] / u[:, 2:3], u[:, 2]


def residual_norms(P: jnp.ndarray, xy: jnp.ndarray, X: jnp.ndarray) -> jnp.ndarray:
    """(V,) Euclidean distances between `xy` and the projections of X (conditioned units)."""
    projected, _ = project(P, X)
    return jnp.linalg.norm(projected - xy, axis=-1)


def gauss_newton(P: jnp.ndarray, xy: jnp.ndarray, weights: jnp.ndarray, X: jnp.ndarray,
                 iterations: int = 3) -> jnp.ndarray:
    """Minimise sum_v weights_v |pi(P_v X) - xy_v|^2 from X (3,): damped Gauss-Newton steps.

    Each step solves (J^T W J + mu I) d = -J^T W r with a tiny relative damping mu and is taken
    only if it lowers the cost, so the result is never worse than the start.
    """

    def cost(point):
        projected, _ = project(P, point)
        return jnp.sum(weights * jnp.sum((projected - xy) ** 2, axis=-1))

    def step(point, _):
        u = P @ _homogeneous(point)
        projected = u[:, :2] / u[:, 2:3]
        jac = (P[:, :2, :3] - projected[:, :, None] * P[:, 2:3, :3]) / u[:, 2:3, None]  # (V, 2, 3)
        r = projected - xy
        jtj = jnp.einsum("v,vai,vaj->ij", weights, jac, jac)
        jtr = jnp.einsum("v,vai,va->i", weights, jac, r)
        damping = 1e-6 * jnp.trace(jtj) / 3 + 1e-30
        delta = solve3(jtj + damping * jnp.eye(3, dtype=jtj.dtype), -jtr)
        candidate = point + delta
        better = jnp.isfinite(cost(candidate)) & (cost(candidate) < cost(point))
        return jnp.where(better, candidate, point), None

    X, _ = jax.lax.scan(step, X, None, length=iterations)
    return X
