"""OpenPose networks: our jitted forward pass vs OpenCV DNN on the same random weights and input.

    python -m benchmarks.bench_nets                       # BODY_25, COCO @656x368; HAND, FACE @368x368
    python -m benchmarks.bench_nets --conv3x3 winograd    # another 3x3 convolution implementation
    python -m benchmarks.bench_nets --models HAND --batches 1 --samples 3 --no-write

Both run in this process on one seeded random caffemodel per network (tests/caffe_writer.py),
sampled alternately (benchmarks/common.py). Reported: median milliseconds per call, the median of
the per-sample ratios OpenCV / ours (> 1: we are faster), our compile time, how much the process's
resident memory grows during the first call of each (sampled every ~2 ms), and the process's peak
RSS. A second table times reading and converting a generated COCO caffemodel (~200 MB) in a fresh
process (time, peak RSS).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test-only caffemodel writer

SIZES = {"BODY_25": (368, 656), "COCO": (368, 656), "MPI": (368, 656), "MPI_4_layers": (368, 656),
         "HAND": (368, 368), "FACE": (368, 368)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from jaxpose.nets.layers import CONV3X3_IMPLS, DEFAULT_CONV3X3_IMPL

    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_nets", description=__doc__.split("\n")[0])
    parser.add_argument("--conv3x3", default=DEFAULT_CONV3X3_IMPL, choices=sorted(CONV3X3_IMPLS),
                        help="implementation of the 3x3 convolutions (jaxpose.nets.layers.CONV3X3_IMPLS)")
    parser.add_argument("--models", nargs="+", default=["BODY_25", "COCO", "HAND", "FACE"], choices=sorted(SIZES))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--samples", type=int, default=3, help="interleaved samples at batch 1")
    parser.add_argument("--samples-batched", type=int, default=2, help="interleaved samples at batch > 1")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--no-convert", action="store_true", help="skip the caffemodel reading table")
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/RESULTS.md alone")
    parser.add_argument("--measure-convert", metavar="CAFFEMODEL", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def bench_one(name: str, batch: int, samples: int, caffemodel: str, args) -> list[object]:
    import cv2
    import jax
    import jax.numpy as jnp

    from benchmarks.common import interleaved, median_ratio, peak_rss_mib, timed
    from conftest import PROTOTXTS
    from jaxpose.convert.caffe import convert_caffe
    from jaxpose.nets.openpose import openpose_net

    prototxt = str(PROTOTXTS[name])
    h, w = SIZES[name]
    _, params = convert_caffe(prototxt, caffemodel)
    params = jax.device_put(params)
    net = openpose_net(name, dtype=jnp.dtype(args.dtype), conv3x3_impl=args.conv3x3)
    pixels = np.random.default_rng(0).integers(0, 256, (batch, h, w, 3))
    x_nhwc = (pixels / 256.0 - 0.5).astype(np.float32)
    x_jax = jax.device_put(x_nhwc)
    compiled, compile_s = timed(lambda: jax.jit(net.apply).lower({"params": params}, x_jax).compile())

    cv_net = cv2.dnn.readNetFromCaffe(prototxt, caffemodel)
    cv_net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    blob = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))

    def ours():
        return jax.block_until_ready(compiled({"params": params}, x_jax))

    def opencv():
        cv_net.setInput(blob)
        return cv_net.forward()

    ours_out, ours_mib = peak_rss_growth_mib(ours)
    ref, cv_mib = peak_rss_growth_mib(opencv)
    ref = ref.transpose(0, 2, 3, 1)
    err = float(np.abs(np.asarray(ours_out) - ref).max() / np.abs(ref).max())
    times = interleaved({"ours": ours, "opencv": opencv}, samples=samples, warmup=0)
    ms = {k: 1000 * statistics.median(v) for k, v in times.items()}
    speedup = median_ratio(times["opencv"], times["ours"])
    row = [name, f"{w}x{h}", batch, f"{ms['ours']:.0f}", f"{ms['opencv']:.0f}", f"{speedup:.2f}x",
           f"{compile_s:.1f}", f"{ours_mib:.0f}", f"{cv_mib:.0f}", f"{peak_rss_mib():.0f}", f"{err:.1e}", samples]
    print(" | ".join(str(c) for c in row), flush=True)
    return row


def _vm_hwm_mib() -> float:
    """This process's peak RSS from /proc (ru_maxrss would include the parent's peak: it survives exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_growth_mib(fn) -> tuple[object, float]:
    """(fn(), highest resident memory during the call minus before it, MiB), sampled every ~2 ms."""
    start = _rss_mib()
    peak, done = [start], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mib())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        out = fn()
    finally:
        done.set()
        thread.join()
    return out, max(peak[0], _rss_mib()) - start


def measure_convert(caffemodel: str) -> None:
    """Run in a fresh process: read + convert a COCO caffemodel; prints seconds and peak RSS."""
    peak_rss_mib = _vm_hwm_mib
    from conftest import PROTOTXTS
    from jaxpose.convert.caffe import convert_caffe, expected_params, read_caffemodel

    expected_params("COCO")
    base = peak_rss_mib()
    t0 = time.perf_counter()
    read_caffemodel(caffemodel)
    t1 = time.perf_counter()
    read_peak = peak_rss_mib()
    convert_caffe(str(PROTOTXTS["COCO"]), caffemodel)
    t2 = time.perf_counter()
    print(f"{t1 - t0:.2f} {read_peak - base:.0f} {t2 - t1:.2f} {peak_rss_mib() - base:.0f}")


def convert_table(folder: Path) -> str:
    from benchmarks.common import markdown_table
    from caffe_writer import write_random_caffemodel
    from conftest import PROTOTXTS

    path = write_random_caffemodel(PROTOTXTS["COCO"], folder / "COCO.caffemodel", seed=0)
    size_mb = path.stat().st_size / 1e6
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_nets", "--measure-convert", str(path)],
                         capture_output=True, text=True, cwd=REPO, check=True).stdout.split()
    read_s, read_mib, conv_s, conv_mib = out[-4:]
    return markdown_table(
        ["file", "read_caffemodel s", "read: peak RSS over baseline MiB", "from_caffe s (read+remap+merge)",
         "from_caffe: peak RSS over baseline MiB"],
        [[f"COCO random, {size_mb:.0f} MB", read_s, read_mib, conv_s, conv_mib]],
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.measure_convert:
        measure_convert(args.measure_convert)
        return 0
    import jax

    from benchmarks.common import markdown_table, write_section
    from jaxpose.nets.layers import DEFAULT_CONV3X3_IMPL
    from caffe_writer import write_random_caffemodel
    from conftest import PROTOTXTS

    header = ["model", "input WxH", "batch", "ours ms", "OpenCV ms", "speed-up (OpenCV/ours, median of ratios)",
              "compile s", "ours: RSS growth MiB", "OpenCV: RSS growth MiB", "process peak RSS MiB",
              "max rel. diff", "samples"]
    print(" | ".join(header), flush=True)
    rows = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            caffemodel = str(write_random_caffemodel(PROTOTXTS[name], Path(tmp) / f"{name}.caffemodel", seed=0))
            for batch in args.batches:
                samples = args.samples if batch == 1 else args.samples_batched
                rows.append(bench_one(name, batch, samples, caffemodel, args))
            os.unlink(caffemodel)
        conversion = "" if args.no_convert else convert_table(Path(tmp))
    total_min = (time.perf_counter() - t_start) / 60
    cpu = os.cpu_count()
    text = (
        f"Networks, jaxpose (jit, conv3x3={args.conv3x3}, {args.dtype}) vs OpenCV {__import__('cv2').__version__} "
        f"DNN (CPU backend), same random weights and input; {cpu} CPU cores, JAX {jax.__version__} on "
        f"{jax.default_backend()}; {total_min:.1f} min in total. Speed-up > 1 means jaxpose is faster.\n\n"
        + markdown_table(header, rows)
        + ("\n\nReading and converting a caffemodel (fresh process):\n\n" + conversion if conversion else "")
    )
    print(text)
    if not args.no_write:
        write_section("nets" if args.conv3x3 == DEFAULT_CONV3X3_IMPL else f"nets-{args.conv3x3}", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
