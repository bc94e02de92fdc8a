"""bf16 compute (`make_pose_fn(..., dtype="bfloat16")`, `--precision bf16`), issue #15 item 5.

On CPU the operands are rounded to bfloat16 and multiplied in float32 (`jaxpose.nets.layers.operands`),
which is what bf16 hardware with float32 accumulation computes: checked here against NumPy sums of
ml_dtypes-rounded operands. The keypoints of the default model in bf16 are compared with float32 on
the photos of ../shared/media: MobileNet-thin is sensitive to bf16 (net output up to ~0.1 off), so
about half the keypoints are identical and most move by at most one step of the network's grid; the
test pins those measured properties (the README's bf16 section gives the figures).
"""

from __future__ import annotations

import glob

import cv2
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import jaxpose
from conftest import MEDIA_DIR, need_shared
from jaxpose.errors import InputError
from jaxpose.nets.layers import conv, operands
from jaxpose.pipeline import compute_dtype, with_compute_dtype


def _bf16(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32).astype(ml_dtypes.bfloat16).astype(np.float64)


def test_operands_round_to_bfloat16_like_ml_dtypes():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32) * 100
    np.testing.assert_array_equal(np.asarray(operands(jnp.asarray(x), jnp.bfloat16)), _bf16(x).astype(np.float32))
    same = jnp.asarray(x)
    assert operands(same, None) is same and operands(same, jnp.float32) is same


def test_bf16_convolution_equals_bf16_operands_with_float64_sums():
    import flax.linen as nn

    class One(nn.Module):
        @nn.compact
        def __call__(self, x):
            return conv(x, 5, 3, "c", operand_dtype=jnp.bfloat16)

    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 6, 7, 4)).astype(np.float32)
    params = One().init(jax.random.PRNGKey(0), x)["params"]
    got = np.asarray(One().apply({"params": params}, x))
    kernel, bias = _bf16(params["c"]["kernel"]), np.asarray(params["c"]["bias"], np.float64)
    padded = np.pad(_bf16(x), ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np.zeros((1, 6, 7, 5)) + bias
    for dy in range(3):
        for dx in range(3):
            expected += padded[:, dy:dy + 6, dx:dx + 7] @ kernel[dy, dx]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    exact = np.asarray(jax.lax.conv_general_dilated(
        x, np.asarray(params["c"]["kernel"]), (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
    assert np.abs(got - exact - np.asarray(params["c"]["bias"])).max() > 1e-4  # really rounded


def test_dtype_names_and_errors():
    assert compute_dtype("bf16") is jnp.bfloat16 and compute_dtype(jnp.bfloat16) is jnp.bfloat16
    assert compute_dtype("FLOAT32") is jnp.float32 and compute_dtype(np.float32) is jnp.float32
    for bad in ("float16", 3, None):
        with pytest.raises(InputError, match="choose 'float32'"):
            compute_dtype(bad)


def test_bf16_needs_the_xla_convolutions():
    from jaxpose.model import make_model
    from jaxpose.nets import build_net

    shapes = jax.eval_shape(build_net("HAND").init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))
    model = make_model("HAND", shapes["params"]).with_conv3x3_impl("winograd")
    with pytest.raises(InputError, match="needs the 'xla' 3x3 convolutions"):
        with_compute_dtype(model, "bfloat16")
    assert with_compute_dtype(model, "float32") is model


def _photos() -> tuple[list[str], np.ndarray]:
    """Every photo of ../shared/media, top-left on one 640x640 canvas (one compile per precision)."""
    need_shared(MEDIA_DIR)
    files = sorted(glob.glob(str(MEDIA_DIR / "*.jpg")) + glob.glob(str(MEDIA_DIR / "*.png")))
    frames = np.zeros((len(files), 640, 640, 3), np.uint8)
    for i, name in enumerate(files):
        image = cv2.cvtColor(cv2.imread(name), cv2.COLOR_BGR2RGB)[:640, :640]
        frames[i, :image.shape[0], :image.shape[1]] = image
    return files, frames


@pytest.mark.slow
def test_default_model_in_bf16_stays_near_float32_on_the_photos():
    files, frames = _photos()
    results = {}
    for dtype in ("float32", "bfloat16"):
        pose_fn = jaxpose.make_pose_fn("mobilenet_thin", dtype=dtype)
        results[dtype] = [p for s in range(0, len(frames), 8)
                          for p in pose_fn.batch(pose_fn.params, frames[s:s + 8])]
    grid = results["float32"][0].scale_net_to_output  # image pixels per network-input pixel
    distances, people = [], 0
    for a, b in zip(results["float32"], results["bfloat16"]):
        assert abs(a.num_people - b.num_people) <= 1
        people += a.num_people
        if not (a.num_people and b.num_people):
            continue
        both = (a.keypoints[:, None, :, 2] > 0) & (b.keypoints[None, :, :, 2] > 0)
        d = np.linalg.norm(a.keypoints[:, None, :, :2] - b.keypoints[None, :, :, :2], axis=-1)
        rows, cols = linear_sum_assignment(np.where(both, d, 50.0).mean(-1))
        for i, j in zip(rows, cols):
            distances.extend(d[i, j][both[i, j]])
    distances = np.array(distances)
    assert people >= 30 and len(distances) >= 400
    assert np.mean(distances < 0.1) >= 0.40  # identical keypoints
    assert np.mean(distances <= 1.01 * np.sqrt(2) * grid) >= 0.80  # at most one grid step away
    assert np.median(distances) <= 1.01 * grid
