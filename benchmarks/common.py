"""Shared benchmark plumbing: interleaved timing against a peer, memory, and RESULTS.md sections.

These machines' speed drifts by up to 2x for minutes at a time, so ours and the peer are timed
sample by sample, alternately, and we report the median of the per-sample ratios.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import time
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).with_name("RESULTS.md")


def interleaved(fns: dict[str, Callable[[], object]], samples: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each function, sampled alternately, the order rotating every round
    (a, b, c, then b, c, a, then c, a, b, ...).

    Rotating matters: on the 2-core machine the same compiled network measured 6-8 % faster in
    the slot right after another run of itself than right after a different program (caches,
    frequency), so a fixed order biased the ratios. Each callable must block until its result is
    ready (e.g. end in `jax.block_until_ready`).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_index in range(samples):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over samples of numerator[i] / denominator[i] (paired, drift-robust)."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_note(load_before: float) -> str:
    """The machine's 1-minute load average before and now, and how to read it (cores = full)."""
    cores = os.cpu_count()
    return (f"1-minute load average {load_before:.1f} before the run and {os.getloadavg()[0]:.1f} after it "
            f"({cores}.0 = all {cores} cores busy; above that, other jobs shared them)")


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    """(result, seconds) of one blocking call: used for compile times."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section `name` of benchmarks/RESULTS.md, leaving the others alone."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def add_host_memory_flag(parser) -> None:
    """`--no-keep-host-memory`: leave glibc's malloc as it is (see `host_memory_setting`)."""
    parser.add_argument("--no-keep-host-memory", action="store_true",
                        help="leave glibc's malloc as it is (jaxpose.host_memory, which make_pose_fn applies)")


def host_memory_setting(args) -> bool:
    """Apply `jaxpose.host_memory` as make_pose_fn and the command do, unless
    `--no-keep-host-memory`; True when in effect (for the section's text)."""
    from jaxpose import host_memory

    return False if args.no_keep_host_memory else host_memory.keep_freed_memory()
