"""The job's plan: every input counted and cut into chunks of frames (one unit of work each).

    ranges = chunk_ranges(FrameSelection(0, -1, 1), total=1200, chunk_frames=500)
    # [(0, 499), (500, 999), (1000, -1)]       capture positions / file indices, last inclusive

A chunk is a `FrameSelection` of its input: the frames it writes are exactly those the plain
command reads for that selection, so the chunks of an input cover its frames once each, in
order. The last chunk keeps the user's `--frame_last` (-1: till the end, so frames beyond a
container's announced count are read as the plain command reads them). `chunk_ranges` is pure;
`plan_input` opens the input (header only) to count its frames.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from jaxpose.errors import JaxposeError
from jaxpose.io import readers

DEFAULT_CHUNK_FRAMES = 500


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One unit of work: frames `first..last` (inclusive; -1 = till the end) every `step` of input
    `input` (its name), number `index` of the input's chunks."""

    input: str
    index: int
    first: int
    last: int
    step: int

    @property
    def key(self) -> str:
        return f"{self.input}/{self.index:05d}"


@dataclasses.dataclass(frozen=True)
class InputPlan:
    """One input: its `kind` ("video", "folder", "image"), selected `frames` (None: unknown),
    chunk `ranges`, a `signature` of the file(s) (a changed input refuses a resume), and
    `error` when it could not be opened (reported in the summary; it has no chunks)."""

    name: str
    path: str
    kind: str
    frames: int | None
    ranges: tuple[tuple[int, int], ...]
    step: int
    signature: tuple
    error: str | None = None

    def chunks(self) -> list[Chunk]:
        return [Chunk(self.name, i, first, last, self.step) for i, (first, last) in enumerate(self.ranges)]

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "ranges": [list(r) for r in self.ranges],
                "signature": list(self.signature)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "InputPlan":
        return cls(**{**data, "ranges": tuple(tuple(r) for r in data["ranges"]),
                      "signature": tuple(data["signature"])})


def chunk_ranges(selection: readers.FrameSelection, total: int | None,
                 chunk_frames: int) -> list[tuple[int, int]]:
    """(first, last) of each chunk: `chunk_frames` selected frames each (0 = one chunk).

    total: the selected frame count (None: unknown, then one chunk). The last chunk's `last` is the
    selection's own (-1 stays -1). Pure.
    """
    if chunk_frames < 0:
        raise ValueError(f"chunk_frames must be >= 0 (got {chunk_frames})")
    if total is None or chunk_frames == 0 or total <= chunk_frames:
        return [(selection.first, selection.last)]
    ranges = []
    for start in range(0, total, chunk_frames):
        first = selection.first + start * selection.step
        end = min(start + chunk_frames, total)
        last = selection.first + (end - 1) * selection.step if end < total else selection.last
        ranges.append((first, last))
    return ranges


def _signature(path: Path) -> tuple:
    """(size, modification time in ns) of a file; (image count, newest mtime) of a folder."""
    if path.is_dir():
        files = readers.list_images(path)
        return (len(files), max((f.stat().st_mtime_ns for f in files), default=0))
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns)


def plan_input(name: str, path: Path, selection: readers.FrameSelection, chunk_frames: int,
               whole: bool = False) -> InputPlan:
    """Count the input's frames (opening the video's header / listing the folder) and cut it.

    whole: one chunk whatever the length (image folders with --write_video: the video's frame size
    is that of the input's first frame). An input that cannot be opened gets `error` and no chunk.
    """
    kind = "folder" if path.is_dir() else (
        "video" if path.suffix.lower() in readers.VIDEO_EXTENSIONS else "image")
    try:
        signature = _signature(path)
        source = readers.open_path(path, selection)
        total = source.total
        del source  # a video's capture is released with it
    except (JaxposeError, OSError) as error:
        return InputPlan(name, str(path), kind, None, (), selection.step, (), str(error))
    if kind == "image":
        return InputPlan(name, str(path), kind, 1, ((0, -1),), 1, signature)
    ranges = chunk_ranges(selection, total, 0 if whole else chunk_frames)
    return InputPlan(name, str(path), kind, total, tuple(ranges), selection.step, signature)


def signature_of(path: str | os.PathLike) -> tuple:
    """The current signature of an input (compared with the plan's on resume); () if unreadable."""
    try:
        return _signature(Path(path))
    except (JaxposeError, OSError):
        return ()
