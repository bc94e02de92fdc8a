"""One chunk of one input through the streaming engine and the CLI's writers: the unit of work that
the local loop and the Ray actors both run.

    report = run_chunk(input_plan, chunk, pipeline, options, JobDir(out))

Per-frame files go straight to `DIR/<input>/...` (atomic, with the CLI's names); the chunk's part
of the run-level files (its rendered-video segment, its COCO entries) goes to the job's parts
folder, stitched in frame order once every chunk of the input is done (`finalize`). The report
(a JSON-able dict) is what the chunk's marker records.

Seams: a video chunk after the first starts by seeking, and decodes one frame more than it writes
— the last frame of the chunk before it (its "lead"). The digest of that frame (`head`) must equal
the digest of the previous chunk's last frame (`tail`); the job checks every seam and redoes a
chunk by decoding from the start when they differ, so a seek that landed elsewhere never reaches
the outputs.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from jaxpose.batch.jobdir import JobDir
from jaxpose.batch.plan import Chunk, InputPlan
from jaxpose.io import readers
from jaxpose.io.names import video_frame_name
from jaxpose.io.progress import RunStats
from jaxpose.options.table import Options
from jaxpose.stream import run_stream
from jaxpose.stream.outputs import Outputs
from jaxpose.stream.session import write_result
from jaxpose.stream.stages import (
    OFFLINE_SMOOTHERS, capture_position, smoothed_whole_input, tracking_enabled, tracking_stages,
)

# Test hook, not a user setting: "N:FLAG_FILE" makes the first worker that writes N frames of a
# chunk exit at once (as a crashed process), once per FLAG_FILE (created when it does).
TEST_EXIT_ENV = "JAXPOSE_TEST_WORKER_EXIT"

PER_FRAME_FLAGS = ("write_json", "write_images", "write_keypoint", "write_heatmaps", "write_posetrack")
RUN_LEVEL_FLAGS = ("write_video", "write_coco_json")
COCO_PART = ".coco.json"


def frame_digest(image: np.ndarray) -> str:
    """A short digest of a decoded frame's pixels (and shape)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(image.shape).encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def worker_id() -> str:
    """`host:pid` of the process running the chunk (a restarted worker is a new one)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def input_options(options: Options, out: Path, name: str) -> Options:
    """The options of one input: every --write_* path inside `out/<name>/`."""
    copy = Options(**vars(options))
    for flag in PER_FRAME_FLAGS + RUN_LEVEL_FLAGS:
        value = getattr(options, flag)
        if value:
            setattr(copy, flag, str(out / name / value))
    copy.skip_existing = False
    return copy


def video_part_suffix(options: Options) -> str:
    return Path(options.write_video).suffix or ".avi"


def chunk_options(options: Options, job: JobDir, chunk: Chunk) -> Options:
    """`input_options` with the run-level files redirected to this chunk's parts."""
    copy = input_options(options, job.out, chunk.input)
    if options.write_video:
        copy.write_video = str(job.part(chunk, video_part_suffix(options)))
    if options.write_coco_json:
        copy.write_coco_json = str(job.part(chunk, COCO_PART))
    return copy


def has_lead(plan: InputPlan, chunk: Chunk) -> bool:
    """Whether the chunk decodes the previous chunk's last frame first (videos, chunks after the first)."""
    return plan.kind == "video" and chunk.index > 0


def open_chunk(plan: InputPlan, chunk: Chunk, options: Options, seek: bool) -> readers.Source:
    """The chunk's frame source (its lead frame included); the first chunk never seeks."""
    orientation = readers.Orientation(options.frame_rotate, options.frame_flip)
    lead = has_lead(plan, chunk)
    selection = readers.FrameSelection(chunk.first - chunk.step if lead else chunk.first, chunk.last, chunk.step)
    path = Path(plan.path)
    if plan.kind == "video":
        return readers.VideoSource(path, selection, orientation, seek=seek and chunk.index > 0)
    if plan.kind == "folder":
        return readers.ImageFolderSource(path, selection, orientation)
    return readers.ImageFileSource(path, orientation)


class _Seam:
    """What the frame iterator saw: the lead frame's digest and the last frame written."""

    def __init__(self) -> None:
        self.head: str | None = None
        self.last: np.ndarray | None = None


def _frames(source: readers.Source, lead_name: str | None, seam: _Seam) -> Iterator[readers.Item]:
    """The source's items without the lead frame (its digest goes to `seam.head`)."""
    inner = source.frames()
    try:
        for item in inner:
            if lead_name is not None and item.name == lead_name:
                if isinstance(item, readers.Frame):
                    seam.head = frame_digest(item.image)
                lead_name = None
                continue
            lead_name = None
            if isinstance(item, readers.Frame):
                seam.last = item.image
            yield item
    finally:
        inner.close()


class _Failures:
    """Collects a chunk's one-line failures (with the traceback of internal errors)."""

    def __init__(self) -> None:
        self.lines: list[list[str | None]] = []

    def error(self, message: str, trace: str | None = None) -> None:
        self.lines.append([message, trace])

    def note(self, message: str) -> None:
        pass


class _NoProgress:
    def update(self, frames: int = 1, people: int | None = None) -> None:
        pass


def _exit_hook() -> tuple[int, Path | None]:
    value = os.environ.get(TEST_EXIT_ENV, "")
    if not value:
        return 0, None
    count, _, flag = value.partition(":")
    return int(count), Path(flag)


def _maybe_exit(frames: int, hook: tuple[int, Path | None]) -> None:
    count, flag = hook
    if not count or frames < count or flag is None:
        return
    try:
        fd = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    os._exit(17)


def run_chunk(plan: InputPlan, chunk: Chunk, pipeline: Any, options: Options, job: JobDir, *,
              seek: bool = True, progress: Any = None,
              on_frame: Callable[[], None] | None = None) -> dict[str, Any]:
    """Process one chunk: write its per-frame files and its parts; return its report.

    Raises JaxposeError / OSError when the chunk could not run at all (no marker is written then;
    a rerun of the job tries it again). Per-frame failures are in the report's `failures`.
    """
    started = time.perf_counter()
    chunk_opts = chunk_options(options, job, chunk)
    Outputs.validate(chunk_opts)
    source = open_chunk(plan, chunk, options, seek)
    lead_name = video_frame_name(plan.path, chunk.first - chunk.step) if has_lead(plan, chunk) else None
    outputs = Outputs(chunk_opts, every_frame=tracking_enabled(options))
    outputs.start_input(chunk.input)
    stats, failures, seam = RunStats(), _Failures(), _Seam()
    hook = _exit_hook()
    # with tracking an input is one chunk (ids and smoothing need every frame in order)
    results = run_stream(_frames(source, lead_name, seam), pipeline.for_stream(plan.kind != "video"),
                         pipeline.params, batch=options.batch,
                         stages=tracking_stages(options, source.fps, capture_position(source)),
                         threads=not options.disable_multi_thread)
    try:
        try:
            if options.smooth in OFFLINE_SMOOTHERS:
                results = smoothed_whole_input(results, lambda: open_chunk(plan, chunk, options, seek),
                                               options, source.fps)
            for result in results:
                write_result(result, outputs, source.fps, stats, failures, progress or _NoProgress())
                if on_frame is not None:
                    on_frame()
                _maybe_exit(stats.frames, hook)
        finally:
            results.close()
    finally:
        outputs.close()
    video = outputs.video
    left_out = video.left_out_message(f"{Path(options.write_video).name} of {plan.name}") if video else None
    if left_out:
        failures.error(left_out)
    return {
        "input": chunk.input, "index": chunk.index, "first": chunk.first, "last": chunk.last,
        "frames": stats.frames, "people": stats.people, "failures": failures.lines,
        "seconds": time.perf_counter() - started, "worker": worker_id(), "seek": bool(seek),
        "head": seam.head, "tail": None if seam.last is None else frame_digest(seam.last),
        "video_frames": video.frames if video is not None else 0,
    }
