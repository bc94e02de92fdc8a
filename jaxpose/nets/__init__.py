"""Flax modules of the networks. Layer names equal the original layer names.

`build_net(name)` is the one place that maps a model name to its module, so that converters,
`load_model` and the pipeline never need to know which file holds which architecture.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


def build_net(name: str, dtype: jnp.dtype = jnp.float32) -> nn.Module:
    """The Flax module of model `name` (a key of `jaxpose.specs.SPECS`), computing in `dtype`.

    Every module maps `(N, H, W, 3)` float32, normalized per the model's spec, to
    `(N, H/8, W/8, C)` in the channel order of the original network's output blob.
    """
    from jaxpose.specs import get_spec

    spec = get_spec(name)
    if spec.name == "MOBILENET_THIN":
        from jaxpose.nets.mobilenet_thin import MobileNetThin

        return MobileNetThin(dtype=dtype)
    from jaxpose.nets.openpose import openpose_net

    return openpose_net(spec.name, dtype=dtype)
