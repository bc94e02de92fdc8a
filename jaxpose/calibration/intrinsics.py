"""Intrinsics of one camera from its board views (OpenCV `calibrateCamera`), with outlier views dropped.

Distortion models: "standard" = k1 k2 p1 p2 k3 (OpenCV's default, 5 coefficients); "rational" =
k1 k2 p1 p2 k3 k4 k5 k6 (OpenPose's mode 1, 8 coefficients; ill-conditioned on few views, basis doc
§3); "simple" = k1 k2 p1 p2 (Pose2Sim's: k3 fixed at 0, 4 coefficients).

Outlier rule: after each fit, views whose RMS reprojection error exceeds
max(outlier_factor x the median view RMS, outlier_px) are dropped and the camera is fitted again
(at most 5 rounds, never below `min_views` views).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxpose.calibration.board import Chessboard
from jaxpose.errors import InputError

MODELS = ("standard", "rational", "simple")
MIN_VIEWS = 3
MAX_ROUNDS = 5


def model_flags(model: str) -> tuple[int, int]:
    """(OpenCV calibrateCamera flags, number of coefficients kept) of a distortion model."""
    import cv2

    table = {"standard": (0, 5), "rational": (cv2.CALIB_RATIONAL_MODEL, 8), "simple": (cv2.CALIB_FIX_K3, 4)}
    if model not in table:
        raise InputError(f"unknown distortion model {model!r}; use one of {MODELS}")
    return table[model]


@dataclasses.dataclass(frozen=True)
class IntrinsicsFit:
    """K (3, 3), dist (n,), RMS over the kept views, per-view RMS, and the views dropped as outliers."""

    K: np.ndarray
    dist: np.ndarray
    rms: float
    view_rms: dict[int, float]
    outliers: dict[int, str]


def fit_intrinsics(corners: dict[int, np.ndarray], board: Chessboard, image_size: tuple[int, int],
                   model: str = "standard", outlier_factor: float = 3.0, outlier_px: float = 1.0,
                   camera: str = "camera") -> IntrinsicsFit:
    """Calibrate K and distortion from board corners {view index: (rows * cols, 2) pixels}."""
    import cv2

    flags, n_coeffs = model_flags(model)
    kept = sorted(corners)
    if len(kept) < MIN_VIEWS:
        raise InputError(
            f"{camera}: the board was found in {len(kept)} view(s); intrinsics need at least {MIN_VIEWS} "
            "(more is better: 15-30 views covering the whole image at several angles)"
        )
    obj = board.object_points()
    outliers: dict[int, str] = {}
    for round_ in range(MAX_ROUNDS):
        result = cv2.calibrateCameraExtended(
            [obj] * len(kept), [corners[i].reshape(-1, 1, 2) for i in kept], image_size, None, None, flags=flags)
        rms, K, dist, per_view = result[0], result[1], result[2], result[7].ravel()
        threshold = max(outlier_factor * float(np.median(per_view)), outlier_px)
        bad = [i for i, e in zip(kept, per_view) if e > threshold]
        if not bad or len(kept) - len(bad) < MIN_VIEWS or round_ == MAX_ROUNDS - 1:
            break
        for i in bad:
            outliers[i] = (f"outlier: RMS {per_view[kept.index(i)]:.3f} px > {threshold:.3f} px "
                           f"(max of {outlier_factor:g} x median, {outlier_px:g} px)")
        kept = [i for i in kept if i not in bad]
    dist = dist.ravel()[:n_coeffs].astype(np.float64)
    return IntrinsicsFit(np.asarray(K, np.float64), dist, float(rms),
                         {i: float(e) for i, e in zip(kept, per_view)}, outliers)
