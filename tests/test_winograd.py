"""Winograd convolutions vs XLA's direct convolution (jax.lax.conv_general_dilated) and Lavin's matrices.

Tolerance: float32 Winograd rounds differently from a direct convolution; errors grow with the
transform's coefficients (F(2,3) < F(4,3) < F(6,3)). We require, per output,
|ours - ref| <= 1e-4 * max|ref| (+ rtol 1e-4): measured errors are ~3e-7 (F(2,3)), ~3e-6 (F(4,3)),
~5e-6 (F(6,3), F(2,7)) of max|ref|, so a wrong tap, flip, offset or crop fails by orders of magnitude.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpose.nets.winograd import (
    DEFAULT_CHUNK_BYTES,
    WinogradConv,
    WinogradConv3x3,
    pointwise_conv,
    transform_kernel,
    winograd_conv,
    winograd_conv3x3,
    winograd_conv_transformed,
    winograd_matrices,
    winograd_params,
    winograd_pays,
)


def _reference(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    pad = (kernel.shape[0] - 1) // 2
    y = jax.lax.conv_general_dilated(
        jnp.asarray(x),
        jnp.asarray(kernel),
        (1, 1),
        ((pad, pad), (pad, pad)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=jax.lax.Precision.HIGHEST,
    )
    y = np.asarray(y)
    return y if bias is None else y + bias


def _assert_close(ours: jax.Array, ref: np.ndarray) -> None:
    ours = np.asarray(ours)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))


def _random(rng: np.random.Generator, n: int, h: int, w: int, cin: int, cout: int, r: int = 3):
    x = rng.standard_normal((n, h, w, cin)).astype(np.float32)
    kernel = (rng.standard_normal((r, r, cin, cout)) / np.sqrt(r * r * cin)).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    return x, kernel, bias


def test_f43_matrices_equal_lavin_and_gray() -> None:
    """F(4x4, 3x3) transforms equal the ones printed in Lavin & Gray (2016), eqs. (13)-(15)."""
    at, g, bt = winograd_matrices(4, 3)
    bt_paper = [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ]
    g_paper = [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ]
    at_paper = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
    np.testing.assert_allclose(bt, bt_paper, atol=1e-12)
    np.testing.assert_allclose(g, g_paper, atol=1e-12)
    np.testing.assert_allclose(at, at_paper, atol=1e-12)


@pytest.mark.parametrize("m, r", [(2, 3), (4, 3), (6, 3), (2, 5), (2, 7), (4, 7)])
def test_1d_transforms_compute_correlation(m: int, r: int) -> None:
    """A^T [(G g) * (B^T d)] equals the direct 1-D correlation of random d, g (float64)."""
    at, g_mat, bt = winograd_matrices(m, r)
    rng = np.random.default_rng(m * 10 + r)
    d, g = rng.standard_normal(m + r - 1), rng.standard_normal(r)
    direct = np.array([np.dot(g, d[i : i + r]) for i in range(m)])
    np.testing.assert_allclose(at @ ((g_mat @ g) * (bt @ d)), direct, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "n, h, w, cin, cout",
    [
        (1, 1, 1, 1, 1),  # a single pixel: far smaller than a tile
        (1, 2, 3, 3, 5),  # H and W smaller than a 4x4 tile
        (2, 7, 9, 3, 5),  # odd sizes, batch > 1
        (1, 8, 8, 16, 8),  # whole tiles
        (3, 13, 6, 17, 11),  # channel counts that are multiples of nothing
        (1, 5, 31, 2, 33),
    ],
)
@pytest.mark.parametrize("m", [2, 4, 6])
def test_conv3x3_matches_lax(n: int, h: int, w: int, cin: int, cout: int, m: int) -> None:
    rng = np.random.default_rng(n * 1000 + h * 100 + w * 10 + cin + m)
    x, kernel, bias = _random(rng, n, h, w, cin, cout)
    _assert_close(winograd_conv3x3(jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias), m=m), _reference(x, kernel, bias))


def test_conv3x3_without_bias_and_default_tile() -> None:
    x, kernel, _ = _random(np.random.default_rng(1), 2, 11, 10, 6, 7)
    _assert_close(winograd_conv3x3(jnp.asarray(x), jnp.asarray(kernel)), _reference(x, kernel))


def test_conv3x3_at_openpose_stage_shape() -> None:
    """A real BODY_25 stage layer (128 -> 128 channels at 1/8 of 368x656 = 46x82)."""
    x, kernel, bias = _random(np.random.default_rng(2), 1, 46, 82, 128, 128)
    _assert_close(winograd_conv3x3(jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias)), _reference(x, kernel, bias))


@pytest.mark.parametrize(
    "r, m, block, shape",
    [
        (5, 2, 5, (1, 9, 7, 4, 6)),  # one F(2,5) block
        (7, 2, 7, (2, 10, 13, 5, 3)),  # one F(2,7) block
        (7, 4, None, (2, 10, 13, 5, 3)),  # default: 2x2 blocks of F(4,4)
        (7, 4, None, (1, 3, 2, 3, 4)),  # image smaller than a block
        (7, 3, 3, (1, 11, 9, 6, 5)),  # 3x3 blocks of F(3,3)
        (5, 2, 2, (2, 7, 8, 3, 3)),  # 3x3 blocks of F(2,2)
    ],
)
def test_larger_kernels_match_lax(r: int, m: int, block: int | None, shape: tuple[int, ...]) -> None:
    x, kernel, bias = _random(np.random.default_rng(r + m), *shape, r=r)
    y = winograd_conv(jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias), m=m, block=block)
    _assert_close(y, _reference(x, kernel, bias))


def test_blocks_need_tiles_of_block_size() -> None:
    with pytest.raises(ValueError, match="tiles of m = 4"):
        winograd_conv(jnp.zeros((1, 8, 8, 2)), jnp.zeros((7, 7, 2, 2)), m=2, block=4)


@pytest.mark.parametrize("r", [3, 7])
@pytest.mark.parametrize("chunk_bytes", [1, 30_000, 50_000, 100_000])
def test_chunked_loops_match_one_pass(r: int, chunk_bytes: int) -> None:
    """Loops over bands of rows (tiny chunks) and over groups of images give the direct convolution."""
    x, kernel, bias = _random(np.random.default_rng(r), 4, 21, 10, 8, 5, r=r)
    u = transform_kernel(jnp.asarray(kernel))
    y = jax.jit(lambda x, u, b: winograd_conv_transformed(x, u, r, b, chunk_bytes=chunk_bytes))(
        jnp.asarray(x), u, jnp.asarray(bias)
    )
    _assert_close(y, _reference(x, kernel, bias))


def test_pretransformed_kernel_gives_the_same_result() -> None:
    x, kernel, bias = _random(np.random.default_rng(3), 1, 9, 14, 5, 6)
    u = transform_kernel(jnp.asarray(kernel), m=4)
    assert u.shape == (36, 5, 6)
    y = winograd_conv_transformed(jnp.asarray(x), u, 3, jnp.asarray(bias), m=4)
    _assert_close(y, _reference(x, kernel, bias))


def test_bfloat16_dtype_option() -> None:
    """dtype=bfloat16 computes in bfloat16: output dtype follows, values within bf16 precision."""
    x, kernel, bias = _random(np.random.default_rng(4), 1, 10, 12, 8, 8)
    y = winograd_conv3x3(jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias), m=2, dtype=jnp.bfloat16)
    assert y.dtype == jnp.bfloat16
    ref = _reference(x, kernel, bias)
    np.testing.assert_allclose(np.asarray(y, np.float32), ref, atol=0.05 * np.abs(ref).max())


def test_jit_compiles_once_per_shape() -> None:
    x, kernel, bias = _random(np.random.default_rng(5), 1, 6, 7, 3, 4)
    traces = []

    @jax.jit
    def f(x, k, b):
        traces.append(1)
        return winograd_conv3x3(x, k, b)

    for _ in range(3):
        f(jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias)).block_until_ready()
    assert len(traces) == 1


@pytest.mark.parametrize("min_channels", [0, 96])  # Winograd, and the XLA fallback for few channels
@pytest.mark.parametrize("use_bias", [True, False])
def test_module_is_a_drop_in_for_nn_conv(use_bias: bool, min_channels: int) -> None:
    """Same parameter tree as nn.Conv(features, (3,3), padding=1), same outputs with nn.Conv's params."""
    x = jnp.asarray(np.random.default_rng(6).standard_normal((2, 9, 11, 5)), jnp.float32)
    ref_module = nn.Conv(7, (3, 3), padding=1, use_bias=use_bias)
    params = ref_module.init(jax.random.key(0), x)
    if use_bias:
        params = jax.tree.map(lambda p: p + 0.5 if p.ndim == 1 else p, params)
    ours = WinogradConv3x3(7, use_bias=use_bias, min_channels=min_channels)
    assert jax.tree.map(jnp.shape, ours.init(jax.random.key(0), x)) == jax.tree.map(jnp.shape, params)
    _assert_close(ours.apply(params, x), np.asarray(ref_module.apply(params, x)))


def test_module_accepts_nn_conv_signature() -> None:
    """`WinogradConv` takes nn.Conv's kernel_size/padding/dtype/param_dtype keywords (the layer factory uses them)."""
    x = jnp.asarray(np.random.default_rng(7).standard_normal((1, 6, 8, 3)), jnp.float32)
    kwargs = dict(kernel_size=(3, 3), padding=((1, 1), (1, 1)), dtype=jnp.float32, param_dtype=jnp.float32)
    params = nn.Conv(4, **kwargs).init(jax.random.key(1), x)
    ours = WinogradConv(4, min_channels=0, **kwargs)
    _assert_close(ours.apply(params, x), np.asarray(nn.Conv(4, **kwargs).apply(params, x)))


@pytest.mark.parametrize("chunk_bytes", [DEFAULT_CHUNK_BYTES, None])  # None: one pass, as "auto" builds it
@pytest.mark.parametrize("k", [1, 3, 7])
def test_module_other_kernel_sizes_match_nn_conv(k: int, chunk_bytes: int | None) -> None:
    """1x1 (computed as a matmul), 3x3 and 7x7 (Winograd blocks) layers equal nn.Conv with the same
    params, with the default chunking and in one pass (loops: test_chunked_loops_match_one_pass)."""
    x = jnp.asarray(np.random.default_rng(8).standard_normal((2, 21, 19, 6)), jnp.float32)
    kwargs = dict(kernel_size=(k, k), padding=(k - 1) // 2)
    params = nn.Conv(5, **kwargs).init(jax.random.key(2), x)
    params = jax.tree.map(lambda p: p + 0.3 if p.ndim == 1 else p, params)
    ours = WinogradConv(5, min_channels=0, chunk_bytes=chunk_bytes, **kwargs)
    _assert_close(ours.apply(params, x), np.asarray(nn.Conv(5, **kwargs).apply(params, x)))


@pytest.mark.parametrize("kwargs", [dict(kernel_size=(3, 3), padding=0), dict(kernel_size=(2, 2), padding=1)])
def test_module_rejects_non_same_convolutions(kwargs: dict) -> None:
    x = jnp.zeros((1, 6, 6, 2))
    with pytest.raises(ValueError, match="flax.linen.Conv"):
        WinogradConv(3, **kwargs).init(jax.random.key(0), x)


def test_bad_kernel_shape_is_rejected() -> None:
    with pytest.raises(ValueError, match="odd square kernel"):
        winograd_conv(jnp.zeros((1, 4, 4, 2)), jnp.zeros((2, 2, 2, 3)))


def test_pointwise_conv_matches_lax() -> None:
    x, kernel, bias = _random(np.random.default_rng(9), 2, 5, 7, 6, 4, r=1)
    _assert_close(pointwise_conv(jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias)), _reference(x, kernel, bias))


def test_winograd_params_transforms_only_qualifying_kernels() -> None:
    rng = np.random.default_rng(10)
    params = {
        "conv_a": {"kernel": rng.standard_normal((3, 3, 4, 5)).astype(np.float32), "bias": np.zeros(5, np.float32)},
        "conv_b": {"kernel": rng.standard_normal((3, 3, 2, 5)).astype(np.float32), "bias": np.zeros(5, np.float32)},
        "conv_1x1": {"kernel": rng.standard_normal((1, 1, 4, 5)).astype(np.float32)},
        "conv_7x7": {"kernel": rng.standard_normal((7, 7, 4, 5)).astype(np.float32)},
        "prelu": {"slope": np.ones(5, np.float32)},
    }
    out = winograd_params({"params": params}, min_channels=4)["params"]
    assert set(out["conv_a"]) == {"winograd_kernel", "bias"} and out["conv_a"]["winograd_kernel"].shape == (36, 4, 5)
    assert set(out["conv_b"]) == {"kernel", "bias"}  # 2 input channels < min_channels
    assert set(out["conv_1x1"]) == {"kernel"} and set(out["conv_7x7"]) == {"kernel"}
    assert set(out["prelu"]) == {"slope"} and out["prelu"]["slope"] is params["prelu"]["slope"]
    both = winograd_params({"params": params}, kernel_sizes=(3, 7), min_channels=4)["params"]
    assert both["conv_7x7"]["winograd_kernel"].shape == (49, 4, 4 * 5)  # 2x2 blocks of F(4x4, 4x4)


@pytest.mark.parametrize("k", [3, 7])
def test_module_with_pretransformed_params_matches_nn_conv(k: int) -> None:
    x = jnp.asarray(np.random.default_rng(11).standard_normal((1, 9, 13, 6)), jnp.float32)
    ref_module = nn.Conv(5, (k, k), padding=(k - 1) // 2)
    params = ref_module.init(jax.random.key(3), x)
    prepared = winograd_params(params, kernel_sizes=(k,), min_channels=0)
    assert "kernel" not in prepared["params"]
    ours = WinogradConv(5, (k, k), (k - 1) // 2)
    _assert_close(ours.apply(prepared, x), np.asarray(ref_module.apply(params, x)))


def test_pretransformed_params_of_another_tile_are_rejected() -> None:
    x = jnp.zeros((1, 6, 6, 4))
    params = nn.Conv(5, (3, 3), padding=1).init(jax.random.key(4), x)
    with pytest.raises(ValueError, match="winograd_params"):
        WinogradConv3x3(5, tile=4).apply(winograd_params(params, tile=2, min_channels=0), x)


def test_winograd_pays_rule_by_hand() -> None:
    """The "auto" rule on OpenPose's layer shapes (HAND/FACE at 368: stages at 46x46, at 192: 24x24)."""
    assert winograd_pays(3, (2, 46, 46, 512), 512)          # conv4_2
    assert winograd_pays(3, (2, 92, 92, 256), 256)          # conv3_2
    assert winograd_pays(3, (2, 46, 46, 256), 512)          # conv4_1
    assert not winograd_pays(3, (2, 46, 46, 512), 128)      # conv5_3_CPM: 128 outputs
    assert not winograd_pays(3, (2, 184, 184, 128), 128)    # conv2_2
    assert not winograd_pays(3, (2, 368, 368, 64), 64)      # conv1_2
    assert winograd_pays(7, (2, 46, 46, 128), 128)          # Mconv at 368
    assert not winograd_pays(7, (2, 24, 24, 128), 128)      # Mconv at 192
    assert not winograd_pays(1, (2, 46, 46, 512), 512)      # 1x1: a matmul either way
