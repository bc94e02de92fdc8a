"""Every local device (issue #13 item 1): `pose_fn.batch` split over a device mesh.

The multi-device checks run in a subprocess with four virtual CPU devices
(`--xla_force_host_platform_device_count=4`): the sharded batch equals the single-device one,
the work really is spread over the devices, each shape compiles once, `PoseEstimator` passes
`devices` through, and the command line with `--batch 4 --num_gpu 2` writes the JSON files of
`--num_gpu 1` byte for byte (the default model on ../shared/media/video.avi, when present).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from conftest import MEDIA_DIR, REPO
from jaxpose.cli import batch as batch_cli, run as run_cli
from jaxpose.errors import InputError
from jaxpose.sharding import resolve_devices, select_devices

SCRIPT = textwrap.dedent('''
    import os, sys, types
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    sys.path.insert(0, {tests!r})
    import chex, jax, jax.numpy as jnp, numpy as np
    import flax.linen as nn
    import jaxpose
    from jaxpose import pipeline
    from jaxpose.specs import get_spec
    from planted import render, standing

    assert len(jax.devices()) == 4, jax.devices()

    class Upsample8(nn.Module):  # a "network" that returns a planted heat-map for any frame
        maps: np.ndarray

        @nn.compact
        def __call__(self, x):
            scale = self.param("scale", nn.initializers.ones, (1,))
            brightness = x.mean(axis=(1, 2, 3))[:, None, None, None] / 128.0  # varies per frame
            return jnp.asarray(self.maps)[None] * scale * (0.5 + brightness)

    spec = get_spec("COCO")
    people = [standing(spec, 5.0, 12.0), standing(spec, 16.0, 12.5)]
    net = Upsample8(render(spec, people, (384, 192)))
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 192, 384, 3)))["params"]
    model = types.SimpleNamespace(name="COCO", spec=spec, net=net, params=params)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (7, 192, 384, 3), np.uint8)

    single = jaxpose.make_pose_fn(model, net_resolution=(384, 192))
    expected = single.batch(params, frames)
    assert sum(p.num_people for p in expected) >= 7

    for devices, label in (("all", "4"), (jaxpose.select_devices(3, 1), "3")):
        chex.clear_trace_counter()
        pipeline._device_core = chex.assert_max_traces(pipeline._device_core, n=1)
        sharded = jaxpose.make_pose_fn(model, net_resolution=(384, 192), devices=devices)
        for count in (7, 5, 7):  # 7 and 5 frames share one padded batch: one compile
            got = sharded.batch(params, frames[:count])
            assert len(got) == count
            for a, b in zip(got, expected[:count]):
                np.testing.assert_array_equal(a.keypoints, b.keypoints)
                np.testing.assert_array_equal(a.scores, b.scores)
        plan, args = sharded._plan_with_device_arrays((384, 192))
        padded = np.zeros((pipeline._batch_bucket(7, int(label)), 256, 384, 3), np.uint8)  # the shape above
        out = sharded._compiled(plan, 16, padded.shape)(sharded._placed(params), padded, *args,
                                                        sharded._score_thresholds)
        assert len(out["peaks"].sharding.device_set) == int(label), out["peaks"].sharding
        pipeline._device_core = pipeline._device_core.__wrapped__
        print("sharded over", label, "devices: equal")

    estimator = jaxpose.PoseEstimator(model, net_resolution=(384, 192), devices=jaxpose.select_devices(2))
    assert estimator.pose_fn.devices == tuple(jax.devices()[:2])
    got = estimator(frames[3])
    np.testing.assert_array_equal(got.keypoints, expected[3].keypoints)

    # the command line: --batch 4 split over --num_gpu 2 writes the JSON of --num_gpu 1, byte for byte
    import io, pathlib, tempfile
    from jaxpose.cli import run
    video = {video!r}
    if video:
        written = {{}}
        with tempfile.TemporaryDirectory() as tmp:
            for num_gpu in ("1", "2"):
                folder = pathlib.Path(tmp) / num_gpu
                err = io.StringIO()
                code = run.main([video, "--frame_last", "4", "--batch", "4", "--net_resolution", "-1x128",
                                 "--num_gpu", num_gpu, "--write_json", str(folder), "--quiet",
                                 "--no_compile_cache"], stdout=io.StringIO(), stderr=err)
                assert code == 0, err.getvalue()
                written[num_gpu] = {{f.name: f.read_bytes() for f in sorted(folder.iterdir())}}
        assert len(written["1"]) == 5 and written["1"] == written["2"], sorted(written["2"])
        assert any(b'"pose_keypoints_2d":[' in data and b'"people":[]' not in data
                   for data in written["1"].values())
        print("CLI --num_gpu 2 == --num_gpu 1")
    print("OK")
''')


@pytest.mark.slow
def test_sharded_batch_equals_one_device_and_compiles_once():
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    video = MEDIA_DIR / "video.avi"
    script = SCRIPT.format(tests=str(REPO / "tests"), video=str(video) if video.is_file() else "")
    run = subprocess.run([sys.executable, "-c", script],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=900)
    assert run.returncode == 0 and "OK" in run.stdout, run.stdout[-2000:] + run.stderr[-4000:]


def _fake(count, platform="gpu"):
    return [types.SimpleNamespace(id=i, platform=platform) for i in range(count)]


def test_select_devices_follows_openposes_flags():
    gpus = _fake(4)
    assert select_devices(-1, 0, gpus) == tuple(gpus)
    assert select_devices(-1, 2, gpus) == tuple(gpus[2:])
    assert select_devices(2, 1, gpus) == tuple(gpus[1:3])
    assert select_devices(1, 3, gpus) == (gpus[3],)


@pytest.mark.parametrize("num_gpu, start, message", [
    (2, 3, r"needs devices up to index 4, but this machine has 4 GPU device\(s\)"),
    (-1, 4, r"num_gpu_start=4: this machine has 4 GPU device\(s\) \(indices 0..3\)"),
    (1, -1, r"num_gpu_start=-1"),
    (0, 0, r"num_gpu=0: use at least one device"),
    (1.5, 0, r"num_gpu=1.5: must be an integer"),
])
def test_select_devices_errors_name_the_problem(num_gpu, start, message):
    with pytest.raises(InputError, match=message):
        select_devices(num_gpu, start, _fake(4))


def test_resolve_devices_refuses_what_it_cannot_use():
    assert resolve_devices(None) is None
    import jax

    assert resolve_devices("all") == tuple(jax.local_devices())
    with pytest.raises(InputError, match="'all', a list of JAX devices"):
        resolve_devices("gpu:0")
    with pytest.raises(InputError, match="local JAX device"):
        resolve_devices(["cuda:0"])
    with pytest.raises(InputError, match="listed twice"):
        resolve_devices([jax.local_devices()[0]] * 2)


def _cli(main, *argv):
    import io

    out, err = io.StringIO(), io.StringIO()
    return main([str(a) for a in argv], stdout=out, stderr=err), err.getvalue()


@pytest.mark.parametrize("argv, message", [
    (["--num_gpu", "0"], "--num_gpu must be -1 (all devices) or >= 1 (got 0)"),
    (["--num_gpu", "-2"], "--num_gpu must be -1"),
    (["--num_gpu", "two"], "--num_gpu expects an integer"),
    (["--num_gpu_start", "-1"], "--num_gpu_start must be >= 0"),
    (["--precision", "fp16"], "--precision 'fp16': use float32 (default) or bf16"),
])
def test_device_and_precision_flags_are_usage_errors(tmp_path, argv, message):
    code, err = _cli(run_cli.main, tmp_path / "x.jpg", *argv)
    assert code == 2 and message in err and "Traceback" not in err, err
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(str(tmp_path / "x.jpg") + "\n")
    code, err = _cli(batch_cli.main, manifest, "--out", tmp_path / "out", *argv)  # the same table
    assert code == 2 and message in err and "Traceback" not in err, err


def test_more_devices_than_the_machine_has_is_a_usage_error(tmp_path):
    import cv2
    import jax

    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    count = len(jax.local_devices())
    code, err = _cli(run_cli.main, image, "--num_gpu", count + 1, "--write_json", tmp_path / "j")
    assert code == 2 and f"--num_gpu {count + 1}" in err and f"num_gpu <= {count}" in err, err
    assert not (tmp_path / "j").exists() or not any((tmp_path / "j").iterdir())
