"""Progress bar (tqdm: frames/s and ETA) and the end-of-run summary line."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import TextIO

FALLBACK_COLUMNS = 80  # when the terminal reports no width (0 columns, e.g. some CI consoles)


@dataclasses.dataclass
class RunStats:
    """Counters of one run; `seconds` is wall time from start to `finish()`."""

    frames: int = 0
    people: int = 0
    failures: int = 0
    skipped: int = 0
    started: float = dataclasses.field(default_factory=time.perf_counter)
    seconds: float = 0.0

    def finish(self) -> "RunStats":
        self.seconds = time.perf_counter() - self.started
        return self

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def format_summary(stats: RunStats) -> str:
    """One line: frames, people, failures, skipped, time and frames/s."""
    parts = [
        f"{stats.frames} frame{'s' if stats.frames != 1 else ''}",
        f"{stats.people} people",
        f"{stats.failures} failed",
    ]
    if stats.skipped:
        parts.append(f"{stats.skipped} skipped (outputs existed)")
    parts.append(f"{stats.seconds:.1f} s ({stats.fps:.2f} frames/s)")
    return "jaxpose: " + ", ".join(parts)


def terminal_columns(stream: TextIO, fallback: int = FALLBACK_COLUMNS) -> int:
    """Width of the terminal behind `stream`, or `fallback` when it reports 0 or none."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns if columns > 0 else fallback


def _bar_shape(stream: TextIO) -> tuple[int, None]:
    """tqdm's `dynamic_ncols` callback: (columns - 1, rows unknown), never 0 or less."""
    return terminal_columns(stream) - 1, None


def format_saved(outputs: dict[str, str]) -> str | None:
    """One line naming where the results went, e.g. for the end of a run:

    {"JSON": "out/json", "rendered images": "out/images"} ->
    "jaxpose: saved JSON in out/json, rendered images in out/images"; None when nothing was saved.
    Empty paths are left out.
    """
    saved = [f"{what} in {where}" for what, where in outputs.items() if where]
    return "jaxpose: saved " + ", ".join(saved) if saved else None


class Progress:
    """A tqdm bar on stderr, shown only when stderr is a terminal and not `quiet`.

    The bar follows the terminal's width, and is `FALLBACK_COLUMNS` wide when the terminal
    reports 0 columns (tqdm alone would print nothing).

    Use as a context manager; `update(n)` after each processed frame, `add_total(n)` when a new
    source of known length starts (None = unknown length: the bar shows a count and a rate).
    """

    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not quiet and _is_terminal(self.stream)
        self._bar = None
        self._total: int | None = 0

    def __enter__(self) -> "Progress":
        if self.enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=None, unit="frame", file=self.stream, ncols=_bar_shape(self.stream)[0],
                smoothing=0.1,
            )
            self._bar.dynamic_ncols = _bar_shape  # re-read the width at each refresh
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def add_total(self, count: int | None) -> None:
        self._total = None if count is None or self._total is None else self._total + count
        if self._bar is not None:
            self._bar.total = self._total
            self._bar.refresh()

    def update(self, frames: int = 1, people: int | None = None) -> None:
        if self._bar is None:
            return
        if people is not None:
            self._bar.set_postfix(people=people, refresh=False)
        self._bar.update(frames)

    def write(self, message: str) -> None:
        """Print a line on the stream without breaking the bar."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
