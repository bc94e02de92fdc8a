"""JAX's persistent compilation cache (`jaxpose.compile_cache`): a second process compiles nothing.

Each run is a fresh Python process that counts JAX's own monitoring events: every XLA compile
request (`/jax/core/compile/backend_compile_duration`) and every persistent-cache hit
(`/jax/compilation_cache/cache_hits`); compiled = requests - hits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO
from jaxpose import compile_cache
from jaxpose.cli import flags

_COUNTING = textwrap.dedent("""
    import json, sys
    from jax import monitoring
    counts = {"requests": 0, "hits": 0}
    def on_event(event, **_):
        counts["hits"] += event == "/jax/compilation_cache/cache_hits"
    def on_duration(event, duration, **_):
        counts["requests"] += event == "/jax/core/compile/backend_compile_duration"
    monitoring.register_event_listener(on_event)
    monitoring.register_event_duration_secs_listener(on_duration)
    from jaxpose import compile_cache
    folder = compile_cache.enable(sys.argv[1] if sys.argv[1] != "-" else None)
    """)
_TINY = _COUNTING + textwrap.dedent("""
    import jax, jax.numpy as jnp
    f = jax.jit(lambda x: jnp.tanh(x) @ x.T + 1)
    f(jnp.ones((8, 8))).block_until_ready()
    f(jnp.ones((16, 8))).block_until_ready()
    print(json.dumps({**counts, "folder": str(folder) if folder else None}))
    """)
_CLI = _COUNTING + textwrap.dedent("""
    from jaxpose.cli.main import main
    code = main(sys.argv[2:])
    print(json.dumps({**counts, "code": code}))
    """)


def _run(script: str, *args, env_extra: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    out = subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _entries(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_second_process_loads_every_program_from_the_cache(tmp_path):
    folder = tmp_path / "jax_cache"
    first = _run(_TINY, folder)
    assert first["folder"] == str(folder)
    assert first["requests"] > 0 and first["hits"] == 0
    written = _entries(folder)
    assert len(written) == first["requests"]  # one file per compiled program
    second = _run(_TINY, folder)
    assert second["hits"] == second["requests"] == first["requests"]  # nothing compiled
    assert _entries(folder) == written  # no new entries


def test_default_folder_is_in_the_jaxpose_cache(tmp_path):
    result = _run(_TINY, "-", env_extra={"JAXPOSE_CACHE": str(tmp_path / "cache")})
    assert result["folder"] == str(tmp_path / "cache" / compile_cache.FOLDER)
    assert _entries(tmp_path / "cache" / compile_cache.FOLDER)


def test_environment_turns_it_off(tmp_path, monkeypatch):
    folder = tmp_path / "jax_cache"
    result = _run(_TINY, folder, env_extra={compile_cache.ENV: "0"})
    assert result["folder"] is None and result["hits"] == 0
    assert not folder.exists()
    for value, off in (("false", True), ("OFF", True), ("no", True), ("1", False), ("", False)):
        monkeypatch.setenv(compile_cache.ENV, value)
        assert compile_cache.disabled_by_environment() is off


def test_flag_and_unwritable_folder(tmp_path, capsys, monkeypatch):
    assert flags.parse(["x", "--no_compile_cache"]).no_compile_cache is True
    assert flags.parse(["x"]).no_compile_cache is False
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.delenv(compile_cache.ENV, raising=False)
    assert compile_cache.enable(blocker / "cache") is None
    assert "compilation cache off" in capsys.readouterr().err


@pytest.mark.slow
def test_second_cli_run_on_a_sample_compiles_nothing(tmp_path):
    """The command on a shipped photo, twice, each in a new process: the second compiles nothing."""
    photo = REPO / "samples" / "skier.jpg"
    folder = tmp_path / "jax_cache"
    args = [folder, photo, "--net_resolution", "-1x192", "--write_json", tmp_path / "json", "--quiet"]
    first = _run(_CLI, *args)
    assert first["code"] == 0 and first["requests"] > 0 and first["hits"] == 0
    written = _entries(folder)
    second = _run(_CLI, *args)
    assert second["code"] == 0
    assert second["hits"] == second["requests"] == first["requests"]
    assert _entries(folder) == written
