"""What a calibration measured: per-camera and per-view reprojection errors, dropped views, baselines."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class ViewError:
    """RMS reprojection error (pixels) of one board view of one camera."""

    camera: str
    view: str
    rms: float


@dataclasses.dataclass(frozen=True)
class DroppedView:
    """A view left out of the calibration, and why (board not found, outlier, unreadable, ...)."""

    camera: str
    view: str
    reason: str


@dataclasses.dataclass(frozen=True)
class CalibrationReport:
    """Figures of one calibration; `summary()` is the text `jaxpose calibrate` prints.

    intrinsics_rms: per camera, OpenCV's calibrateCamera RMS (pixels) over its kept views (None when
    the intrinsics were given); view_errors: per-view RMS of the intrinsic fit; extrinsics_rms: RMS
    over all cameras' kept views after the bundle adjustment (for 2 cameras, what OpenCV's
    stereoCalibrate with fixed intrinsics reports); baselines: (V, V) distances between the optical
    centres in `units`.
    """

    cameras: tuple[str, ...]
    board: str
    corner_rule: str
    model: str
    units: str
    image_sizes: tuple[tuple[int, int], ...]
    views_used: tuple[int, ...]
    intrinsics_rms: tuple[float | None, ...]
    view_errors: tuple[ViewError, ...]
    dropped: tuple[DroppedView, ...]
    extrinsics_rms: float | None = None
    extrinsics_view_errors: tuple[ViewError, ...] = ()
    instants_used: int = 0
    baselines: np.ndarray | None = None
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        lines = [f"board: {self.board}; corner rule: {self.corner_rule}; distortion model: {self.model}"]
        for i, name in enumerate(self.cameras):
            rms = self.intrinsics_rms[i]
            w, h = self.image_sizes[i]
            fit = f"intrinsics RMS {rms:.4f} px" if rms is not None else "intrinsics given"
            lines.append(f"camera {name} ({w}x{h}): {self.views_used[i]} views, {fit}")
            worst = sorted((e for e in self.view_errors if e.camera == name), key=lambda e: -e.rms)[:3]
            if worst:
                lines.append("  worst views: " + ", ".join(f"{e.view} {e.rms:.3f} px" for e in worst))
        if self.extrinsics_rms is not None:
            lines.append(f"extrinsics: {self.instants_used} simultaneous board views, "
                         f"bundle-adjusted RMS {self.extrinsics_rms:.4f} px over all cameras")
            for i in range(1, len(self.cameras)):
                lines.append(f"  baseline {self.cameras[0]} - {self.cameras[i]}: {self.baselines[0, i]:.6g} {self.units}")
        if self.dropped:
            lines.append(f"dropped views ({len(self.dropped)}):")
            lines += [f"  {d.camera} {d.view}: {d.reason}" for d in self.dropped]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)
