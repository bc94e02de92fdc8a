"""TEST-ONLY: write .caffemodel files with seeded random weights for any Caffe deploy prototxt.

Blob shapes are derived from the prototxt alone (channel counts propagated through Convolution,
Concat, Pooling, ReLU, PReLU), independently of jaxpose's Flax modules, so a converter bug in
shapes or names cannot hide behind the writer. Weights are He-scaled per layer
(std = sqrt(2 / fan_in)), biases small, PReLU slopes in [0.05, 0.3): activations stay finite and
non-trivial through every stage. Files are encoded exactly as Caffe writes them (packed floats).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxpose.convert.caffe_schema import NetParameter, V1_TYPE_NAMES, parse_prototxt


def blob_shapes(prototxt: str | Path) -> dict[str, list[tuple[int, ...]]]:
    """{layer name: [blob shapes in Caffe layout]} for every layer with weights, in file order."""
    net = parse_prototxt(Path(prototxt).read_text())
    channels = {name: 3 for name in net.input} or {"data": 3}
    shapes: dict[str, list[tuple[int, ...]]] = {}
    for layer in net.layer:
        bottoms = [channels[b] for b in layer.bottom]
        if layer.type == "Convolution":
            p = layer.convolution_param
            k = p.kernel_size[0]
            shapes[layer.name] = [(p.num_output, bottoms[0], k, k), (p.num_output,)]
            out = p.num_output
        elif layer.type == "PReLU":
            shapes[layer.name] = [(bottoms[0],)]
            out = bottoms[0]
        elif layer.type == "Concat":
            out = sum(bottoms)
        else:
            out = bottoms[0]
        for top in layer.top:
            channels[top] = out
    return shapes


def random_blobs(prototxt: str | Path, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """He-scaled random float32 blobs for every layer with weights of `prototxt`."""
    rng = np.random.default_rng(seed)
    blobs = {}
    for name, shapes in blob_shapes(prototxt).items():
        if len(shapes) == 2:
            (out, cin, kh, kw), _ = shapes
            std = np.sqrt(2.0 / (cin * kh * kw))
            weight = (rng.standard_normal(shapes[0], dtype=np.float32) * std).astype(np.float32)
            bias = (rng.standard_normal(out, dtype=np.float32) * 0.05).astype(np.float32)
            blobs[name] = [weight, bias]
        else:
            blobs[name] = [rng.uniform(0.05, 0.3, shapes[0]).astype(np.float32)]
    return blobs


def write_caffemodel(
    path: str | Path,
    blobs: dict[str, list[np.ndarray]],
    types: dict[str, str] | None = None,
    v1: bool = False,
    legacy_dims: bool = False,
) -> Path:
    """Write `blobs` ({layer: [arrays]}) as a binary NetParameter.

    types: layer types ("Convolution" by default; 1-blob layers default to "PReLU").
    v1: write old-style `layers` (V1LayerParameter) instead of `layer`.
    legacy_dims: give blob shapes as num/channels/height/width (4-D, padded with 1s) instead of `shape`.
    """
    types = types or {}
    net = NetParameter(name="written-by-tests")
    for name, arrays in blobs.items():
        kind = types.get(name, "Convolution" if len(arrays) == 2 else "PReLU")
        if v1:
            layer = net.layers.add(name=name)
            layer.type = next(k for k, v in V1_TYPE_NAMES.items() if v == kind)
        else:
            layer = net.layer.add(name=name, type=kind)
        for array in arrays:
            blob = layer.blobs.add()
            if legacy_dims:
                dims = (1,) * (4 - array.ndim) + array.shape
                blob.num, blob.channels, blob.height, blob.width = dims
            else:
                blob.shape.dim.extend(array.shape)
            blob.data.append(np.ascontiguousarray(array, dtype="<f4").tobytes())
    path = Path(path)
    path.write_bytes(net.SerializeToString())
    return path


def write_random_caffemodel(prototxt: str | Path, path: str | Path, seed: int = 0, **kw) -> Path:
    """Random He-scaled weights for `prototxt`, written to `path` (see `write_caffemodel`)."""
    return write_caffemodel(path, random_blobs(prototxt, seed), **kw)
