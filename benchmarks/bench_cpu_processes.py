"""CPU throughput of the default model's network: one process on every core vs one process per core.

    python -m benchmarks.bench_cpu_processes [--size 432x368] [--frames 20] [--rounds 3]

XLA:CPU runs one network on all cores of the process; on the 2-core machine it scales poorly
(the profile in RESULTS.md, "mobilenet_thin_profile"). This measures the alternative a batch job
or a video pipeline could use: as many processes as cores, each pinned to one core
(`os.sched_setaffinity` before JAX starts), each running frames one at a time. Per round: the
single process's frames/s, then all pinned processes released together (the sum of each one's
frames/s over its own frames), alternately. Reports the medians and the median of the
per-round ratios. Writes the "cpu_processes" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from benchmarks.common import load_note, markdown_table, write_section

WORKER = r"""
import json, os, sys, time
cores = json.loads(sys.argv[1])
if cores:
    os.sched_setaffinity(0, set(cores))
import jax, numpy as np
import jaxpose
from jaxpose.hub import fetch_graph
w, h, frames = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
model = jaxpose.from_tf_graph(fetch_graph())
params = jax.device_put(model.params)
x = jax.device_put(np.random.default_rng(0).uniform(0, 255, (1, h, w, 3)).astype(np.float32))
run = jax.jit(lambda p, x: model.net.apply({"params": p}, x)).lower(params, x).compile()
for _ in range(2):
    jax.block_until_ready(run(params, x))
print("READY", flush=True)
sys.stdin.readline()
t0 = time.time()
for _ in range(frames):
    jax.block_until_ready(run(params, x))
print(json.dumps({"start": t0, "end": time.time(), "frames": frames}), flush=True)
"""


def run_group(core_sets: list[list[int]], w: int, h: int, frames: int) -> float:
    """Start one worker per core set, release them together; the sum of their frames/s."""
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(cores), str(w), str(h), str(frames)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for cores in core_sets]
    for proc in procs:
        for line in proc.stdout:
            if line.startswith("READY"):
                break
        else:
            raise SystemExit(f"a worker failed to start (exit {proc.wait()})")
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    reports = []
    for proc in procs:
        out, _ = proc.communicate()
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return sum(r["frames"] / (r["end"] - r["start"]) for r in reports)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="432x368", help="network input WxH")
    parser.add_argument("--frames", type=int, default=20, help="frames per worker per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    w, h = (int(v) for v in args.size.split("x"))
    cores = sorted(os.sched_getaffinity(0))
    single, pinned = [], []
    for round_index in range(args.rounds):
        single.append(run_group([[]], w, h, args.frames))
        pinned.append(run_group([[c] for c in cores], w, h, args.frames))
        print(f"round {round_index}: one process {single[-1]:.2f} frames/s, "
              f"{len(cores)} pinned {pinned[-1]:.2f} frames/s", flush=True)
    ratios = [p / s for p, s in zip(pinned, single)]
    rows = [["1 process, all cores", f"{statistics.median(single):.2f}", "1.00", ", ".join(f"{s:.2f}" for s in single)],
            [f"{len(cores)} processes, one core each", f"{statistics.median(pinned):.2f}",
             f"{statistics.median(ratios):.2f}", ", ".join(f"{p:.2f}" for p in pinned)]]
    text = (
        f"## The default model's network on CPU: one process vs one process per core ({args.size})\n\n"
        f"`python -m benchmarks.bench_cpu_processes --size {args.size} --frames {args.frames} "
        f"--rounds {args.rounds}`: MobileNet-thin, batch 1, float32, {args.frames} frames per worker per "
        f"round, compile outside the timing; host {len(cores)} cores; {load_note(load_before)}. "
        "Pinned workers' rates are summed (each timed over its own frames, started together).\n\n"
        + markdown_table(["setup", "frames/s (median)", "vs one process (median of ratios)", "per round"], rows)
        + "\n"
    )
    write_section("cpu_processes", text)
    print(text)


if __name__ == "__main__":
    main()
