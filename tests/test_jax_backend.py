"""A JAX backend that cannot start (JAX_PLATFORMS naming a platform that is not installed) is one
line naming the setting and the fix, from the command, its sub-commands and the API; never a
traceback from inside JAX."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import pytest

from conftest import REPO, SHARED, need_shared
from jaxpose.errors import BackendError, JaxposeError
from jaxpose.jax_backend import default_backend

MISSING = "nosuchplatform"  # never installed, on any machine


def _jaxpose(*argv: str, cwd=REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": MISSING, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "jaxpose", *argv], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _assert_one_line(done: subprocess.CompletedProcess, prefix: str) -> None:
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"{prefix}: error: JAX could not start its device backend "
                                f"(JAX_PLATFORMS='{MISSING}')")
    assert "Unset JAX_PLATFORMS" in errors[0]


def test_in_process_failures_become_a_backend_error(monkeypatch):
    def bare_assertion():  # what jax 0.10 raises for JAX_PLATFORMS=cuda without the CUDA plugin
        raise AssertionError()

    monkeypatch.setattr(jax, "default_backend", bare_assertion)
    with pytest.raises(BackendError, match="no such platform is installed. Unset JAX_PLATFORMS") as caught:
        default_backend()
    assert isinstance(caught.value, JaxposeError)

    def runtime_error():
        raise RuntimeError("Unable to initialize backend 'tpu': libtpu.so missing. "
                           "(set JAX_PLATFORMS='' to automatically choose an available backend)")

    monkeypatch.setattr(jax, "default_backend", runtime_error)
    with pytest.raises(BackendError, match=r"Unable to initialize backend 'tpu': libtpu.so missing\. Unset"):
        default_backend()


def test_the_command_says_it_in_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "json"
    done = _jaxpose("--image_dir", str(REPO / "samples"), "--write_json", str(out))
    _assert_one_line(done, "jaxpose")
    assert not out.exists() or not any(out.iterdir())


def test_the_batch_job_says_it_in_one_line(tmp_path):
    manifest = tmp_path / "inputs.txt"
    manifest.write_text(f"{REPO / 'samples' / 'skier.jpg'}\n")
    _assert_one_line(_jaxpose("batch", str(manifest), "--out", str(tmp_path / "job")), "jaxpose")


def test_train_says_it_in_one_line_before_writing_a_run(tmp_path):
    coco = need_shared(SHARED / "eval" / "coco" / "test_coco.json")
    run = tmp_path / "run"
    done = _jaxpose("train", "--coco", str(coco), "--images", str(coco.parent), "--out", str(run),
                    "--steps", "1", "--batch_size", "2", "--input_size", "64x48")
    _assert_one_line(done, "jaxpose train")
    assert not run.exists() or not any(run.iterdir())


@pytest.mark.parametrize("keep_host_memory", ["1", "0"])  # the check does not ride on host_memory's
def test_the_api_raises_it(keep_host_memory):
    code = ("import jaxpose\n"
            "from jaxpose.model import Model\n"
            "from jaxpose.nets.mobilenet_thin import MobileNetThin\n"
            "from jaxpose.specs import get_spec\n"
            "model = Model(name='mobilenet_thin', spec=get_spec('mobilenet_thin'), net=MobileNetThin(), params={})\n"
            "try:\n"
            "    jaxpose.make_pose_fn(model)\n"
            "except jaxpose.JaxposeError as error:\n"
            "    print(type(error).__name__, error)\n")
    env = {**os.environ, "JAX_PLATFORMS": MISSING, "PYTHONPATH": str(REPO), "JAXPOSE_KEEP_HOST_MEMORY": keep_host_memory}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"BackendError JAX could not start its device backend (JAX_PLATFORMS='{MISSING}')")
