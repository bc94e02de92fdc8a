"""Are weights plausible? Refuse NaN / inf / huge weights and nets that output garbage.

Weight files carry no checksum (a .caffemodel, a frozen graph, a .jaxpose file), so a damaged
download, a broken training run or a flipped bit would otherwise convert, be cached and give
plausible-looking nonsense. The rules, each refused with `ModelFileError` naming the file and
the layer:

1. every weight is finite (no NaN, no inf);
2. every |weight| <= MAX_ABS_WEIGHT (1e4): trained OpenPose and MobileNet-thin weights stay far
   below it (MobileNet-thin's largest, a kernel with its batch norm folded in, is 82), while a
   flipped top exponent bit (bit 30) multiplies any weight below 2 in magnitude by 2^128
   (about 1e36, or inf);
3. after a conversion, a smoke forward pass of the network on a fixed 64 x 64 gradient image
   (`smoke_image`) must give finite outputs with |value| <= MAX_ABS_OUTPUT (100): trained nets
   output heat maps in [0, 1] and PAFs in [-1, 1], and He-initialised random nets stay within a
   few units.

What stays undetectable without a checksum: flips of sign or mantissa bits, and of the other
exponent bits, which for a typical weight (|w| in [2^-7, 2): exponent bits 26-29 are set) shrink
it towards 0 or grow it at most 16-fold (bits 23-25), as long as the smoke outputs stay in range.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from jaxpose.errors import ModelFileError
from jaxpose.nets.params import flat_paths

MAX_ABS_WEIGHT = 1e4
MAX_ABS_OUTPUT = 100.0
SMOKE_SIDE = 64  # pixels; stride 8 -> 8 x 8 outputs

_ADVICE = ("the file is damaged (a bad download, a flipped bit or a broken training run); "
           "download or convert the original weights again.")


def weights_problem(params: Mapping) -> str | None:
    """The first layer (in name order) breaking rule 1 or 2 (or not holding floating-point
    numbers at all), described, or None if all pass."""
    for path, leaf in sorted(flat_paths(params).items()):
        layer, _, kind = path.rpartition("/")
        where = f"layer {layer!r} ({kind})" if layer else f"parameter {path!r}"
        try:
            values = np.asarray(leaf)
        except (TypeError, ValueError):
            values = np.asarray(None)
        if not np.issubdtype(values.dtype, np.floating):
            return f"{where} holds {values.dtype} values, not floating-point weights"
        bad = ~np.isfinite(values)
        if bad.any():
            nan, inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
            what = " and ".join(f"{n} {label}" for n, label in ((nan, "NaN"), (inf, "infinite"))
                                if n)
            return f"{where} holds {what} value(s) of {values.size}"
        if values.size:
            largest = float(np.abs(values).max())
            if largest > MAX_ABS_WEIGHT:
                return (f"{where} holds a weight of magnitude {largest:.3g}, above the plausible "
                        f"{MAX_ABS_WEIGHT:g}")
    return None


def check_weights(params: Mapping, source: str) -> None:
    """Raise `ModelFileError` naming `source` and the layer when a weight breaks rule 1 or 2."""
    problem = weights_problem(params)
    if problem:
        raise ModelFileError(f"{source}: {problem}; {_ADVICE}")


def smoke_image() -> np.ndarray:
    """(1, 64, 64, 3) uint8 RGB: red rises left to right, green top to bottom, blue diagonally."""
    ramp = np.linspace(0, 255, SMOKE_SIDE)
    image = np.zeros((1, SMOKE_SIDE, SMOKE_SIDE, 3), np.uint8)
    image[0, :, :, 0] = np.round(ramp)[None, :]
    image[0, :, :, 1] = np.round(ramp)[:, None]
    image[0, :, :, 2] = np.round((ramp[:, None] + ramp[None, :]) / 2)
    return image


@functools.lru_cache(maxsize=2)
def _smoke_fn(net: Any, normalization: str) -> Any:
    from jaxpose.device.preprocess import normalize

    x = normalize(smoke_image(), normalization)
    return jax.jit(lambda params: net.apply({"params": params}, x))


def smoke_outputs(net: Any, normalization: str, params: Any) -> np.ndarray:
    """The network's float32 outputs for `smoke_image()` (one compile per network)."""
    return np.asarray(_smoke_fn(net, normalization)(params), np.float32)


def smoke_problem(outputs: np.ndarray) -> str | None:
    """Rule 3 on the smoke outputs: described, or None when they are finite and in range."""
    finite = np.isfinite(outputs)
    if not finite.all():
        return (f"a forward pass on a test image gives {int((~finite).sum())} non-finite output "
                f"value(s) of {outputs.size}")
    largest = float(np.abs(outputs).max()) if outputs.size else 0.0
    if largest > MAX_ABS_OUTPUT:
        return (f"a forward pass on a test image gives outputs of magnitude {largest:.3g}, above "
                f"the plausible {MAX_ABS_OUTPUT:g} (heat maps lie in [0, 1], PAFs in [-1, 1])")
    return None


def check_converted(net: Any, normalization: str, params: Mapping, source: str) -> None:
    """All three rules for freshly converted `params` of `net`; `ModelFileError` naming `source`."""
    check_weights(params, source)
    problem = smoke_problem(smoke_outputs(net, normalization, params))
    if problem:
        raise ModelFileError(f"{source}: {problem}; {_ADVICE}")
