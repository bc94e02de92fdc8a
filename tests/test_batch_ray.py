"""`jaxpose batch --ray` on a local Ray cluster (`ray.init(num_cpus=2)`): two actors, the clips cut
into chunks; one actor is made to die mid-chunk (the test hook) and Ray restarts it and retries
the chunk. The job's files equal the plain command's file for file, complete, none half-written."""

from __future__ import annotations

import io
import json
import os

import pytest

import jaxpose
from jaxpose.batch.work import TEST_EXIT_ENV
from jaxpose.cli import batch as batch_cli
from batch_media import MODEL, WRITE, assert_same_outputs, jax_cache_env, leftovers, make_media, reference

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        jaxpose.load_model("mobilenet_thin")
    except jaxpose.JaxposeError as exc:
        pytest.skip(f"default model unavailable: {exc}")
    root = tmp_path_factory.mktemp("ray")
    env = jax_cache_env(root)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the actors get JAX's settings from the driver's environment
    manifest = make_media(root)
    ref = reference(root, root / "reference")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield root, manifest, ref
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_ray_job_with_a_worker_killed_mid_chunk_equals_the_plain_command(cluster, tmp_path, monkeypatch):
    root, manifest, ref = cluster
    flag = tmp_path / "worker-died-once"
    monkeypatch.setenv(TEST_EXIT_ENV, f"2:{flag}")  # the first worker to write 2 frames of a chunk exits
    out = tmp_path / "out"
    err = io.StringIO()
    code = batch_cli.main([str(manifest), "--out", str(out), "--ray", *WRITE, *MODEL, "--chunk_frames", "3",
                           "--batch", "2"], stdout=io.StringIO(), stderr=err)
    assert code == 0, err.getvalue()
    assert flag.exists()  # a worker did die mid-chunk
    assert_same_outputs(out, ref)
    assert leftovers(out) == []
    summary = json.loads((out / ".jaxpose-job" / "summary.json").read_text())
    assert summary["frames"] == 19 and summary["inputs_done"] == 4 and summary["backend"] == "ray local"
    assert sum(w["chunks"] for w in summary["workers"]) == 7
    assert len(summary["workers"]) >= 2  # two actors, and the restarted one is a new process
    assert all(w["frames_per_s"] > 0 for w in summary["workers"])


def test_the_address_probe_recognises_a_real_ray_head(cluster):
    """The fail-fast probe of `--ray HOST:PORT` accepts a real Ray GCS (it answers HTTP/2)."""
    from jaxpose.batch.backends import _answers_http2

    host, port = ray.get_runtime_context().gcs_address.rsplit(":", 1)
    assert _answers_http2(host, int(port), 5.0)
