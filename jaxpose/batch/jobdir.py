"""The job directory `DIR/.jaxpose-job/`: the plan, one marker per finished chunk, the parts of the
run-level files, the summary. What makes a job resumable and exactly once.

    .jaxpose-job/plan.json                     inputs, chunk boundaries, the options that shape outputs
    .jaxpose-job/done/<input>/<chunk>.json     a finished chunk: counts, failures, worker, seam hashes
    .jaxpose-job/done/<input>/final.json       the input's video and COCO file are in place
    .jaxpose-job/parts/<input>/<chunk>.<ext>   a chunk's video segment / COCO entries
    .jaxpose-job/summary.json                  the job summary (rewritten at the end of every run)

Every file here is written atomically, and a chunk's marker only after all of its files are
complete, so a job killed at any moment resumes from its markers: finished chunks are skipped,
the others are run again and rewrite the same files with the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from jaxpose.batch.manifest import JOB_FOLDER
from jaxpose.batch.plan import Chunk, InputPlan
from jaxpose.errors import UsageError
from jaxpose.io.atomic import atomic_write_text
from jaxpose.options.table import FLAG_LIST

PLAN_FORMAT = 1

# Flags that change how a run goes, never what it writes: a job may resume with other values.
RUN_ONLY_FLAGS = frozenset({
    "batch", "quiet", "verbose", "disable_multi_thread", "logging_level", "profile_speed",
    "num_gpu", "num_gpu_start", "cpu_devices", "cli_verbose", "no_gui_verbose", "fullscreen", "display",
    "skip_existing",
})


def output_options(options: Any) -> dict[str, Any]:
    """The flag values that shape the job's outputs (every flag but RUN_ONLY_FLAGS), by name."""
    return {flag.name: getattr(options, flag.name) for flag in FLAG_LIST if flag.name not in RUN_ONLY_FLAGS}


def options_hash(values: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of `values`."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


class JobDir:
    """The records of the job writing to `out` (see the module docstring)."""

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out)
        self.root = self.out / JOB_FOLDER
        self.plan_path = self.root / "plan.json"
        self.summary_path = self.root / "summary.json"

    # -- the plan ---------------------------------------------------------------------------
    def read_plan(self) -> dict[str, Any] | None:
        """The recorded plan, or None for a new job."""
        if not self.plan_path.is_file():
            return None
        try:
            plan = _read_json(self.plan_path)
        except (OSError, ValueError) as error:
            raise UsageError(f"{self.plan_path}: unreadable job plan ({error}); use a new --out folder.") from None
        if plan.get("format") != PLAN_FORMAT:
            raise UsageError(f"{self.plan_path}: a job plan of another jaxpose version; use a new --out folder.")
        return plan

    def write_plan(self, plan: dict[str, Any]) -> None:
        _write_json(self.plan_path, {**plan, "format": PLAN_FORMAT})

    # -- chunk markers ----------------------------------------------------------------------
    def marker(self, chunk: Chunk) -> Path:
        return self.root / "done" / chunk.input / f"{chunk.index:05d}.json"

    def final_marker(self, name: str) -> Path:
        return self.root / "done" / name / "final.json"

    def finished(self, chunk: Chunk) -> dict[str, Any] | None:
        """The chunk's report if its marker exists (and is readable), else None."""
        try:
            return _read_json(self.marker(chunk))
        except (OSError, ValueError):
            return None

    def mark_done(self, chunk: Chunk, report: dict[str, Any]) -> None:
        """Record a finished chunk (call only once all of its files are complete)."""
        _write_json(self.marker(chunk), report)

    def unmark(self, chunk: Chunk) -> None:
        self.marker(chunk).unlink(missing_ok=True)
        self.final_marker(chunk.input).unlink(missing_ok=True)

    def is_final(self, name: str) -> bool:
        return self.final_marker(name).is_file()

    def mark_final(self, name: str, files: list[str]) -> None:
        _write_json(self.final_marker(name), {"files": files})

    # -- parts of run-level files -----------------------------------------------------------
    def part(self, chunk: Chunk, suffix: str) -> Path:
        """Where a chunk writes its part of a run-level file (`suffix`: ".avi", ".coco.json")."""
        return self.root / "parts" / chunk.input / f"{chunk.index:05d}{suffix}"

    def sweep(self, names: list[str]) -> int:
        """Delete what a killed run left half-written: temporary files of the atomic writers
        (`.<name>.<random>.part`) under each input's output folder, and any temporary video
        segment (a hidden file) among the parts. Returns the number of files deleted."""
        removed = 0
        for name in names:
            outputs, parts = self.out / name, self.root / "parts" / name
            stale = list(outputs.rglob(".*.part")) if outputs.is_dir() else []
            stale += [p for p in parts.iterdir() if p.name.startswith(".")] if parts.is_dir() else []
            for path in stale:
                if path.is_file():
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def write_summary(self, summary: dict[str, Any]) -> None:
        _write_json(self.summary_path, summary)


def check_resume(recorded: dict[str, Any], current: dict[str, Any], out: Path) -> None:
    """Refuse (UsageError) to resume the job in `out` with other options, chunking or inputs."""
    where = f"the job in {out} was started"
    fix = "rerun with the same manifest and options, or use another --out folder."
    if recorded["options_hash"] != current["options_hash"]:
        old, new = recorded["options"], current["options"]
        changed = [f"--{k} {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
                   if old.get(k) != new.get(k)]
        more = f" (and {len(changed) - 4} more)" if len(changed) > 4 else ""
        raise UsageError(f"{where} with other options ({'; '.join(changed[:4])}{more}): {fix}")
    if recorded["chunk_frames"] != current["chunk_frames"]:
        raise UsageError(
            f"{where} with --chunk_frames {recorded['chunk_frames']} (now {current['chunk_frames']}): {fix}")
    old_inputs = [(i["name"], i["path"]) for i in recorded["inputs"]]
    new_inputs = [(i["name"], i["path"]) for i in current["inputs"]]
    if old_inputs != new_inputs:
        added = [p for _, p in new_inputs if p not in {q for _, q in old_inputs}]
        removed = [p for _, p in old_inputs if p not in {q for _, q in new_inputs}]
        detail = "; ".join(filter(None, [f"added {', '.join(added[:3])}" if added else "",
                                         f"removed {', '.join(removed[:3])}" if removed else ""])) or "reordered"
        raise UsageError(f"{where} with another list of inputs ({detail}): {fix}")
    for old, new in zip(recorded["inputs"], current["inputs"]):
        if list(old["signature"]) != list(new["signature"]):
            raise UsageError(f"{where} before {old['path']} changed (size or modification time): {fix}")


def plan_record(inputs: list[InputPlan], options: Any, chunk_frames: int, manifest: str) -> dict[str, Any]:
    """The plan as recorded in plan.json."""
    values = output_options(options)
    return {"manifest": manifest, "chunk_frames": chunk_frames, "options": values,
            "options_hash": options_hash(values), "inputs": [i.to_json() for i in inputs]}
