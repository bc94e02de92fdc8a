"""`jaxpose.calibrate(...)`: chessboard frames of 1+ cameras -> CameraGroup + CalibrationReport."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxpose.calibration.board import Chessboard, find_corners
from jaxpose.calibration.extrinsics import fit_extrinsics
from jaxpose.calibration.intrinsics import fit_intrinsics, model_flags
from jaxpose.calibration.report import CalibrationReport, DroppedView, ViewError
from jaxpose.calibration.sources import open_source
from jaxpose.cameras import Camera, CameraGroup
from jaxpose.errors import InputError

CORNER_RULE_TEXT = {
    "openpose": "OpenPose's (cornerSubPix half-window max(5, pitch/4), 1000 iterations / 1e-9)",
    "opencv": "OpenCV sample's (cornerSubPix half-window 11, 30 iterations / 0.01)",
}


class Calibration(NamedTuple):
    """What `calibrate` returns: `group, report = jaxpose.calibrate(...)`."""

    group: CameraGroup
    report: CalibrationReport


class _CameraViews(NamedTuple):
    labels: list[str]
    corners: dict[int, np.ndarray]
    image_size: tuple[int, int] | None
    dropped: list[DroppedView]


def _detect(name: str, source: Any, board: Chessboard, rule: str, frame_step: int,
            log: Callable[[str], None]) -> _CameraViews:
    import cv2

    description, frames = open_source(source, frame_step)
    labels: list[str] = []
    corners: dict[int, np.ndarray] = {}
    dropped: list[DroppedView] = []
    size = None
    for index, frame in enumerate(frames):
        labels.append(frame.label)
        if frame.image is None:
            dropped.append(DroppedView(name, frame.label, f"unreadable: {frame.error}"))
            continue
        h, w = frame.image.shape[:2]
        if size is None:
            size = (w, h)
        elif (w, h) != size:
            dropped.append(DroppedView(name, frame.label, f"image is {w}x{h}, the camera's first frame {size[0]}x{size[1]}"))
            continue
        found = find_corners(cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY), board, rule)
        if found is None:
            dropped.append(DroppedView(name, frame.label, "board not found"))
        else:
            corners[index] = found
    log(f"camera {name} ({description}): {len(labels)} frames, board found in {len(corners)}")
    return _CameraViews(labels, corners, size, dropped)


def calibrate(sources: Sequence[Any], board: Chessboard | str | tuple[int, int], square_size: float | None = None,
              units: str | None = None, *, names: Sequence[str] | None = None, model: str = "standard",
              corner_rule: str = "openpose", intrinsics: CameraGroup | None = None, frame_step: int = 1,
              outlier_factor: float = 3.0, outlier_px: float = 1.0,
              log: Callable[[str], None] | None = None) -> Calibration:
    """Calibrate 1+ cameras from chessboard frames; returns (CameraGroup, CalibrationReport).

    sources: one per camera, in view order: a folder of images (natural order), a glob pattern
      ("calib/left*.jpg"), a video file, a list of image files or a list of (H, W[, 3]) uint8 RGB arrays.
      With 2+ cameras the i-th selected frame of every source is one instant (synchronised views).
    board: Chessboard, "9x6" or (9, 6) inner corners; square_size and units give the square side
      (default 1.0 "mm"); every translation of the result is in these units.
    names: camera names (default cam0, cam1, ...: their natural order is the view order, as the
      OpenPose XML files need). model: "standard" (5 coefficients, default), "rational" (8, OpenPose's
      mode 1) or "simple" (4, Pose2Sim's). corner_rule: "openpose" (default) or "opencv"
      (jaxpose.calibration.board). intrinsics: a CameraGroup whose K and distortion are used
      instead of fitting them (same number of cameras). frame_step: use every n-th frame.
    outlier_factor, outlier_px: views with RMS > max(factor x median, px) are dropped and reported.
    World frame: camera 0's (x_cam0 = X), as OpenPose's calibration tool.
    """
    log = log or (lambda _: None)
    if not isinstance(board, Chessboard):
        if isinstance(board, str):
            board = Chessboard.parse(board, square_size if square_size is not None else 1.0, units or "mm")
        else:
            cols, rows = board
            board = Chessboard(int(cols), int(rows), float(square_size if square_size is not None else 1.0),
                               units or "mm")
    elif square_size is not None or units is not None:
        raise InputError("give the square size and units inside the Chessboard, or pass the board as '9x6'")
    if isinstance(sources, (str, bytes)) or not isinstance(sources, Sequence) or not sources:
        raise InputError("sources must be a list with one calibration source per camera")
    model_flags(model)
    V = len(sources)
    names = list(names) if names is not None else [f"cam{i}" for i in range(V)]
    if len(names) != V:
        raise InputError(f"{len(names)} camera names for {V} cameras")
    if intrinsics is not None and len(intrinsics) != V:
        raise InputError(f"the given intrinsics have {len(intrinsics)} cameras, the sources {V}")

    views = [_detect(names[c], sources[c], board, corner_rule, frame_step, log) for c in range(V)]
    dropped = [d for v in views for d in v.dropped]
    for name, v in zip(names, views):
        if not v.corners:
            raise InputError(
                f"camera {name}: the {board.cols}x{board.rows} chessboard was found in none of its {len(v.labels)} "
                "frames; check the inner-corner count (squares - 1 per side) and that the whole board is visible"
            )
    Ks, dists, rms_list, view_errors, warnings = [], [], [], [], []
    if not board.orientable:
        warnings.append(f"a {board.cols}x{board.rows} board looks the same turned by 180 degrees; use one odd and one "
                        "even side (e.g. 9x6) so that every camera numbers the corners alike")
    corners = []
    for c, v in enumerate(views):
        if intrinsics is not None:
            cam = intrinsics[c]
            if cam.image_size is not None and cam.image_size != v.image_size:
                raise InputError(f"camera {names[c]}: frames are {v.image_size[0]}x{v.image_size[1]}, its given "
                                 f"intrinsics are for {cam.image_size[0]}x{cam.image_size[1]}")
            Ks.append(cam.K)
            dists.append(cam.dist)
            rms_list.append(None)
            corners.append(dict(v.corners))
            continue
        fit = fit_intrinsics(v.corners, board, v.image_size, model, outlier_factor, outlier_px, names[c])
        Ks.append(fit.K)
        dists.append(fit.dist)
        rms_list.append(fit.rms)
        view_errors += [ViewError(names[c], v.labels[i], e) for i, e in sorted(fit.view_rms.items())]
        dropped += [DroppedView(names[c], v.labels[i], reason) for i, reason in sorted(fit.outliers.items())]
        corners.append({i: p for i, p in v.corners.items() if i not in fit.outliers})
        log(f"camera {names[c]}: intrinsics RMS {fit.rms:.4f} px over {len(fit.view_rms)} views")

    R = np.repeat(np.eye(3)[None], V, axis=0)
    t = np.zeros((V, 3))
    ext = None
    if V >= 2:
        counts = {len(v.labels) for v in views}
        if len(counts) > 1:
            raise InputError(
                "the cameras have different numbers of frames (" + ", ".join(f"{n}: {len(v.labels)}"
                                                                           for n, v in zip(names, views))
                + "); extrinsics pair the i-th frames of all cameras, so give synchronised sources of equal length"
            )
        obj = board.object_points()
        ext = fit_extrinsics(corners, obj, Ks, dists, names, outlier_factor, outlier_px)
        R, t = ext.R, ext.t
        dropped += [DroppedView(names[c], views[c].labels[i], reason) for (c, i), reason in sorted(ext.outliers.items())]
        log(f"extrinsics: RMS {ext.rms:.4f} px over {len(ext.instants)} simultaneous views")
    cameras = tuple(Camera(names[c], Ks[c], dists[c], R[c], t[c], views[c].image_size, board.units) for c in range(V))
    group = CameraGroup(cameras)
    centres = np.stack([cam.center for cam in group])
    report = CalibrationReport(
        cameras=tuple(names), board=board.describe(), corner_rule=CORNER_RULE_TEXT[corner_rule], model=model,
        units=board.units, image_sizes=tuple(v.image_size for v in views),
        views_used=tuple(len(c) for c in corners), intrinsics_rms=tuple(rms_list), view_errors=tuple(view_errors),
        dropped=tuple(dropped), extrinsics_rms=ext.rms if ext else None,
        extrinsics_view_errors=tuple(ViewError(names[c], views[c].labels[i], e)
                                     for (c, i), e in sorted(ext.view_rms.items())) if ext else (),
        instants_used=len(ext.instants) if ext else 0,
        baselines=np.linalg.norm(centres[:, None] - centres[None], axis=-1), warnings=tuple(warnings),
    )
    return Calibration(group, report)
