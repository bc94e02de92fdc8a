"""Every stage's prediction and the multi-stage masked L2 loss (openpose-training.md §7).

    stages = stage_outputs(model.net, model.spec.name, params, x)     # {"paf1": ..., "heat1": ...}
    total, parts = multi_stage_loss(stages, targets, weights, spec, scale="openpose")

All stages are supervised with weight 1 (intermediate supervision), PAF and heatmap terms alike.
Per stage and branch the term is sum((W * (P - Y))^2) (Caffe's EuclideanLoss on mask * pred and
mask * label), and the total is divided by 2B ("openpose", Caffe) or 4B ("tf_pose": the mean of
the two half-squared norms per stage), B = the global batch.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxpose.nets import stage_output_layers
from jaxpose.specs import ModelSpec

LOSS_DIVISORS = {"openpose": 2.0, "tf_pose": 4.0}


def stage_outputs(net: Any, model_name: str, params: Any, x: jnp.ndarray) -> dict[str, jnp.ndarray]:
    """{"paf1", "heat1", ...}: every supervised stage output (N, h, w, c) of `net` on `x`, in
    float32 (or float64 when the net computes in float64)."""
    layers = stage_output_layers(model_name)
    names = {layer for _, _, layer in layers}
    _, state = net.apply(
        {"params": params}, x, mutable=["intermediates"],
        capture_intermediates=lambda module, method: method == "__call__" and module.name in names,
    )
    found = state["intermediates"]
    def at_least_f32(a: jnp.ndarray) -> jnp.ndarray:  # bfloat16 -> float32; float64 stays
        return a.astype(jnp.promote_types(a.dtype, jnp.float32))

    return {f"{kind}{stage}": at_least_f32(found[layer]["__call__"][0]) for kind, stage, layer in layers}


def multi_stage_loss(stages: dict[str, jnp.ndarray], targets: jnp.ndarray, weights: jnp.ndarray,
                     spec: ModelSpec, scale: str = "openpose") -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
    """Total loss (scalar) and each stage/branch term; targets and weights (B, h, w, C)."""
    split = spec.paf_offset
    heat_y, paf_y = targets[..., :split], targets[..., split:]
    heat_w, paf_w = weights[..., :split], weights[..., split:]
    divisor = LOSS_DIVISORS[scale] * targets.shape[0]
    parts = {}
    for name, pred in stages.items():
        y, w = (paf_y, paf_w) if name.startswith("paf") else (heat_y, heat_w)
        parts[name] = jnp.sum((w * (pred - y)) ** 2) / divisor
    total = sum(parts.values())
    return total, parts


def loss_fn(params: Any, images_net: jnp.ndarray, targets: jnp.ndarray, weights: jnp.ndarray, *,
            net: Any, spec: ModelSpec, scale: str) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
    """Loss of `params` on one normalised batch; differentiable in `params`."""
    stages = stage_outputs(net, spec.name, params, images_net)
    return multi_stage_loss(stages, targets, weights, spec, scale)


def loss_and_grad(params: Any, images_net: jnp.ndarray, targets: jnp.ndarray, weights: jnp.ndarray,
                  *, net: Any, spec: ModelSpec, scale: str):
    """((loss, parts), grads)."""
    return jax.value_and_grad(loss_fn, has_aux=True)(params, images_net, targets, weights,
                                                      net=net, spec=spec, scale=scale)
