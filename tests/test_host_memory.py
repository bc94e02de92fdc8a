"""jaxpose.host_memory: XLA:CPU's per-call buffers come from reused heap pages, not fresh mappings.

Each check runs in a fresh Python process (the setting is process-wide and cannot be undone) and
counts the page faults of a compiled program whose ~20 MiB temporaries would otherwise be mapped
anew on every call (glibc's mmap threshold is at most 32 MiB, its dynamic threshold starts at 128 KiB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from jaxpose import host_memory

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = textwrap.dedent("""
    import json, resource, sys
    import jax, jax.numpy as jnp, numpy as np
    from jaxpose import host_memory

    x = jnp.asarray(np.random.default_rng(0).random(5_000_000, np.float32))  # 20 MB
    program = jax.jit(lambda x: jnp.cumsum(jnp.sin(x) * 2.0 + jnp.cos(x))[::1000]).lower(x).compile()
    expected = np.asarray(program(x))

    def faults_per_call(calls=12):
        program(x).block_until_ready()
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(calls):
            out = np.asarray(program(x))
        assert np.array_equal(out, expected)
        return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) / calls

    before = faults_per_call()
    if sys.argv[1] == "direct":
        applied = host_memory.keep_freed_memory()
    else:  # through the public entry point every user goes through
        import jaxpose
        from jaxpose.nets.mobilenet_thin import MobileNetThin
        from jaxpose.model import Model
        from jaxpose.specs import get_spec
        model = Model(name="mobilenet_thin", spec=get_spec("mobilenet_thin"), net=MobileNetThin(), params={})
        jaxpose.make_pose_fn(model)
        applied = host_memory._applied
    after = faults_per_call()
    print(json.dumps({"before": before, "after": after, "applied": applied}))
""")

needs_glibc = pytest.mark.skipif(not host_memory.supported(), reason="Linux with glibc only")


def _probe(mode: str, **env: str) -> dict:
    environment = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": REPO, **env}
    environment.pop(host_memory.ENV, None)
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", PROBE, mode], env=environment, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_glibc
def test_keeping_freed_memory_removes_the_per_call_page_faults():
    result = _probe("direct")
    assert result["applied"] is True
    assert result["before"] > 2000  # ~20 MiB of fresh pages per call: the cost being removed
    assert result["after"] < 0.25 * result["before"]


@needs_glibc
def test_make_pose_fn_applies_it():
    result = _probe("make_pose_fn")
    assert result["applied"] is True
    assert result["after"] < 0.25 * result["before"]


@needs_glibc
@pytest.mark.parametrize("value", ["0", "off", "False"])
def test_environment_turns_it_off(value):
    result = _probe("direct", **{host_memory.ENV: value})
    assert result["applied"] is False
    assert result["after"] > 0.5 * result["before"]


def test_off_where_unsupported(monkeypatch):
    """Not glibc (e.g. musl on Alpine, where mallopt lacks these parameters): nothing is changed."""
    monkeypatch.setattr(host_memory, "_applied", False)
    monkeypatch.setattr(host_memory.platform, "libc_ver", lambda *args, **kwargs: ("", ""))
    assert host_memory.supported() is False
    assert host_memory.keep_freed_memory() is False
