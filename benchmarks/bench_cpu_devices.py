"""The command on CPU: one JAX device on every core vs one device per core (`--cpu_devices -1`).

    python -m benchmarks.bench_cpu_devices                 # writes the "cpu_devices" section of RESULTS.md
    python -m benchmarks.bench_cpu_devices --frames 32 --rounds 1 --no-write

XLA:CPU runs each layer of one frame on all cores of its device; `--cpu_devices -1` splits the CPU
into one JAX device per core and `--num_gpu -1` splits each `--batch` over them, so the frames of
a batch run side by side, one per core. Both setups run in this one process (JAX is started with
one device per core; "one device" is `--num_gpu 1`, which uses the first device alone with the
program XLA builds for one device on all cores), alternately, round after round, over the first
`--frames` frames of ../shared/media/video.avi (1280x720, net input 656x368), default model,
`--batch 8`, `--write_json`: the command's steady-state frames/s (`benchmarks.bench_cli`'s
measure: from the first result of the first batch reaching the writer to the first of the last),
and `pose_fn.batch`'s frames/s on the same frames decoded beforehand (device part + matcher).
Reports medians and the median of per-round ratios per core / one device.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from pathlib import Path

from benchmarks.bench_cli import VIDEO, decode, run_cli, run_peer
from benchmarks.common import load_note, markdown_table, peak_rss_mib, timed, write_section

SETUPS = {"one device, every core (--num_gpu 1)": ["--num_gpu", "1"],
          "one device per core (--cpu_devices -1)": []}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    import jaxpose

    devices = jaxpose.use_cpu_devices(-1)  # before JAX starts
    import jax

    from jaxpose.cli import flags
    from jaxpose.options.build import build_pipeline

    load_before = os.getloadavg()[0]
    frames = decode(VIDEO, args.frames)
    base = [str(VIDEO), "--frame_last", str(len(frames) - 1), "--batch", str(args.batch), "--quiet",
            "--cpu_devices", "-1"]
    pipelines, compile_s = {}, {}
    for name, extra in SETUPS.items():
        pipelines[name] = build_pipeline(vars(flags.parse(base + extra)))
        pose_fn = pipelines[name].for_stream(False)
        _, compile_s[name] = timed(lambda: pose_fn.batch(pipelines[name].params, frames[:args.batch]))

    ours = {name: [] for name in SETUPS}
    peer = {name: [] for name in SETUPS}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in SETUPS.items():  # warms the writers and caches (2 batches)
            warm = base[:2] + [str(2 * args.batch - 1)] + base[3:] + extra
            run_cli(warm + ["--write_json", str(Path(tmp) / "warm")], pipelines[name], args.batch)
        for r in range(args.rounds):
            order = list(SETUPS) if r % 2 == 0 else list(reversed(SETUPS))
            for name in order:
                argv = base + SETUPS[name] + ["--write_json", str(Path(tmp) / f"{r}-{len(SETUPS[name])}")]
                ours[name].append(run_cli(argv, pipelines[name], args.batch)[0])
                pipeline = pipelines[name]
                peer[name].append(run_peer(pipeline.for_stream(False), pipeline.params, frames, args.batch))
                print(f"round {r} {name}: command {ours[name][-1]:.2f} frames/s, "
                      f"pose_fn.batch {peer[name][-1]:.2f} frames/s", flush=True)

    first = next(iter(SETUPS))
    rows = []
    for name in SETUPS:
        rows.append([name, f"{statistics.median(ours[name]):.2f}",
                     f"**{statistics.median(a / b for a, b in zip(ours[name], ours[first])):.2f}x**",
                     f"{statistics.median(peer[name]):.2f}",
                     f"{statistics.median(a / b for a, b in zip(peer[name], peer[first])):.2f}x",
                     f"{compile_s[name]:.1f}"])
    text = f"""## The command on CPU: one device vs one device per core (`--cpu_devices -1`)

`python -m benchmarks.bench_cpu_devices`: first {len(frames)} frames of `video.avi` (1280x720, net
input 656x368), default model (mobilenet_thin), `--batch {args.batch}`, `--write_json`,
{args.rounds} rounds, the setups alternating in one process started with {devices} CPU devices.
Command: steady-state frames/s of `jaxpose.cli.run.process` (decoding, the streaming engine, JSON
writing) over a pipeline built once; pose_fn.batch: the device part and the matcher on frames
decoded beforehand. Ratios: median of per-round ratios against the first row. Machine:
{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), jax {jax.__version__};
{load_note(load_before)}.

{markdown_table(["setup", "command frames/s", "command vs one device", "pose_fn.batch frames/s",
                 "pose_fn.batch vs one device", "first batch s (compile)"], rows)}

Results are equal byte for byte (tests/test_cpu_devices.py). Peak RSS {peak_rss_mib():.0f} MiB.
"""
    print(text)
    if not args.no_write:
        write_section("cpu_devices", text)


if __name__ == "__main__":
    main()
