"""The few layer kinds of OpenPose's Caffe networks, NHWC.

Every convolution of every network is made by `conv`, so the implementation of the 3x3
convolutions (most of the compute) is chosen in one place: `CONV3X3_IMPLS` maps an
implementation name to a module class, and `DEFAULT_CONV3X3_IMPL` is the one used unless a network
is built with another (`openpose_net(name, conv3x3_impl=...)`). `"auto"` chooses per layer, for
3x3 and 7x7 layers, between XLA's convolution and one-pass Winograd (`winograd.winograd_pays`).
Every implementation must hold the parameters `kernel` (kh, kw, Cin, Cout) and `bias` (Cout,)
like `flax.linen.Conv`.
"""

from __future__ import annotations

import importlib
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# name -> "module:Class" (imported on first use) of the module computing stride-1 "same" 3x3 convs.
CONV3X3_IMPLS: dict[str, str] = {
    "xla": "flax.linen:Conv",
    "winograd": "jaxpose.nets.winograd:WinogradConv",
}
DEFAULT_CONV3X3_IMPL = "xla"
# Not a class: each layer picks XLA's convolution or one-pass Winograd by its shape
# (`jaxpose.nets.winograd.winograd_pays`), 3x3 and 7x7 layers alike.
AUTO_CONV_IMPL = "auto"
CONV_IMPL_NAMES: tuple[str, ...] = (*CONV3X3_IMPLS, AUTO_CONV_IMPL)


def conv3x3_class(impl: str) -> type[nn.Module]:
    """The module class registered as 3x3 convolution implementation `impl`."""
    if impl not in CONV3X3_IMPLS:
        raise ValueError(f"unknown 3x3 convolution implementation {impl!r}; known: {', '.join(CONV3X3_IMPLS)}")
    module_name, _, class_name = CONV3X3_IMPLS[impl].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def operands(x: jax.Array, operand_dtype: Any) -> jax.Array:
    """`x` as the operand of a product in `operand_dtype` (None: unchanged).

    On accelerators a cast (bf16 tensor cores). On CPU, where bf16 arithmetic is emulated and
    slow, the values rounded to `operand_dtype` but kept float32: a product of two bf16 values is
    exact in float32, so float32 products of rounded operands with float32 accumulation are the
    numbers bf16 hardware with float32 accumulation computes (up to the order of the sums).
    """
    if operand_dtype is None or x.dtype == operand_dtype:
        return x
    if jax.default_backend() == "cpu":
        mantissa = jnp.finfo(operand_dtype).nmant
        return jax.lax.reduce_precision(x, exponent_bits=8, mantissa_bits=mantissa)
    return x.astype(operand_dtype)


def mixed_conv_general_dilated(operand_dtype: Any) -> Any:
    """`lax.conv_general_dilated` with operands in `operand_dtype`, accumulated in float32."""
    def conv_general_dilated(lhs, rhs, *args, **kwargs):
        return jax.lax.conv_general_dilated(operands(lhs, operand_dtype), operands(rhs, operand_dtype),
                                            *args, preferred_element_type=jnp.float32, **kwargs)

    return conv_general_dilated


def conv(
    x: jax.Array,
    features: int,
    kernel_size: int,
    name: str,
    dtype: Any = jnp.float32,
    conv3x3_impl: str = DEFAULT_CONV3X3_IMPL,
    operand_dtype: Any = None,
) -> jax.Array:
    """Caffe `Convolution` (stride 1, dilation 1, pad (k-1)/2, with bias): (N,H,W,Cin) -> (N,H,W,features).

    Creates the submodule `name` in the calling compact module, so call it only from inside an
    `@nn.compact` method. Parameters are float32; the arithmetic runs in `dtype`. With
    `operand_dtype` (e.g. bfloat16) the input and kernel are rounded to it and the products
    accumulate in float32 (`operands`); the output stays in `dtype`.
    """
    pad = (kernel_size - 1) // 2
    extra = {}
    if conv3x3_impl == AUTO_CONV_IMPL:
        from jaxpose.nets.winograd import WinogradConv, winograd_pays

        cls = WinogradConv if winograd_pays(kernel_size, x.shape, features) else nn.Conv
        extra = {"min_channels": 0, "chunk_bytes": None} if cls is WinogradConv else {}
    else:
        cls = conv3x3_class(conv3x3_impl) if kernel_size == 3 else nn.Conv
    if operand_dtype is not None:
        if cls is not nn.Conv:
            raise ValueError(f"operand_dtype needs the 'xla' 3x3 convolutions, not {conv3x3_impl!r}")
        extra["conv_general_dilated"] = mixed_conv_general_dilated(operand_dtype)
    layer = cls(
        features=features,
        kernel_size=(kernel_size, kernel_size),
        padding=((pad, pad), (pad, pad)),
        dtype=dtype,
        param_dtype=jnp.float32,
        name=name,
        **extra,
    )
    return layer(x)


class PReLU(nn.Module):
    """Caffe `PReLU` with one slope per channel (param `slope`, (C,)): max(x,0) + slope * min(x,0)."""

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        slope = self.param("slope", nn.initializers.constant(0.25), (x.shape[-1],), jnp.float32)
        return jnp.where(x >= 0, x, x * slope.astype(self.dtype))


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """Caffe `Pooling` MAX, kernel 2, stride 2, pad 0: (N,H,W,C) -> (N,ceil(H/2),ceil(W/2),C).

    Caffe (and OpenCV's Caffe importer) round the output size up: an odd last row/column forms a
    window of its own, whose maximum is that row/column. Padding with -inf reproduces that.
    """
    pad_h, pad_w = x.shape[1] % 2, x.shape[2] % 2
    return nn.max_pool(x, (2, 2), strides=(2, 2), padding=((0, pad_h), (0, pad_w)))
