"""Winograd (Cook-Toom) convolutions: "same"-padded, stride-1 r x r convolutions as batched matmuls.

F(m x m, r x r) computes an m x m output tile from an (m + r - 1)^2 input tile with
(m + r - 1)^2 multiplies per channel pair instead of m^2 r^2 (F(4,3): 4x fewer). The work is:

1. input transform   V = B^T d B  per (m + r - 1)^2 tile of the zero-padded input,
2. one batched matmul over the T = (m + r - 1)^2 tile positions: (T, tiles, Cin) @ (T, Cin, Cout),
3. output transform  Y = A^T M A  per tile, then the tiles are stitched and cropped to (H, W).

The transforms are sparse fixed linear combinations of strided slices, written out term by term
so that XLA fuses each one into a single elementwise loop; the matmul is the only heavy op.
The transform matrices come from the Cook-Toom construction with interpolation points
0, 1, -1, 2, -2, 1/2, -1/2, ... (and infinity), i.e. those of Lavin & Gray (2016) for F(4,3).
"""

from __future__ import annotations

import functools
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

_POINTS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 1.0 / 3.0, -1.0 / 3.0)

#: Output tile size used when none is given: F(4x4, 3x3) keeps float32 errors ~1e-6 relative.
DEFAULT_TILE = 4


@functools.lru_cache(maxsize=None)
def winograd_matrices(m: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A^T (m, n), G (n, r), B^T (n, n)), float64, of F(m, r) with n = m + r - 1.

    They satisfy  y = A^T [(G g) * (B^T d)]  for the correlation y_i = sum_k g_k d_{i+k},
    d of length n, g of length r, y of length m.
    """
    if m < 1 or r < 1:
        raise ValueError(f"Winograd F({m}, {r}) needs m >= 1 and r >= 1")
    n = m + r - 1
    if n - 1 > len(_POINTS):
        raise ValueError(f"Winograd F({m}, {r}) needs {n - 1} interpolation points; at most {len(_POINTS)} are known")
    points = np.array(_POINTS[: n - 1])
    at = np.zeros((m, n))
    g = np.zeros((n, r))
    for j, a in enumerate(points):
        f = np.prod([a - b for b in points if b != a])
        at[:, j] = a ** np.arange(m)
        g[j] = a ** np.arange(r) / f
    at[m - 1, n - 1] = 1.0
    g[n - 1, r - 1] = 1.0
    # B^T solves, per input index j: sum_t A^T[i,t] G[t,k] B^T[t,j] = [j == i + k].
    k_mat = np.einsum("it,tk->ikt", at, g).reshape(m * r, n)
    target = np.zeros((m * r, n))
    for i in range(m):
        for k in range(r):
            target[i * r + k, i + k] = 1.0
    bt, *_ = np.linalg.lstsq(k_mat, target, rcond=None)
    if not np.allclose(k_mat @ bt, target, atol=1e-9):
        raise ValueError(f"no Winograd F({m}, {r}) transform exists for these interpolation points")
    return at, g, _snap(bt)


def _snap(a: np.ndarray) -> np.ndarray:
    """Round least-squares round-off away: entries are rationals with small denominators."""
    snapped = np.round(a * 2880.0) / 2880.0
    return np.where(np.abs(snapped - a) < 1e-9, snapped, a)


def _combine(coeffs: np.ndarray, terms: list[jax.Array]) -> jax.Array:
    """sum_i coeffs[i] * terms[i], skipping zero coefficients and multiplying by +-1 for free."""
    out = None
    for c, t in zip(coeffs, terms):
        if c == 0.0:
            continue
        term = t if c == 1.0 else (-t if c == -1.0 else t * jnp.asarray(c, t.dtype))
        out = term if out is None else out + term
    return out if out is not None else jnp.zeros_like(terms[0])


def transform_kernel(kernel: jax.Array, m: int = DEFAULT_TILE) -> jax.Array:
    """Winograd-domain kernel U = G g G^T, laid out (T, Cin, Cout) with T = (m + r - 1)^2.

    kernel: (r, r, Cin, Cout) HWIO. Computed in float32 (or the kernel's wider dtype).
    """
    r = kernel.shape[0]
    chex.assert_rank(kernel, 4)
    chex.assert_equal(kernel.shape[1], r)
    _, g, _ = winograd_matrices(m, r)
    n = m + r - 1
    g = jnp.asarray(g, jnp.promote_types(kernel.dtype, jnp.float32))
    u = jnp.einsum("ai,ijco,bj->abco", g, kernel.astype(g.dtype), g, precision=jax.lax.Precision.HIGHEST)
    return u.reshape(n * n, kernel.shape[2], kernel.shape[3])


def _input_transform(xp: jax.Array, m: int, n: int, th: int, tw: int, bt: np.ndarray) -> jax.Array:
    """(N, th*m + r - 1, tw*m + r - 1, C) padded input -> (n*n, N*th*tw, C) Winograd tiles."""
    batch, _, wp, c = xp.shape
    # Rows: the i-th row of every tile, for i in 0..n-1, as strided slices (N, th, Wp, C).
    rows = [jax.lax.slice(xp, (0, i, 0, 0), (batch, i + (th - 1) * m + 1, wp, c), (1, m, 1, 1)) for i in range(n)]
    out = []
    for k in range(n):
        yk = _combine(bt[k], rows)
        cols = [jax.lax.slice(yk, (0, 0, j, 0), (batch, th, j + (tw - 1) * m + 1, c), (1, 1, m, 1)) for j in range(n)]
        for l in range(n):
            out.append(_combine(bt[l], cols))
    return jnp.stack(out).reshape(n * n, batch * th * tw, c)


def _output_transform(mm: jax.Array, m: int, n: int, batch: int, th: int, tw: int, at: np.ndarray) -> jax.Array:
    """(n*n, N*th*tw, Cout) products -> (N, th*m, tw*m, Cout) stitched output tiles."""
    cout = mm.shape[-1]
    mm = mm.reshape(n, n, batch, th, tw, cout)
    planes = [mm[k] for k in range(n)]
    tiles_i = []
    for i in range(m):
        zi = _combine(at[i], planes)  # (n, N, th, tw, Cout)
        cols = [zi[l] for l in range(n)]
        tiles_i.append(jnp.stack([_combine(at[j], cols) for j in range(m)], axis=3))  # (N, th, tw, m, Cout)
    y = jnp.stack(tiles_i, axis=2)  # (N, th, m, tw, m, Cout)
    return y.reshape(batch, th * m, tw * m, cout)


def winograd_conv_transformed(
    x: jax.Array,
    u: jax.Array,
    r: int,
    bias: jax.Array | None = None,
    m: int = DEFAULT_TILE,
    dtype: Any = None,
    precision: jax.lax.Precision | None = None,
) -> jax.Array:
    """Same-padded stride-1 r x r convolution with a Winograd-domain kernel `u` from `transform_kernel`.

    x: (N, H, W, Cin); u: ((m + r - 1)^2, Cin, Cout); bias: (Cout,) or None.
    Returns (N, H, W, Cout) in `dtype` (default: x's dtype). Any H, W >= 1.
    """
    chex.assert_rank(x, 4)
    n = m + r - 1
    chex.assert_shape(u, (n * n, x.shape[-1], None))
    dtype = dtype or x.dtype
    batch, h, w, _ = x.shape
    th, tw = -(-h // m), -(-w // m)
    pad = (r - 1) // 2
    at, _, bt = winograd_matrices(m, r)
    xp = jnp.pad(x.astype(dtype), ((0, 0), (pad, th * m + r - 1 - pad - h), (pad, tw * m + r - 1 - pad - w), (0, 0)))
    v = _input_transform(xp, m, n, th, tw, bt)
    mm = jax.lax.dot_general(v, u.astype(dtype), (((2,), (1,)), ((0,), (0,))), precision=precision)
    y = _output_transform(mm, m, n, batch, th, tw, at)[:, :h, :w, :]
    if bias is not None:
        y = y + bias.astype(dtype)
    return y


def winograd_conv(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None = None,
    m: int = DEFAULT_TILE,
    dtype: Any = None,
    precision: jax.lax.Precision | None = None,
) -> jax.Array:
    """Same-padded stride-1 convolution of x (N, H, W, Cin) with an odd r x r HWIO kernel, by Winograd F(m, r).

    Equals `lax.conv_general_dilated(x, kernel, (1, 1), "SAME")` (+ bias) up to float rounding:
    ~1e-6 relative for F(4,3) in float32. Returns (N, H, W, Cout) in `dtype` (default: x's dtype).
    """
    chex.assert_rank(kernel, 4)
    r = kernel.shape[0]
    if kernel.shape[1] != r or r % 2 == 0:
        raise ValueError(f"winograd_conv needs an odd square kernel, got spatial shape {kernel.shape[:2]}")
    chex.assert_equal(kernel.shape[2], x.shape[-1])
    return winograd_conv_transformed(x, transform_kernel(kernel, m), r, bias, m, dtype, precision)


def winograd_conv3x3(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None = None,
    m: int = DEFAULT_TILE,
    dtype: Any = None,
    precision: jax.lax.Precision | None = None,
) -> jax.Array:
    """3x3, stride 1, padding 1 convolution (NHWC x HWIO -> NHWC) by Winograd F(m x m, 3x3)."""
    chex.assert_shape(kernel, (3, 3, x.shape[-1], None))
    return winograd_conv(x, kernel, bias, m, dtype, precision)


def _pair(v: int | tuple[int, int] | Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


class WinogradConv(nn.Module):
    """Drop-in for `nn.Conv(features, (k, k), padding=(k - 1) // 2)` (odd k, stride 1) by Winograd F(m x m, k x k).

    Same parameters (`kernel` (k, k, Cin, Cout), `bias` (Cout,)) and initializers as nn.Conv, so
    converted Caffe weights load unchanged. Input (N, H, W, Cin) -> (N, H, W, features).
    `kernel_size` and `padding` exist for signature compatibility and must describe a "same" conv.
    """

    features: int
    kernel_size: Any = (3, 3)
    padding: Any = 1
    use_bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32
    tile: int = DEFAULT_TILE
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kh, kw = _pair(self.kernel_size)
        pad = (kh - 1) // 2
        same = {pad, ((pad, pad), (pad, pad)), ((pad, pad),) * 2, "SAME"}
        padding = self.padding if isinstance(self.padding, (int, str)) else tuple(map(tuple, self.padding))
        if kh != kw or kh % 2 == 0 or padding not in same:
            raise ValueError(
                f"WinogradConv computes odd square 'same' convolutions only; got kernel_size {self.kernel_size} "
                f"and padding {self.padding}: use flax.linen.Conv for this layer"
            )
        kernel = self.param("kernel", self.kernel_init, (kh, kw, x.shape[-1], self.features), self.param_dtype)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        dtype = self.dtype or jnp.result_type(x, kernel)
        return winograd_conv(x, kernel, bias, m=self.tile, dtype=dtype)


class WinogradConv3x3(WinogradConv):
    """`WinogradConv` with kernel_size (3, 3), padding 1: the drop-in for `nn.Conv(features, (3, 3), padding=1)`."""
