"""OpenPose Caffe models (.prototxt + .caffemodel) -> `jaxpose.Model`, without Caffe.

Three pure steps, then the strict merge:

    blobs = read_caffemodel(path)             # {"conv1_1/0": OIHW weights, "conv1_1/1": bias, ...}
    flat = remap_caffe(blobs, layer_types)    # {"conv1_1/kernel": HWIO, "conv1_1/bias": ..., "prelu4_2/slope": ...}
    params = strict_merge(expected, flat)     # nested Flax params; lists missing / extra / wrong shapes

`from_caffe(prototxt, caffemodel)` does all of it and recognises the model (BODY_25, COCO, MPI,
MPI_4_layers, HAND, FACE) from the prototxt's structure, then refuses implausible weights (NaN,
inf, huge values, a smoke forward pass out of range: `jaxpose.convert.sanity`). `load_model_folder(folder, "BODY_25")`
converts from an OpenPose `models/` folder once and caches the result.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from pathlib import Path
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from google.protobuf import message as pb_message
from google.protobuf import text_format

from jaxpose.convert.caffe_schema import NetParameter, parse_prototxt, v1_type_name
from jaxpose.convert.remap import flatten_tree, path_str, strict_merge
from jaxpose.convert.sanity import check_converted
from jaxpose.errors import ConversionError, ModelFileError
from jaxpose.model import Model, load_model_file, make_model, save_model
from jaxpose.nets.openpose import OPENPOSE_NETS, openpose_net
from jaxpose.specs import get_spec

# --model_pose -> (prototxt, caffemodel) inside an OpenPose models folder (OpenPose's poseParameters.cpp).
MODEL_FILES: dict[str, tuple[str, str]] = {
    "BODY_25": ("pose/body_25/pose_deploy.prototxt", "pose/body_25/pose_iter_584000.caffemodel"),
    "COCO": ("pose/coco/pose_deploy_linevec.prototxt", "pose/coco/pose_iter_440000.caffemodel"),
    "MPI": ("pose/mpi/pose_deploy_linevec.prototxt", "pose/mpi/pose_iter_160000.caffemodel"),
    "MPI_4_layers": (
        "pose/mpi/pose_deploy_linevec_faster_4_stages.prototxt", "pose/mpi/pose_iter_160000.caffemodel"
    ),
    "HAND": ("hand/pose_deploy.prototxt", "hand/pose_iter_102000.caffemodel"),
    "FACE": ("face/pose_deploy.prototxt", "face/pose_iter_116000.caffemodel"),
}
WHERE_TO_GET = (
    "OpenPose's models are downloaded by `models/getModels.sh` (Linux/macOS) or `models/getModels.bat` "
    "(Windows) of an OpenPose checkout (https://github.com/CMU-Perceptual-Computing-Lab/openpose, see "
    "its installation docs, 'Download the models'). They are under CMU's non-commercial licence."
)
# Layer types the networks are made of; a prototxt with any other type is not one of ours.
_KNOWN_TYPES = {"Input", "Convolution", "ReLU", "PReLU", "Pooling", "Concat", "Split", "Silence"}
_PROBE_SHAPE = (1, 16, 16, 3)


# ----------------------------------------------------------------------------------- read


def read_prototxt(path: str | os.PathLike) -> NetParameter:
    """Parse a Caffe deploy prototxt (V1 `layers` are rewritten as `layer` with string types)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such prototxt file. {WHERE_TO_GET}")
    try:
        net = parse_prototxt(path.read_text(encoding="utf-8", errors="replace"))
    except text_format.ParseError as exc:
        raise ModelFileError(f"{path}: not a readable Caffe prototxt ({exc}).") from None
    for old in net.layers:
        new = net.layer.add(name=old.name, type=v1_type_name(old.type))
        new.bottom.extend(old.bottom)
        new.top.extend(old.top)
        new.convolution_param.CopyFrom(old.convolution_param)
        new.pooling_param.CopyFrom(old.pooling_param)
        new.concat_param.CopyFrom(old.concat_param)
    del net.layers[:]
    return net


def read_caffemodel(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All blobs of a binary .caffemodel: `{"<layer name>/<blob index>": float32 array}`.

    Arrays keep the file's layout (convolution weights (Cout, Cin, kh, kw)). New-style `layer` and
    old V1 `layers` files, `shape` and legacy num/channels/height/width dims are all read.

    The float payloads are viewed with `np.frombuffer` (no per-value Python objects; see
    `caffe_schema`), and the file's bytes are released right after parsing, so reading a 200 MB
    file holds about two copies of the weights at its peak and takes about a second.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such caffemodel file. {WHERE_TO_GET}")
    net = NetParameter()
    raw = path.read_bytes()
    try:
        net.ParseFromString(raw)
    except (pb_message.DecodeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"{path}: not a readable caffemodel ({exc}); the file is truncated or corrupt. "
            f"Download it again. {WHERE_TO_GET}"
        ) from None
    del raw
    blobs: dict[str, np.ndarray] = {}
    for layer in list(net.layer) + list(net.layers):
        for i, blob in enumerate(layer.blobs):
            blobs[f"{layer.name}/{i}"] = _blob_array(blob, f"{path}: layer {layer.name!r} blob {i}")
    if not blobs:
        raise ModelFileError(
            f"{path}: holds no layer with weights; it is not a trained caffemodel (or it is truncated)."
        )
    return blobs


def _blob_array(blob: Any, where: str) -> np.ndarray:
    if blob.HasField("shape"):
        shape = tuple(int(d) for d in blob.shape.dim)
    else:
        shape = tuple(int(d) for d in (blob.num, blob.channels, blob.height, blob.width))
    if any(d < 0 for d in shape):
        raise ModelFileError(f"{where}: declares the negative shape {shape}; the file is corrupt.")
    if blob.double_data:
        values = np.frombuffer(b"".join(blob.double_data), "<f8").astype(np.float32)
    else:
        data = blob.data[0] if len(blob.data) == 1 else b"".join(blob.data)
        if len(data) % 4:
            raise ModelFileError(f"{where}: float data of {len(data)} bytes is cut short (corrupt file).")
        values = np.frombuffer(data, "<f4")
    if values.size != math.prod(shape):
        raise ModelFileError(
            f"{where}: declares shape {shape} ({math.prod(shape)} values) but holds {values.size} "
            "values; the file is truncated or corrupt."
        )
    return values.reshape(shape)


# ---------------------------------------------------------------------------------- remap


def layer_types(net: NetParameter) -> dict[str, str]:
    """{layer name: Caffe type} of a parsed prototxt."""
    return {layer.name: layer.type for layer in net.layer}


def remap_caffe(blobs: Mapping[str, np.ndarray], types: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Caffe blobs -> flat Flax params: Convolution blob 0 (O,I,kh,kw) -> `kernel` (kh,kw,I,O),
    blob 1 -> `bias` (O,); PReLU blob 0 -> `slope` (C,).

    Blobs of layers of other or unknown types keep their "<layer>/<index>" name, so that the strict
    merge reports them as extra instead of dropping them.
    """
    out: dict[str, np.ndarray] = {}
    for key, array in blobs.items():
        layer, _, index = key.rpartition("/")
        kind = types.get(layer)
        if kind == "Convolution" and index == "0" and array.ndim == 4:
            out[f"{layer}/kernel"] = np.ascontiguousarray(array.transpose(2, 3, 1, 0))
        elif kind == "Convolution" and index == "1":
            out[f"{layer}/bias"] = array.reshape(-1)
        elif kind == "PReLU" and index == "0":
            out[f"{layer}/slope"] = array.reshape(-1)
        else:
            out[key] = array
    return out


# --------------------------------------------------------------------------------- detect


@functools.lru_cache(maxsize=None)
def expected_params(name: str) -> dict[str, Any]:
    """Shapes of the params of network `name`: nested dicts of `jax.ShapeDtypeStruct`."""
    net = openpose_net(name)
    return jax.eval_shape(net.init, jax.random.key(0), jnp.zeros(_PROBE_SHAPE))["params"]


@functools.lru_cache(maxsize=None)
def _signature(name: str) -> dict[str, tuple]:
    """{layer: ("Convolution", (kh, kw, Cin, Cout)) or ("PReLU", (C,))} of our network `name`."""
    sig = {}
    for path, leaf in flatten_tree(expected_params(name)).items():
        if path[-1] == "kernel":
            sig[path[0]] = ("Convolution", tuple(leaf.shape))
        elif path[-1] == "slope":
            sig[path[0]] = ("PReLU", tuple(leaf.shape))
    return sig


def prototxt_signature(net: NetParameter, source: str = "the prototxt") -> dict[str, tuple]:
    """{layer: ("Convolution", (k, k, Cin, Cout)) or ("PReLU", (C,))} of a prototxt.

    Input channels are propagated through the graph (3 at the input, Concat sums), so the
    signature captures the wiring of the stages, not just the layer names. Raises
    `ConversionError` for layers that our networks do not implement the way the prototxt asks.
    """
    channels = {name: 3 for name in net.input} or {"data": 3}
    sig: dict[str, tuple] = {}
    for layer in net.layer:
        where = f"{source}: layer {layer.name!r} ({layer.type})"
        if layer.type not in _KNOWN_TYPES:
            raise ConversionError(f"{where}: layer type {layer.type!r} is not part of any OpenPose network.")
        if layer.type == "Input":
            channels.update({top: 3 for top in layer.top})
            continue
        missing = [b for b in layer.bottom if b not in channels]
        if missing:
            raise ConversionError(f"{where}: reads blob {missing[0]!r}, which no earlier layer produces.")
        cin = [channels[b] for b in layer.bottom]
        if not cin and layer.type in ("Convolution", "PReLU", "Pooling", "ReLU"):
            raise ConversionError(f"{where}: has no input (bottom) blob.")
        out = cin[0] if cin else 0
        if layer.type == "Convolution":
            p = layer.convolution_param
            k = p.kernel_size[0] if p.kernel_size else p.kernel_h
            pads = list(p.pad) or [p.pad_h]
            if (
                p.group != 1 or not p.bias_term or any(s != 1 for s in p.stride) or any(d != 1 for d in p.dilation)
                or len(set(p.kernel_size)) > 1 or any(q != (k - 1) // 2 for q in pads) or k % 2 == 0
            ):
                raise ConversionError(
                    f"{where}: only stride-1, dilation-1, ungrouped, biased, square 'same' convolutions "
                    f"are supported (kernel {list(p.kernel_size)}, pad {pads}, stride {list(p.stride)}, "
                    f"dilation {list(p.dilation)}, group {p.group})."
                )
            sig[layer.name] = ("Convolution", (k, k, cin[0], p.num_output))
            out = p.num_output
        elif layer.type == "PReLU":
            if layer.prelu_param.channel_shared:
                raise ConversionError(f"{where}: channel_shared PReLU is not used by OpenPose networks.")
            sig[layer.name] = ("PReLU", (cin[0],))
        elif layer.type == "Pooling":
            p = layer.pooling_param
            if p.pool != 0 or p.kernel_size != 2 or p.stride != 2 or p.pad != 0 or p.global_pooling:
                raise ConversionError(f"{where}: only MAX pooling with kernel 2, stride 2, pad 0 is supported.")
        elif layer.type == "Concat":
            if layer.concat_param.axis != 1:
                raise ConversionError(f"{where}: only channel concatenation (axis 1) is supported.")
            out = sum(cin)
        for top in layer.top:
            channels[top] = out
    return sig


def detect_model(net: NetParameter, source: str = "the prototxt") -> str:
    """Which of OpenPose's six networks `net` is ("BODY_25", "COCO", ..., "FACE").

    The prototxt's layers with weights (names, kernel shapes with propagated input channels) must
    equal those of exactly one of our networks; otherwise `ConversionError` names the closest one
    and how the prototxt differs from it.
    """
    sig = prototxt_signature(net, source)
    for name in OPENPOSE_NETS:
        if _signature(name) == sig:
            return name
    if not sig:
        raise ConversionError(f"{source}: has no Convolution layer; it is not a network prototxt.")

    def distance(name: str) -> int:
        ours = _signature(name)
        return len(ours.keys() ^ sig.keys()) + sum(ours[k] != sig[k] for k in ours.keys() & sig.keys())

    closest = min(OPENPOSE_NETS, key=distance)
    ours = _signature(closest)
    diffs = [f"missing layer {k}" for k in sorted(ours.keys() - sig.keys())]
    diffs += [f"extra layer {k} {sig[k][1]}" for k in sorted(sig.keys() - ours.keys())]
    diffs += [
        f"layer {k}: prototxt {sig[k][1]}, {closest} {ours[k][1]}"
        for k in sorted(ours.keys() & sig.keys()) if ours[k] != sig[k]
    ]
    listed = "\n  ".join(diffs[:12]) + (f"\n  ... and {len(diffs) - 12} more" if len(diffs) > 12 else "")
    raise ConversionError(
        f"{source}: is none of OpenPose's networks ({', '.join(OPENPOSE_NETS)}). Closest is {closest}, "
        f"which differs in:\n  {listed}"
    )


def _weights_model(blobs: Mapping[str, np.ndarray]) -> str | None:
    """The network whose params all appear in the caffemodel `blobs` with the right shapes (for hints)."""
    for name in OPENPOSE_NETS:
        want = flatten_tree(expected_params(name))
        flat = remap_caffe(blobs, {layer: kind for layer, (kind, _) in _signature(name).items()})
        if all(path_str(p) in flat and flat[path_str(p)].shape == v.shape for p, v in want.items()):
            return name
    return None


# ---------------------------------------------------------------------------------- public


def convert_caffe(
    prototxt_path: str | os.PathLike, caffemodel_path: str | os.PathLike, expect: str | None = None
) -> tuple[str, dict[str, Any]]:
    """(model name, float32 NumPy params) of a Caffe model; see `from_caffe`."""
    net_def = read_prototxt(prototxt_path)
    name = detect_model(net_def, source=str(prototxt_path))
    if expect is not None and name.lower() != expect.lower():
        raise ConversionError(
            f"{prototxt_path}: is the {name} network, not {expect}. Pass the prototxt of {expect} "
            f"({MODEL_FILES.get(expect, ('?',))[0]} in OpenPose's models folder)."
        )
    blobs = read_caffemodel(caffemodel_path)
    flat = remap_caffe(blobs, layer_types(net_def))
    ignore = ()
    if name == "MPI_4_layers":  # OpenPose runs it on the 6-stage MPI weights: stages 5-6 unused.
        mpi_layers = expected_params("MPI").keys() - expected_params(name).keys()
        ignore = [f"{layer}/{i}" for layer in mpi_layers for i in (0, 1)]
    try:
        params = strict_merge(
            expected_params(name), flat, source=str(caffemodel_path),
            target=f"the {name} network ({Path(prototxt_path).name})", ignore_extra=ignore,
        )
    except ConversionError as exc:
        holds = _weights_model(blobs)
        if holds and holds != name:
            raise ConversionError(
                f"{caffemodel_path} holds {holds} weights but {prototxt_path} describes {name}: pass "
                f"matching files.\n{exc}"
            ) from None
        raise ConversionError(f"{exc}\nPass the caffemodel trained for this prototxt.") from None
    check_converted(openpose_net(name), get_spec(name).normalization, params, str(caffemodel_path))
    return name, params


def from_caffe(
    prototxt_path: str | os.PathLike,
    caffemodel_path: str | os.PathLike,
    dtype: jnp.dtype = jnp.float32,
    expect: str | None = None,
) -> Model:
    """Convert an OpenPose Caffe model into a `jaxpose.Model` (no Caffe needed).

    prototxt_path: the deploy .prototxt; the model (BODY_25, COCO, MPI, MPI_4_layers, HAND, FACE)
        is recognised from its structure.
    caffemodel_path: the trained weights (.caffemodel).
    dtype: compute dtype of the network (weights stay float32).
    expect: optional model name the prototxt must be.

    `model.net.apply({"params": model.params}, x)` maps (N, H, W, 3) float32 (BGR, v/256 - 0.5) to
    (N, ceil(H/8), ceil(W/8), C) in the channel order of the Caffe network's output.
    Raises `ModelFileError` (missing, unreadable, truncated files, implausible weights: see
    `jaxpose.convert.sanity`) or `ConversionError` (the weights or the prototxt do not fit the
    network; the message lists every difference).
    """
    name, params = convert_caffe(prototxt_path, caffemodel_path, expect=expect)
    return make_model(name, params, dtype=dtype)


def converted_cache_path(prototxt_path: Path, caffemodel_path: Path, name: str) -> Path:
    """Where `load_model_folder` caches a conversion: keyed by the prototxt's content and the
    caffemodel's size and modification time (hashing 200 MB on every start would cost a second)."""
    from jaxpose.paths import cache_dir

    stat = caffemodel_path.stat()
    key = hashlib.sha256()
    key.update(prototxt_path.read_bytes())
    key.update(f"{caffemodel_path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return cache_dir() / "converted" / f"{name}-{key.hexdigest()[:16]}.jaxpose"


def load_model_folder(
    model_folder: str | os.PathLike, model_pose: str = "BODY_25", dtype: jnp.dtype = jnp.float32
) -> Model:
    """Model `model_pose` of an OpenPose models folder (OpenPose's `--model_folder` layout).

    Converts on first use and caches the result under `jaxpose.paths.cache_dir()/converted`; later
    calls load the cache (invalidated when the prototxt's content or the caffemodel's size or
    modification time changes).
    """
    name = next((k for k in MODEL_FILES if k.lower() == model_pose.lower()), None)
    if name is None:
        raise ModelFileError(
            f"unknown OpenPose model {model_pose!r}; the models of a --model_folder are: {', '.join(MODEL_FILES)}."
        )
    folder = Path(model_folder).expanduser()
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such models folder. {WHERE_TO_GET}")
    prototxt, caffemodel = (folder / rel for rel in MODEL_FILES[name])
    for path in (prototxt, caffemodel):
        if not path.is_file():
            raise ModelFileError(
                f"{path}: missing; model {name} needs {MODEL_FILES[name][0]} and {MODEL_FILES[name][1]} "
                f"in {folder}. {WHERE_TO_GET}"
            )
    cached = converted_cache_path(prototxt, caffemodel, name)
    if cached.is_file():
        try:
            return load_model_file(cached, dtype=dtype)
        except ModelFileError:
            cached.unlink(missing_ok=True)  # a damaged cache entry: never kept; convert again
    model = from_caffe(prototxt, caffemodel, dtype=dtype, expect=name)
    save_model(model, cached)
    return model
