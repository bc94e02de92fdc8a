"""Winograd (Cook-Toom) convolutions: "same"-padded, stride-1 r x r convolutions as batched matmuls.

F(m x m, r x r) computes an m x m output tile from an (m + r - 1)^2 input tile with
(m + r - 1)^2 multiplies per channel pair instead of m^2 r^2 (F(4,3): 4x fewer). The work is:

1. input transform   V = B^T d B  per (m + r - 1)^2 tile of the zero-padded input,
2. one batched matmul over the T = (m + r - 1)^2 tile positions: (T, tiles, Cin) @ (T, Cin, Cout),
3. output transform  Y = A^T M A  per tile, then the tiles are stitched and cropped to (H, W).

The transforms are sparse fixed linear combinations of strided slices, written out term by term
so that XLA fuses each one into a single elementwise loop; the matmul is the only heavy op.
Kernels wider than 3 (OpenPose's 7x7 refinement convs) are cut into m x m blocks computed with
F(m x m, m x m) tiles; block (a, b) acts on the input tiles shifted by (a, b), so all blocks share
one input transform and one matmul and are summed in the Winograd domain. Large layers run as a
loop over groups of images or bands of tile rows (`chunk_bytes`), which keeps the Winograd-domain
intermediates in cache: on XLA:CPU that is worth ~1.5-2x on the big layers.

Entry points: `winograd_conv3x3` / `winograd_conv` (pure functions), `WinogradConv` /
`WinogradConv3x3` (Flax drop-ins for nn.Conv), `winograd_params` (transform a params tree's
kernels once, in place of them), `prepare_winograd_params` (add the transformed kernels of the layers
a net computes by Winograd at one input size, keeping the originals), `pointwise_conv` (1x1 convs
as one matmul).
The transform matrices come from the Cook-Toom construction with interpolation points
0, 1, -1, 2, -2, 1/2, -1/2, ... (and infinity), i.e. those of Lavin & Gray (2016) for F(4,3).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

_POINTS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 1.0 / 3.0, -1.0 / 3.0)

#: Output tile size used when none is given: F(4x4, 3x3) keeps float32 errors ~1e-6 relative.
DEFAULT_TILE = 4

#: Winograd-domain tiles per loop step (bytes): larger layers loop over images or bands of rows.
DEFAULT_CHUNK_BYTES = 2 * 2**20

#: Below this many input or output channels WinogradConv uses XLA's convolution: measured on
#: XLA:CPU, Winograd loses on OpenPose's 3- and 64-channel full-resolution layers (conv1_x, conv2_1).
DEFAULT_MIN_CHANNELS = 96


def winograd_pays(kernel_size: int, input_shape: tuple[int, ...], features: int) -> bool:
    """Whether a stride-1 "same" layer runs faster by one-pass Winograd than by XLA:CPU's convolution.

    The rule of the "auto" convolution choice (`jaxpose.nets.layers.conv`), from one-layer timings
    on the 2-core AVX2 machine (batch 2, OpenPose's HAND/FACE shapes at 192 and 368, one pass, no
    chunking): 3x3 layers with >= 256 input and output channels took 0.48-0.69 of XLA's time
    (128 channels: 0.96-1.0, so left to XLA); 7x7 layers (F(4x4, 4x4) blocks) 0.64 at 46x46 but
    1.35 at 24x24, hence the spatial floor. input_shape: (N, H, W, Cin).
    """
    _, h, w, cin = input_shape
    if kernel_size == 3:
        return min(cin, features) >= 256
    if kernel_size == 7:
        return h * w >= 40 * 40
    return False


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
        term = t if c == 1.0 else (-t if c == -1.0 else t * np.asarray(c, t.dtype))
        out = term if out is None else out + term
    return out if out is not None else terms[0] * 0


def _plan(r: int, m: int, block: int | None) -> tuple[int, int]:
    """(block taps s, blocks per axis nb) for an r-tap kernel computed with F(m, s) tiles."""
    s = block or (r if r <= 3 else m)
    nb = -(-r // s)
    if nb > 1 and s != m:
        raise ValueError(f"a kernel split into {s}-tap blocks needs tiles of m = {s} outputs, got m = {m}")
    return s, nb


def transform_kernel(kernel: jax.Array, m: int = DEFAULT_TILE, block: int | None = None) -> jax.Array:
    """Winograd-domain kernel U = G g G^T, laid out (T, Cin, nb*nb*Cout) with T = (m + s - 1)^2.

    kernel: (r, r, Cin, Cout) HWIO. A kernel wider than `block` = s taps (default: s = r up to
    r = 3, else s = m) is zero-padded to nb*s taps and cut into nb x nb blocks of s x s taps,
    each transformed on its own; the columns of U are ordered (block row, block column, Cout).
    Computed in float32 (or the kernel's wider dtype); a NumPy kernel gives a NumPy result
    (no compilation: how `prepare_winograd_params` transforms whole networks).
    """
    chex.assert_rank(kernel, 4)
    r, _, cin, cout = kernel.shape
    chex.assert_equal(kernel.shape[1], r)
    s, nb = _plan(r, m, block)
    _, g, _ = winograd_matrices(m, s)
    n = m + s - 1
    xp = np if isinstance(kernel, np.ndarray) else jnp
    k = xp.pad(kernel.astype(jnp.promote_types(kernel.dtype, jnp.float32)), ((0, nb * s - r), (0, nb * s - r), (0, 0), (0, 0)))
    k = k.reshape(nb, s, nb, s, cin, cout)
    # Written out as multiply-adds: an einsum with 3-long contractions runs ~50x slower on XLA:CPU.
    rows = [_combine(g[x], [k[:, i] for i in range(s)]) for x in range(n)]  # (nb, nb, s, Cin, Cout)
    u = xp.stack([_combine(g[y], [t[:, :, j] for j in range(s)]) for t in rows for y in range(n)])
    return xp.transpose(u, (0, 3, 1, 2, 4)).reshape(n * n, cin, nb * nb * cout)


def _input_transform(xp: jax.Array, m: int, n: int, th: int, tw: int, bt: np.ndarray) -> jax.Array:
    """(N, th*m + s - 1, tw*m + s - 1, C) padded input -> (n*n, N, th, tw, C) Winograd tiles.

    Separable: B^T along rows first (one fusion writing (n, N, th, Wp, C)), then along columns
    (one fusion writing (n, n, N, th, tw, C)); measured 2-4x faster on XLA:CPU than 36 separate
    per-position fusions followed by a concatenate.
    """
    batch, _, wp, c = xp.shape
    rows = [jax.lax.slice(xp, (0, i, 0, 0), (batch, i + (th - 1) * m + 1, wp, c), (1, m, 1, 1)) for i in range(n)]
    y = jnp.stack([_combine(bt[k], rows) for k in range(n)])  # (n, N, th, Wp, C)
    stop = (n, batch, th, None, c)
    cols = [
        jax.lax.slice(y, (0, 0, 0, j, 0), stop[:3] + (j + (tw - 1) * m + 1, c), (1, 1, 1, m, 1)) for j in range(n)
    ]
    v = jnp.stack([_combine(bt[l], cols) for l in range(n)], axis=1)  # (n, n, N, th, tw, C)
    return v.reshape(n * n, batch, th, tw, c)


def _output_transform(mm: jax.Array, m: int, n: int, batch: int, th: int, tw: int, at: np.ndarray) -> jax.Array:
    """(n*n, N*th*tw, Cout) products -> (N, th*m, tw*m, Cout) stitched output tiles.

    Two broadcast multiply-add fusions: Z = A^T M along the first tile axis, written (N, th, m, tw, n, C),
    then Y = Z A along the second one, written directly in the stitched layout (N, th, m, tw, m, C).
    """
    cout = mm.shape[-1]
    dtype = mm.dtype
    mm = mm.reshape(n, n, batch, th, tw, cout)
    z = sum(jnp.asarray(at[:, k], dtype).reshape(m, 1, 1, 1, 1, 1) * mm[k][None] for k in range(n) if at[:, k].any())
    z = jnp.transpose(z, (2, 3, 0, 4, 1, 5))  # (N, th, m, tw, n, C)
    y = sum(
        jnp.asarray(at[:, l], dtype).reshape(1, 1, 1, 1, m, 1) * z[:, :, :, :, l : l + 1, :]
        for l in range(n)
        if at[:, l].any()
    )
    return y.reshape(batch, th * m, tw * m, cout)


def _tiles_conv(
    xp: jax.Array, u: jax.Array, m: int, s: int, nb: int, th: int, tw: int, precision: Any
) -> jax.Array:
    """Winograd convolution of a padded block xp (G, (th+nb-1)*m + s-1, (tw+nb-1)*m + s-1, Cin) -> (G, th*m, tw*m, Cout)."""
    g, _, _, cin = xp.shape
    n = m + s - 1
    ih, iw = th + nb - 1, tw + nb - 1
    at, _, bt = winograd_matrices(m, s)
    cout = u.shape[-1] // (nb * nb)
    v = _input_transform(xp, m, n, ih, iw, bt).reshape(n * n, g * ih * iw, cin)
    mm = jax.lax.dot_general(v, u, (((2,), (1,)), ((0,), (0,))), precision=precision)
    if nb > 1:
        mm = mm.reshape(n * n, g, ih, iw, nb, nb, cout)
        mm = sum(mm[:, :, a : a + th, b : b + tw, a, b] for a in range(nb) for b in range(nb))
    return _output_transform(mm, m, n, g, th, tw, at)


def _chunking(
    batch: int, th: int, ih: int, iw: int, tile_bytes: int, min_tiles: int, chunk_bytes: int | None
) -> tuple[int, int]:
    """(images per chunk G, output tile rows per chunk R) keeping each chunk's Winograd tiles near chunk_bytes.

    A chunk holds at least `min_tiles` tiles: fewer make each matmul too small for its weights.
    """
    image_bytes = ih * iw * tile_bytes
    chunk_bytes = chunk_bytes and max(chunk_bytes, min_tiles * tile_bytes)
    if chunk_bytes is None or batch * image_bytes <= chunk_bytes:
        return batch, th
    if image_bytes <= chunk_bytes:
        g = max(d for d in range(1, batch + 1) if batch % d == 0 and d * image_bytes <= chunk_bytes)
        return g, th
    rows = max(1, chunk_bytes // (iw * tile_bytes) - (ih - th))
    bands = -(-th // rows)
    return 1, -(-th // bands)  # equal bands


def winograd_conv_transformed(
    x: jax.Array,
    u: jax.Array,
    r: int,
    bias: jax.Array | None = None,
    m: int = DEFAULT_TILE,
    dtype: Any = None,
    precision: jax.lax.Precision | None = None,
    block: int | None = None,
    chunk_bytes: int | None = DEFAULT_CHUNK_BYTES,
) -> jax.Array:
    """Same-padded stride-1 r x r convolution with a Winograd-domain kernel `u` from `transform_kernel`.

    x: (N, H, W, Cin); u: ((m + s - 1)^2, Cin, nb*nb*Cout) made with the same m and block;
    bias: (Cout,) or None. Returns (N, H, W, Cout) in `dtype` (default: x's dtype). Any H, W >= 1.
    With nb x nb kernel blocks, one matmul gives every block's products for every input tile;
    output tile t sums block (a, b)'s products of input tile t + (a, b) in the Winograd domain.
    When the Winograd-domain tiles would exceed `chunk_bytes`, the work runs as a loop over
    groups of images or bands of tile rows, so the intermediates stay in cache (None: one pass).
    """
    chex.assert_rank(x, 4)
    s, nb = _plan(r, m, block)
    n = m + s - 1
    batch, h, w, cin = x.shape
    chex.assert_shape(u, (n * n, cin, None))
    cout = u.shape[-1] // (nb * nb)
    dtype = dtype or x.dtype
    u = u.astype(dtype)
    th, tw = -(-h // m), -(-w // m)
    ih, iw = th + nb - 1, tw + nb - 1  # input tiles per axis
    pad = (r - 1) // 2
    # Measured on XLA:CPU: small chunks (~2 MB) win unless the weights are large (conv4_2: 512x512).
    min_tiles = max(64, cin * u.shape[-1] // 1024)
    if nb > 1:  # bands would recompute nb - 1 halo tile rows each: loop over whole images only
        min_tiles = max(min_tiles, ih * iw)
    g, rows = _chunking(batch, th, ih, iw, n * n * cin * jnp.dtype(dtype).itemsize, min_tiles, chunk_bytes)
    bands = -(-th // rows)
    band_h = (rows + nb - 1) * m + s - 1
    hp, wp = (bands * rows + nb - 1) * m + s - 1, iw * m + s - 1
    xp = jnp.pad(x.astype(dtype), ((0, 0), (pad, hp - pad - h), (pad, wp - pad - w), (0, 0)))
    if g == batch and bands == 1:
        y = _tiles_conv(xp, u, m, s, nb, rows, tw, precision)
    else:

        def chunk(i: jax.Array) -> jax.Array:
            image, band = (i // bands) * g, (i % bands) * rows * m
            block_in = jax.lax.dynamic_slice(xp, (image, band, 0, 0), (g, band_h, wp, cin))
            return _tiles_conv(block_in, u, m, s, nb, rows, tw, precision)

        y = jax.lax.map(chunk, jnp.arange(batch // g * bands))  # (chunks, G, rows*m, tw*m, Cout)
        y = y.reshape(batch // g, bands, g, rows * m, tw * m, cout)
        y = jnp.swapaxes(y, 1, 2) if g > 1 and bands > 1 else y
        y = y.reshape(batch, bands * rows * m, tw * m, cout)
    y = y[:, :h, :w, :]
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
    block: int | None = None,
    chunk_bytes: int | None = DEFAULT_CHUNK_BYTES,
) -> jax.Array:
    """Same-padded stride-1 convolution of x (N, H, W, Cin) with an odd r x r HWIO kernel, by Winograd.

    r <= 3: F(m x m, r x r). Larger r (e.g. 7): the kernel is cut into m x m blocks computed with
    F(m x m, m x m) tiles and summed in the Winograd domain (`block` overrides the block size).
    Equals `lax.conv_general_dilated(x, kernel, (1, 1), "SAME")` (+ bias) up to float rounding:
    ~3e-6 of max|y| for F(4,3) and 7x7 by F(4,4) blocks in float32.
    Returns (N, H, W, Cout) in `dtype` (default: x's dtype).
    """
    chex.assert_rank(kernel, 4)
    r = kernel.shape[0]
    if kernel.shape[1] != r or r % 2 == 0:
        raise ValueError(f"winograd_conv needs an odd square kernel, got spatial shape {kernel.shape[:2]}")
    chex.assert_equal(kernel.shape[2], x.shape[-1])
    return winograd_conv_transformed(x, transform_kernel(kernel, m, block), r, bias, m, dtype, precision, block,
                                     chunk_bytes)


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


def pointwise_conv(x: jax.Array, kernel: jax.Array, bias: jax.Array | None = None, dtype: Any = None) -> jax.Array:
    """1x1 convolution (N, H, W, Cin) x (1, 1, Cin, Cout) as one matmul (XLA:CPU runs 1x1 convs ~2x slower)."""
    chex.assert_shape(kernel, (1, 1, x.shape[-1], None))
    dtype = dtype or x.dtype
    y = jax.lax.dot_general(x.astype(dtype), kernel[0, 0].astype(dtype), (((3,), (0,)), ((), ())))
    return y if bias is None else y + bias.astype(dtype)


WINOGRAD_KERNEL = "winograd_kernel"


def winograd_params(
    params: Any, kernel_sizes: tuple[int, ...] = (3,), tile: int = DEFAULT_TILE, min_channels: int = DEFAULT_MIN_CHANNELS
) -> Any:
    """`params` with the kernels of the layers WinogradConv computes by Winograd transformed once.

    Every dict holding a `kernel` (k, k, Cin, Cout) with k in `kernel_sizes` and at least
    `min_channels` input and output channels gets `winograd_kernel` (`transform_kernel(kernel, tile)`)
    in place of `kernel`; everything else is returned unchanged. Apply the result with modules
    built with the same `tile`: they skip the per-call kernel transform (for BODY_25 ~25M weights
    -> ~100M, a few hundred ms per call on 2 CPU cores). Pure; jit it to run it fast.
    """
    if not isinstance(params, Mapping):
        return params
    kernel = params.get("kernel")
    if (
        kernel is not None
        and getattr(kernel, "ndim", 0) == 4
        and kernel.shape[0] == kernel.shape[1]
        and kernel.shape[0] in kernel_sizes
        and min(kernel.shape[2:]) >= min_channels
    ):
        rest = {k: v for k, v in params.items() if k != "kernel"}
        return {**rest, WINOGRAD_KERNEL: transform_kernel(jnp.asarray(kernel), tile)}
    return {k: winograd_params(v, kernel_sizes, tile, min_channels) for k, v in params.items()}


def winograd_layers(net: nn.Module, params: Any, input_shape: tuple[int, ...]) -> list[tuple[tuple[str, ...], int]]:
    """(params path, tile) of every `WinogradConv` layer of `net` that computes by Winograd when
    `net.apply({"params": params}, x)` runs on x of `input_shape` (N, H, W, C); found by tracing
    shapes only (`jax.eval_shape`), so the per-layer choice of the "auto" convolutions is the net's own."""
    found: list[tuple[tuple[str, ...], int]] = []

    def record(next_fun: Any, args: tuple, kwargs: dict, context: Any) -> Any:
        module = context.module
        if isinstance(module, WinogradConv) and context.method_name == "__call__":
            x = args[0]
            if module.transforms(x.shape[-1]):
                found.append((tuple(module.path), module.tile))
            return jnp.zeros((*x.shape[:-1], module.features), x.dtype)  # shapes only: skip tracing the layer
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        jax.eval_shape(lambda p, x: net.apply({"params": p}, x), params, jax.ShapeDtypeStruct(tuple(input_shape), jnp.float32))
    return found


def prepare_winograd_params(net: nn.Module, params: Any, input_shape: tuple[int, ...]) -> Any:
    """`params` with `winograd_kernel` (`transform_kernel`, computed once here) added next to the
    `kernel` of every layer that computes by Winograd on inputs of `input_shape` (N, H, W, C).

    The Winograd layers then skip the kernel transform in every call: for OpenPose's HAND net at
    368 x 368 on 2 CPU cores a call of one crop takes ~0.7 of the time and compiles ~4x faster
    (README, "hands and faces faster"). `kernel` is kept, so the result still runs the same net on
    inputs of any size (where a layer's choice differs, it transforms in the call) and
    `strip_winograd_params` gives the original params back. Costs memory: a transformed 3x3 kernel
    holds 4x the weights (F(4x4, 3x3): 36 / 9), a 7x7 one 4x (4 blocks of 7 x 7).
    """
    params = strip_winograd_params(params)
    layers = winograd_layers(net, params, input_shape)

    def add(tree: Any, path: tuple[str, ...], tile: int) -> Any:
        if not path:
            return {**tree, WINOGRAD_KERNEL: jnp.asarray(transform_kernel(np.asarray(tree["kernel"]), tile))}
        return {**tree, path[0]: add(tree[path[0]], path[1:], tile)}

    for path, tile in layers:
        params = add(params, path, tile)
    return params


def strip_winograd_params(params: Any) -> Any:
    """`params` without the `winograd_kernel` entries `prepare_winograd_params` added (same objects otherwise)."""
    if not isinstance(params, Mapping):
        return params
    return {k: strip_winograd_params(v) for k, v in params.items() if k != WINOGRAD_KERNEL or "kernel" not in params}


def _pair(v: int | tuple[int, int] | Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


class WinogradConv(nn.Module):
    """Drop-in for `nn.Conv(features, (k, k), padding=(k - 1) // 2)` (odd k, stride 1) by Winograd.

    Same parameters (`kernel` (k, k, Cin, Cout), `bias` (Cout,)) and initializers as nn.Conv, so
    converted Caffe weights load unchanged. Input (N, H, W, Cin) -> (N, H, W, features).
    `kernel_size` and `padding` exist for signature compatibility and must describe a "same" conv.
    Layers with fewer than `min_channels` input or output channels use `lax.conv_general_dilated`
    (Winograd does not pay there); 1x1 kernels are computed as a matmul.
    """

    features: int
    kernel_size: Any = (3, 3)
    padding: Any = 1
    use_bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32
    tile: int = DEFAULT_TILE
    min_channels: int = DEFAULT_MIN_CHANNELS
    chunk_bytes: int | None = DEFAULT_CHUNK_BYTES  # None: one pass (see winograd_conv_transformed)
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros_init()

    def transforms(self, input_channels: int) -> bool:
        """Whether this layer computes by Winograd (not a 1x1 matmul or XLA's convolution) on inputs
        with `input_channels` channels; `prepare_winograd_params` transforms exactly these kernels."""
        return _pair(self.kernel_size)[0] > 1 and min(input_channels, self.features) >= self.min_channels

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
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
        if self.has_variable("params", WINOGRAD_KERNEL):  # pre-transformed by `winograd_params`
            u = self.get_variable("params", WINOGRAD_KERNEL)
            s, nb = _plan(kh, self.tile, None)
            expected = ((self.tile + s - 1) ** 2, x.shape[-1], nb * nb * self.features)
            if u.shape != expected:
                raise ValueError(
                    f"{WINOGRAD_KERNEL} of layer {self.name} has shape {u.shape}, expected {expected} for tile "
                    f"{self.tile}: transform the params with winograd_params(params, tile={self.tile})"
                )
            return winograd_conv_transformed(x, u, kh, bias, self.tile, self.dtype or jnp.result_type(x, u),
                                             chunk_bytes=self.chunk_bytes)
        kernel = self.param("kernel", self.kernel_init, (kh, kw, x.shape[-1], self.features), self.param_dtype)
        dtype = self.dtype or jnp.result_type(x, kernel)
        if kh == 1:
            return pointwise_conv(x, kernel, bias, dtype)
        if not self.transforms(x.shape[-1]):
            y = jax.lax.conv_general_dilated(
                x.astype(dtype), kernel.astype(dtype), (1, 1), ((pad, pad), (pad, pad)),
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            )
            return y if bias is None else y + bias.astype(dtype)
        return winograd_conv(x, kernel, bias, m=self.tile, dtype=dtype, chunk_bytes=self.chunk_bytes)


class WinogradConv3x3(WinogradConv):
    """`WinogradConv` with kernel_size (3, 3), padding 1: the drop-in for `nn.Conv(features, (3, 3), padding=1)`."""
