"""One JAX device per CPU core (issue #15 item 4): `jaxpose.use_cpu_devices` and `--cpu_devices`.

The device count can only be set before JAX starts, so the end-to-end check runs in a fresh
subprocess: `--cpu_devices 3` makes three CPU devices, implies `--batch 3` when no --batch is given,
the pipeline splits each batch over all of them, and the command writes the JSON files of a run on
one device byte for byte (the default model
on ../shared/media/video.avi, when present). In this process JAX has started already: asking for
another count is a one-line error, asking for the count in effect is fine.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from conftest import MEDIA_DIR, REPO
from jaxpose.cli import batch as batch_cli, run as run_cli
from jaxpose.errors import InputError
from jaxpose.jax_backend import usable_cores, use_cpu_devices

SCRIPT = textwrap.dedent('''
    import io, os, pathlib, sys, tempfile
    import jaxpose
    from jaxpose.cli import flags, run
    from jaxpose.options.build import build_pipeline
    from jaxpose.options.check import batch_for_cpu_devices, check_options

    video = {video!r}
    base = [video, "--frame_last", "5", "--net_resolution", "-1x128", "--no_compile_cache"]
    # before JAX starts: the note for a batch that does not split evenly, and the flag applied
    notes = check_options(flags.parse(base + ["--cpu_devices", "3", "--batch", "4"]))
    assert any("--batch 4 is split over 3 CPU devices" in n and "multiple of 3" in n for n in notes), notes
    import jax
    assert len(jax.devices()) == 3, jax.devices()
    pipeline = build_pipeline(vars(flags.parse(base + ["--cpu_devices", "3", "--batch", "3"])))
    assert pipeline.pose_fn.devices == tuple(jax.devices()), pipeline.pose_fn.devices
    one = build_pipeline(vars(flags.parse(base + ["--cpu_devices", "3", "--num_gpu", "1"])))
    assert one.pose_fn.devices is None, one.pose_fn.devices
    assert jaxpose.use_cpu_devices(3) == 3  # the count in effect: accepted again
    for extra, batch in (([], 3), (["--batch", "4"], 4), (["--num_gpu", "2"], 2), (["--num_gpu", "1"], 1)):
        options = flags.parse(base + ["--cpu_devices", "3"] + extra)
        batch_for_cpu_devices(options)  # without --batch: one frame per device used
        assert options.batch == batch, (extra, options.batch)

    written = {{}}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (("one", ["--num_gpu", "1", "--batch", "3"]), ("three", [])):  # three: --batch 3 implied
            folder = pathlib.Path(tmp) / label
            err = io.StringIO()
            code = run.main(base + ["--cpu_devices", "3", "--write_json", str(folder)] + extra,
                            stdout=io.StringIO(), stderr=err)
            assert code == 0, err.getvalue()
            assert "split over" not in err.getvalue(), err.getvalue()  # no padding note: --batch 3 implied
            written[label] = {{f.name: f.read_bytes() for f in sorted(folder.iterdir())}}
    assert len(written["one"]) == 6 and written["one"] == written["three"], sorted(written["three"])
    assert any(b'"pose_keypoints_2d":[' in data and b'"people":[]' not in data for data in written["one"].values())
    print("OK")
''')

AFFINITY = textwrap.dedent('''
    import os
    os.sched_setaffinity(0, {0})
    import jax, jaxpose
    assert jaxpose.use_cpu_devices(-1) == 1 and len(jax.devices()) == 1, jax.devices()
    print("OK")
''')


def _python(script: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=900)


@pytest.mark.slow
def test_cpu_devices_split_the_batch_and_write_the_same_files():
    video = MEDIA_DIR / "video.avi"
    if not video.is_file():
        pytest.skip("../shared/media/video.avi is absent")
    run = _python(SCRIPT.format(video=str(video)))
    assert run.returncode == 0 and "OK" in run.stdout, run.stdout[-2000:] + run.stderr[-4000:]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_one_device_per_core_follows_the_process_affinity():
    run = _python(AFFINITY)
    assert run.returncode == 0 and "OK" in run.stdout, run.stdout[-2000:] + run.stderr[-4000:]


def test_usable_cores_is_the_affinity():
    assert usable_cores() == sorted(os.sched_getaffinity(0))


@pytest.mark.parametrize("count", [0, -2, True, 1.5, "2"])
def test_bad_counts_are_refused(count):
    with pytest.raises(InputError, match=r"use a count >= 1, or -1 for one device per core"):
        use_cpu_devices(count)


def test_after_jax_started_only_the_count_in_effect_is_accepted():
    import jax

    have = len(jax.devices("cpu"))
    assert use_cpu_devices(have) == have
    with pytest.raises(InputError, match=rf"JAX has already started with {have} CPU device\(s\); set the count "
                                         r"before JAX's first operation"):
        use_cpu_devices(have + 1)
    assert len(jax.devices("cpu")) == have


def _cli(main, *argv):
    out, err = io.StringIO(), io.StringIO()
    return main([str(a) for a in argv], stdout=out, stderr=err), err.getvalue()


@pytest.mark.parametrize("main", [run_cli.main, batch_cli.main], ids=["jaxpose", "jaxpose batch"])
def test_cpu_devices_flag_errors_are_one_line_usage_errors(tmp_path, main):
    import jax

    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(f"{image}\n")
    first = [image, "--write_json", tmp_path / "j"] if main is run_cli.main else \
        [manifest, "--out", tmp_path / "job", "--write_json", "j"]
    code, err = _cli(main, *first, "--cpu_devices", "-2")
    assert code == 2 and "--cpu_devices must be -1 (one per core), 0 (JAX's setting) or >= 1 (got -2)" in err, err
    more = len(jax.devices("cpu")) + 1
    code, err = _cli(main, *first, "--cpu_devices", more)
    assert code == 2 and f"--cpu_devices {more}: JAX has already started" in err, err
    assert "Traceback" not in err and not (tmp_path / "j").exists() and not (tmp_path / "job").exists()
