"""The training loop on ../shared/eval/coco: resume equals an uninterrupted run bit for bit (CPU),
a non-finite loss stops with the step and the images named, data parallel over 2 devices equals
1 device, and a real fine-tuning run (loss falls, the saved model loads in make_pose_fn and the
people found on those photos stay found)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from conftest import REPO, SHARED, need_shared
from jaxpose.train import TrainConfig, TrainingError, train

COCO_DIR = SHARED / "eval" / "coco"
ANN = COCO_DIR / "test_coco.json"


def tiny(out: Path, **changes) -> TrainConfig:
    base = dict(annotations=str(ANN), images=str(COCO_DIR), out=str(out), steps=4, batch_size=2,
                input_size=(64, 48), checkpoint_every=2, workers=2, seed=3)
    base.update(changes)
    return TrainConfig(**base)


def losses(run: Path) -> list[str]:
    with open(run / "metrics.csv", newline="") as f:
        return [(r["step"], r["loss"], r["paf1"], r.get("heat6"), r["grad_norm"]) for r in csv.DictReader(f)]


def params_of(path: Path) -> list[np.ndarray]:
    import jaxpose

    return [np.asarray(a) for a in jax.tree.leaves(jaxpose.load_model(path).params)]


@pytest.mark.slow
def test_resume_equals_uninterrupted_bit_for_bit(tmp_path):
    need_shared(ANN)
    whole = train(tiny(tmp_path / "whole"))
    assert whole.steps == 4

    def stop_after_two(stream, start):
        for step, batch in enumerate(stream.batches(start), start):
            if step == 2:
                raise KeyboardInterrupt
            yield batch

    with pytest.raises(KeyboardInterrupt):
        train(tiny(tmp_path / "split"), batches=stop_after_two)
    assert not (tmp_path / "split" / "model.jaxpose").exists()
    resumed = train(tiny(tmp_path / "split", resume=True))
    assert resumed.start_step == 2 and resumed.steps == 4
    for a, b in zip(params_of(whole.model_path), params_of(resumed.model_path), strict=True):
        np.testing.assert_array_equal(a, b)
    assert losses(tmp_path / "whole") == losses(tmp_path / "split")
    assert [r[0] for r in losses(tmp_path / "split")] == ["1", "2", "3", "4"]


@pytest.mark.slow
def test_non_finite_loss_names_step_and_images_and_keeps_the_last_good_checkpoint(tmp_path):
    """An absurd learning rate: step 1 is finite, its update overflows the weights, step 2's loss
    is not finite. The run stops naming step 2 and its images; step 1 stays the last checkpoint.
    (NaN keypoints do not get this far: a NaN point draws nothing, so the loss stays finite.)"""
    need_shared(ANN)
    seen: dict[int, list[int]] = {}

    def record(stream, start):
        for step, batch in enumerate(stream.batches(start), start):
            seen[step + 1] = [int(i) for i in batch.image_ids]
            yield batch

    with pytest.raises(TrainingError) as info:
        train(tiny(tmp_path / "run", checkpoint_every=1, lr=1e30, schedule="constant"), batches=record)
    message = str(info.value)
    assert "at step 2," in message
    assert f"images {', '.join(str(i) for i in seen[2])};" in message
    from jaxpose.train.checkpoint import Checkpoints

    ckpt = Checkpoints(tmp_path / "run" / "checkpoints")
    assert ckpt.latest_step() == 1
    ckpt.close()
    assert not (tmp_path / "run" / "model.jaxpose").exists()
    assert [r[0] for r in losses(tmp_path / "run")] == ["1"]


def test_bad_settings(tmp_path):
    need_shared(ANN)
    from jaxpose.errors import InputError

    with pytest.raises(InputError, match="steps must be"):
        train(tiny(tmp_path / "a", steps=0))
    with pytest.raises(InputError, match="holds no run"):
        train(tiny(tmp_path / "b", resume=True))
    with pytest.raises(InputError, match="multiples of the network stride"):
        train(tiny(tmp_path / "c", input_size=(60, 48)))
    with pytest.raises(InputError, match="matches no parameter"):
        train(tiny(tmp_path / "d", freeze=("^NoSuchLayer",)))
    with pytest.raises(InputError, match="needs OpenPose's Caffe weights"):
        train(tiny(tmp_path / "e", model="BODY_25"))


DATA_PARALLEL = textwrap.dedent("""
    import jax, numpy as np, jaxpose
    from jaxpose.train.coco_data import CocoKeypoints
    from jaxpose.train.layouts import coco_layout
    from jaxpose.train.loader import BatchStream
    from jaxpose.train.optim import make_optimizer
    from jaxpose.train.recipes import recipe_for
    from jaxpose.train.step import TrainStep, data_mesh, init_state
    assert jax.local_device_count() == 2, jax.devices()
    model = jaxpose.load_model("mobilenet_thin")
    data = CocoKeypoints({ann!r}, {images!r})
    layout, recipe = coco_layout(model.name), recipe_for(model.name)
    stream = BatchStream(data, layout, recipe, batch_size=4, crop_wh=(64, 48), seed=1, workers=2)
    batches = [stream.batch(s) for s in range(2)]
    stream.close()
    results = {{}}
    for n in (1, 2):
        tx, _ = make_optimizer(model.params, recipe.optim, lr=1e-5, total_steps=2)
        step = TrainStep(model, layout, recipe, tx, mesh=data_mesh(jax.local_devices()[:n]))
        state = step.put_state(init_state(model.params, tx))
        seen = []
        for b in batches:
            state, m = step(state, step.put(b))
            seen.append(float(m["loss"]))
        results[n] = (seen, jax.device_get(state["params"]), len(state["params"]["Conv2d_0"]["kernel"].sharding.device_set))
    (l1, p1, d1), (l2, p2, d2) = results[1], results[2]
    assert (d1, d2) == (1, 2), (d1, d2)
    np.testing.assert_allclose(l1, l2, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    print("OK", l1, l2)
""")


@pytest.mark.slow
def test_data_parallel_two_devices_equals_one(tmp_path):
    need_shared(ANN)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu",
               PYTHONPATH=str(REPO))
    script = DATA_PARALLEL.format(ann=str(ANN), images=str(COCO_DIR))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK" in done.stdout


def _matched_people(model, gt_path: Path, images: Path) -> set[int]:
    """Ground-truth people matched at OKS >= 0.5 by `model`'s detections (pycocotools)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    import jaxpose
    from jaxpose.evaluate import predict_coco

    found = predict_coco(jaxpose.make_pose_fn(model), model.params, gt_path, images)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        e = COCOeval(gt, gt.loadRes(found.entries), "keypoints")
        e.evaluate()
    matched = set()
    for img in e.evalImgs:
        if img is None or img["aRng"] != e.params.areaRng[0]:
            continue
        for gt_id, m in zip(img["gtIds"], img["gtMatches"][0]):
            if m > 0:
                matched.add(int(gt_id))
    return matched


@pytest.mark.slow
def test_fine_tuning_run_on_shared_coco(tmp_path):
    """A real run: 24 steps of MobileNet-thin at 160x128 on the four photos. The loss of a fixed
    held-out augmented batch falls; the saved file loads; the people found stay found."""
    need_shared(ANN)
    import functools

    import jax.numpy as jnp

    import jaxpose
    from jaxpose.device.preprocess import normalize
    from jaxpose.train.coco_data import CocoKeypoints
    from jaxpose.train.layouts import coco_layout
    from jaxpose.train.loader import BatchStream
    from jaxpose.train.loss import loss_fn
    from jaxpose.train.recipes import recipe_for
    from jaxpose.train.targets import make_targets

    start = jaxpose.load_model("mobilenet_thin")
    layout, recipe = coco_layout(start.name), recipe_for(start.name)
    stream = BatchStream(CocoKeypoints(ANN, COCO_DIR), layout, recipe, batch_size=4, crop_wh=(160, 128), seed=99)
    held_out = stream.batch(1000)
    stream.close()

    @functools.partial(jax.jit, static_argnums=())
    def fixed_loss(params):
        t, w = make_targets(held_out.keypoints, held_out.masks, layout, recipe.target_style)
        x = normalize(jnp.asarray(held_out.images), start.spec.normalization)
        return loss_fn(params, x, t, w, net=start.net, spec=start.spec, scale=recipe.loss_scale)[0]

    result = train(TrainConfig(annotations=str(ANN), images=str(COCO_DIR), out=str(tmp_path / "run"),
                               steps=24, batch_size=2, input_size=(160, 128), checkpoint_every=12))
    tuned = jaxpose.load_model(result.model_path)
    before, after = float(fixed_loss(start.params)), float(fixed_loss(tuned.params))
    assert after < before, (before, after)
    rows = losses(tmp_path / "run")
    assert len(rows) == 24 and all(np.isfinite(float(r[1])) for r in rows)
    found_before = _matched_people(start, ANN, COCO_DIR)
    found_after = _matched_people(tuned, ANN, COCO_DIR)
    assert found_before and found_before <= found_after, (found_before, found_after)


@pytest.mark.slow
def test_fine_tune_a_converted_caffe_body_25(tmp_path):
    """OpenPose's BODY_25 (random Caffe weights, converted with from_caffe and saved): one step of
    the OP-train recipe ("openpose" targets, foot channels masked, 6 stage losses), saved as a
    model file that make_pose_fn runs."""
    from caffe_writer import write_random_caffemodel
    from conftest import PROTOTXTS

    import jaxpose

    prototxt = need_shared(PROTOTXTS["BODY_25"])
    need_shared(ANN)
    caffemodel = write_random_caffemodel(prototxt, tmp_path / "b25.caffemodel", seed=1)
    converted = jaxpose.save_model(jaxpose.from_caffe(prototxt, caffemodel), tmp_path / "b25.jaxpose")
    result = train(tiny(tmp_path / "run", model=str(converted), steps=1, batch_size=1,
                        input_size=(32, 32), checkpoint_every=1, lr=1e-9))
    rows = losses(tmp_path / "run")
    assert len(rows) == 1 and np.isfinite(float(rows[0][1]))
    with open(tmp_path / "run" / "metrics.csv") as f:
        header = f.readline().strip().split(",")
    assert [c for c in header if c[:3] in ("paf", "hea")] == ["paf1", "paf2", "paf3", "paf4", "heat1", "heat2"]
    tuned = jaxpose.load_model(result.model_path)
    assert tuned.name == "BODY_25"
    poses = jaxpose.make_pose_fn(tuned, net_resolution=(-1, 64))(tuned.params, np.zeros((48, 64, 3), np.uint8))
    assert poses.keypoints.shape[1:] == (25, 3)


@pytest.mark.parametrize("name", ["MOBILENET_THIN", "COCO", "BODY_25"])
def test_from_scratch_initial_model(tmp_path, name):
    """--from_scratch: the net's exact parameter tree, kernels drawn with the recipe's initialiser
    (CMU-2017 Gaussian std 0.01; Xavier U[-sqrt(3/fan_in), +] otherwise), zero biases, PReLU 0.25."""
    from jaxpose.nets import build_net
    from jaxpose.train.loop import initial_model

    model, fine_tuning = initial_model(tiny(tmp_path, model=name.lower() if name == "MOBILENET_THIN" else name,
                                            from_scratch=True))
    assert not fine_tuning and model.name == name
    expected = jax.eval_shape(build_net(name).init, jax.random.key(0), np.zeros((1, 16, 16, 3), np.float32))["params"]
    assert jax.tree.map(lambda a: a.shape, model.params) == jax.tree.map(lambda a: a.shape, expected)
    flat = jax.tree_util.tree_flatten_with_path(model.params)[0]
    kernels = [(p, a) for p, a in flat if p[-1].key == "kernel" and a.size > 10000]
    layer_path, kernel = kernels[-1]
    if name == "COCO":
        assert np.std(kernel) == pytest.approx(0.01, rel=0.05)
    else:
        bound = np.sqrt(3 / np.prod(kernel.shape[:-1]))
        assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.9 * bound
    assert all(not np.any(a) for p, a in flat if p[-1].key == "bias")
    assert all(np.all(a == 0.25) for p, a in flat if p[-1].key == "slope")
