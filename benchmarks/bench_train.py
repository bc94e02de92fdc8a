"""Training-step speed of MobileNet-thin: step time, images/s, compile time, memory.

    python3 benchmarks/bench_train.py [--batch 8] [--size 432x368] [--samples 3]

Times one full jitted train step (targets on the device, forward of all 6 stages, backward,
Adam update; donated state) in float32 and in bfloat16 mixed precision, interleaved in one
process with the network's forward pass on the same batch as the peer (the machine's speed drifts;
ratios of paired samples are what the numbers mean). Batches come from ../shared/eval/coco with
the tf-pose recipe's augmentation. PyTorch is not used as a peer: see the RESULTS.md section.
Writes the "train" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import interleaved, markdown_table, median_ratio, peak_rss_mib, timed, write_section  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", default="432x368")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    import jaxpose
    from jaxpose.device.preprocess import normalize
    from jaxpose.train.coco_data import CocoKeypoints
    from jaxpose.train.layouts import coco_layout
    from jaxpose.train.loader import BatchStream
    from jaxpose.train.optim import make_optimizer
    from jaxpose.train.recipes import recipe_for
    from jaxpose.train.step import TrainStep, init_state

    model = jaxpose.load_model("mobilenet_thin")
    layout, recipe = coco_layout(model.name), recipe_for(model.name)
    data = CocoKeypoints(SHARED / "eval/coco/test_coco.json", SHARED / "eval/coco")
    stream = BatchStream(data, layout, recipe, batch_size=args.batch, crop_wh=(w, h), seed=0)
    batch = stream.batch(0)
    stream.close()

    steps, states, rows = {}, {}, []
    for label, dtype in (("float32", None), ("bfloat16", jnp.bfloat16)):
        tx, _ = make_optimizer(model.params, recipe.optim, lr=1e-5, total_steps=1000)
        step = TrainStep(model, layout, recipe, tx, compute_dtype=dtype)
        state = step.put_state(init_state(model.params, tx))
        device_batch = step.put(batch)
        lowered = step._jitted.lower(state, *device_batch)
        compiled, compile_s = timed(lowered.compile)
        memory = compiled.memory_analysis()
        temp_mib = getattr(memory, "temp_size_in_bytes", 0) / 2**20 if memory is not None else float("nan")
        states[label] = state
        steps[label] = (step, device_batch)
        rows.append([label, compile_s, temp_mib])

    forward = jax.jit(lambda p, x: model.net.apply({"params": p}, normalize(x, model.spec.normalization)))
    images = jnp.asarray(batch.images)
    _, forward_compile = timed(lambda: jax.block_until_ready(forward(model.params, images)))

    def run(label):
        def call():
            step, device_batch = steps[label]
            states[label], metrics = step(states[label], device_batch)
            jax.block_until_ready(metrics["loss"])
        return call

    times = interleaved({"float32": run("float32"), "bfloat16": run("bfloat16"),
                         "forward": lambda: jax.block_until_ready(forward(model.params, images))},
                        samples=args.samples, warmup=1)
    table = []
    for (label, compile_s, temp_mib) in rows:
        med = statistics.median(times[label])
        table.append([f"train step {label}", f"{med:.2f}", f"{args.batch / med:.2f}",
                      f"{median_ratio(times[label], times['forward']):.2f}", f"{compile_s:.1f}", f"{temp_mib:.0f}"])
    fwd = statistics.median(times["forward"])
    table.append(["forward only (peer)", f"{fwd:.2f}", f"{args.batch / fwd:.2f}", "1.00", f"{forward_compile:.1f}", "-"])
    text = (
        "## Training step (MobileNet-thin, tf-pose recipe)\n\n"
        f"Device: {jax.devices()[0].platform} ({jax.device_count()} device); host {platform.machine()}, "
        f"2 CPUs shared with ~7 other developers' jobs while measuring (load average 10-16): absolute times "
        f"are inflated, the ratios are paired samples taken alternately. jax {jax.__version__}; batch "
        f"{args.batch} at {w}x{h} from ../shared/eval/coco; {args.samples} interleaved samples (median). "
        "A step = targets on the device + forward of the 6 stages + backward + Adam, state donated.\n\n"
        + markdown_table(["what", "s/step", "images/s", "x forward (median of ratios)", "compile s", "XLA temp MiB"], table)
        + f"\n\nPeak RSS: {peak_rss_mib():.0f} MiB. PyTorch peer: not run (the default torch wheel "
        "pulls the CUDA runtime, several GB, onto this shared CPU machine; the CPU-only build is not "
        "a declarable dependency of an optional extra without pinning a local version label).\n"
    )
    print(text)
    if not args.no_write:
        write_section("train", text)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
