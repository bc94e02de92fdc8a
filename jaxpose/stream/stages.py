"""Per-frame stages after assembly, from options: tracking and online smoothing; offline smoothing
of a whole input's results. Shared by the command, `PoseEstimator.stream` and the batch job.

Stages see results in frame order (the engine guarantees it, whatever `--batch`), so a tracker's
ids never depend on batching. Time stamps are the frame's capture position / fps (seconds), or the
position itself (frames) when the input has no frame rate (image folders).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from jaxpose.errors import UsageError
from jaxpose.stream.engine import Result, Stage

SMOOTHERS = ("one_euro", "savgol", "butterworth")
OFFLINE_SMOOTHERS = ("savgol", "butterworth")


def tracking_enabled(options: Any) -> bool:
    """`--tracking N` with N >= 0, or any `--smooth` (smoothing is per tracked person)."""
    return options.tracking >= 0 or bool(options.smooth)


def check_tracking_options(options: Any) -> list[str]:
    """UsageError for impossible tracking/smoothing values; notes to print."""
    notes = []
    if options.smooth and options.smooth not in SMOOTHERS:
        raise UsageError(f"--smooth {options.smooth!r}: use one of {', '.join(SMOOTHERS)}.")
    if options.tracking < -1:
        raise UsageError(f"--tracking must be -1 (off) or >= 0 (got {options.tracking}).")
    if options.tracking > 0:
        notes.append(f"--tracking {options.tracking}: jaxpose runs the network on every frame and "
                     "tracks every person (OpenPose's N >= 1 schedule of skipped detections is not used).")
    if options.smooth and options.tracking < 0:
        notes.append(f"--smooth {options.smooth} smooths each tracked person: tracking is on.")
    if options.smooth in OFFLINE_SMOOTHERS:
        notes.append(f"--smooth {options.smooth} filters whole sequences (zero phase): each input's "
                     "files are written once all its frames are processed.")
    if getattr(options, "render_ids", False) and not tracking_enabled(options):
        raise UsageError("--render_ids draws tracked ids: add --tracking 0.")
    _make_tracker(options)  # parameter errors now, not at the first frame
    if options.smooth:
        _smoother_params(options)
    return notes


def _make_tracker(options: Any):
    from jaxpose.errors import InputError
    from jaxpose.track import Tracker

    try:
        return Tracker(buffer_frames=options.tracking_buffer,
                       min_similarity=options.tracking_min_similarity)
    except InputError as error:
        raise UsageError(f"--tracking_*: {error}") from None


def _smoother_params(options: Any) -> dict[str, Any]:
    method = options.smooth
    if method == "one_euro":
        params = dict(min_cutoff=options.smooth_min_cutoff, beta=options.smooth_beta,
                      d_cutoff=options.smooth_d_cutoff)
    elif method == "savgol":
        params = dict(window=options.smooth_window, polyorder=options.smooth_polyorder)
    else:
        params = dict(cutoff=options.smooth_cutoff, order=options.smooth_order)
    if options.smooth_max_gap < 0:
        raise UsageError(f"--smooth_max_gap must be >= 0 (got {options.smooth_max_gap}).")
    return dict(params, max_gap=options.smooth_max_gap)


def tracking_stages(options: Any, fps: float | None,
                    position: Callable[[int], int] = lambda index: index) -> list[Stage]:
    """The stages for one input: a fresh tracker (ids per input), then One Euro if asked.

    position: a result's stream index -> its capture position (frame_first + index * step).
    """
    if not tracking_enabled(options):
        return []
    from jaxpose.track.smooth import OneEuroSmoother
    from jaxpose.track.stream import frame_time

    tracker = _make_tracker(options)
    stages: list[Stage] = []

    def track(result: Result) -> Result:
        stamp = frame_time(position(result.index), fps)
        if result.views is not None:  # multi-view: the 3D people carry the ids
            poses3d = result.extra.get("poses3d")
            if poses3d is None:
                return result
            return result.replace(extra={**result.extra, "poses3d": tracker.update(poses3d, timestamp=stamp)})
        return result.replace(poses=tracker.update(result.poses, timestamp=stamp))

    stages.append(track)
    if options.smooth == "one_euro":
        params = _smoother_params(options)
        smoother = OneEuroSmoother(fps=fps, **params)

        def smooth(result: Result) -> Result:
            stamp = frame_time(position(result.index), fps)
            if result.views is not None:
                poses3d = result.extra.get("poses3d")
                if poses3d is None:
                    return result
                return result.replace(extra={**result.extra, "poses3d": smoother.update(poses3d, timestamp=stamp)})
            return result.replace(poses=smoother.update(result.poses, timestamp=stamp))

        stages.append(smooth)
    return stages


def smooth_offline(results: Sequence[Result], options: Any, fps: float | None) -> list[Result]:
    """Whole-input zero-phase smoothing (`--smooth savgol|butterworth`) of tracked results, per
    person id; failed and skipped results pass through. 2D people, or the 3D people of
    multi-view results."""
    from jaxpose.track.smooth import smooth_tracks

    params = _smoother_params(options)
    if options.smooth == "butterworth":
        params["fps"] = fps
    ok = [r for r in results if r.ok]
    three_d = [r for r in ok if r.extra.get("poses3d") is not None]
    if three_d:
        smoothed = iter(smooth_tracks([r.extra["poses3d"] for r in three_d], options.smooth, **params))
        done = {id(r): r.replace(extra={**r.extra, "poses3d": next(smoothed)}) for r in three_d}
    else:
        flat = [r for r in ok if r.poses is not None]
        smoothed = iter(smooth_tracks([r.poses for r in flat], options.smooth, **params))
        done = {id(r): r.replace(poses=next(smoothed)) for r in flat}
    return [done.get(id(r), r) for r in results]


def capture_position(source: Any) -> Callable[[int], int]:
    """A result's stream index -> the frame's position in the input (frame selection applied)."""
    selection = getattr(source, "selection", None)
    if selection is None:
        return lambda index: index
    return lambda index: selection.first + index * selection.step


def smoothed_whole_input(results: Iterator[Result], reopen: Callable[[], Any], options: Any,
                         fps: float | None) -> Iterator[Result]:
    """`--smooth savgol|butterworth`: every frame of the input first (poses only, images dropped),
    smoothed per person, then the results again — with their images read a second time from
    `reopen()` (the same source, opened afresh) when something is rendered."""
    try:
        collected = [result.replace(image=None, images=None) for result in results]
    finally:
        results.close()
    smoothed = smooth_offline(collected, options, fps)
    if not (options.write_images or options.write_video):
        yield from smoothed
        return
    frames = reopen().frames()
    try:
        for result in smoothed:
            if result.ok:
                for item in frames:
                    if item.name == result.name:
                        result = result.replace(image=getattr(item, "image", None),
                                                images=getattr(item, "images", None))
                        break
            yield result
    finally:
        frames.close()
