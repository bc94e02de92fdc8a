"""The command on the shipped sample photos: first run vs second run with the compilation cache.

    python -m benchmarks.bench_compile_cache [--rounds 2] [--no-write]

Each run is a fresh process (`jaxpose samples/ --write_json ... --write_images ...`), timed from
process start to exit, counting JAX's XLA compile requests and persistent-cache hits. One round
runs, one after the other: the cache off (`--no_compile_cache`, `JAXPOSE_COMPILE_CACHE=0`), a first
run with an empty cache folder, and a second run with that folder filled. Rounds are interleaved so
that machine drift hits all three alike; we report medians and the median of per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
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
    counts = {"requests": 0, "hits": 0}
    monitoring.register_event_listener(
        lambda e, **_: counts.__setitem__("hits", counts["hits"] + (e == "/jax/compilation_cache/cache_hits")))
    monitoring.register_event_duration_secs_listener(
        lambda e, d, **_: counts.__setitem__("requests", counts["requests"] + (e == "/jax/core/compile/backend_compile_duration")))
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
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", SCRIPT, cache, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - t0
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "seconds": seconds, "compiled": result["requests"] - result["hits"]}


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
            runs["off"].append(run_once("off", out))
            runs["first"].append(run_once(str(folder), out))
            runs["second"].append(run_once(str(folder), out))
            print({k: v[-1] for k, v in runs.items()}, flush=True)
    seconds = {k: [r["seconds"] for r in v] for k, v in runs.items()}
    rows = [[label, f"{statistics.median(seconds[k]):.1f}", f"{statistics.median(r['compiled'] for r in runs[k]):.0f}",
             f"{statistics.median(r['hits'] for r in runs[k]):.0f}"]
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
        markdown_table(["run", "seconds", "XLA compiles", "cache hits"], rows),
        "",
        f"Second run vs cache off: {median_ratio(seconds['off'], seconds['second']):.2f}x faster; "
        f"vs first run: {median_ratio(seconds['first'], seconds['second']):.2f}x "
        "(median of per-round ratios).",
    ])
    print(text)
    if not args.no_write:
        write_section("compile_cache", text)


if __name__ == "__main__":
    main()
