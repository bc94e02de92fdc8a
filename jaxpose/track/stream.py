"""Tracking a stream of frames in order: what a video loop (or the CLI's engine) calls.

    track_stream(items, *, fps=None, tracker=None, smoother=None) -> iterator of Poses

`items` yields `(frame_index, poses)` in frame order (e.g. from `pose_fn.batch` over batches of
any size: batching never reorders). Each Poses is tracked (`.ids`), then smoothed online when a
`OneEuroSmoother` is given. Time stamps are frame_index / fps seconds, or frame indices without
fps (so `--frame_step` gaps still count as elapsed time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from jaxpose.errors import InputError
from jaxpose.track.smooth import OneEuroSmoother
from jaxpose.track.tracker import Tracker


def frame_time(frame_index: int, fps: float | None) -> float:
    """Seconds of frame `frame_index` at `fps`, or the frame index itself without fps."""
    if fps is not None and not fps > 0:
        raise InputError(f"fps must be > 0, got {fps}")
    return float(frame_index) / float(fps) if fps else float(frame_index)


def track_stream(items: Iterable[tuple[int, Any]], *, fps: float | None = None,
                 tracker: Tracker | None = None,
                 smoother: OneEuroSmoother | None = None) -> Iterator[Any]:
    """Tracked (and optionally smoothed) Poses, one per item, in the order given."""
    tracker = Tracker() if tracker is None else tracker
    for frame_index, poses in items:
        t = frame_time(frame_index, fps)
        poses = tracker.update(poses, timestamp=t)
        yield poses if smoother is None else smoother.update(poses, timestamp=t)
