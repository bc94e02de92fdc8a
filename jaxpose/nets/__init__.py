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


def stage_output_layers(name: str) -> tuple[tuple[str, int, str], ...]:
    """Every supervised stage output of body model `name`: (kind, stage, layer name), in order.

    kind is "paf" or "heat"; stage counts from 1 within its kind. The layer's output is that
    stage's prediction, channels in the order of the network's output blob (heatmaps with the
    background last; PAFs in the blob's PAF order). Training reads them with Flax's
    `capture_intermediates` (openpose-training.md §7: every stage is supervised).
    """
    from jaxpose.specs import get_spec

    spec = get_spec(name)
    if spec.name == "MOBILENET_THIN":
        from jaxpose.nets.mobilenet_thin import NUM_STAGES

        return tuple(
            (kind, s, f"MConv_Stage{s}_{branch}_5_pointwise")
            for s in range(1, NUM_STAGES + 1) for kind, branch in (("paf", "L1"), ("heat", "L2"))
        )
    if spec.name == "BODY_25":  # 4 PAF stages ("L2"), then 2 heatmap stages ("L1")
        return tuple(("paf", t + 1, f"Mconv7_stage{t}_L2") for t in range(4)) + tuple(
            ("heat", t + 1, f"Mconv7_stage{t}_L1") for t in range(2))
    if spec.name in ("COCO", "MPI", "MPI_4_layers"):  # per stage PAF "L1" and heatmap "L2"
        stages = openpose_stage_count(spec.name)
        layers = [("paf", 1, "conv5_5_CPM_L1"), ("heat", 1, "conv5_5_CPM_L2")]
        for t in range(2, stages + 1):
            layers += [("paf", t, f"Mconv7_stage{t}_L1"), ("heat", t, f"Mconv7_stage{t}_L2")]
        return tuple(layers)
    raise KeyError(f"{spec.name} is not a body model with PAF stages; training supports "
                   "MOBILENET_THIN, BODY_25, COCO, MPI and MPI_4_layers.")


def openpose_stage_count(name: str) -> int:
    """Number of refinement stages of a two-branch Caffe network (COCO, MPI: 6; MPI_4_layers: 4)."""
    from jaxpose.nets.openpose import openpose_net

    return openpose_net(name).num_stages
