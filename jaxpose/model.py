"""`Model`: a network, its table and its weights; `save_model` / `load_model` as one file.

A saved model is a single msgpack file (flax.serialization) holding the model name and the params
pytree as NumPy arrays; the module itself is rebuilt from the name with `jaxpose.nets.build_net`.
Built-in names ("mobilenet_thin") are resolved one room up, by `jaxpose.hub.load_model`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jaxpose.errors import ModelFileError
from jaxpose.specs import ModelSpec, get_spec

FORMAT = "jaxpose-model"
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Model:
    """A network ready to apply: `net.apply({"params": params}, x)`.

    `params` is a plain pytree (nested dicts of arrays), so it can be passed through `jit`,
    `vmap`, sharding or an optimizer like any other JAX value.
    """

    name: str
    spec: ModelSpec
    net: nn.Module
    params: Any

    def with_dtype(self, dtype: jnp.dtype) -> "Model":
        """The same weights, computing in `dtype` (e.g. `jnp.bfloat16`)."""
        return dataclasses.replace(self, net=self.net.clone(dtype=dtype))

    def with_conv3x3_impl(self, impl: str, input_size: int | tuple[int, int] | None = None) -> "Model":
        """The same weights, with 3x3 convolutions computed by `impl` (OpenPose's Caffe nets only).

        `"winograd"` (F(4x4, 3x3), `jaxpose.nets.winograd`) runs faster than XLA's direct
        convolution on CPU but compiles slower and needs more memory; see benchmarks/RESULTS.md.
        `"auto"` picks, layer by layer (3x3 and 7x7), one-pass Winograd where it measured faster on
        CPU (`nets.winograd.winograd_pays`) and XLA elsewhere. `"xla"` is the default.

        input_size: the net input size (H, W) or H = W the model will mostly run at (e.g. the hand
        net resolution, 368). The kernels of the layers that compute by Winograd at that size are
        then transformed once, here, into `params` (`nets.winograd.prepare_winograd_params`):
        each call skips that work (HAND at 368, one crop: ~0.66 of XLA's time instead of ~0.9) and
        compiles in ~5 s instead of ~20 s, at the cost of ~0.4-0.6 GB more weights per net.
        Without it the kernels are transformed inside every call. Other sizes still run correctly.
        """
        from jaxpose.errors import InputError
        from jaxpose.nets.layers import CONV_IMPL_NAMES
        from jaxpose.nets.winograd import prepare_winograd_params, strip_winograd_params

        if not hasattr(self.net, "conv3x3_impl"):
            raise InputError(f"{self.name} has no 3x3 convolution choice (only OpenPose's Caffe networks do).")
        if impl not in CONV_IMPL_NAMES:
            raise InputError(f"unknown 3x3 convolution implementation {impl!r}; choose one of {', '.join(CONV_IMPL_NAMES)}.")
        net = self.net.clone(conv3x3_impl=impl)
        params = strip_winograd_params(self.params)
        if input_size is not None and impl != "xla":
            size = (input_size, input_size) if isinstance(input_size, int) else input_size
            if not (isinstance(size, (tuple, list)) and len(size) == 2
                    and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)):
                raise InputError(f"input_size must be a positive int or (height, width), got {input_size!r}.")
            params = prepare_winograd_params(net, params, (1, *size, 3))
        return dataclasses.replace(self, net=net, params=params)

def make_model(name: str, params: Any, dtype: jnp.dtype = jnp.float32) -> Model:
    """Wrap converted `params` of model `name` into a `Model`."""
    from jaxpose.nets import build_net

    spec = get_spec(name)
    return Model(name=spec.name, spec=spec, net=build_net(spec.name, dtype=dtype), params=params)


def save_model(model: Model, path: str | os.PathLike) -> Path:
    """Write `model` to one file at `path` (atomically: a partial file never replaces a good one)."""
    from jaxpose.io.atomic import atomic_write_bytes

    from jaxpose.nets.winograd import strip_winograd_params

    params = _to_numpy(strip_winograd_params(model.params))  # the weights, not a speed-up of them
    blob = serialization.msgpack_serialize(
        {"format": FORMAT, "version": FORMAT_VERSION, "name": model.name, "params": params}
    )
    return atomic_write_bytes(Path(path), blob)


def load_model_file(path: str | os.PathLike, dtype: jnp.dtype = jnp.float32) -> Model:
    """Load a model file written by `save_model` (names of built-in models: `jaxpose.load_model`).

    Raises `ModelFileError` for a missing, unreadable or damaged file, including weights that are
    not finite or implausibly large (`jaxpose.convert.sanity`, rules 1-2), naming the layer.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"{path}: no such model file. Pass a file written by `jaxpose convert` / "
            "`jaxpose.save_model`, or a built-in model name (see `jaxpose.load_model`)."
        )
    try:
        state = serialization.msgpack_restore(path.read_bytes())
    except Exception as exc:  # msgpack raises several unrelated types on garbage input
        raise ModelFileError(
            f"{path}: not a readable jaxpose model file ({type(exc).__name__}: {exc}). "
            "It may be truncated or of another format; convert the original weights again with "
            "`jaxpose convert`."
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ModelFileError(
            f"{path}: not a jaxpose model file (no '{FORMAT}' header); convert the original "
            "weights with `jaxpose convert`."
        )
    if state.get("version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model file version {state.get('version')} is not supported by this jaxpose "
            f"(expects {FORMAT_VERSION}); convert the original weights again."
        )
    name = state.get("name")
    try:
        spec = get_spec(str(name))
    except KeyError:
        raise ModelFileError(
            f"{path}: holds weights of an unknown model {name!r}; it was written by another jaxpose "
            "version or edited. Convert the original weights again."
        ) from None
    return make_model(spec.name, _checked_params(path, spec.name, state.get("params")), dtype=dtype)


def _checked_params(path: Path, name: str, params: Any) -> Any:
    """`params` if they fit network `name` exactly (names and shapes), else `ModelFileError`."""
    import jax

    from jaxpose.convert.remap import flatten_tree, strict_merge
    from jaxpose.convert.sanity import check_weights
    from jaxpose.nets import build_net

    if not isinstance(params, dict):
        raise ModelFileError(f"{path}: holds no parameter tree; convert the original weights again.")
    expected = jax.eval_shape(build_net(name).init, jax.random.key(0), jnp.zeros((1, 16, 16, 3)))["params"]
    checked = strict_merge(
        expected, flatten_tree(params), source=str(path), target=f"the {name} network",
        hint="The file is damaged or from another jaxpose version; convert the original weights again.",
    )
    check_weights(checked, str(path))
    return checked


def _to_numpy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _to_numpy(v) for k, v in tree.items()}
    return np.asarray(tree)
