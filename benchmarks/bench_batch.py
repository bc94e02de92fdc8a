"""`jaxpose batch` frames/s: locally (one process) vs `--ray` with 2 workers on this machine, and the
scaling model for N devices.

    python -m benchmarks.bench_batch                 # writes the "batch" section of RESULTS.md
    python -m benchmarks.bench_batch --rounds 1 --frames 24 --no-write

Workload: two clips cut from /work/shared/media/vtest.avi (768x576 -> 384x288 MJPG, `--frames`
each), default model, --net_resolution -1x128, --write_json, chunks of `--chunk_frames`. Each
round runs both jobs as the user would (`python -m jaxpose batch ...`, fresh --out), local and Ray
alternately (the order flips every round), with JAX's persistent compilation cache warm so that
start-up is model loading, not compiling. Reported: wall-clock frames/s of the whole command
(start-up included), the workers' steady frames/s (frames / seconds inside chunks, from the job
summary), and a fit of chunk seconds = overhead + frames / rate over every chunk (the per-chunk
overhead of the scaling model).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import markdown_table, write_section

MEDIA = Path("/work/shared/media/vtest.avi")
REPO = Path(__file__).resolve().parents[1]


def make_clips(root: Path, frames: int) -> Path:
    capture = cv2.VideoCapture(str(MEDIA))
    for k in range(2):
        writer = cv2.VideoWriter(str(root / f"clip{k}.avi"), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                                 10.0, (384, 288))
        for _ in range(frames):
            ok, frame = capture.read()
            writer.write(cv2.resize(frame, (384, 288), interpolation=cv2.INTER_AREA))
        writer.release()
    manifest = root / "manifest.txt"
    manifest.write_text("clip0.avi\nclip1.avi\n")
    return manifest


def run_job(manifest: Path, out: Path, chunk_frames: int, ray: bool, env: dict) -> tuple[float, dict, list]:
    command = [sys.executable, "-m", "jaxpose", "batch", str(manifest), "--out", str(out), "--write_json", "json",
               "--net_resolution", "-1x128", "--chunk_frames", str(chunk_frames), "--quiet"]
    command += ["--ray", "--ray_workers", "2"] if ray else []
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"job failed ({done.returncode}): {done.stderr}")
    summary = json.loads((out / ".jaxpose-job" / "summary.json").read_text())
    chunks = [json.loads(p.read_text()) for p in (out / ".jaxpose-job" / "done").glob("*/0*.json")]
    return seconds, summary, chunks


def fit_overhead(chunks: list[dict]) -> tuple[float, float]:
    """Least squares of chunk seconds = overhead + frames / rate. Returns (overhead s, rate fps)."""
    frames = np.array([c["frames"] for c in chunks], float)
    seconds = np.array([c["seconds"] for c in chunks], float)
    slope, intercept = np.polyfit(frames, seconds, 1)
    return float(intercept), float(1.0 / slope)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--frames", type=int, default=40)  # 16 + 16 + 8: chunk sizes differ
    parser.add_argument("--chunk_frames", type=int, default=16)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    manifest = make_clips(root, args.frames)
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(root / "jax-cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    run_job(manifest, root / "warm", args.chunk_frames, False, env)  # fills the compilation cache
    total = 2 * args.frames
    walls = {"local": [], "ray": []}
    steady = {"local": [], "ray": []}
    chunks_all = []
    for r in range(args.rounds):
        for mode in (("local", "ray") if r % 2 == 0 else ("ray", "local")):
            seconds, summary, chunks = run_job(manifest, root / f"{mode}{r}", args.chunk_frames, mode == "ray", env)
            walls[mode].append(total / seconds)
            steady[mode].append(sum(w["frames_per_s"] for w in summary["workers"]))
            # the local process's first chunk also traces the functions: left out of the fit
            chunks_all += [c for c in chunks if (c["input"], c["index"]) != ("clip0", 0)] if mode == "local" else []
            print(f"round {r} {mode}: {seconds:.1f} s wall, {total / seconds:.2f} frames/s; "
                  f"workers {[round(w['frames_per_s'], 2) for w in summary['workers']]}", flush=True)
    overhead, rate = fit_overhead(chunks_all)
    ratio = statistics.median(b / a for a, b in zip(walls["local"], walls["ray"]))
    rows = [[mode, f"{statistics.median(walls[mode]):.2f}", f"{statistics.median(steady[mode]):.2f}"]
            for mode in ("local", "ray")]
    text = f"""## Batch job (`jaxpose batch`): local vs Ray with 2 workers

Measured on this project's CPU machine (2 cores, **shared with ~7 other developers' jobs while it
ran**, so absolute figures are low and noisy); {args.rounds} round(s), local and Ray alternately;
two clips of {args.frames} frames (384x288), default model, `--net_resolution -1x128`,
`--write_json`, `--chunk_frames {args.chunk_frames}`, JAX compilation cache warm.
`python -m benchmarks.bench_batch`.

{markdown_table(["backend", "wall frames/s (whole command)", "workers' steady frames/s (sum)"], rows)}

Ray / local, wall frames/s, median over rounds: **{ratio:.2f}x**. On 2 cores one JAX process already
uses both cores, so two Ray actors share them: Ray buys nothing here but costs its start-up (the
cluster, then each actor loading the model). The gain comes with more devices.

Per-chunk overhead, fitted over the local chunks (chunk seconds = overhead + frames / rate):
overhead **{overhead:.2f} s**, rate **{rate:.2f} frames/s** (opening and seeking the video, the
lead frame, the padded last batch, the marker, the video segment and COCO part; a value near
0, or below it, means the overhead is under what this loaded machine resolves).

### Scaling model for N devices (on paper)

With per-device rate f (frames/s), chunk size C frames, per-chunk overhead o (s), start-up S (s,
per worker: model load + compile, in parallel) and F frames in the job:

    time(N) ≈ S + ceil(F / C / N) · (C / f + o)        throughput ≈ N · f · C / (C + f · o)

so each device keeps a fraction C / (C + f·o) of its own rate. The overhead measured here is
CPU-bound host work on a loaded machine; on a GPU node it is mostly opening and seeking the file.
Example: with o = 0.5 s and the default C = 500, a device at f = 200 frames/s keeps
{500 / (500 + 200 * 0.5):.0%} of its rate, at f = 1000 frames/s {500 / (500 + 1000 * 0.5):.0%}: raise --chunk_frames for faster
devices (C = 5000: {5000 / (5000 + 1000 * 0.5):.0%}). The last round of chunks
leaves devices idle (≤ C / f seconds), negligible for jobs of many chunks. The driver's work per
chunk (a marker, the seam check) is milliseconds, and stitching an input (ffmpeg `-c copy`) runs
at disk speed. No GPU was lent to this task, so no per-device GPU figure was measured.
"""
    print(text)
    if not args.no_write:
        write_section("batch", text)


if __name__ == "__main__":
    main()
