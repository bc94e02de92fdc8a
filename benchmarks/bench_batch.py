"""`jaxpose batch` frames/s: locally (one process on every core), with one pinned process per core
(`--cpu_workers`), and with `--ray` and 2 workers on this machine; the scaling model for N devices.

    python -m benchmarks.bench_batch                 # writes the "batch" section of RESULTS.md
    python -m benchmarks.bench_batch --modes local,pinned --net_resolution=-1x368 --section batch_pinned
    python -m benchmarks.bench_batch --rounds 1 --frames 24 --no-write

Workload: two clips cut from /work/shared/media/vtest.avi (768x576 -> 384x288 MJPG, `--frames`
each), default model, `--net_resolution` (-1x128), --write_json, chunks of `--chunk_frames`. Each
round runs one job per mode as the user would (`python -m jaxpose batch ...`, fresh --out), the
order rotating every round, with JAX's persistent compilation cache warm so that
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

from benchmarks.common import load_note, markdown_table, write_section

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


MODES = {"local": [], "pinned": ["--cpu_workers", "2"], "ray": ["--ray", "--ray_workers", "2"]}
LABELS = {"local": "local (one process, every core)", "pinned": "local, 2 pinned processes (--cpu_workers 2)",
          "ray": "ray, 2 workers"}


def run_job(manifest: Path, out: Path, chunk_frames: int, mode: str, env: dict,
            net_resolution: str) -> tuple[float, dict, list]:
    command = [sys.executable, "-m", "jaxpose", "batch", str(manifest), "--out", str(out), "--write_json", "json",
               "--net_resolution", net_resolution, "--chunk_frames", str(chunk_frames), "--quiet", *MODES[mode]]
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
    parser.add_argument("--modes", default="local,pinned,ray", help="comma-separated: local, pinned, ray")
    parser.add_argument("--net_resolution", default="-1x128")
    parser.add_argument("--section", default="batch", help="RESULTS.md section to write")
    args = parser.parse_args()
    modes = args.modes.split(",")
    if not set(modes) <= set(MODES) or "local" not in modes:
        raise SystemExit(f"--modes: choose from {', '.join(MODES)}, local included")
    load_before = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    manifest = make_clips(root, args.frames)
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(root / "jax-cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    run_job(manifest, root / "warm", args.chunk_frames, "local", env, args.net_resolution)  # fills the cache
    total = 2 * args.frames
    walls = {m: [] for m in modes}
    steady = {m: [] for m in modes}
    chunks_all = []
    for r in range(args.rounds):
        for mode in modes[r % len(modes):] + modes[:r % len(modes)]:
            seconds, summary, chunks = run_job(manifest, root / f"{mode}{r}", args.chunk_frames, mode, env,
                                               args.net_resolution)
            walls[mode].append(total / seconds)
            steady[mode].append(sum(w["frames_per_s"] for w in summary["workers"]))
            # the local process's first chunk also traces the functions: left out of the fit
            chunks_all += [c for c in chunks if (c["input"], c["index"]) != ("clip0", 0)] if mode == "local" else []
            print(f"round {r} {mode}: {seconds:.1f} s wall, {total / seconds:.2f} frames/s; "
                  f"workers {[round(w['frames_per_s'], 2) for w in summary['workers']]}", flush=True)
    overhead, rate = fit_overhead(chunks_all)
    rows = [[LABELS[mode], f"{statistics.median(walls[mode]):.2f}", f"{statistics.median(steady[mode]):.2f}",
             f"{statistics.median(b / a for a, b in zip(walls['local'], walls[mode])):.2f}"] for mode in modes]
    text = f"""## Batch job (`jaxpose batch`): {", ".join(LABELS[m] for m in modes)}

Measured on this project's CPU machine (2 cores); {load_note(load_before)}; {args.rounds} round(s), the
modes in rotating order; two clips of {args.frames} frames (384x288), default model, `--net_resolution
{args.net_resolution}`, `--write_json`, `--chunk_frames {args.chunk_frames}`, JAX compilation cache warm.
`python -m benchmarks.bench_batch --modes {args.modes} --net_resolution={args.net_resolution} --rounds {args.rounds}`.

{markdown_table(["backend", "wall frames/s (whole command)", "workers' steady frames/s (sum)",
                 "wall vs local (median of per-round ratios)"], rows)}

One JAX process already uses both cores, so on this 2-core machine more workers only help where
one process uses its cores poorly: two pinned processes (one core each, `--cpu_workers 2`) run
the network ~1.2x faster in total than one process on both (section "cpu_processes"), minus their
start-up (two processes load the model); two Ray actors are not pinned, share both cores and pay
Ray's start-up (the cluster, then each actor loading the model). The gain of Ray comes with more
devices.

Per-chunk overhead, fitted over the local chunks (chunk seconds = overhead + frames / rate):
overhead **{overhead:.2f} s**, rate **{rate:.2f} frames/s** (opening and seeking the video, the
lead frame, the padded last batch, the marker, the video segment and COCO part; a value near
0, or below it, means the overhead is under what this machine resolves).
"""
    scaling = f"""
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
    text += scaling if "ray" in modes else ""
    print(text)
    if not args.no_write:
        write_section(args.section, text)


if __name__ == "__main__":
    main()
