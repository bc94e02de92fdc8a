"""Loss, gradients and optimisers (openpose-training.md §7, §8): the multi-stage masked L2 by hand,
jax.grad through the whole network against finite differences, lr multipliers and decay as Caffe
applies them, schedules, frozen layers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxpose.errors import InputError
from jaxpose.nets import build_net
from jaxpose.specs import get_spec
from jaxpose.train.layouts import DRAWN, coco_layout
from jaxpose.train.loop import init_params
from jaxpose.train.loss import loss_fn, multi_stage_loss, stage_outputs
from jaxpose.train.optim import make_optimizer, make_schedule, param_labels
from jaxpose.train.recipes import CMU_2017, OP_TRAIN_BODY_25, TF_POSE
from jaxpose.train.targets import make_targets


def test_multi_stage_loss_by_hand():
    """Every stage weight 1; term = sum((W (P - Y))^2); total / (2B) Caffe, / (4B) tf-pose."""
    spec = get_spec("COCO")
    b, h, w = 2, 3, 4
    targets = np.ones((b, h, w, spec.num_channels), np.float32)
    weights = np.ones_like(targets)
    weights[:, 0, 0, :] = 0.0  # one masked cell
    weights[:, 1, 1, :] = 0.5  # a fractional (area-averaged) weight counts squared
    stages = {"paf1": jnp.zeros((b, h, w, 38)), "heat1": jnp.zeros((b, h, w, 19)),
              "paf2": jnp.full((b, h, w, 38), 3.0), "heat2": jnp.ones((b, h, w, 19))}
    per_cell = (h * w - 1 - 1) + 0.25  # cells with weight 1, then the 0.5 cell
    total, parts = multi_stage_loss(stages, targets, weights, spec, "openpose")
    assert float(parts["paf1"]) == pytest.approx(b * 38 * per_cell / (2 * b))
    assert float(parts["heat1"]) == pytest.approx(b * 19 * per_cell / (2 * b))
    assert float(parts["paf2"]) == pytest.approx(b * 38 * 4 * per_cell / (2 * b))
    assert float(parts["heat2"]) == 0.0
    assert float(total) == pytest.approx(sum(float(v) for v in parts.values()))
    total_tf, _ = multi_stage_loss(stages, targets, weights, spec, "tf_pose")
    assert float(total_tf) == pytest.approx(float(total) / 2)


def test_stage_outputs_are_the_network_output():
    net = build_net("MOBILENET_THIN")
    x = jnp.asarray(np.random.default_rng(0).uniform(0, 255, (1, 32, 40, 3)), jnp.float32)
    params = init_params("MOBILENET_THIN", 0)
    stages = jax.jit(lambda p: stage_outputs(net, "MOBILENET_THIN", p, x))(params)
    assert sorted(stages) == sorted([f"{k}{s}" for s in range(1, 7) for k in ("paf", "heat")])
    out = jax.jit(net.apply)({"params": params}, x)
    np.testing.assert_allclose(stages["heat6"], out[..., :19], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(stages["paf6"], out[..., 19:], rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_gradient_through_the_whole_network_matches_finite_differences():
    """MobileNet-thin at a tiny input, float64: jax.grad of the full multi-stage loss is finite and
    its directional derivatives equal central differences."""
    layout = coco_layout("MOBILENET_THIN")
    rng = np.random.default_rng(0)
    h, w = 24, 32
    kp = np.zeros((1, 2, 18, 3), np.float32)
    kp[..., 0] = rng.uniform(0, w, (1, 2, 18))
    kp[..., 1] = rng.uniform(0, h, (1, 2, 18))
    kp[..., 2] = DRAWN
    targets, weights = make_targets(kp, np.full((1, h, w), 255, np.uint8), layout, "tf_pose")
    with jax.enable_x64(True):
        net = build_net("MOBILENET_THIN", dtype=jnp.float64)
        x = jnp.asarray(rng.uniform(0, 255, (1, h, w, 3)))
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), init_params("MOBILENET_THIN", 1))
        t64, w64 = jnp.asarray(targets, jnp.float64), jnp.asarray(weights, jnp.float64)

        def f(p):
            return loss_fn(p, x, t64, w64, net=net, spec=layout.spec, scale="tf_pose")[0]

        grads = jax.jit(jax.grad(f))(params)
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
        assert float(optax.global_norm(grads)) > 0
        f_jit = jax.jit(f)
        directions = np.random.default_rng(5)
        for layer in (None, "Conv2d_0", "Conv2d_6_depthwise", "MConv_Stage3_L1_2_pointwise"):
            direction = jax.tree.map(lambda p: jnp.asarray(directions.normal(size=p.shape)), params)
            if layer is not None:  # one layer at a time, first to last, and all layers at once
                direction = {k: v if k == layer else jax.tree.map(jnp.zeros_like, v) for k, v in direction.items()}
            # float64 and a tiny step: no ReLU or max-pool switches between the two points, and
            # rounding stays ~1e-16 * |f| / eps ~ 1e-5 of these derivatives
            eps = 1e-8
            plus = jax.tree.map(lambda p, d: p + eps * d, params, direction)
            minus = jax.tree.map(lambda p, d: p - eps * d, params, direction)
            numeric = (f_jit(plus) - f_jit(minus)) / (2 * eps)
            analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(direction)))
            assert float(numeric) == pytest.approx(float(analytic), rel=1e-4), layer


def _caffe_params():
    return {"conv1_1": {"kernel": jnp.ones((3, 3, 3, 2)), "bias": jnp.ones((2,))},
            "conv5_5_CPM_L1": {"kernel": jnp.ones((1, 1, 2, 2)), "bias": jnp.ones((2,))},
            "Mconv7_stage2_L1": {"kernel": jnp.ones((1, 1, 2, 2)), "bias": jnp.ones((2,))},
            "Mprelu1_stage0_L2_0": {"slope": jnp.ones((2,))}}


def test_lr_multipliers_and_decay_labels():
    """CMU-2017: trunk and stage 1 lr 1 (bias 2), stages >= 2 lr 4 (bias 8); OP-train: every
    stage layer 4/8 (PReLU slopes too); biases never decay; tf-pose: all 1."""
    params = _caffe_params()
    cmu = param_labels(params, CMU_2017.optim)
    assert cmu["conv1_1"] == {"kernel": "lr1_wd1", "bias": "lr2_wd0"}
    assert cmu["conv5_5_CPM_L1"] == {"kernel": "lr1_wd1", "bias": "lr2_wd0"}
    assert cmu["Mconv7_stage2_L1"] == {"kernel": "lr4_wd1", "bias": "lr8_wd0"}
    op = param_labels(params, OP_TRAIN_BODY_25.optim)
    assert op["Mprelu1_stage0_L2_0"] == {"slope": "lr4_wd1"}
    assert op["conv1_1"]["bias"] == "lr2_wd0"
    tf = param_labels(params, TF_POSE.optim, freeze=("^conv1_1/",))
    assert tf["conv1_1"] == {"kernel": "frozen", "bias": "frozen"}
    assert tf["Mconv7_stage2_L1"] == {"kernel": "lr1_wd1", "bias": "lr1_wd0"}


def test_caffe_sgd_step_with_multipliers_and_coupled_decay():
    """One SGD step from zero momentum: delta = -lr * mult * (g + wd * w * decay_mult)."""
    params = _caffe_params()
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    tx, _ = make_optimizer(params, CMU_2017.optim, lr=0.1, total_steps=10)
    updates, _ = tx.update(grads, tx.init(params), params)
    wd = CMU_2017.optim.weight_decay
    np.testing.assert_allclose(updates["conv1_1"]["kernel"], -0.1 * 1 * (0.5 + wd), rtol=1e-6)
    np.testing.assert_allclose(updates["conv1_1"]["bias"], -0.1 * 2 * 0.5, rtol=1e-6)
    np.testing.assert_allclose(updates["Mconv7_stage2_L1"]["kernel"], -0.1 * 4 * (0.5 + wd), rtol=1e-6)
    np.testing.assert_allclose(updates["Mconv7_stage2_L1"]["bias"], -0.1 * 8 * 0.5, rtol=1e-6)


def test_adam_step_frozen_layers_and_clipping():
    params = _caffe_params()
    grads = jax.tree.map(lambda p: jnp.full_like(p, 3.0), params)
    tx, _ = make_optimizer(params, TF_POSE.optim, lr=1e-3, total_steps=100, freeze=("^conv1_1/",), clip_norm=1.0)
    updates, _ = tx.update(grads, tx.init(params), params)
    assert not np.any(updates["conv1_1"]["kernel"]) and not np.any(updates["conv1_1"]["bias"])
    # Adam's first step is -lr * g / (|g| + eps) = -lr whatever the (clipped) gradient
    np.testing.assert_allclose(updates["Mconv7_stage2_L1"]["kernel"], -1e-3, rtol=1e-4)
    with pytest.raises(InputError, match="matches no parameter"):
        make_optimizer(params, TF_POSE.optim, lr=1e-3, total_steps=1, freeze=("^nothing_here",))
    with pytest.raises(InputError, match="not a regular expression"):
        make_optimizer(params, TF_POSE.optim, lr=1e-3, total_steps=1, freeze=("(",))


def test_schedules_are_the_docs():
    step = make_schedule(CMU_2017.optim, 4e-5, 10)  # lr * 0.333 ** floor(it / 136106)
    assert float(step(136105)) == pytest.approx(4e-5)
    assert float(step(136106)) == pytest.approx(4e-5 * 0.333)
    assert float(step(2 * 136106)) == pytest.approx(4e-5 * 0.333 ** 2)
    multi = make_schedule(OP_TRAIN_BODY_25.optim, 1e-4, 10)  # x0.5 at 200k, 300k, ...
    assert float(multi(199_999)) == pytest.approx(1e-4)
    assert float(multi(200_001)) == pytest.approx(5e-5)
    assert float(multi(300_001)) == pytest.approx(2.5e-5)
    cosine = make_schedule(TF_POSE.optim, 1e-3, 100)  # cosine decay to 0 over the run
    assert float(cosine(0)) == pytest.approx(1e-3)
    assert float(cosine(50)) == pytest.approx(0.5e-3)
    assert float(cosine(100)) == pytest.approx(0.0, abs=1e-12)
