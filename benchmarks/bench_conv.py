"""Single convolution layers of OpenPose's networks: Winograd (ours) vs XLA's convolution vs OpenCV DNN.

    python -m benchmarks.bench_conv                    # all layers, batch 1 and 8, writes RESULTS.md
    python -m benchmarks.bench_conv --batches 1 --layers conv4_2 stage128 --no-write

Each row times one "same" stride-1 convolution (with bias) on random float32 data, three ways,
sampled alternately in this process (benchmarks/common.py): `jax.lax.conv_general_dilated`
(jitted), `jaxpose.nets.winograd.winograd_conv` (jitted, kernel transformed once outside the
timed call, as `prepare_params` would), and OpenCV DNN running a one-layer Caffe net with the
same weights (cv2.setNumThreads(2); XLA uses all cores of this machine). Ratios are medians of
per-sample ratios: < 1 means ours is faster. `max|ours-cv|` checks that all three compute the same.
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
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_conv", description=__doc__.split("\n")[0])
    parser.add_argument("--layers", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--tile", type=int, default=None, help="Winograd output tile m (default: the library's)")
    parser.add_argument("--samples", type=int, default=5, help="interleaved samples at batch 1")
    parser.add_argument("--samples-batched", type=int, default=3, help="interleaved samples at batch > 1")
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
    from jaxpose.nets.winograd import DEFAULT_TILE, transform_kernel, winograd_conv_transformed

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
    wino = jax.jit(lambda x, u, b: winograd_conv_transformed(x, u, r, b, m=m))
    xj, kj, bj = jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias)
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
    tile = args.tile or DEFAULT_TILE
    text = (
        f"Single convolutions, float32, Winograd F({tile}x{tile}, 3x3) for 3x3 and F({tile}x{tile}, {tile}x{tile}) "
        f"blocks for 7x7 (`python -m benchmarks.bench_conv`), jax {jax.__version__}, OpenCV {cv2.__version__} "
        f"(2 threads), {os.cpu_count()} CPUs. Medians of interleaved samples; ratios < 1: ours faster.\n\n"
        + markdown_table(header, rows)
    )
    print(text)
    if not args.no_write:
        write_section("conv3x3", text)


if __name__ == "__main__":
    main()
