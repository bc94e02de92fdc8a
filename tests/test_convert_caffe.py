"""Caffe converter: model detection, reading, layout remap, strict merge errors, models folder, CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from caffe_writer import blob_shapes, random_blobs, write_caffemodel, write_random_caffemodel
from conftest import PROTOTXTS, REPO, need_shared
from jaxpose.convert import caffe
from jaxpose.convert.remap import strict_merge
from jaxpose.errors import ConversionError, ModelFileError

NAMES = ["BODY_25", "COCO", "MPI", "MPI_4_layers", "HAND", "FACE"]


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    """(prototxt, caffemodel, blobs) of HAND with random weights."""
    prototxt = need_shared(PROTOTXTS["HAND"])
    blobs = random_blobs(prototxt, seed=1)
    path = write_caffemodel(tmp_path_factory.mktemp("hand") / "hand.caffemodel", blobs)
    return str(prototxt), str(path), blobs


@pytest.fixture(scope="module")
def body25_weights(tmp_path_factory):
    prototxt = need_shared(PROTOTXTS["BODY_25"])
    return str(write_random_caffemodel(prototxt, tmp_path_factory.mktemp("b25") / "b25.caffemodel", seed=2))


# ---- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_detects_each_model_from_its_prototxt(name):
    net = caffe.read_prototxt(need_shared(PROTOTXTS[name]))
    assert caffe.detect_model(net) == name


def test_detects_old_v1_layers_prototxt(tmp_path):
    import re

    text = need_shared(PROTOTXTS["HAND"]).read_text()
    for v1, new in {"CONVOLUTION": "Convolution", "RELU": "ReLU", "POOLING": "Pooling", "CONCAT": "Concat"}.items():
        text = text.replace(f'type: "{new}"', f"type: {v1}")
    path = tmp_path / "v1.prototxt"
    path.write_text(re.sub(r"^layer \{", "layers {", text, flags=re.M))
    assert caffe.detect_model(caffe.read_prototxt(path)) == "HAND"


def test_prototxt_of_no_known_model_names_closest_and_difference(tmp_path):
    text = need_shared(PROTOTXTS["HAND"]).read_text().replace("num_output: 22", "num_output: 23")
    path = tmp_path / "hand23.prototxt"
    path.write_text(text)
    with pytest.raises(ConversionError, match=r"(?s)none of OpenPose's networks.*Closest is HAND.*Mconv7_stage2.*23"):
        caffe.detect_model(caffe.read_prototxt(path), source=str(path))


def test_prototxt_with_unsupported_layer(tmp_path):
    text = need_shared(PROTOTXTS["FACE"]).read_text().replace('type: "ReLU"', 'type: "TanH"', 1)
    path = tmp_path / "tanh.prototxt"
    path.write_text(text)
    with pytest.raises(ConversionError, match=r"layer '\w+' \(TanH\): layer type 'TanH' is not part of any OpenPose network"):
        caffe.from_caffe(path, path)


def test_unreadable_prototxt(tmp_path):
    path = tmp_path / "bad.prototxt"
    path.write_text("layer { name: 'x' type: \n")
    with pytest.raises(ModelFileError, match="not a readable Caffe prototxt"):
        caffe.read_prototxt(path)


# ---- reading -----------------------------------------------------------------------------------


def test_read_returns_blobs_in_file_layout(hand):
    _, caffemodel, blobs = hand
    read = caffe.read_caffemodel(caffemodel)
    assert set(read) == {f"{layer}/{i}" for layer, arrays in blobs.items() for i in range(len(arrays))}
    for layer, arrays in blobs.items():
        for i, array in enumerate(arrays):
            np.testing.assert_array_equal(read[f"{layer}/{i}"], array)


def test_reads_v1_layers_and_legacy_dims(hand, tmp_path):
    prototxt, _, blobs = hand
    path = write_caffemodel(tmp_path / "v1.caffemodel", blobs, v1=True, legacy_dims=True)
    read = caffe.read_caffemodel(path)
    assert read["conv1_1/0"].shape == (64, 3, 3, 3)
    assert read["conv1_1/1"].shape == (1, 1, 1, 64)  # legacy 4-D bias
    name, params = caffe.convert_caffe(prototxt, path)
    assert name == "HAND"
    np.testing.assert_array_equal(params["conv1_1"]["bias"], blobs["conv1_1"][1])


def test_remap_transposes_oihw_to_hwio_and_keeps_prelu_slopes():
    rng = np.random.default_rng(0)
    w, b, s = rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4), rng.standard_normal(4)
    flat = caffe.remap_caffe(
        {"c/0": w, "c/1": b, "p/0": s, "x/0": b}, {"c": "Convolution", "p": "PReLU"}
    )
    assert set(flat) == {"c/kernel", "c/bias", "p/slope", "x/0"}  # unknown layer kept for the merge
    for o in range(4):
        for i in range(3):
            for y in range(3):
                for x in range(2):
                    assert flat["c/kernel"][y, x, i, o] == w[o, i, y, x]
    np.testing.assert_array_equal(flat["p/slope"], s)


def test_prelu_slopes_land_on_body25_params(body25_weights):
    prototxt = str(PROTOTXTS["BODY_25"])
    name, params = caffe.convert_caffe(prototxt, body25_weights)
    raw = caffe.read_caffemodel(body25_weights)
    assert name == "BODY_25"
    np.testing.assert_array_equal(params["prelu4_2"]["slope"], raw["prelu4_2/0"])
    np.testing.assert_array_equal(params["Mprelu6_stage1_L1"]["slope"], raw["Mprelu6_stage1_L1/0"])
    np.testing.assert_array_equal(params["Mconv7_stage3_L2"]["kernel"][0, 0], raw["Mconv7_stage3_L2/0"][:, :, 0, 0].T)


# ---- errors ------------------------------------------------------------------------------------


def test_prototxt_of_another_model(body25_weights):
    prototxt = need_shared(PROTOTXTS["COCO"])
    with pytest.raises(ConversionError) as err:
        caffe.from_caffe(prototxt, body25_weights)
    text = str(err.value)
    assert "do not fit the COCO network" in text
    assert text.startswith(f"{body25_weights} holds BODY_25 weights but {prototxt} describes COCO")
    assert "missing from" in text and "    Mconv1_stage2_L1/kernel\n" in text  # a COCO layer
    assert "(extra)" in text and "    Mconv1_stage0_L1_0/0 (96, 180, 3, 3)\n" in text  # a BODY_25 layer


def test_expected_model_name_is_enforced(hand):
    prototxt, caffemodel, _ = hand
    with pytest.raises(ConversionError, match="is the HAND network, not FACE"):
        caffe.from_caffe(prototxt, caffemodel, expect="FACE")


def test_truncated_caffemodel(hand, tmp_path):
    _, caffemodel, _ = hand
    path = tmp_path / "truncated.caffemodel"
    data = open(caffemodel, "rb").read()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        caffe.read_caffemodel(path)


def test_corrupt_caffemodel(tmp_path):
    path = tmp_path / "corrupt.caffemodel"
    path.write_bytes(b"\xff" * 64 + os.urandom(4096))
    with pytest.raises(ModelFileError, match=r"corrupt\.caffemodel.*(truncated or corrupt|no layer with weights)"):
        caffe.read_caffemodel(path)


def test_blob_with_fewer_values_than_its_shape(tmp_path):
    blobs = {"conv1_1": [np.zeros((64, 3, 3, 3), np.float32), np.zeros(64, np.float32)]}
    path = write_caffemodel(tmp_path / "short.caffemodel", blobs)
    data = bytearray(path.read_bytes())
    # Declare a larger shape than the data holds: 64 -> 65 output channels in the first dim.
    from jaxpose.convert.caffe_schema import NetParameter

    net = NetParameter()
    net.ParseFromString(bytes(data))
    net.layer[0].blobs[0].shape.dim[0] = 65
    path.write_bytes(net.SerializeToString())
    with pytest.raises(ModelFileError, match=r"'conv1_1' blob 0: declares shape \(65, 3, 3, 3\).*holds 1728"):
        caffe.read_caffemodel(path)


def test_missing_layer(hand, tmp_path):
    prototxt, _, blobs = hand
    path = write_caffemodel(tmp_path / "missing.caffemodel", {k: v for k, v in blobs.items() if k != "conv3_2"})
    with pytest.raises(ConversionError, match=r"(?s)missing from .*\(2\):\s+conv3_2/bias\s+conv3_2/kernel"):
        caffe.from_caffe(prototxt, path)


def test_extra_layer(hand, tmp_path):
    prototxt, _, blobs = hand
    extra = dict(blobs, conv9_9=[np.zeros((8, 8, 1, 1), np.float32), np.zeros(8, np.float32)])
    path = write_caffemodel(tmp_path / "extra.caffemodel", extra)
    with pytest.raises(ConversionError, match=r"(?s)extra\) \(2\):\s+conv9_9/0 \(8, 8, 1, 1\)\s+conv9_9/1 \(8,\)"):
        caffe.from_caffe(prototxt, path)


def test_wrong_shape(hand, tmp_path):
    prototxt, _, blobs = hand
    wrong = dict(blobs, conv2_1=[np.zeros((128, 32, 3, 3), np.float32), blobs["conv2_1"][1]])
    path = write_caffemodel(tmp_path / "wrong.caffemodel", wrong)
    with pytest.raises(
        ConversionError, match=r"conv2_1/kernel: weights have shape \(3, 3, 32, 128\), the network expects \(3, 3, 64, 128\)"
    ):
        caffe.from_caffe(prototxt, path)


def test_missing_files(hand, tmp_path):
    prototxt, caffemodel, _ = hand
    with pytest.raises(ModelFileError, match=r"nope\.caffemodel: no such caffemodel file.*getModels"):
        caffe.from_caffe(prototxt, tmp_path / "nope.caffemodel")
    with pytest.raises(ModelFileError, match=r"nope\.prototxt: no such prototxt file"):
        caffe.from_caffe(tmp_path / "nope.prototxt", caffemodel)


def test_strict_merge_lists_all_three_kinds():
    expected = {"a": {"kernel": (3, 3, 1, 2), "bias": (2,)}, "b": {"bias": (4,)}}
    with pytest.raises(ConversionError) as err:
        strict_merge(expected, {"a/kernel": np.zeros((3, 3, 1, 3)), "b/bias": np.zeros(4), "c/x": np.zeros(1)}, source="f")
    text = str(err.value)
    assert "missing from f (1):\n    a/bias" in text
    assert "(extra) (1):\n    c/x (1,)" in text
    assert "a/kernel: weights have shape (3, 3, 1, 3), the network expects (3, 3, 1, 2)" in text
    merged = strict_merge(expected, {"a/kernel": np.ones((3, 3, 1, 2)), ("a", "bias"): np.ones(2), "b/bias": np.ones(4)})
    assert merged["a"]["kernel"].shape == (3, 3, 1, 2) and merged["b"]["bias"].shape == (4,)


# ---- models folder -----------------------------------------------------------------------------


def _models_folder(root, hand):
    prototxt, caffemodel, _ = hand
    folder = root / "models"
    (folder / "hand").mkdir(parents=True)
    (folder / "hand/pose_deploy.prototxt").write_bytes(open(prototxt, "rb").read())
    os.symlink(caffemodel, folder / "hand/pose_iter_102000.caffemodel")
    return folder


def test_load_model_folder_converts_once_then_uses_cache(hand, tmp_path, monkeypatch):
    monkeypatch.setenv("JAXPOSE_CACHE", str(tmp_path / "cache"))
    folder = _models_folder(tmp_path, hand)
    first = caffe.load_model_folder(folder, "hand")
    cached = list((tmp_path / "cache/converted").iterdir())
    assert first.name == "HAND" and len(cached) == 1 and cached[0].name.startswith("HAND-")

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again although cached")

    monkeypatch.setattr(caffe, "from_caffe", no_conversion)
    second = caffe.load_model_folder(folder, "HAND")
    np.testing.assert_array_equal(second.params["Mconv7_stage6"]["kernel"], first.params["Mconv7_stage6"]["kernel"])


def test_load_model_folder_missing_files(hand, tmp_path, monkeypatch):
    monkeypatch.setenv("JAXPOSE_CACHE", str(tmp_path / "cache"))
    folder = _models_folder(tmp_path, hand)
    with pytest.raises(ModelFileError, match=r"pose/body_25/pose_deploy\.prototxt: missing.*getModels\.sh"):
        caffe.load_model_folder(folder, "BODY_25")
    with pytest.raises(ModelFileError, match="no such models folder"):
        caffe.load_model_folder(tmp_path / "nowhere", "BODY_25")
    with pytest.raises(ModelFileError, match="unknown OpenPose model 'BODY_99'"):
        caffe.load_model_folder(folder, "BODY_99")


# ---- CLI ---------------------------------------------------------------------------------------


def test_cli_convert_end_to_end(hand, tmp_path):
    from jaxpose.hub import load_model

    prototxt, caffemodel, blobs = hand
    out = tmp_path / "hand.msgpack"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [sys.executable, "-m", "jaxpose", "convert", prototxt, caffemodel, "-o", str(out)],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "HAND ->" in done.stdout
    model = load_model(out)
    assert model.name == "HAND"
    np.testing.assert_array_equal(model.params["conv1_1"]["kernel"], blobs["conv1_1"][0].transpose(2, 3, 1, 0))


def test_cli_convert_bad_input_exits_2(hand, tmp_path, capsys):
    from jaxpose.cli.convert import main

    prototxt, caffemodel, _ = hand
    assert main([prototxt, str(tmp_path / "missing.caffemodel"), "-o", str(tmp_path / "o")]) == 2
    assert "jaxpose convert: error:" in capsys.readouterr().err
    assert main([prototxt]) == 2
    assert "required" in capsys.readouterr().err
    assert main([prototxt, caffemodel, "-o", str(tmp_path / "o"), "--model", "COCO"]) == 2
    assert "is the HAND network, not COCO" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_blob_shapes_of_writer_cover_every_param():
    """The writer's prototxt-only shape derivation agrees with our networks' parameter shapes."""
    for name in NAMES:
        shapes = blob_shapes(need_shared(PROTOTXTS[name]))
        expected = caffe.expected_params(name)
        assert set(shapes) == set(expected)
        for layer, blob in shapes.items():
            if len(blob) == 2:
                o, i, kh, kw = blob[0]
                assert expected[layer]["kernel"].shape == (kh, kw, i, o)


def test_ops_convert_folder_updates_manifest_keeping_other_entries(hand, tmp_path, monkeypatch):
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("convert_openpose_models", REPO / "ops/convert_openpose_models.py")
    ops = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ops)
    folder = _models_folder(tmp_path, hand)
    manifest = tmp_path / "MANIFEST.json"
    manifest.write_text(json.dumps({"files": {"other.jaxpose": {"sha256": "abc", "source": "s", "license": "l"}}}))
    status = ops.main([str(folder), "--out", str(tmp_path / "weights"), "--manifest", str(manifest)])
    assert status == 0
    files = json.loads(manifest.read_text())["files"]
    assert files["other.jaxpose"]["sha256"] == "abc"
    converted = tmp_path / "weights/openpose-hand.jaxpose"
    import hashlib

    assert files["openpose-hand.jaxpose"]["sha256"] == hashlib.sha256(converted.read_bytes()).hexdigest()
    caffemodel_entry = files["openpose/models/hand/pose_iter_102000.caffemodel"]
    assert caffemodel_entry["sha256"] == hashlib.sha256(open(hand[1], "rb").read()).hexdigest()
    assert "non-commercial" in caffemodel_entry["license"]
    assert ops.main([str(tmp_path / "empty-nowhere")]) == 2
