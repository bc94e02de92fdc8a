"""`jaxpose.triangulate`: 2D keypoints of the same people in V calibrated views -> 3D keypoints.

    points = jaxpose.triangulate(group, keypoints, method="robust")   # (V, [N,] K, 3) -> ([N,] K, 4)
    result = triangulate_details(group, keypoints, ...)              # + errors, views used

`keypoints` hold x, y in each view's DISTORTED image pixels (as detected) and a score (0 = missing);
person n of every view must be the same person (see `jaxpose.triangulation.associate` to put
unordered detections in correspondence). Points are undistorted with the cameras' model, then
triangulated with P = K [R | t] by the chosen rule (`core`); results are x, y, z in the cameras'
world units and a score, (0, 0, 0, 0) where a keypoint was not reconstructed. "dlt" and
"openpose" run in float64 in the cameras' own frame (OpenPose's DLT, digit for digit); "robust" in
float32 in a conditioned frame (`geometry.Conditioned`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose.errors import InputError
from jaxpose.triangulation import core
from jaxpose.triangulation.core import METHODS, default_min_views
from jaxpose.triangulation.geometry import Conditioned

EXACT_METHODS = ("dlt", "openpose")  # run in float64 in the cameras' own frame, as OpenPose
UNDISTORT_ITERATIONS = 20  # fixed-point steps: exact to ~1e-12 px on H36M (OpenCV's default 5: ~4e-6 px)
DEFAULT_SCORE_THRESHOLD = 0.3  # "robust" / "dlt": views with a 2D score above this are used


@dataclasses.dataclass(frozen=True)
class CameraSet:
    """What triangulation needs from cameras: projections (V, 3, 4) pixels, image sizes (V, 2)
    (W, H) pixels, and an undistortion (V, ..., 2) -> (V, ..., 2) pixels (None: no distortion)."""

    projections: np.ndarray
    image_sizes: np.ndarray
    undistort: Any = None

    @property
    def num_views(self) -> int:
        return int(self.projections.shape[0])


def camera_set(group: Any, image_sizes: Any = None) -> CameraSet:
    """A `CameraSet` from a `jaxpose.CameraGroup` or from projection matrices (V, 3, 4) (no distortion).

    image_sizes (V, 2) W, H overrides the cameras' own; where neither is known the size is taken as
    twice the principal point (the image centre rule).
    """
    if hasattr(group, "projection_matrices"):
        projections = np.asarray(group.projection_matrices(), np.float64)
        sizes = [getattr(cam, "image_size", None) for cam in group]

        def undistort(points):
            return group.undistort(points, iterations=UNDISTORT_ITERATIONS)
    else:
        projections = np.asarray(group, np.float64)
        sizes = [None] * (projections.shape[0] if projections.ndim == 3 else 0)
        undistort = None
    conditioned = Conditioned.from_projections(projections)  # validates shape, count, degeneracy
    if image_sizes is not None:
        image_sizes = np.asarray(image_sizes)
        if image_sizes.shape != (projections.shape[0], 2) or np.any(image_sizes < 1):
            raise InputError(f"image_sizes must be ({projections.shape[0]}, 2) positive W, H pixels; "
                             f"got {image_sizes.tolist()}")
        sizes = [tuple(s) for s in image_sizes]
    centre_rule = 2 * conditioned.principal.astype(np.float64)
    sizes = np.array([s if s is not None else centre_rule[v] for v, s in enumerate(sizes)],
                     np.float64)
    return CameraSet(projections, np.round(sizes).astype(np.int32), undistort)


@dataclasses.dataclass(frozen=True)
class Triangulation:
    """Everything one triangulation call found; leading axes as the input's people axes.

    points:  (..., K, 4) float32 x, y, z (world units), score; (0, 0, 0, 0) = not reconstructed.
    reprojection_error: (..., K) float32 mean pixel distance between the used views' points and
             the projections of the 3D point (undistorted pixels); NaN where not reconstructed.
    views:   (..., K, V) bool, the views each point was triangulated from.
    inlier_threshold: (...) float32, the robust method's inlier radius per person, pixels (NaN for
             the other methods).
    method:  the rule used.
    """

    points: np.ndarray
    reprojection_error: np.ndarray
    views: np.ndarray
    inlier_threshold: np.ndarray
    method: str


def _stack_views(keypoints: Any, views: int) -> np.ndarray:
    if isinstance(keypoints, (list, tuple)):
        arrays = [np.asarray(k, np.float64) for k in keypoints]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            counts = [a.shape[0] if a.ndim == 3 else 1 for a in arrays]
            low = int(np.argmin(counts))
            raise InputError(
                f"view {low} has {counts[low]} people, view {int(np.argmax(counts))} has "
                f"{max(counts)}: triangulate needs the same people in every view, in the same order. "
                "Give a person missing from a view zero-score rows, or put unordered detections "
                "in correspondence with jaxpose.triangulation.associate first.")
        keypoints = np.stack(arrays) if arrays else np.zeros((0,))
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.ndim < 3 or keypoints.shape[-1] != 3:
        raise InputError(f"keypoints must be (views, [people,] keypoints, 3) x, y, score; "
                         f"got shape {keypoints.shape}")
    if keypoints.shape[0] != views:
        raise InputError(f"keypoints have {keypoints.shape[0]} views but there are {views} cameras; "
                         "give one keypoint array per camera, in the cameras' order")
    bad = ~np.isfinite(keypoints)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise InputError(f"keypoints hold NaN or infinity (first at view {where[0]}, index "
                         f"{tuple(int(i) for i in where[1:-1])}); mark a missing keypoint with "
                         "score 0 (x = y = 0), as OpenPose does")
    return keypoints


MIN_BATCH = 8  # people are padded to a power of two >= this: few compiles for any crowd


def people_bucket(n: int) -> int:
    """People axes are padded to this size (a power of two >= MIN_BATCH)."""
    return max(MIN_BATCH, 1 << max(0, (n - 1).bit_length()))


def triangulate_details(group: Any, keypoints: Any, method: str = "robust", *,
                        min_views: int | None = None, score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                        image_sizes: Any = None, noise_factor: float = 4.0,
                        min_threshold: float = 1.0, body_weight: float = 0.5,
                        implausible: float = 3.5, readmit: float = 2.0) -> Triangulation:
    """Triangulate people seen in V views; see `triangulate` for the arguments. -> `Triangulation`."""
    if method not in METHODS:
        raise InputError(f"method {method!r} is not one of {', '.join(METHODS)}")
    cameras = group if isinstance(group, CameraSet) else camera_set(group, image_sizes)
    views = cameras.num_views
    keypoints = _stack_views(keypoints, views)
    if min_views is None:
        min_views = default_min_views(method, views)
    if isinstance(min_views, bool) or not isinstance(min_views, (int, np.integer)) or min_views < 2:
        raise InputError(f"min_views={min_views!r}: a 3D point needs at least 2 views (use >= 2)")
    if min_views > views:
        raise InputError(f"min_views={min_views} is more than the {views} cameras; lower it")
    lead = keypoints.shape[1:-2]
    parts = keypoints.shape[-2]
    flat = keypoints.reshape(views, -1, parts, 3)
    people = flat.shape[1]
    padded = people_bucket(people)
    if padded != people:
        flat = np.concatenate([flat, np.zeros((views, padded - people, parts, 3))], axis=1)
    pixels = flat[..., :2]
    undistorted = cameras.undistort(pixels) if cameras.undistort is not None else pixels
    exact = method in EXACT_METHODS
    conditioned = (Conditioned.raw if exact else Conditioned.from_projections)(cameras.projections)
    dtype = conditioned.dtype
    with jax.enable_x64(True) if exact else contextlib.nullcontext():
        out = core.triangulate_conditioned(
            jnp.asarray(conditioned.projections, dtype),
            jnp.asarray(conditioned.to_conditioned(undistorted)), jnp.asarray(pixels, dtype),
            jnp.asarray(flat[..., 2], dtype), jnp.asarray(cameras.image_sizes),
            jnp.asarray(conditioned.pixel_scale, dtype), method=method, min_views=int(min_views),
            score_threshold=float(score_threshold), noise_factor=float(noise_factor),
            min_threshold=float(min_threshold), body_weight=float(body_weight),
            implausible=float(implausible), readmit=float(readmit))
        out = jax.device_get(out)
    kept = np.asarray(out.kept)[:people]
    world = conditioned.to_world(np.asarray(out.points)[:people])
    points = np.zeros((people, parts, 4), np.float32)
    points[..., :3] = np.where(kept[..., None], world, 0.0)
    points[..., 3] = np.where(kept, np.asarray(out.score)[:people], 0.0)
    error = np.where(kept, np.asarray(out.error)[:people], np.nan).astype(np.float32)
    threshold = np.asarray(out.threshold)[:people].astype(np.float32)
    if method != "robust":
        threshold = np.full_like(threshold, np.nan)
    return Triangulation(points.reshape(lead + (parts, 4)), error.reshape(lead + (parts,)),
                         np.asarray(out.used)[:people].reshape(lead + (parts, views)),
                         threshold.reshape(lead), method)


def triangulate(group: Any, keypoints: Any, method: str = "robust", *, min_views: int | None = None,
                score_threshold: float = DEFAULT_SCORE_THRESHOLD, image_sizes: Any = None,
                **options: float) -> np.ndarray:
    """3D keypoints of people seen by calibrated cameras.

    group: a `jaxpose.CameraGroup` (V cameras), or projection matrices (V, 3, 4) for undistorted
        pixels.
    keypoints: (V, K, 3) or (V, N, K, 3) (or any (V, ..., K, 3)): per view [and person] x, y in
        that view's distorted image pixels and a score, 0 = missing. Person n is the same person
        in every view.
    method: "robust" (default, ours), "openpose" (OpenPose's rule, features §5.3) or "dlt".
    min_views: views a point needs (default 2; "openpose": max(2, min(4, V - 1))).
    score_threshold: "robust" / "dlt" use views whose score is above it ("openpose": 0.35, fixed).
    image_sizes: (V, 2) W, H pixels, when the cameras do not carry them.
    options: "robust" only (see `jaxpose.triangulation.core`): noise_factor (4), min_threshold
        (1 px), body_weight (0.5), implausible (3.5 spacings), readmit (2).

    Returns (K, 4) or (N, K, 4) float32: x, y, z in the cameras' world units and a score
    (robust / dlt: the mean 2D score of the views used; openpose: 1), zeros where not reconstructed.
    """
    return triangulate_details(group, keypoints, method, min_views=min_views,
                               score_threshold=score_threshold, image_sizes=image_sizes,
                               **options).points
