"""`jaxpose batch` locally, with the real default model: the job's files equal the plain command's
file for file (JSON, CSV, COCO byte-equal; the stitched video frame-equal) on three clips cut into
chunks and an image folder; a corrupt input is reported and the others finish; a driver killed
with SIGKILL partway and started again finishes with the same files and nothing half-written; a
seek that lands on the wrong frame is caught at the seam and redone; another --net_resolution on
resume is refused; pinned worker processes (--cpu_workers), one of them killed mid-chunk, write
the same files."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import pytest

import jaxpose
from jaxpose.batch.work import TEST_EXIT_ENV
from jaxpose.cli import batch as batch_cli
from jaxpose.io import readers
from conftest import REPO
from batch_media import (MODEL, WRITE, assert_same_outputs, copy_env, jax_cache_env, leftovers,
                         make_media, reference)

pytestmark = pytest.mark.slow
JOB = ["--chunk_frames", "3", "--batch", "2"]  # chunk boundaries that do not fall on batch boundaries


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    try:
        jaxpose.load_model("mobilenet_thin")
    except jaxpose.JaxposeError as exc:
        pytest.skip(f"default model unavailable: {exc}")
    root = tmp_path_factory.mktemp("batch")
    for key, value in jax_cache_env(root).items():  # compile once per shape across the runs
        jax.config.update(key.lower(), int(value) if value.isdigit() else value)
    manifest = make_media(root)
    ref = reference(root, root / "reference")
    yield root, manifest, ref
    jax.config.update("jax_compilation_cache_dir", None)


def _batch(*argv) -> tuple[int, str]:
    err = io.StringIO()
    code = batch_cli.main([str(a) for a in argv], stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


def test_local_job_equals_the_plain_command_and_reports_a_corrupt_input(media, tmp_path):
    root, manifest, ref = media
    (tmp_path / "broken.avi").write_bytes(b"RIFF\x00\x00not a video at all" * 10)
    with_broken = tmp_path / "manifest.txt"
    with_broken.write_text(manifest.read_text().replace("clips/", f"{root}/clips/").replace(
        "\nphotos", f"\n{root}/photos") + f"{tmp_path / 'broken.avi'}\n")
    out = tmp_path / "out"
    code, err = _batch(with_broken, "--out", out, *WRITE, *MODEL, *JOB)
    assert code == 1 and err.count("broken.avi: cannot open the video") == 1
    assert_same_outputs(out, ref)
    summary = json.loads((out / ".jaxpose-job" / "summary.json").read_text())
    states = {i["name"]: (i["state"], i["chunks"], i["frames"]) for i in summary["inputs"]}
    assert states == {"walk": ("done", 3, 7), "street": ("done", 2, 6), "street2": ("done", 1, 3),
                      "photos": ("done", 1, 3), "broken": ("failed", 0, 0)}
    assert summary["frames"] == 19 and summary["failures"] == 1 and summary["state"] == "complete"
    [worker] = summary["workers"]
    assert worker["frames"] == 19 and worker["chunks"] == 7 and worker["frames_per_s"] > 0
    people = sum(len(json.loads(p.read_text())["people"]) for p in out.glob("*/json/*.json"))
    assert summary["people"] == people
    assert leftovers(out) == []

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and ".jaxpose-job" not in p.parts}
    code, err = _batch(with_broken, "--out", out, *WRITE, *MODEL, *JOB)  # nothing left to do
    assert code == 1 and before == {p: p.stat().st_mtime_ns for p in before}

    code, err = _batch(with_broken, "--out", out, *WRITE, "--net_resolution", "-1x160", "--quiet", *JOB)
    assert code == 2 and "--net_resolution '-1x128' -> '-1x160'" in err and err.count("error:") == 1


def test_driver_killed_partway_then_resumed(media, tmp_path):
    root, manifest, ref = media
    out = tmp_path / "out"
    command = [sys.executable, "-m", "jaxpose", "batch", str(manifest), "--out", str(out), *WRITE, *MODEL, *JOB]
    env = copy_env(jax_cache_env(root))
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = out / ".jaxpose-job" / "done"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        markers = list(done.glob("*/0*.json")) if done.is_dir() else []
        if len(markers) >= 2:  # a couple of chunks in: kill it at once, while it works on the next ones
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait() == -signal.SIGKILL, process.stderr.read().decode()
    finished = len(list(done.glob("*/0*.json")))
    assert 2 <= finished < 7
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert_same_outputs(out, ref)
    assert leftovers(out) == []
    summary = json.loads((out / ".jaxpose-job" / "summary.json").read_text())
    assert summary["frames"] == 19 and summary["inputs_done"] == 4


def test_a_seek_that_lands_elsewhere_is_caught_and_redone(media, tmp_path, monkeypatch):
    root, manifest, ref = media

    class LateSeek(readers.VideoSource):
        """Seeks one frame past where it says it is (a codec whose seek is not frame-exact)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if self._start:
                self._capture.grab()

    monkeypatch.setattr(readers, "VideoSource", LateSeek)
    only_walk = tmp_path / "walk.txt"
    only_walk.write_text(f"{root}/clips/walk.avi\n")
    out = tmp_path / "out"
    code, err = _batch(only_walk, "--out", out, *WRITE, "--net_resolution", "-1x128", *JOB)
    assert code == 0, err
    assert err.count("did not land on it; decoding that chunk from the start instead") == 2
    assert_same_outputs(out, ref, names=["walk"])
    markers = sorted((out / ".jaxpose-job" / "done" / "walk").glob("0*.json"))
    assert [json.loads(m.read_text())["seek"] for m in markers] == [True, False, False]


def test_pinned_cpu_workers_with_one_killed_mid_chunk_equal_the_plain_command(media, tmp_path, monkeypatch):
    """--cpu_workers 2: two spawned processes, one per core; one dies after writing 2 frames of a
    chunk (the test hook), is started again on its core and the chunk retried; the job's files
    equal the plain command's, nothing half-written, and each worker ran on its own core."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs 2 CPU cores")
    root, manifest, ref = media
    for key, value in jax_cache_env(root).items():  # the workers compile from the reference's cache
        monkeypatch.setenv(key, value)
    flag = tmp_path / "worker-died-once"
    monkeypatch.setenv(TEST_EXIT_ENV, f"2:{flag}")
    out = tmp_path / "out"
    code, err = _batch(manifest, "--out", out, *WRITE, *MODEL, *JOB, "--cpu_workers", "2")
    assert code == 0, err
    assert flag.exists()  # a worker did die mid-chunk
    assert_same_outputs(out, ref)
    assert leftovers(out) == []
    summary = json.loads((out / ".jaxpose-job" / "summary.json").read_text())
    assert summary["backend"] == "local, 2 pinned processes"
    assert summary["frames"] == 19 and summary["inputs_done"] == 4
    assert sum(w["chunks"] for w in summary["workers"]) == 7
    assert {tuple(w["cores"]) for w in summary["workers"]} <= {(cores[0],), (cores[1],)}
    assert len({w["worker"] for w in summary["workers"]}) >= 2  # the restarted one is a new process


def _spawned_children(parent: int) -> list[int]:
    """Pids of `parent`'s multiprocessing workers (children whose command line is spawn_main)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in cmdline:
            pids.append(int(stat.parent.name))
    return pids


def test_pinned_workers_die_with_a_killed_driver_and_the_job_resumes(media, tmp_path):
    """SIGKILL to the driver of a --cpu_workers 2 job: its worker processes go too (none keeps
    writing behind a resumed run); the same command again finishes with the plain command's files."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPU cores")
    root, manifest, ref = media
    out = tmp_path / "out"
    command = [sys.executable, "-m", "jaxpose", "batch", str(manifest), "--out", str(out), *WRITE, *MODEL, *JOB,
               "--cpu_workers", "2"]
    env = copy_env(jax_cache_env(root))
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = out / ".jaxpose-job" / "done"
    deadline = time.monotonic() + 300
    workers = []
    while time.monotonic() < deadline and process.poll() is None:
        workers = _spawned_children(process.pid) or workers
        if len(list(done.glob("*/0*.json")) if done.is_dir() else []) >= 2:
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait() == -signal.SIGKILL, process.stderr.read().decode()
    assert len(workers) == 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.05)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
             and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert alive == []
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert_same_outputs(out, ref)
    assert leftovers(out) == []
