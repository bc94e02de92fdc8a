"""The jitted training step: targets on the device, loss, gradients, optax update, data-parallel.

    step_fn = make_train_step(model, layout, recipe, tx, mesh=data_mesh())
    state, metrics = step_fn(state, step_fn.put(batch))        # state is donated

`state` is {"step": int32, "params": ..., "opt_state": ...}. The batch is sharded along its first
axis over every local device of the mesh (`jax.sharding`, axis "data"); params and optimiser state
are replicated, so XLA all-reduces the gradients. A non-finite loss or gradient leaves the state
unchanged (metrics["finite"] is False), so the caller can stop with the last good parameters.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxpose.device.preprocess import normalize
from jaxpose.errors import InputError
from jaxpose.train.layouts import Layout
from jaxpose.train.loader import Batch
from jaxpose.train.loss import loss_and_grad
from jaxpose.train.recipes import Recipe
from jaxpose.train.targets import make_targets


def data_mesh(devices: list | None = None) -> Mesh:
    """A 1-D mesh ("data",) over `devices` (default: every local device)."""
    devices = list(devices if devices is not None else jax.local_devices())
    return Mesh(np.array(devices), ("data",))


def init_state(params: Any, tx: optax.GradientTransformation) -> dict[str, Any]:
    return {"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": tx.init(params)}


def _step(state: dict, images: jnp.ndarray, keypoints: jnp.ndarray, masks: jnp.ndarray, *,
          net: Any, layout: Layout, recipe: Recipe, tx: optax.GradientTransformation):
    spec = layout.spec
    targets, weights = make_targets(keypoints, masks, layout, recipe.target_style, spec.stride)
    x = normalize(images, spec.normalization)
    (loss, parts), grads = loss_and_grad(state["params"], x, targets, weights, net=net, spec=spec,
                                         scale=recipe.loss_scale)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    grad_norm = optax.global_norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    new = {"step": state["step"] + 1, "params": params, "opt_state": opt_state}
    new = jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, state)
    metrics = {"loss": loss, **parts, "grad_norm": grad_norm, "finite": finite}
    return new, metrics


class TrainStep:
    """`step_fn(state, device_batch) -> (state, metrics)`; `put(batch)` shards a host `Batch`."""

    def __init__(self, model: Any, layout: Layout, recipe: Recipe, tx: optax.GradientTransformation,
                 *, mesh: Mesh | None = None, compute_dtype: Any = None):
        net = model.net if compute_dtype is None else model.net.clone(dtype=compute_dtype)
        self.mesh = mesh or data_mesh()
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.sharded = NamedSharding(self.mesh, PartitionSpec("data"))
        fn = functools.partial(_step, net=net, layout=layout, recipe=recipe, tx=tx)
        self._jitted = jax.jit(
            fn, in_shardings=(self.replicated, self.sharded, self.sharded, self.sharded),
            out_shardings=(self.replicated, self.replicated), donate_argnums=(0,))

    @property
    def num_devices(self) -> int:
        return self.mesh.devices.size

    def check_batch_size(self, batch_size: int) -> None:
        if batch_size % self.num_devices:
            raise InputError(f"batch size {batch_size} does not divide over {self.num_devices} "
                             f"devices; use a multiple of {self.num_devices}.")

    def put_state(self, state: Any) -> Any:
        return jax.device_put(state, self.replicated)

    def put(self, batch: Batch) -> tuple[jax.Array, jax.Array, jax.Array]:
        self.check_batch_size(batch.images.shape[0])
        return tuple(jax.device_put(a, self.sharded) for a in (batch.images, batch.keypoints, batch.masks))

    def __call__(self, state: Any, device_batch: tuple) -> tuple[Any, dict]:
        return self._jitted(state, *device_batch)
