"""Memory over time: resident memory stays flat after warm-up (bounded compile cache, streaming).

    python -m benchmarks.bench_memory                 # writes the "memory" section of RESULTS.md
    python -m benchmarks.bench_memory --images 40 --frames 1000 --no-write

1. Images: N (200) images of seeded random sizes (160..1280 x 120..960 pixels), one `pose_fn`
   call each, in two child processes run one after the other with the same sizes: the default
   `max_compiled=8` and an unbounded cache (`max_compiled=10**9`, the behaviour before the LRU).
   Resident memory (RSS, /proc/self/statm) is sampled after every image; the table gives it after
   the first image (warm-up) and at each quarter, with the number of compiles.
2. Video: a synthetic video of M (10,000) frames of 96 x 64 pixels (moving shapes, MJPG, written
   with OpenCV) read with `jaxpose.io.readers.VideoSource`, `pose_fn` per frame (video settings:
   `net_resolution_dynamic=-1`), one people-JSON file written per frame; RSS every 10% of the frames.

Model: jaxpose.load_model("mobilenet_thin") at `--net_resolution` (default -1x128, to keep the 400
compiles of part 1 affordable on a small machine; an executable's size depends little on it).
Memory is not sensitive to the machine's load the way timings are, so the two runs are not
interleaved; each is its own process so that its RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

UNBOUNDED = 10**9


def rss_mib() -> float:
    """Current resident memory of this process, MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        from benchmarks.common import peak_rss_mib

        return peak_rss_mib()


def image_sizes(count: int, seed: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    return [(int(w), int(h)) for w, h in zip(rng.integers(160, 1281, count), rng.integers(120, 961, count))]


def _net_resolution(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def child_images(args: argparse.Namespace) -> None:
    """One process: N random-size images through one pose_fn; a JSON line per image."""
    import jaxpose

    model = jaxpose.load_model("mobilenet_thin")
    fn = jaxpose.make_pose_fn(model, net_resolution=_net_resolution(args.net_resolution),
                              max_compiled=args.max_compiled)
    rng = np.random.default_rng(args.seed + 1)
    for index, (w, h) in enumerate(image_sizes(args.images, args.seed)):
        image = rng.integers(0, 256, (h, w, 3), np.uint8)
        start = time.perf_counter()
        fn(model.params, image)
        print(json.dumps({"index": index, "size": [w, h], "rss": rss_mib(),
                          "compiles": fn._compiled_fns.misses, "seconds": time.perf_counter() - start}),
              flush=True)


def write_synthetic_video(path: Path, frames: int, size=(96, 64), fps: float = 30.0) -> Path:
    """`frames` frames of a bright disc and bar moving over a dark gradient, MJPG."""
    import cv2

    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    base = np.tile(np.linspace(20, 80, w, dtype=np.uint8)[None, :, None], (h, 1, 3))
    for t in range(frames):
        frame = base.copy()
        cv2.circle(frame, (int(w / 2 + w / 3 * np.sin(t / 17)), h // 2), 8, (230, 200, 180), -1)
        cv2.rectangle(frame, (t % w, 5), (t % w + 6, h - 5), (60, 180, 240), -1)
        writer.write(frame)
    writer.release()
    return path


def child_video(args: argparse.Namespace) -> None:
    """One process: a long synthetic video read, posed and written frame by frame."""
    import jaxpose
    from jaxpose.io import readers
    from jaxpose.io.writers.people_json import write_people_json

    model = jaxpose.load_model("mobilenet_thin")
    fn = jaxpose.make_pose_fn(model, net_resolution=_net_resolution(args.net_resolution),
                              net_resolution_dynamic=-1.0)
    with tempfile.TemporaryDirectory() as tmp:
        video = write_synthetic_video(Path(tmp) / "synthetic.avi", args.frames)
        out = Path(tmp) / "json"
        source = readers.VideoSource(video)
        every = max(1, args.frames // 10)
        start = time.perf_counter()
        for item in source.frames():
            if not isinstance(item, readers.Frame):
                continue
            write_people_json(out, item.name, fn(model.params, item.image))
            done = item.index + 1
            if done == 1 or done % every == 0:
                print(json.dumps({"frames": done, "rss": rss_mib(), "seconds": time.perf_counter() - start,
                                  "files": len(os.listdir(out))}), flush=True)


def run_child(kind: str, args: argparse.Namespace, **extra) -> list[dict]:
    argv = [sys.executable, "-m", "benchmarks.bench_memory", "--child", kind,
            "--images", str(args.images), "--frames", str(args.frames), "--seed", str(args.seed),
            f"--net_resolution={args.net_resolution}"]
    for key, value in extra.items():
        argv += [f"--{key}={value}"]
    print("running", " ".join(argv[2:]), file=sys.stderr, flush=True)
    done = subprocess.run(argv, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise SystemExit(f"child {kind} failed:\n{done.stderr[-4000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def images_table(bounded: list[dict], unbounded: list[dict], max_compiled: int) -> tuple[str, list[list[object]]]:
    from benchmarks.common import markdown_table

    n = len(bounded)
    marks = sorted({0, n // 4 - 1, n // 2 - 1, 3 * n // 4 - 1, n - 1} - {-1})
    rows = []
    for i in marks:
        b, u = bounded[i], unbounded[i] if i < len(unbounded) else None
        rows.append([i + 1, f"{b['rss']:.0f}", b["compiles"],
                     f"{u['rss']:.0f}" if u else "-", u["compiles"] if u else "-"])
    header = ["images done", f"RSS MiB, max_compiled={max_compiled}", "compiles", "RSS MiB, unbounded", "compiles"]
    return markdown_table(header, rows), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--net_resolution", default="-1x128")
    parser.add_argument("--max_compiled", type=int, default=8)
    parser.add_argument("--child", choices=["images", "video"], help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    if args.child == "images":
        return child_images(args)
    if args.child == "video":
        return child_video(args)

    from benchmarks.common import markdown_table, write_section

    bounded = run_child("images", args, max_compiled=args.max_compiled)
    unbounded = run_child("images", args, max_compiled=UNBOUNDED)
    table, _ = images_table(bounded, unbounded, args.max_compiled)
    video = run_child("video", args)
    video_rows = [[v["frames"], f"{v['rss']:.0f}",
                   f"{(v['frames'] - u['frames']) / max(v['seconds'] - u['seconds'], 1e-9):.0f}" if u else "(compile)"]
                  for u, v in zip([None] + video[:-1], video)]
    warm = bounded[min(len(bounded) - 1, 2 * args.max_compiled)]["rss"]
    growth_b = bounded[-1]["rss"] - warm
    growth_u = unbounded[-1]["rss"] - unbounded[min(len(unbounded) - 1, 2 * args.max_compiled)]["rss"]
    per_compile = growth_u / max(1, unbounded[-1]["compiles"] - unbounded[min(len(unbounded) - 1, 2 * args.max_compiled)]["compiles"])
    video_growth = video[-1]["rss"] - video[min(1, len(video) - 1)]["rss"]
    markdown = "\n".join([
        "## Memory over time (bench_memory.py)",
        "",
        f"Shared, loaded 2-core machine (about 8 developers' jobs at once; memory is not timing-"
        f"sensitive). Model mobilenet_thin, net_resolution {args.net_resolution}. Reproduce: "
        "`python -m benchmarks.bench_memory`.",
        "",
        f"**{args.images} random-size images** (seed {args.seed}; 160..1280 x 120..960 px), one "
        "process each setting:",
        "",
        table,
        "",
        f"After warm-up ({2 * args.max_compiled} images) the bounded process grows {growth_b:+.0f} MiB "
        f"over the remaining images; the unbounded one {growth_u:+.0f} MiB, about {per_compile:.1f} MiB "
        "per compiled function kept.",
        "",
        f"**Synthetic video, {args.frames:,} frames of 96 x 64** (read, posed, one JSON file per frame):",
        "",
        markdown_table(["frames done", "RSS MiB", "frames/s since the row above"], video_rows),
        "",
        f"RSS change from frame {video[min(1, len(video) - 1)]['frames']} to the last: {video_growth:+.0f} MiB.",
    ])
    print(markdown)
    if not args.no_write:
        write_section("memory", markdown)


if __name__ == "__main__":
    main()
