"""The streaming engine: frames in, people out, with decoding, device work and host work overlapped.

    for result in run_stream(source.frames(), pose_fn, params, batch=8):
        result.name, result.image, result.poses          # in input order, one per frame

One engine serves the `jaxpose` command, `PoseEstimator.stream` and the batch job; tracking and 3D
plug in as `stages`. Three threads, joined by bounded queues (memory stays flat whatever the input
length):

    reader thread   items (decoded lazily by the source) -> batches of same-size frames
    device thread   pose_fn.submit(batch k+1) (asynchronous)  |  pose_fn.collect(batch k):
                    device -> host copy, greedy assembly, hands/face; then the stages, in order
    caller          iterates the results (the CLI writes files there, while the device works)

Per-frame failures never stop the stream: a frame the source could not read, a batch the pipeline
refused (`JaxposeError`) or a bug in a stage (any other exception: the message says so and the
traceback is kept in `Result.traceback`) become `Result`s with `error` set, in order.
"""

from __future__ import annotations

import collections
import dataclasses
import queue
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from jaxpose.errors import JaxposeError
from jaxpose.io.readers import Frame, FrameError, Item, Skipped, Views
from jaxpose.poses import Poses

_POLL_S = 0.05  # how often blocked threads look at the stop flag


@dataclasses.dataclass(frozen=True)
class Result:
    """One input frame after the pipeline: exactly one of `poses`, `error`, `skipped` applies.

    name, index: the frame's name (OpenPose's naming) and its position in the stream.
    error:  one line naming the frame (or its file) and the problem.
    image:  (H, W, 3) uint8 RGB, or None for skipped / unreadable frames and multi-view instants.
    poses:  the frame's people (after the stages), or None.
    images, views: for a multi-view instant (`readers.Views`), the V camera images and the V
        cameras' people, in camera order (`poses` is None).
    extra:  what stages add (e.g. "poses3d"), by name.
    """

    name: str
    index: int
    image: np.ndarray | None = None
    poses: Poses | None = None
    error: str | None = None
    skipped: bool = False
    traceback: str | None = None
    images: tuple[np.ndarray, ...] | None = None
    views: tuple[Poses, ...] | None = None
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.poses is not None or self.views is not None

    def replace(self, **changes: Any) -> "Result":
        return dataclasses.replace(self, **changes)


Stage = Callable[[Result], Result]


def failure_message(error: BaseException) -> str:
    """One line for a per-frame failure: our own errors as they are; anything else is a bug."""
    if isinstance(error, JaxposeError):
        return str(error)
    return (f"internal error ({type(error).__name__}: {error}); please report it — rerun with "
            "--verbose for the traceback")


def _failed(frames: Sequence[Frame | Views], error: BaseException) -> list[Result]:
    trace = None if isinstance(error, JaxposeError) else "".join(traceback.format_exception(error))
    message = failure_message(error)
    return [Result(f.name, f.index, getattr(f, "image", None), error=f"{f.name}: {message}",
                   traceback=trace, images=getattr(f, "images", None)) for f in frames]


def _images(item: Frame | Views) -> tuple[np.ndarray, ...]:
    return item.images if isinstance(item, Views) else (item.image,)


def _shape(item: Frame | Views) -> tuple:
    return (type(item),) + tuple(image.shape for image in _images(item))


def _apply_stages(result: Result, stages: Sequence[Stage]) -> Result:
    for stage in stages:
        if not result.ok:
            break
        try:
            result = stage(result)
        except Exception as error:  # noqa: BLE001 - reported on the frame's line, never silent
            return _failed([result], error)[0]
    return result


def batches(items: Iterable[Item], batch: int) -> Iterator[list[Frame | Views] | Result]:
    """Consecutive same-size frames (or multi-view instants of the same view sizes) grouped into
    lists of at most `batch`, in stream order; unreadable and skipped frames pass through as
    finished `Result`s."""
    pending: list[Frame | Views] = []
    for item in items:
        if isinstance(item, (Frame, Views)):
            if pending and _shape(item) != _shape(pending[0]):
                yield pending
                pending = []
            pending.append(item)
            if len(pending) == batch:
                yield pending
                pending = []
            continue
        if pending:
            yield pending
            pending = []
        if isinstance(item, Skipped):
            yield Result(item.name, item.index, skipped=True)
        elif isinstance(item, FrameError):
            yield Result(item.name, item.index, error=item.message)
        else:
            raise TypeError(f"a frame source yielded {type(item).__name__}")
    if pending:
        yield pending


class _Stopped(Exception):
    """The consumer went away (closed the generator, Ctrl-C, SIGTERM)."""


class _Crash:
    """An exception of a worker thread, carried to the consumer to be raised there."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def _is_on_device(entry: tuple) -> bool:
    unit, pending = entry
    return not isinstance(unit, Result) and not isinstance(pending, BaseException)


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> None:
    while True:
        if stop.is_set():
            raise _Stopped
        try:
            q.put(item, timeout=_POLL_S)
            return
        except queue.Full:
            continue


def run_stream(
    items: Iterable[Item],
    pose_fn: Any,
    params: Any,
    *,
    batch: int = 1,
    stages: Sequence[Stage] = (),
    threads: bool = True,
    prefetch: int = 2,
    in_flight: int = 2,
) -> Iterator[Result]:
    """Results for `items` (a frame source's `Frame` / `FrameError` / `Skipped`), in order.

    pose_fn: anything with `submit(params, frames (T, H, W, 3), pad_to) -> pending` and
        `collect(pending) -> list[Poses]` (a `PoseFn`).
    batch: frames per device call (short batches are padded so that each size compiles once).
    stages: functions `Result -> Result` applied in frame order after assembly (tracking, 3D).
    threads: False runs everything in the caller's thread, one batch after the other (OpenPose's
        `--disable_multi_thread`); the results are the same.
    prefetch: batches decoded ahead; in_flight: device batches started before the oldest is
        collected (2 = the device computes batch k+1 while the host assembles batch k).
    Closing the generator (or an exception in the caller) stops the threads and closes `items`.
    """
    if batch < 1:
        raise JaxposeError(f"batch must be >= 1 (got {batch}).")
    if not threads:
        return _run_inline(items, pose_fn, params, batch, stages)
    return _run_threaded(items, pose_fn, params, batch, stages, prefetch, in_flight)


def _collect(unit: list[Frame | Views], pending: Any, pose_fn: Any) -> list[Result]:
    """The unit's results from its device work (or from the error that stopped it)."""
    if isinstance(pending, BaseException):
        return _failed(unit, pending)
    try:
        found: dict[tuple[int, int], Poses] = {}
        for slots, started in pending:
            found.update(zip(slots, pose_fn.collect(started)))
    except Exception as error:  # noqa: BLE001 - per-frame failure lines, never silent
        return _failed(unit, error)
    results = []
    for i, item in enumerate(unit):
        if isinstance(item, Views):
            views = tuple(found[i, v] for v in range(len(item.images)))
            results.append(Result(item.name, item.index, images=item.images, views=views))
        else:
            results.append(Result(item.name, item.index, item.image, poses=found[i, 0]))
    return results


def _submit(unit: list[Frame | Views], pose_fn: Any, params: Any, batch: int) -> Any:
    """Start the device work of a unit: one call per image size (all of a unit's images, every
    view of every instant, in one call when they share a size). Returns [(slots, pending)] with
    slots (item, view) in call order; the error instead, if the work could not start."""
    try:
        by_size: dict[tuple, list[tuple[int, int]]] = {}
        for i, item in enumerate(unit):
            for v, image in enumerate(_images(item)):
                by_size.setdefault(image.shape, []).append((i, v))
        started = []
        for slots in by_size.values():
            images = np.stack([_images(unit[i])[v] for i, v in slots])
            per_item = len(slots) // len(unit) or 1
            started.append((slots, pose_fn.submit(params, images, pad_to=batch * per_item)))
        return started
    except Exception as error:  # noqa: BLE001 - reported per frame by `_collect`
        return error


def _run_inline(items: Iterable[Item], pose_fn: Any, params: Any, batch: int,
                stages: Sequence[Stage]) -> Iterator[Result]:
    try:
        for unit in batches(items, batch):
            results = [unit] if isinstance(unit, Result) else _collect(
                unit, _submit(unit, pose_fn, params, batch), pose_fn)
            for result in results:
                yield _apply_stages(result, stages)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def _run_threaded(items: Iterable[Item], pose_fn: Any, params: Any, batch: int,
                  stages: Sequence[Stage], prefetch: int, in_flight: int) -> Iterator[Result]:
    stop = threading.Event()
    work: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
    done: queue.Queue = queue.Queue(maxsize=max(2, (prefetch + in_flight) * batch))

    def read() -> None:
        try:
            for unit in batches(items, batch):
                _put(work, unit, stop)
            _put(work, _END, stop)
        except _Stopped:
            pass
        except BaseException as error:  # noqa: BLE001 - re-raised in the consumer
            try:
                _put(work, _Crash(error), stop)
            except _Stopped:
                pass
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def emit(results: Iterable[Result]) -> None:
        for result in results:
            _put(done, _apply_stages(result, stages), stop)

    def finish(entry: tuple[list[Frame] | Result, Any]) -> None:
        unit, pending = entry
        emit([unit] if isinstance(unit, Result) else _collect(unit, pending, pose_fn))

    def compute() -> None:
        started: collections.deque = collections.deque()  # (unit, pending | error | None)
        on_device = 0
        try:
            while True:
                try:
                    unit = work.get(timeout=_POLL_S)
                except queue.Empty:
                    if stop.is_set():
                        raise _Stopped from None
                    if started:  # nothing new to start: finish the oldest meanwhile
                        entry = started.popleft()
                        on_device -= _is_on_device(entry)
                        finish(entry)
                    continue
                if unit is _END or isinstance(unit, _Crash):
                    break
                if isinstance(unit, Result):
                    started.append((unit, None))
                else:
                    started.append((unit, _submit(unit, pose_fn, params, batch)))
                    on_device += _is_on_device(started[-1])
                # keep up to `in_flight` batches on the device; everything before them goes out
                while started and (not _is_on_device(started[0]) or on_device >= in_flight):
                    entry = started.popleft()
                    on_device -= _is_on_device(entry)
                    finish(entry)
            while started:
                finish(started.popleft())
            _put(done, unit if isinstance(unit, _Crash) else _END, stop)
        except _Stopped:
            pass
        except BaseException as error:  # noqa: BLE001 - re-raised in the consumer
            try:
                _put(done, _Crash(error), stop)
            except _Stopped:
                pass

    threads = [threading.Thread(target=read, name="jaxpose-reader", daemon=True),
               threading.Thread(target=compute, name="jaxpose-device", daemon=True)]
    for thread in threads:
        thread.start()
    try:
        while True:
            try:
                item = done.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is _END:
                return
            if isinstance(item, _Crash):
                raise item.error
            yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
