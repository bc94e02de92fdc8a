"""The shell of a run over the streaming engine, shared by the `jaxpose` command and the batch job:
SIGTERM handled like Ctrl-C, one-line messages through the progress bar, and writing one result
(counted, its failure reported on one line, the run going on)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

from jaxpose.errors import JaxposeError
from jaxpose.io.progress import Progress, RunStats
from jaxpose.stream.engine import Result
from jaxpose.stream.outputs import Outputs


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, timeout, docker stop, Slurm): handled exactly like Ctrl-C, exit 143."""


_DEFERRED = {"depth": 0, "pending": None}  # signals held while one frame's files are written


def _stop_handler(stop: type[KeyboardInterrupt]) -> Any:
    def handler(signum: int, frame: Any) -> None:
        if _DEFERRED["depth"]:
            _DEFERRED["pending"] = _DEFERRED["pending"] or stop
            return
        raise stop

    return handler


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` in the main thread (files are then finished
    as on Ctrl-C), and both it and Ctrl-C wait for the frame being written (`whole_frame`), so
    that the frames counted are the frames whose files were all written. Outside the main
    thread, signals cannot be caught: nothing changes. A SIGINT handler of the caller's is kept."""
    try:
        previous_term = signal.signal(signal.SIGTERM, _stop_handler(Terminated))
    except ValueError:  # not the main thread
        yield
        return
    previous_int = signal.getsignal(signal.SIGINT)
    if previous_int is signal.default_int_handler:
        signal.signal(signal.SIGINT, _stop_handler(KeyboardInterrupt))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        if previous_int is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous_int)


@contextlib.contextmanager
def whole_frame() -> Iterator[None]:
    """Hold Ctrl-C / SIGTERM (under `sigterm_as_interrupt`) until the block ends, then raise."""
    _DEFERRED["depth"] += 1
    try:
        yield
    finally:
        _DEFERRED["depth"] -= 1
        if not _DEFERRED["depth"] and _DEFERRED["pending"] is not None:
            stop, _DEFERRED["pending"] = _DEFERRED["pending"], None
            raise stop


class Reporter:
    """stderr messages through the progress bar: errors always, notes unless --quiet; tracebacks
    of internal errors with --verbose."""

    def __init__(self, progress: Progress, quiet: bool, verbose: bool) -> None:
        self.progress, self.quiet, self.verbose = progress, quiet, verbose

    def error(self, message: str, trace: str | None = None) -> None:
        self.progress.write(f"jaxpose: error: {message}")
        if trace and self.verbose:
            self.progress.write(trace.rstrip())

    def note(self, message: str) -> None:
        if not self.quiet:
            self.progress.write(f"jaxpose: note: {message}")


def write_result(result: Result, outputs: Outputs, fps: float | None, stats: RunStats, report: Reporter,
                 progress: Progress) -> None:
    """Count one result and write its files; failures are one line each and the run goes on.

    report: anything with `error(message, trace)`; progress: anything with `update(n, people=)`.
    """
    if result.skipped:
        stats.skipped += 1
        progress.update(1)
        return
    if not result.ok:
        report.error(result.error, result.traceback)
        stats.failures += 1
        progress.update(1)
        return
    with whole_frame():
        try:
            if result.views is not None:
                outputs.write_views(result.name, result.images, result.views, result.extra["poses3d"], fps)
            else:
                outputs.write(result.name, result.image, result.poses, fps)
        except JaxposeError as error:
            report.error(f"{result.name}: {error}")
            stats.failures += 1
        except OSError as error:
            report.error(f"{result.name}: cannot write the outputs ({error}).")
            stats.failures += 1
        people = result.extra["poses3d"].num_people if result.views is not None else result.poses.num_people
        stats.frames += 1
        stats.people += people
        progress.update(1, people=people)
