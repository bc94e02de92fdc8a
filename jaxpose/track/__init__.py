"""Tracking and temporal smoothing: stable person ids across frames, jitter-free keypoints.

    Tracker(**params).update(poses, timestamp=None) -> Poses with .ids      jaxpose.track.tracker
    oks, box_iou, point_boxes, box_scale                                     jaxpose.track.similarity
    OneEuroFilter, OneEuroSmoother (online); savgol_smooth, butterworth_smooth, one_euro_smooth,
    interpolate_gaps, smooth_series, smooth_tracks (offline)                 jaxpose.track.smooth
    track_stream(items, fps=None, tracker=None, smoother=None)               jaxpose.track.stream

Depends on `jaxpose.poses` and `jaxpose.specs` only; the 2D pipeline never imports this room.
Everything works on 2D (N, K, 3) and 3D (N, K, 4) keypoints alike.
"""

from jaxpose.track.smooth import (
    NoFpsWarning, OneEuroFilter, OneEuroSmoother, butterworth_smooth, interpolate_gaps,
    one_euro_smooth, savgol_smooth, smooth_series, smooth_tracks,
)
from jaxpose.track.stream import frame_time, track_stream
from jaxpose.track.tracker import Tracker

__all__ = [
    "NoFpsWarning", "OneEuroFilter", "OneEuroSmoother", "Tracker", "butterworth_smooth",
    "frame_time", "interpolate_gaps", "one_euro_smooth", "savgol_smooth", "smooth_series",
    "smooth_tracks", "track_stream",
]
