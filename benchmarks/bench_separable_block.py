"""One MobileNet-thin stage input block on CPU: concat -> depthwise 3x3 -> pointwise 921 -> 64 -> ReLU.

    python -m benchmarks.bench_separable_block [--samples 40] [--size 432x368]

The profile (`profile_mobilenet`) puts the largest gap to OpenVINO in this block (each stage's
first separable layer over the 921-channel concatenation). This times ways of writing it in
XLA, interleaved, against today's default ("shift" depthwise, then the matmul): the "slices"
depthwise, a barrier between depthwise and matmul, and the block tiled by rows (depthwise and
matmul per band of rows, so the 921-channel intermediate stays in cache) either as `lax.map` or
unrolled. Also the matmul alone in XLA and in NumPy (OpenBLAS) as a reference for the kernel.
Writes the "separable_block" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import interleaved, load_note, markdown_table, median_ratio, write_section
from jaxpose.nets.mobilenet_thin import depthwise_conv

PARTS = (38, 19, 864)  # PAFs, heat maps, trunk features: the stage input's channels
OUT = 64


def block(depthwise_impl: str, barrier: bool = False):
    """The block as the network writes it, with one choice of depthwise."""

    def fn(parts, kernel, w, b):
        y = depthwise_conv(jnp.concatenate(parts, -1), kernel, 1, depthwise_impl)
        if barrier:
            y = jax.lax.optimization_barrier(y)
        return jnp.maximum(y @ w + b, 0)

    return fn


def row_tiled(rows: int, unrolled: bool):
    """The block per band of `rows` output rows (3x3 taps on a zero-padded band, then the matmul)."""

    def fn(parts, kernel, w, b):
        x = jnp.concatenate(parts, -1)
        height, width = x.shape[1:3]

        def band(xp, r):
            out = None
            for dy in range(3):
                for dx in range(3):
                    tap = xp[:, dy:dy + r, dx:dx + width, :] * kernel[dy, dx, 0]
                    out = tap if out is None else out + tap
            return jnp.maximum(out @ w + b, 0)

        if unrolled:
            xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
            return jnp.concatenate([band(xp[:, r0:r0 + min(rows, height - r0) + 2], min(rows, height - r0))
                                    for r0 in range(0, height, rows)], axis=1)
        xp = jnp.pad(x, ((0, 0), (1, 1 + (-height) % rows), (1, 1), (0, 0)))
        count = -(-height // rows)
        ys = jax.lax.map(lambda i: band(jax.lax.dynamic_slice_in_dim(xp, i * rows, rows + 2, axis=1), rows),
                         jnp.arange(count))
        return ys.transpose(1, 0, 2, 3, 4).reshape(1, count * rows, width, -1)[:, :height]

    return fn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--size", default="432x368", help="network input WxH (the block runs at 1/8)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    w_in, h_in = (int(v) for v in args.size.split("x"))
    height, width = -(-h_in // 8), -(-w_in // 8)
    rng = np.random.default_rng(0)
    parts = [jax.device_put(rng.standard_normal((1, height, width, c)).astype(np.float32)) for c in PARTS]
    channels = sum(PARTS)
    kernel = jax.device_put(rng.standard_normal((3, 3, 1, channels)).astype(np.float32))
    w = jax.device_put((rng.standard_normal((channels, OUT)) / np.sqrt(channels)).astype(np.float32))
    b = jax.device_put(rng.standard_normal((OUT,)).astype(np.float32))
    variants = {
        "default (shift depthwise, then matmul)": block("shift"),
        "slices depthwise": block("slices"),
        "barrier between depthwise and matmul": block("shift", barrier=True),
        "row-tiled, lax.map, 8 rows": row_tiled(8, unrolled=False),
        "row-tiled, unrolled, 4 rows": row_tiled(4, unrolled=True),
        "row-tiled, unrolled, 12 rows": row_tiled(12, unrolled=True),
    }
    jitted = {name: jax.jit(fn) for name, fn in variants.items()}
    reference = np.asarray(jitted["default (shift depthwise, then matmul)"](parts, kernel, w, b))
    errors = {name: float(np.abs(np.asarray(fn(parts, kernel, w, b)) - reference).max() / np.ptp(reference))
              for name, fn in jitted.items()}
    x2d = jnp.concatenate(parts, -1).reshape(height * width, channels)
    x_np, w_np = np.asarray(x2d), np.asarray(w)
    matmul = jax.jit(lambda x, w: x @ w)
    fns = {name: (lambda fn=fn: jax.block_until_ready(fn(parts, kernel, w, b))) for name, fn in jitted.items()}
    fns["matmul alone, XLA"] = lambda: jax.block_until_ready(matmul(x2d, w))
    fns["matmul alone, NumPy (OpenBLAS)"] = lambda: x_np @ w_np
    times = interleaved(fns, samples=args.samples)
    base = times["default (shift depthwise, then matmul)"]
    flops = 2 * height * width * channels * OUT
    rows = []
    for name in fns:
        ms = statistics.median(times[name]) * 1e3
        rows.append([name, f"{ms:.2f}", f"{median_ratio(times[name], base):.2f}",
                     f"{flops / ms / 1e6:.0f}" if name.startswith("matmul") else "-",
                     f"{errors[name]:.1e}" if name in errors else "-"])
        print(rows[-1], flush=True)
    text = (
        f"## One stage input block (concat -> depthwise 3x3 -> 1x1 {channels} -> {OUT}), {args.size}\n\n"
        f"`python -m benchmarks.bench_separable_block --size {args.size} --samples {args.samples}`; block at "
        f"{width}x{height}, batch 1, float32; host {os.cpu_count()} CPUs; {load_note(load_before)}; "
        f"jax {jax.__version__}; {args.samples} interleaved samples.\n\n"
        + markdown_table(["variant", "ms", "variant/default (median of ratios)", "matmul GFLOP/s",
                          "max diff / range"], rows) + "\n"
    )
    write_section("separable_block", text)
    print(text)


if __name__ == "__main__":
    main()
