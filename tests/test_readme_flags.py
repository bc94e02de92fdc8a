"""Every `--flag` the README names is accepted by the command it belongs to: the main command's
table, `jaxpose batch`'s extra flags, or a sub-command's parser (train, eval, calibrate, convert,
fetch). Lines that run a benchmark are left out (their flags are the script's); words that are not
flags of ours (venv's, placeholders in prose) are listed by name."""

from __future__ import annotations

import importlib
import re

from conftest import REPO
from jaxpose.cli.batch import BATCH_FLAG_LIST
from jaxpose.options.table import FLAGS

# Not flags of a jaxpose command: placeholders in prose (`--flag`, `--write_*`, `--heatmaps_add_*`),
# gflags' `--noflag` form, `--body 2` (OpenPose's own flag, cited), venv's `--without-pip` /
# `--system-site-packages`, and `jaxpose batch --ray` (parsed before the table: it takes an optional
# value), and XLA's own `--xla_cpu_experimental_ynn_fusion_type` (the workaround for a jax 0.11 bug).
NOT_OURS = {"flag", "write", "heatmaps_add", "nohand", "body", "without-pip", "system-site-packages", "ray",
            "xla_cpu_experimental_ynn_fusion_type"}


def known_flags() -> set[str]:
    known = set(FLAGS) | {flag.name for flag in BATCH_FLAG_LIST}
    for name in ("train", "eval", "calibrate", "convert", "fetch"):
        parser = importlib.import_module(f"jaxpose.cli.{name}").build_parser()
        known |= {o[2:] for action in parser._actions for o in action.option_strings if o.startswith("--")}
    return known


def named_in_readme() -> set[str]:
    """Flags named in README.md, except on lines that run a benchmark (their flags are the
    benchmark script's own)."""
    lines = (REPO / "README.md").read_text().splitlines()
    text = "\n".join(line for line in lines if "benchmarks" not in line and "bench_" not in line)
    return set(re.findall(r"(?<![\w-])--([a-z][a-z0-9_-]*[a-z0-9])", text))


def test_every_flag_in_the_readme_exists():
    assert named_in_readme() - known_flags() - NOT_OURS == set()


def test_the_exceptions_are_still_needed():
    assert NOT_OURS - named_in_readme() == set()
