"""An input's chunks put together: seams checked, COCO entries merged and video segments stitched,
in frame order (= chunk order).

    bad = first_bad_seam(reports)              # index of a chunk to redo from the start, or None
    files = finalize_input(input_plan, reports, options, job)

COCO: each chunk's part is the CLI's writer output for its frames; the merged file is the same
layout over all entries, so it equals the plain command's file byte for byte. Video: one segment
is copied; several are concatenated without re-encoding by the ffmpeg binary imageio-ffmpeg ships
(concat demuxer, `-c copy`): every frame keeps the bytes the CLI's writer gave it (MJPG .avi: the
decoded frames equal the plain command's; .mp4 segments each start with a key frame).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jaxpose.batch.jobdir import JobDir
from jaxpose.batch.plan import InputPlan
from jaxpose.batch.work import COCO_PART, input_options, video_part_suffix
from jaxpose.errors import JaxposeError
from jaxpose.io.atomic import atomic_write_text, new_file_mode, temp_file_in
from jaxpose.options.table import Options

_FFMPEG_FORMATS = {".avi": "avi", ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}


def first_bad_seam(reports: Sequence[dict[str, Any]]) -> int | None:
    """The first chunk whose lead frame differs from the previous chunk's last frame, or None.

    reports: the input's chunk reports in chunk order. Chunk 0 never seeks, and each later chunk
    is trusted once its seam holds, so the first mismatch names the chunk that is wrong. A seam
    with a missing frame on either side (unreadable) cannot be checked and is accepted. Pure.
    """
    for k in range(1, len(reports)):
        head, tail = reports[k].get("head"), reports[k - 1].get("tail")
        if head is not None and tail is not None and head != tail:
            return k
    return None


def merge_coco_parts(parts: Sequence[Path]) -> str:
    """The COCO results file of all parts, in order, laid out as the CLI's writer lays it out."""
    bodies = []
    for part in parts:
        text = part.read_text(encoding="utf-8")
        try:
            json.loads(text)
        except ValueError:
            raise JaxposeError(f"{part}: incomplete COCO part; delete it and its chunk's marker, then rerun.") from None
        body = text[len("[\n"):-len("\n]")] if text.startswith("[\n\t") else ""
        if body:
            bodies.append(body)
    return "[\n" + ",\n".join(bodies) + ("\n" if bodies else "") + "]"


def concat_videos(segments: Sequence[Path], target: Path) -> None:
    """Write `segments` one after the other into `target` (atomic) without re-encoding."""
    fd, tmp = temp_file_in(target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        if len(segments) == 1:
            shutil.copyfile(segments[0], tmp)
        else:
            _ffmpeg_concat(segments, Path(tmp), _FFMPEG_FORMATS.get(target.suffix.lower(), "avi"))
        os.chmod(tmp, new_file_mode(target))  # mkstemp's 0600 -> an ordinary file's mode (umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _ffmpeg_concat(segments: Sequence[Path], output: Path, fmt: str) -> None:
    import imageio_ffmpeg

    listing = output.with_name(output.name + ".txt")
    lines = ["ffconcat version 1.0"]
    lines += ["file '" + str(s.resolve()).replace("'", "'\\''") + "'" for s in segments]
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
                   "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", "-f", fmt,
                   str(output)]
        done = subprocess.run(command, capture_output=True, text=True)
    finally:
        listing.unlink(missing_ok=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise JaxposeError(f"ffmpeg could not join the video segments ({last}).")


def finalize_input(plan: InputPlan, options: Options, job: JobDir) -> list[str]:
    """Write the input's run-level files from its chunks' parts, mark the input final, drop the
    parts. Returns the files written (relative to the job's --out folder)."""
    chunks = plan.chunks()
    opts = input_options(options, job.out, plan.name)
    written = []
    if options.write_coco_json:
        target = Path(opts.write_coco_json)
        parts = [job.part(c, COCO_PART) for c in chunks]
        atomic_write_text(target, merge_coco_parts([p for p in parts if p.is_file()]))
        written.append(target)
    if options.write_video:
        segments = [job.part(c, video_part_suffix(options)) for c in chunks]
        segments = [s for s in segments if s.is_file()]
        if segments:
            target = Path(opts.write_video)
            concat_videos(segments, target)
            written.append(target)
    files = [str(p.relative_to(job.out)) for p in written]
    job.mark_final(plan.name, files)
    shutil.rmtree(job.root / "parts" / plan.name, ignore_errors=True)
    return files
