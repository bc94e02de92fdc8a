"""The batch job's driver: plan (or resume), run the chunks still to do, finish each input, report.

    status = run_job(inputs, options, out="results", chunk_frames=500, ray=None, cpu_workers=0,
                     stderr=sys.stderr)

1. plan every input (frame counts, chunk boundaries) and record it, or check the recorded plan
   (same options, chunking, inputs and input files; else UsageError);
2. delete what a killed run left half-written; skip chunks with a marker;
3. run the others (in this process, on pinned local processes, or on Ray); each finished chunk
   gets its marker; an input whose chunks are all done has its seams checked (a wrong one is redone from the start) and its
   video and COCO file stitched;
4. the summary: printed, and written to `.jaxpose-job/summary.json`.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from jaxpose.batch.backends import LocalBackend, RayBackend, Task, connect_ray
from jaxpose.batch.processes import ProcessBackend
from jaxpose.batch.finalize import finalize_input, first_bad_seam
from jaxpose.batch.jobdir import JobDir, check_resume, plan_record
from jaxpose.batch.manifest import Input
from jaxpose.batch.plan import InputPlan, plan_input
from jaxpose.errors import JaxposeError
from jaxpose.io import readers
from jaxpose.io.progress import Progress
from jaxpose.options.table import Options
from jaxpose.stream.session import Reporter, Terminated, sigterm_as_interrupt
from jaxpose.stream.stages import tracking_enabled

EXIT_OK, EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 130, 143


def make_plan(inputs: list[Input], options: Options, chunk_frames: int) -> list[InputPlan]:
    """Every input counted and cut into chunks (an input that cannot be opened keeps its error)."""
    selection = readers.FrameSelection(options.frame_first, options.frame_last, options.frame_step)
    return [plan_input(i.name, i.path, selection, chunk_frames,
                       whole=bool(options.write_video) and i.path.is_dir() or tracking_enabled(options)) for i in inputs]


def chunk_frame_count(plan: InputPlan, index: int) -> int:
    """Frames of chunk `index` (for the progress bar; the last chunk takes what is left)."""
    first, last = plan.ranges[index]
    if plan.frames is None:
        return 0
    if index == len(plan.ranges) - 1:
        return plan.frames - sum(chunk_frame_count(plan, i) for i in range(index))
    return (last - first) // plan.step + 1


@dataclasses.dataclass
class _Run:
    """What this run saw: chunk failures (no marker), per input."""

    chunk_errors: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    started: float = dataclasses.field(default_factory=time.perf_counter)


def summarize(plans: list[InputPlan], job: JobDir, run: _Run, backend: str, state: str) -> dict[str, Any]:
    """The job summary from the markers (so a resumed job counts every chunk, whichever run did it)."""
    inputs, workers = [], {}
    for plan in plans:
        reports = [job.finished(c) for c in plan.chunks()]
        done = [r for r in reports if r is not None]
        failures = ([plan.error] if plan.error else []) + [f[0] for r in done for f in r["failures"]]
        failures += run.chunk_errors.get(plan.name, [])
        complete = not plan.error and len(done) == len(reports) and job.is_final(plan.name)
        inputs.append({
            "name": plan.name, "path": plan.path, "chunks": len(reports), "chunks_done": len(done),
            "frames": sum(r["frames"] for r in done), "people": sum(r["people"] for r in done),
            "failures": failures,
            "state": "failed" if plan.error else ("done" if complete else "incomplete"),
        })
        for r in done:
            w = workers.setdefault(r["worker"], {"worker": r["worker"], "chunks": 0, "frames": 0, "seconds": 0.0})
            if "cores" in r:  # --cpu_workers: the cores the worker process was pinned to
                w["cores"] = r["cores"]
            w["chunks"] += 1
            w["frames"] += r["frames"]
            w["seconds"] += r["seconds"]
    for w in workers.values():
        w["frames_per_s"] = w["frames"] / w["seconds"] if w["seconds"] > 0 else 0.0
    return {
        "out": str(job.out), "backend": backend, "state": state,
        "seconds": time.perf_counter() - run.started,
        "inputs_total": len(inputs), "inputs_done": sum(i["state"] == "done" for i in inputs),
        "frames": sum(i["frames"] for i in inputs), "people": sum(i["people"] for i in inputs),
        "failures": sum(len(i["failures"]) for i in inputs),
        "inputs": inputs, "workers": sorted(workers.values(), key=lambda w: w["worker"]),
    }


def format_job_summary(summary: dict[str, Any]) -> str:
    """A few lines: the totals, one line per worker, one per input that did not finish."""
    seconds = summary["seconds"]
    lines = [
        f"jaxpose batch: {summary['inputs_done']} of {summary['inputs_total']} inputs done, "
        f"{summary['frames']} frames, {summary['people']} people, {summary['failures']} failed "
        f"({summary['backend']}, this run {seconds:.1f} s)"
    ]
    for w in summary["workers"]:
        cores = f" (cores {','.join(map(str, w['cores']))})" if "cores" in w else ""
        lines.append(f"  worker {w['worker']}{cores}: {w['chunks']} chunks, {w['frames']} frames, "
                     f"{w['frames_per_s']:.2f} frames/s")
    for i in summary["inputs"]:
        if i["state"] != "done":
            lines.append(f"  {i['state']}: {i['name']} ({i['path']}): {i['chunks_done']} of {i['chunks']} chunks"
                         + (f"; {i['failures'][0]}" if i["failures"] else ""))
    lines.append(f"  summary: {summary['out']}/.jaxpose-job/summary.json")
    return "\n".join(lines)


def prepare(inputs: list[Input], options: Options, out: Path, chunk_frames: int,
            manifest: str) -> tuple[JobDir, list[InputPlan]]:
    """Plan the job, or check that the recorded plan is this one (UsageError if not)."""
    job = JobDir(out)
    plans = make_plan(inputs, options, chunk_frames)
    record = plan_record(plans, options, chunk_frames, manifest)
    recorded = job.read_plan()
    if recorded is None:
        job.write_plan(record)
        return job, plans
    check_resume(recorded, record, out)
    return job, [InputPlan.from_json(i) for i in recorded["inputs"]]


def run_job(inputs: list[Input], options: Options, out: str | Path, *, chunk_frames: int,
            manifest: str = "", ray: str | None = None, use_ray: bool = False, ray_workers: int = 0,
            cpu_workers: int = 0, stderr: TextIO | None = None) -> int:
    """Run (or resume) the job. Returns the exit status: 0 all done, 1 failures, 130/143 stopped.

    Raises UsageError before any work for a plan that does not match the recorded one or a Ray
    address that does not answer.
    """
    stderr = stderr or sys.stderr
    connection = connect_ray(ray) if use_ray else None  # a Ray address that does not answer: before any work
    try:
        return _drive(inputs, options, Path(out), chunk_frames, manifest, connection, ray, ray_workers,
                      cpu_workers, stderr)
    finally:
        if connection is not None and connection[1]:
            connection[0].shutdown()


def _drive(inputs: list[Input], options: Options, out: Path, chunk_frames: int, manifest: str,
         connection: Any, ray: str | None, ray_workers: int, cpu_workers: int, stderr: TextIO) -> int:
    use_ray = connection is not None
    job, plans = prepare(inputs, options, out, chunk_frames, manifest)
    run = _Run()
    job.sweep([p.name for p in plans])
    by_name = {p.name: p for p in plans}
    todo = [Task(p, c) for p in plans if not p.error and not job.is_final(p.name)
            for c in p.chunks() if job.finished(c) is None]
    backend = None
    state = "complete"
    with Progress(quiet=options.quiet, stream=stderr) as progress, sigterm_as_interrupt():
        report = Reporter(progress, options.quiet, options.verbose)
        for plan in plans:
            if plan.error:
                report.error(plan.error)
        try:
            for plan in plans:  # inputs whose chunks were all done before a stop
                if not plan.error and not job.is_final(plan.name) and all(job.finished(c) for c in plan.chunks()):
                    redo = _finish_input(plan, options, job, run, report)
                    todo += [redo] if redo else []
            if todo:
                progress.add_total(sum(chunk_frame_count(t.plan, t.chunk.index) for t in todo))
                backend = (RayBackend(options, job, connection, ray, ray_workers) if use_ray
                           else ProcessBackend(options, job, cpu_workers) if cpu_workers
                           else LocalBackend(options, job, progress))
                for task in todo:
                    backend.submit(task)
                while backend.pending():
                    task, result = backend.next()
                    plan = by_name[task.chunk.input]
                    if isinstance(result, BaseException):
                        message = f"{plan.path} frames {task.chunk.first}..{task.chunk.last}: {result}"
                        report.error(message)
                        run.chunk_errors.setdefault(plan.name, []).append(message)
                        continue
                    for line, trace in result["failures"]:
                        report.error(line, trace)
                    job.mark_done(task.chunk, result)
                    if getattr(backend, "progress_per_chunk", False):
                        progress.update(chunk_frame_count(plan, task.chunk.index))
                    if all(job.finished(c) for c in plan.chunks()):
                        redo = _finish_input(plan, options, job, run, report)
                        if redo:
                            progress.add_total(chunk_frame_count(plan, redo.chunk.index))
                            backend.submit(redo)
        except KeyboardInterrupt as stop:
            state = "terminated" if isinstance(stop, Terminated) else "interrupted"
        finally:
            if backend is not None:
                backend.shutdown()
    summary = summarize(plans, job, run, backend.name if backend else "local", state)
    if state == "complete" and any(i["state"] == "incomplete" for i in summary["inputs"]):
        summary["state"] = state = "incomplete"
    job.write_summary(summary)
    if state in ("interrupted", "terminated"):
        print(f"jaxpose batch: {'stopped by SIGTERM' if state == 'terminated' else 'interrupted'}; every "
              "file written is complete. Rerun the same command to resume.", file=stderr)
        return EXIT_TERMINATED if state == "terminated" else EXIT_INTERRUPTED
    if not options.quiet:
        print(format_job_summary(summary), file=stderr)
    return EXIT_FAILURES if summary["failures"] else EXIT_OK


def _finish_input(plan: InputPlan, options: Options, job: JobDir, run: _Run,
                  report: Reporter) -> Task | None:
    """All chunks done: check the seams, then stitch. Returns the chunk to redo by decoding from
    the start when a seam does not hold (its marker is removed), else None."""
    reports = [job.finished(c) for c in plan.chunks()]
    bad = first_bad_seam(reports)
    if bad is not None:
        chunk = plan.chunks()[bad]
        if not reports[bad].get("seek", True):
            message = (f"{plan.path}: frame {chunk.first} decodes differently from one run to the next; "
                       "its chunk boundary cannot be checked (rerun with --chunk_frames 0).")
            report.error(message)
            run.chunk_errors.setdefault(plan.name, []).append(message)
            return None
        report.note(f"{plan.path}: seeking to frame {chunk.first} did not land on it; decoding "
                    "that chunk from the start instead.")
        job.unmark(chunk)
        return Task(plan, chunk, seek=False)
    try:
        finalize_input(plan, options, job)
    except (JaxposeError, OSError) as error:
        message = f"{plan.path}: cannot finish the run-level files ({error})."
        report.error(message)
        run.chunk_errors.setdefault(plan.name, []).append(message)
    return None
