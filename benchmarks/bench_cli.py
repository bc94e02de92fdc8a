"""The command's steady-state frames/s beside `pose_fn.batch`'s, at the same batch, in one process.

    python -m benchmarks.bench_cli                   # writes the "cli" section of RESULTS.md
    python -m benchmarks.bench_cli --frames 32 --rounds 1 --no-write

Workload: the first `--frames` frames of ../shared/media/video.avi (1280x720; net input 656x368,
OpenPose's video rule), default model, `--batch 8`. Ours is the command's own shell
(`jaxpose.cli.run.process`: the streaming engine, the writers, the progress counters) run in this
process over a pipeline built once, so that model loading and compiling stay out of the timing.
Steady state: the time from the first result of the first batch reaching the writer to the first
result of the last batch reaching it, for every batch in between (the pipeline's fill and drain are
left out). Modes: `--write_json`, `--write_video` (rendering + MJPG encoding), and `--write_json`
with `--disable_multi_thread` (the sequential engine, for scale).

The peer is `pose_fn.batch(params, frames[k:k + 8])` on frames decoded beforehand (the device
call plus the host matcher: no decoding, no writing). Each round runs every mode and, right after
each, the peer over the same frames; reported are medians over rounds of frames/s and the median
of the per-pair ratios ours / peer.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import jax
import numpy as np

from benchmarks.common import load_note, markdown_table, peak_rss_mib, timed, write_section
from jaxpose.cli import flags, run
from jaxpose.options.build import build_pipeline

VIDEO = Path(__file__).resolve().parents[2] / "shared" / "media" / "video.avi"
MODES = {
    "json": ["--write_json", "{out}/json"],
    "video": ["--write_video", "{out}/out.avi"],
    "json, --disable_multi_thread": ["--write_json", "{out}/json", "--disable_multi_thread"],
}


def decode(path: Path, count: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    frames = []
    for _ in range(count):
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(bgr[:, :, ::-1])
    return np.ascontiguousarray(np.stack(frames))


class WriteTimes:
    """Wraps the command's `write_result`: records when each frame reaches the writer and how long
    the writer (the caller's thread: rendering, encoding, files) spends on it."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.busy: list[float] = []
        self.original = run.write_result

    def __call__(self, *args, **kwargs):
        self.times.append(time.perf_counter())
        try:
            return self.original(*args, **kwargs)
        finally:
            self.busy.append(time.perf_counter() - self.times[-1])

    def busy_share(self, batch: int) -> float:
        """Writer's busy time / wall time over the steady interval (`steady_fps`'s frames)."""
        first, last = 0, (len(self.times) - 1) // batch * batch
        return sum(self.busy[first:last]) / (self.times[last] - self.times[first])


def steady_fps(times: list[float], batch: int) -> float:
    """Frames/s over whole batches: first result of the first batch -> first of the last batch."""
    starts = times[::batch]
    return batch * (len(starts) - 1) / (starts[-1] - starts[0])


def run_cli(argv: list[str], pipeline, batch: int) -> tuple[float, float]:
    options = flags.parse(argv)
    recorder = WriteTimes()
    run.write_result = recorder
    try:
        code = run.process(options, pipeline, run.plan_inputs(options), io.StringIO())
    finally:
        run.write_result = recorder.original
    if code != 0:
        raise SystemExit(f"the command failed ({code}): {argv}")
    return steady_fps(recorder.times, batch), recorder.busy_share(batch)


def run_peer(pose_fn, params, frames: np.ndarray, batch: int) -> float:
    times = []
    for k in range(0, len(frames), batch):
        pose_fn.batch(params, frames[k:k + batch])
        times.append(time.perf_counter())
    return batch * (len(times) - 1) / (times[-1] - times[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    frames = decode(VIDEO, args.frames)
    base = [str(VIDEO), "--frame_last", str(len(frames) - 1), "--batch", str(args.batch), "--quiet"]
    pipeline, load_s = timed(lambda: build_pipeline(vars(flags.parse(base))))
    pose_fn = pipeline.for_stream(False)
    params = pipeline.params
    _, compile_s = timed(lambda: pose_fn.batch(params, frames[:args.batch]))

    ours: dict[str, list[float]] = {mode: [] for mode in args.modes}
    peer: dict[str, list[float]] = {mode: [] for mode in args.modes}
    busy: dict[str, list[float]] = {mode: [] for mode in args.modes}
    with tempfile.TemporaryDirectory() as tmp:
        warm = base[:2] + [str(2 * args.batch - 1)] + base[3:]
        for mode in args.modes:  # warms the writers, the encoder and the caches (2 batches)
            run_cli(warm + [a.format(out=Path(tmp) / "warm") for a in MODES[mode]], pipeline, args.batch)
        for r in range(args.rounds):
            for mode in args.modes:
                out = Path(tmp) / f"{r}-{mode.split(',')[0]}"
                argv = base + [a.format(out=out) for a in MODES[mode]]
                cli, writer_busy = run_cli(argv, pipeline, args.batch)
                ref = run_peer(pose_fn, params, frames, args.batch)
                ours[mode].append(cli)
                peer[mode].append(ref)
                busy[mode].append(writer_busy)
                print(f"round {r} {mode}: command {cli:.2f} frames/s, pose_fn.batch {ref:.2f} frames/s, "
                      f"ratio {cli / ref:.2f}, writer busy {writer_busy:.0%}", flush=True)

    rows = []
    for mode in args.modes:
        ratio = statistics.median(a / b for a, b in zip(ours[mode], peer[mode]))
        rows.append([f"`{mode}`", f"{statistics.median(ours[mode]):.2f}",
                     f"{statistics.median(peer[mode]):.2f}", f"**{ratio:.2f}x**",
                     f"{statistics.median(busy[mode]):.0%}",
                     ", ".join(f"{a / b:.2f}" for a, b in zip(ours[mode], peer[mode]))])
    text = f"""## The command (streaming engine) vs `pose_fn.batch`, steady state

`python -m benchmarks.bench_cli`: first {len(frames)} frames of `video.avi` (1280x720, net input
656x368), default model (mobilenet_thin), `--batch {args.batch}`, {args.rounds} rounds; every mode
then the peer on the same frames, alternately. Ours: the command's shell (`jaxpose.cli.run.process`:
decoding, the streaming engine, rendering and the writers) in one process over a pipeline built
once (load {load_s:.1f} s, first batch {compile_s:.1f} s, both outside the timing); steady state =
from the first result of the first batch reaching the writer to the first of the last batch.
Peer: `pose_fn.batch` on frames decoded beforehand (device call + host matcher, no decoding,
no writing). Machine: {os.cpu_count()}-core CPU ({platform.machine()}), jax {jax.__version__} on
`{jax.default_backend()}`; {load_note(load_before)}.

{markdown_table(["mode", "command frames/s", "pose_fn.batch frames/s", "command / batch (median of ratios)",
                 "writer busy", "per-round ratios"], rows)}

'Writer busy': the share of the steady interval the caller's thread spends writing (rendering,
encoding, JSON), overlapped with the device work of the next batches. Peak RSS {peak_rss_mib():.0f} MiB.
"""
    print(text)
    if not args.no_write:
        write_section("cli", text)


if __name__ == "__main__":
    main()
