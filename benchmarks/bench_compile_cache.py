"""The command on the shipped sample photos: first run vs second run with the compilation cache.

    python -m benchmarks.bench_compile_cache [--rounds 2] [--no-write]

Each run is a fresh process (`jaxpose samples/ --write_json ... --write_images ...`), measured from
process start to exit (wall seconds, and CPU seconds of the process, which other jobs on a shared
machine disturb less), counting JAX's XLA compile requests, persistent-cache hits and the seconds
spent in them. One round runs: the cache off (`--no_compile_cache`, `JAXPOSE_COMPILE_CACHE=0`), a
first run with an empty cache folder, and a second run with that folder filled; the order of "off"
and "first" alternates between rounds. We report medians and medians of per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from benchmarks.common import markdown_table, median_ratio, write_section

REPO = Path(__file__).resolve().parents[1]
SCRIPT = textwrap.dedent("""
    import json, sys
    from jax import monitoring
    counts = {"requests": 0, "hits": 0, "compile_seconds": 0.0}
    def on_event(event, **_):
        counts["hits"] += event == "/jax/compilation_cache/cache_hits"
    def on_duration(event, seconds, **_):
        if event == "/jax/core/compile/backend_compile_duration":
            counts["requests"] += 1
            counts["compile_seconds"] += seconds
    monitoring.register_event_listener(on_event)
    monitoring.register_event_duration_secs_listener(on_duration)
    if sys.argv[1] != "off":
        from jaxpose import compile_cache
        compile_cache.enable(sys.argv[1])
    from jaxpose.cli.main import main
    code = main(sys.argv[2:])
    print(json.dumps({**counts, "code": code}))
    """)


def run_once(cache: str, out: Path) -> dict:
    """One command run in a new process; cache = a folder, or "off"."""
    args = ["samples", "--write_json", str(out / "json"), "--write_images", str(out / "images"),
            "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if cache == "off":
        args.append("--no_compile_cache")
        env["JAXPOSE_COMPILE_CACHE"] = "0"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", SCRIPT, cache, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "seconds": seconds, "cpu": cpu, "compiled": result["requests"] - result["hits"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict]] = {"off": [], "first": [], "second": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            folder = Path(tmp) / f"cache{round_index}"
            out = Path(tmp) / f"out{round_index}"
            order = ("off", "first") if round_index % 2 == 0 else ("first", "off")
            for kind in order:
                runs[kind].append(run_once("off" if kind == "off" else str(folder), out))
            runs["second"].append(run_once(str(folder), out))
            print({k: v[-1] for k, v in runs.items()}, flush=True)
    seconds = {k: [r["seconds"] for r in v] for k, v in runs.items()}
    cpu = {k: [r["cpu"] for r in v] for k, v in runs.items()}

    def median(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[kind])

    rows = [[label, f"{median(k, 'seconds'):.1f}", f"{median(k, 'cpu'):.1f}",
             f"{median(k, 'compiled'):.0f}", f"{median(k, 'hits'):.0f}",
             f"{median(k, 'compile_seconds'):.1f}"]
            for k, label in (("off", "cache off (`--no_compile_cache`)"), ("first", "first run (empty cache)"),
                             ("second", "second run (same photos)"))]
    text = "\n".join([
        "## Compilation cache: the command on samples/ (3 photos), first and second run",
        "",
        "`python -m benchmarks.bench_compile_cache`: `jaxpose samples/ --write_json --write_images`, each",
        "run a new process timed from start to exit (Python start, model load, compile or cache load,",
        f"3 frames, writing), {args.rounds} interleaved rounds, medians. 2-core CPU machine shared with",
        "other jobs while measured: only the ratios are meaningful.",
        "",
        markdown_table(["run", "wall s", "CPU s", "XLA compiles", "cache hits",
                        "s in compile / cache load"], rows),
        "",
        f"Second run vs first run: {median_ratio(seconds['first'], seconds['second']):.2f}x less wall "
        f"time, {median_ratio(cpu['first'], cpu['second']):.2f}x less CPU time; vs cache off: "
        f"{median_ratio(seconds['off'], seconds['second']):.2f}x wall, "
        f"{median_ratio(cpu['off'], cpu['second']):.2f}x CPU (medians of per-round ratios).",
    ])
    print(text)
    if not args.no_write:
        write_section("compile_cache", text)


if __name__ == "__main__":
    main()
