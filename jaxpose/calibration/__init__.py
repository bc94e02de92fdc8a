"""Calibration toolbox (issue #10 item 2): chessboard frames -> calibrated cameras, OpenCV underneath.

    group, report = jaxpose.calibrate(["calib/left*.jpg", "calib/right*.jpg"], "9x6", 25.0, "mm")
    print(report.summary())
    group.to_openpose_xml("cameraParameters/")          # what OpenPose's --3d reads

Modules: `board` (corner detection, OpenPose's refinement rule, corner order), `sources` (folders,
globs, videos), `intrinsics` (calibrateCamera + outlier views), `extrinsics` (pairwise
initialisation + bundle adjustment), `report`, `undistort` (whole frames, `--frame_undistort`),
`api` (`calibrate`). Depends on jaxpose.cameras and jaxpose.io readers; nothing imports it.
"""

from jaxpose.calibration.api import Calibration, calibrate
from jaxpose.calibration.board import Chessboard, find_corners
from jaxpose.calibration.report import CalibrationReport, DroppedView, ViewError
from jaxpose.calibration.undistort import FrameUndistorter, undistort_image

__all__ = ["Calibration", "CalibrationReport", "Chessboard", "DroppedView", "FrameUndistorter", "ViewError",
           "calibrate", "find_corners", "undistort_image"]
