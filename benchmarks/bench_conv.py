"""Single convolution layers of OpenPose's networks: Winograd (ours) vs XLA's convolution vs OpenCV DNN.

    python -m benchmarks.bench_conv                    # all layers + BODY_25, batch 1 and 8, writes RESULTS.md
    python -m benchmarks.bench_conv --batches 1 --layers conv4_2 stage128 --nets --no-write

Each row times one "same" stride-1 convolution (with bias) on random float32 data, three ways,
sampled alternately in this process (benchmarks/common.py): `jax.lax.conv_general_dilated`
(jitted), `jaxpose.nets.winograd.winograd_conv` (jitted, kernel transformed once outside the
timed call, as `prepare_params` would), and OpenCV DNN running a one-layer Caffe net with the
same weights (cv2.setNumThreads(2); XLA uses all cores of this machine). Ratios are medians of
per-sample ratios: < 1 means ours is faster. The max abs diff columns check that all three compute
the same. 1x1 rows compare `pointwise_conv` (one matmul) with XLA's 1x1 convolution.

A second table (same section) times whole networks (random weights, tests/caffe_writer.py) built by
`openpose_net` four ways: conv3x3_impl="xla"; "winograd" (the layer factory's switch; 3x3 layers
with >= 96 channels by Winograd, kernels transformed once by `winograd_params`); "winograd+7x7+1x1"
(additionally 7x7 layers by Winograd blocks and 1x1 layers as matmuls: the factory is patched in
this process to send every kernel size to `WinogradConv`); and OpenCV DNN on the same caffemodel.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test-only caffemodel writer

# name: (kernel, Cin, Cout, H, W) at OpenPose's default net input 656x368 (HAND/FACE 368x368).
LAYERS: dict[str, tuple[int, int, int, int, int]] = {
    "conv1_2": (3, 64, 64, 368, 656),
    "conv2_2": (3, 128, 128, 184, 328),
    "conv3_2": (3, 256, 256, 92, 164),
    "conv4_1": (3, 256, 512, 46, 82),
    "conv4_2": (3, 512, 512, 46, 82),
    "conv4_3_CPM": (3, 512, 256, 46, 82),
    "conv4_4_CPM": (3, 256, 128, 46, 82),
    "stage96": (3, 96, 96, 46, 82),  # BODY_25 stage 0 dense-block convs
    "stage128": (3, 128, 128, 46, 82),  # BODY_25 stages 1..
    "stage384": (3, 384, 128, 46, 82),  # BODY_25 first conv of a dense block (3 x 128 in)
    "Mconv7x7": (7, 128, 128, 46, 82),  # COCO/MPI refinement stages
    "Mconv7x7_hand": (7, 128, 128, 46, 46),  # HAND/FACE refinement stages
    "Mconv6_1x1": (1, 384, 512, 46, 82),  # BODY_25 stage ends
    "Mconv7_1x1": (1, 512, 52, 46, 82),
}
NET_SIZES = {"BODY_25": (368, 656), "COCO": (368, 656), "MPI": (368, 656), "HAND": (368, 368), "FACE": (368, 368)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_conv", description=__doc__.split("\n")[0])
    parser.add_argument("--layers", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--tile", type=int, default=None, help="Winograd output tile m (default: the library's)")
    parser.add_argument("--samples", type=int, default=3, help="interleaved samples at batch 1")
    parser.add_argument("--samples-batched", type=int, default=2, help="interleaved samples at batch > 1")
    parser.add_argument("--nets", nargs="*", default=["BODY_25"], choices=list(NET_SIZES),
                        help="whole networks to time (none: skip the table)")
    parser.add_argument("--net-batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--net-samples", type=int, default=3, help="interleaved samples per network at batch 1")
    parser.add_argument("--net-samples-batched", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/RESULTS.md alone")
    return parser.parse_args(argv)


def opencv_conv_net(kernel: np.ndarray, bias: np.ndarray, shape: tuple[int, int, int, int], tmp: Path):
    """A one-layer OpenCV DNN net computing the Caffe convolution with `kernel` (HWIO) and `bias`."""
    import cv2
    from caffe_writer import write_caffemodel

    r, _, cin, cout = kernel.shape
    n, h, w, _ = shape
    prototxt = tmp / "conv.prototxt"
    prototxt.write_text(
        f'name: "conv"\ninput: "data"\ninput_dim: {n}\ninput_dim: {cin}\ninput_dim: {h}\ninput_dim: {w}\n'
        f'layer {{ name: "conv" type: "Convolution" bottom: "data" top: "conv"\n'
        f"  convolution_param {{ num_output: {cout} pad: {(r - 1) // 2} kernel_size: {r} }} }}\n"
    )
    weights = write_caffemodel(tmp / "conv.caffemodel", {"conv": [kernel.transpose(3, 2, 0, 1), bias]})
    return cv2.dnn.readNetFromCaffe(str(prototxt), str(weights))


def bench_layer(name: str, batch: int, samples: int, tile: int | None, tmp: Path) -> list[object]:
    import jax
    import jax.numpy as jnp

    from benchmarks.common import interleaved, median_ratio
    from jaxpose.nets.winograd import DEFAULT_TILE, pointwise_conv, transform_kernel, winograd_conv_transformed

    r, cin, cout, h, w = LAYERS[name]
    m = tile or DEFAULT_TILE
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, h, w, cin), dtype=np.float32)
    kernel = (rng.standard_normal((r, r, cin, cout), dtype=np.float32) / np.sqrt(r * r * cin)).astype(np.float32)
    bias = rng.standard_normal(cout, dtype=np.float32)

    lax_conv = jax.jit(
        lambda x, k, b: jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        + b
    )
    xj, kj, bj = jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias)
    if r == 1:
        wino = jax.jit(lambda x, u, b: pointwise_conv(x, u, b))
        u = kj
    else:
        wino = jax.jit(lambda x, u, b: winograd_conv_transformed(x, u, r, b, m=m))
        u = jax.block_until_ready(transform_kernel(kj, m))
    net = opencv_conv_net(kernel, bias, x.shape, tmp)
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def opencv() -> np.ndarray:
        net.setInput(x_nchw)
        return net.forward()

    ours_out = np.asarray(wino(xj, u, bj))
    cv_out = opencv().transpose(0, 2, 3, 1)
    lax_out = np.asarray(lax_conv(xj, kj, bj))
    diff_cv = float(np.abs(ours_out - cv_out).max())
    diff_lax = float(np.abs(ours_out - lax_out).max())

    times = interleaved(
        {
            "lax": lambda: jax.block_until_ready(lax_conv(xj, kj, bj)),
            "ours": lambda: jax.block_until_ready(wino(xj, u, bj)),
            "opencv": opencv,
        },
        samples=samples,
    )
    ms = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
    return [
        name,
        f"{r}x{r} {cin}->{cout} @{h}x{w}",
        batch,
        f"{ms['ours']:.1f}",
        f"{ms['lax']:.1f}",
        f"{ms['opencv']:.1f}",
        f"{median_ratio(times['ours'], times['lax']):.2f}",
        f"{median_ratio(times['ours'], times['opencv']):.2f}",
        f"{median_ratio(times['lax'], times['opencv']):.2f}",
        f"{diff_lax:.1e} / {diff_cv:.1e}",
    ]


def bench_net(name: str, batch: int, samples: int, caffemodel: str) -> list[object]:
    import cv2
    import jax

    import jaxpose.nets.openpose as openpose
    from benchmarks.common import interleaved, median_ratio, timed
    from conftest import PROTOTXTS
    from jaxpose.convert.caffe import convert_caffe
    from jaxpose.nets.layers import conv
    from jaxpose.nets.winograd import WinogradConv, winograd_params

    def conv_all_winograd(x, features, kernel_size, name, dtype, conv3x3_impl):
        pad = (kernel_size - 1) // 2
        return WinogradConv(features, (kernel_size, kernel_size), pad, dtype=dtype, name=name)(x)

    h, w = NET_SIZES[name]
    _, params = convert_caffe(str(PROTOTXTS[name]), caffemodel)
    x = (np.random.default_rng(0).integers(0, 256, (batch, h, w, 3)) / 256.0 - 0.5).astype(np.float32)
    xj = jax.device_put(x)
    variants = {
        "xla": ("xla", conv, params),
        "winograd": ("winograd", conv, jax.jit(winograd_params)(params)),
        "winograd+7x7+1x1": ("winograd", conv_all_winograd, jax.jit(lambda p: winograd_params(p, (3, 7)))(params)),
    }
    fns, compile_s, outs = {}, {}, {}
    for label, (impl, conv_fn, p) in variants.items():
        openpose.conv = conv_fn  # the module looks the factory up at trace time
        try:
            net = openpose.openpose_net(name, conv3x3_impl=impl)
            compiled, compile_s[label] = timed(lambda: jax.jit(net.apply).lower({"params": p}, xj).compile())
        finally:
            openpose.conv = conv
        fns[label] = lambda c=compiled, p=p: jax.block_until_ready(c({"params": p}, xj))
        outs[label] = np.asarray(fns[label]())
    cv_net = cv2.dnn.readNetFromCaffe(str(PROTOTXTS[name]), caffemodel)
    blob = np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def opencv() -> np.ndarray:
        cv_net.setInput(blob)
        return cv_net.forward()

    ref = opencv().transpose(0, 2, 3, 1)
    fns["opencv"] = opencv
    times = interleaved(fns, samples=samples)
    ms = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
    row = [name, f"{w}x{h}", batch, f"{ms['opencv']:.0f}"]
    for label in variants:
        err = float(np.abs(outs[label] - ref).max() / np.abs(ref).max())
        row += [f"{ms[label]:.0f}", f"{median_ratio(times['opencv'], times[label]):.2f}x", f"{compile_s[label]:.0f}",
                f"{err:.0e}"]
    print(" | ".join(str(c) for c in row), flush=True)
    return row


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import cv2
    import jax

    from benchmarks.common import markdown_table, write_section
    from jaxpose.nets.winograd import DEFAULT_TILE

    cv2.setNumThreads(2)
    header = ["layer", "conv", "N", "ours ms", "lax ms", "OpenCV ms", "ours/lax", "ours/OpenCV", "lax/OpenCV",
              "max abs diff vs lax / OpenCV"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batches:
            for name in args.layers:
                samples = args.samples if batch == 1 else args.samples_batched
                rows.append(bench_layer(name, batch, samples, args.tile, Path(tmp)))
                print(" | ".join(str(c) for c in rows[-1]), flush=True)
        net_rows = []
        if args.nets:
            from caffe_writer import write_random_caffemodel
            from conftest import PROTOTXTS

            for name in args.nets:
                caffemodel = str(write_random_caffemodel(PROTOTXTS[name], Path(tmp) / f"{name}.caffemodel", seed=0))
                for batch in args.net_batches:
                    samples = args.net_samples if batch == 1 else args.net_samples_batched
                    net_rows.append(bench_net(name, batch, samples, caffemodel))
                os.unlink(caffemodel)
    tile = args.tile or DEFAULT_TILE
    text = (
        f"Single convolutions, float32, Winograd F({tile}x{tile}, 3x3) for 3x3 and F({tile}x{tile}, {tile}x{tile}) "
        f"blocks for 7x7 (`python -m benchmarks.bench_conv`), jax {jax.__version__}, OpenCV {cv2.__version__} "
        f"(2 threads), {os.cpu_count()} CPUs. Medians of interleaved samples; ratios < 1: ours faster.\n\n"
        + markdown_table(header, rows)
    )
    if net_rows:
        net_header = ["model", "input WxH", "N", "OpenCV ms"]
        for label in ("xla", "winograd", "winograd+7x7+1x1"):
            net_header += [f"{label} ms", f"{label} speed-up vs OpenCV", f"{label} compile s", f"{label} max rel diff"]
        text += (
            "\n\nWhole networks (same random weights and input as OpenCV; speed-up = median of OpenCV/ours "
            "per-sample ratios, > 1: ours faster; kernels pre-transformed by `winograd_params`):\n\n"
            + markdown_table(net_header, net_rows)
        )
    print(text)
    if not args.no_write:
        write_section("conv3x3", text)


if __name__ == "__main__":
    main()
