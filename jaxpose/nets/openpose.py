"""OpenPose's six Caffe networks as Flax modules (NHWC); layer names equal the Caffe layer names.

Each module maps `(N, H, W, 3)` float32 (BGR, v/256 - 0.5) to `(N, ceil(H/8), ceil(W/8), C)` float32
with the channels in the order of the original network's output blob `net_output`:

    BODY_25       (C=78)  26 heatmaps (25 parts + background), then 52 PAF channels
    COCO          (C=57)  19 heatmaps, 38 PAF channels
    MPI           (C=44)  16 heatmaps, 28 PAF channels   (MPI_4_layers: the same with 4 stages)
    HAND          (C=22)  21 keypoints + background
    FACE          (C=71)  70 keypoints + background

The parameters form a flat tree `{caffe_layer_name: {"kernel" (kh,kw,Cin,Cout), "bias" (Cout,)}}`
plus `{prelu_layer_name: {"slope" (C,)}}` for BODY_25's PReLU layers, so converting a caffemodel
is a rename-free transposition of its blobs (see `jaxpose.convert.caffe`).
"""

from __future__ import annotations

from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpose.nets.layers import DEFAULT_CONV3X3_IMPL, PReLU, conv, max_pool_2x2


class _CaffeNet(nn.Module):
    """Shared settings and the layer helpers; subclasses define `__call__` with `@nn.compact`."""

    dtype: Any = jnp.float32
    conv3x3_impl: str = DEFAULT_CONV3X3_IMPL
    operand_dtype: Any = None  # e.g. bfloat16: convolution operands only (`layers.operands`)

    def _conv(self, x: jax.Array, name: str, features: int, kernel_size: int = 3) -> jax.Array:
        return conv(x, features, kernel_size, name, self.dtype, self.conv3x3_impl, self.operand_dtype)

    def _conv_relu(self, x: jax.Array, name: str, features: int, kernel_size: int = 3) -> jax.Array:
        return nn.relu(self._conv(x, name, features, kernel_size))

    def _conv_prelu(
        self, x: jax.Array, name: str, prelu_name: str, features: int, kernel_size: int = 3
    ) -> jax.Array:
        return PReLU(dtype=self.dtype, name=prelu_name)(self._conv(x, name, features, kernel_size))

    def _vgg_front(self, x: jax.Array) -> jax.Array:
        """conv1_1 .. conv3_4 with three 2x2 max pools, then conv4_1 (all ReLU): stride 8, 512 ch."""
        for block, (width, depth) in enumerate(((64, 2), (128, 2), (256, 4)), start=1):
            for i in range(1, depth + 1):
                x = self._conv_relu(x, f"conv{block}_{i}", width)
            x = max_pool_2x2(x)
        return self._conv_relu(x, "conv4_1", 512)

    def _prepare(self, x: jax.Array) -> jax.Array:
        chex.assert_rank(x, 4)
        if x.shape[-1] != 3:
            raise ValueError(f"expected (N, H, W, 3) BGR input, got shape {x.shape}")
        return x.astype(self.dtype)


class Body25Net(_CaffeNet):
    """BODY_25 (`pose/body_25/pose_deploy.prototxt`): 4 PAF stages ("L2"), then 2 heatmap stages ("L1")."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = self._vgg_front(self._prepare(x))
        x = self._conv_prelu(x, "conv4_2", "prelu4_2", 512)
        x = self._conv_prelu(x, "conv4_3_CPM", "prelu4_3_CPM", 256)
        features = self._conv_prelu(x, "conv4_4_CPM", "prelu4_4_CPM", 128)

        pafs = self._stage(features, 0, "L2", 52)
        for stage in range(1, 4):
            pafs = self._stage(jnp.concatenate([features, pafs], -1), stage, "L2", 52)
        heatmaps = self._stage(jnp.concatenate([features, pafs], -1), 0, "L1", 26)
        heatmaps = self._stage(jnp.concatenate([features, heatmaps, pafs], -1), 1, "L1", 26)
        return jnp.concatenate([heatmaps, pafs], -1).astype(jnp.float32)

    def _stage(self, x: jax.Array, stage: int, branch: str, outputs: int) -> jax.Array:
        """Five dense blocks (three chained 3x3 convs, outputs concatenated), 1x1 + PReLU, 1x1."""
        width, mid = (96, 256) if stage == 0 else (128, 512)
        tag = f"stage{stage}_{branch}"
        for block in range(1, 6):
            parts = []
            for j in range(3):
                x = self._conv_prelu(x, f"Mconv{block}_{tag}_{j}", f"Mprelu{block}_{tag}_{j}", width)
                parts.append(x)
            x = jnp.concatenate(parts, -1)
        x = self._conv_prelu(x, f"Mconv6_{tag}", f"Mprelu6_{tag}", mid, 1)
        return self._conv(x, f"Mconv7_{tag}", outputs, 1)


class TwoBranchNet(_CaffeNet):
    """COCO / MPI / MPI_4_layers: per stage a PAF branch "L1" and a heatmap branch "L2"."""

    num_stages: int = 6
    paf_channels: int = 38
    heatmap_channels: int = 19

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = self._vgg_front(self._prepare(x))
        x = self._conv_relu(x, "conv4_2", 512)
        x = self._conv_relu(x, "conv4_3_CPM", 256)
        features = self._conv_relu(x, "conv4_4_CPM", 128)

        branches = {"L1": self.paf_channels, "L2": self.heatmap_channels}
        out = {}
        for branch, outputs in branches.items():
            y = features
            for i in range(1, 4):
                y = self._conv_relu(y, f"conv5_{i}_CPM_{branch}", 128)
            y = self._conv_relu(y, f"conv5_4_CPM_{branch}", 512, 1)
            out[branch] = self._conv(y, f"conv5_5_CPM_{branch}", outputs, 1)
        for stage in range(2, self.num_stages + 1):
            x = jnp.concatenate([out["L1"], out["L2"], features], -1)
            out = {b: _refine(self, x, f"stage{stage}_{b}", n) for b, n in branches.items()}
        return jnp.concatenate([out["L2"], out["L1"]], -1).astype(jnp.float32)


class SingleBranchNet(_CaffeNet):
    """HAND / FACE: VGG to conv5_3_CPM, one 6-stage branch of `num_outputs` heatmaps."""

    num_outputs: int = 22

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = self._vgg_front(self._prepare(x))
        for name in ("conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2"):
            x = self._conv_relu(x, name, 512)
        features = self._conv_relu(x, "conv5_3_CPM", 128)
        y = self._conv_relu(features, "conv6_1_CPM", 512, 1)
        y = self._conv(y, "conv6_2_CPM", self.num_outputs, 1)
        for stage in range(2, 7):
            y = _refine(self, jnp.concatenate([y, features], -1), f"stage{stage}", self.num_outputs)
        return y.astype(jnp.float32)


def _refine(net: _CaffeNet, x: jax.Array, tag: str, outputs: int) -> jax.Array:
    """A CPM refinement stage: Mconv1..5 7x7/128 + ReLU, Mconv6 1x1/128 + ReLU, Mconv7 1x1 output."""
    for i in range(1, 6):
        x = net._conv_relu(x, f"Mconv{i}_{tag}", 128, 7)
    x = net._conv_relu(x, f"Mconv6_{tag}", 128, 1)
    return net._conv(x, f"Mconv7_{tag}", outputs, 1)


def openpose_net(name: str, dtype: Any = jnp.float32, conv3x3_impl: str = DEFAULT_CONV3X3_IMPL) -> nn.Module:
    """The Flax module of OpenPose model `name` ("BODY_25", "COCO", "MPI", "MPI_4_layers", "HAND", "FACE").

    dtype: compute dtype (e.g. `jnp.bfloat16`); parameters and the output stay float32.
    conv3x3_impl: a key of `jaxpose.nets.layers.CONV3X3_IMPLS`, or "auto" (per layer, `layers.conv`).
    """
    kw = dict(dtype=dtype, conv3x3_impl=conv3x3_impl)
    nets = {
        "BODY_25": lambda: Body25Net(**kw),
        "COCO": lambda: TwoBranchNet(num_stages=6, paf_channels=38, heatmap_channels=19, **kw),
        "MPI": lambda: TwoBranchNet(num_stages=6, paf_channels=28, heatmap_channels=16, **kw),
        "MPI_4_layers": lambda: TwoBranchNet(num_stages=4, paf_channels=28, heatmap_channels=16, **kw),
        "HAND": lambda: SingleBranchNet(num_outputs=22, **kw),
        "FACE": lambda: SingleBranchNet(num_outputs=71, **kw),
    }
    for key, make in nets.items():
        if key.lower() == name.lower():
            return make()
    raise KeyError(f"no OpenPose network named {name!r}; known: {', '.join(nets)}")


OPENPOSE_NETS = ("BODY_25", "COCO", "MPI", "MPI_4_layers", "HAND", "FACE")
