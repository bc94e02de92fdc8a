"""save_model / load_model: round trip of a converted Caffe model, and clear errors on bad files."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import serialization

from caffe_writer import write_random_caffemodel
from conftest import PROTOTXTS, need_shared
from jaxpose.convert.caffe import from_caffe
from jaxpose.errors import ModelFileError
from jaxpose.hub import load_model
from jaxpose.model import FORMAT, FORMAT_VERSION, save_model


@pytest.fixture(scope="module")
def face_model(tmp_path_factory):
    prototxt = need_shared(PROTOTXTS["FACE"])
    caffemodel = write_random_caffemodel(prototxt, tmp_path_factory.mktemp("face") / "face.caffemodel", seed=11)
    return from_caffe(prototxt, caffemodel)


@pytest.fixture(scope="module")
def saved(face_model, tmp_path_factory):
    return save_model(face_model, tmp_path_factory.mktemp("saved") / "face.msgpack")


def _forward(model, x):
    return np.asarray(jax.jit(model.net.apply)({"params": model.params}, x))


def test_round_trip_gives_the_same_outputs(face_model, saved):
    loaded = load_model(saved)
    assert loaded.name == "FACE" and loaded.spec.name == "FACE"
    x = jnp.asarray(np.random.default_rng(0).uniform(-0.5, 0.5, (1, 40, 48, 3)).astype(np.float32))
    np.testing.assert_array_equal(_forward(loaded, x), _forward(face_model, x))
    assert load_model(saved, dtype=jnp.bfloat16).net.dtype == jnp.bfloat16


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "absent.msgpack")


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.msgpack"
    path.write_bytes(b"\xc1\xc1 definitely not msgpack")
    with pytest.raises(ModelFileError, match="not a readable jaxpose model file"):
        load_model(path)


def test_truncated_file(saved, tmp_path):
    path = tmp_path / "truncated.msgpack"
    data = saved.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelFileError, match="not a readable jaxpose model file"):
        load_model(path)


def test_other_msgpack_file(tmp_path):
    path = tmp_path / "other.msgpack"
    path.write_bytes(serialization.msgpack_serialize({"hello": np.zeros(3)}))
    with pytest.raises(ModelFileError, match="not a jaxpose model file"):
        load_model(path)


def test_newer_version(tmp_path):
    path = tmp_path / "v99.msgpack"
    path.write_bytes(serialization.msgpack_serialize({"format": FORMAT, "version": 99, "name": "FACE", "params": {}}))
    with pytest.raises(ModelFileError, match="version 99 is not supported"):
        load_model(path)


def test_unknown_model_name(tmp_path):
    path = tmp_path / "unknown.msgpack"
    state = {"format": FORMAT, "version": FORMAT_VERSION, "name": "BODY_99", "params": {}}
    path.write_bytes(serialization.msgpack_serialize(state))
    with pytest.raises(ModelFileError, match="unknown model 'BODY_99'"):
        load_model(path)


def test_params_that_do_not_fit_the_network(face_model, tmp_path):
    params = {k: dict(v) for k, v in face_model.params.items()}
    params["conv1_1"]["kernel"] = np.zeros((3, 3, 3, 32), np.float32)
    del params["conv5_1"]
    path = tmp_path / "edited.msgpack"
    state = {"format": FORMAT, "version": FORMAT_VERSION, "name": "FACE", "params": params}
    path.write_bytes(serialization.msgpack_serialize(state))
    with pytest.raises(ModelFileError, match=r"(?s)conv5_1/kernel.*conv1_1/kernel: weights have shape \(3, 3, 3, 32\)"):
        load_model(path)
