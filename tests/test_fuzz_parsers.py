"""Fuzz every file parser we own: damaged files give our own clear error, never another exception.

Parsers: .caffemodel (`read_caffemodel`, and the whole `from_caffe`), .prototxt (`read_prototxt`
+ `detect_model`), TensorFlow frozen graphs (`read_graph` + `params_from_graph`) and `.jaxpose`
model files (`load_model_file`). Damage: random truncations, bit flips (half of them in the first
64 KB, where the structure is), bytes overwritten with garbage, and pure garbage. Each parse must
either succeed (a flip in a float payload may leave a valid file) or raise a `JaxposeError`
subclass, within a time bound (SIGALRM) and a memory bound (tracemalloc peak, which sees
Python and NumPy allocations). Camera files are fuzzed with the cameras' own tests.
"""

from __future__ import annotations

import contextlib
import signal
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caffe_writer import random_blobs, write_caffemodel
from conftest import PROTOTXTS, need_shared
from jaxpose.errors import JaxposeError

SECONDS = 60  # per example; generous for a loaded 2-core machine


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=[
        HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


class TookTooLong(Exception):
    pass


@contextlib.contextmanager
def bounded(seconds: float, megabytes: float):
    """Fail if the block runs longer than `seconds` or allocates more than `megabytes` at once."""
    def alarm(signum, frame):
        raise TookTooLong(f"parsing took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    tracemalloc.start()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < megabytes * 2**20, f"peak allocation {peak / 2**20:.0f} MB > {megabytes} MB"


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """`data` truncated, bit-flipped, overwritten with garbage, or replaced by garbage."""
    kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "garbage"]))
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data) - 1))]
    if kind == "garbage":
        return draw(st.binary(min_size=0, max_size=4096))
    out = bytearray(data)
    near = min(len(out), 1 << 16)
    positions = st.one_of(st.integers(0, near - 1), st.integers(0, len(out) - 1))
    if kind == "flip":
        for position, bit in draw(st.lists(st.tuples(positions, st.integers(0, 7)), min_size=1, max_size=8)):
            out[position] ^= 1 << bit
    else:
        start = draw(positions)
        garbage = draw(st.binary(min_size=1, max_size=64))
        out[start:start + len(garbage)] = garbage
    return bytes(out)


def _parse_or_our_error(parse, *args):
    """The parse result, or None when it raised one of our errors (anything else propagates)."""
    try:
        return parse(*args)
    except JaxposeError as error:
        assert str(error).strip()  # a message, whatever the damage
        return None


# ------------------------------------------------------------------ .caffemodel


def _small_caffemodels(tmp: Path) -> tuple[bytes, bytes]:
    rng = np.random.default_rng(0)
    blobs = {
        "conv1": [rng.standard_normal((4, 3, 3, 3), dtype=np.float32), np.zeros(4, np.float32)],
        "prelu1": [np.full(4, 0.1, np.float32)],
        "conv2": [rng.standard_normal((2, 4, 1, 1), dtype=np.float32), np.ones(2, np.float32)],
    }
    data = write_caffemodel(tmp / "small.caffemodel", blobs).read_bytes()
    convolutions = {name: arrays for name, arrays in blobs.items() if len(arrays) == 2}  # V1 has no PReLU
    legacy = write_caffemodel(tmp / "legacy.caffemodel", convolutions, v1=True, legacy_dims=True).read_bytes()
    return data, legacy


@pytest.fixture(scope="module")
def small_caffemodels(tmp_path_factory):
    return _small_caffemodels(tmp_path_factory.mktemp("caffe"))


@fuzz(60)
@given(data=st.data(), legacy=st.booleans())
def test_fuzz_read_caffemodel(tmp_path, small_caffemodels, data, legacy):
    from jaxpose.convert.caffe import read_caffemodel

    original = small_caffemodels[1 if legacy else 0]
    path = tmp_path / "fuzz.caffemodel"
    path.write_bytes(data.draw(damaged(original)))
    with bounded(SECONDS, 16):
        blobs = _parse_or_our_error(read_caffemodel, path)
    if blobs is not None:
        assert blobs and all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in blobs.values())


@pytest.fixture(scope="module")
def body25_files(tmp_path_factory):
    prototxt = need_shared(PROTOTXTS["BODY_25"])
    path = write_caffemodel(tmp_path_factory.mktemp("b25") / "b25.caffemodel", random_blobs(prototxt, seed=5))
    return prototxt, path.read_bytes()


@pytest.mark.slow
@fuzz(4)
@given(data=st.data())
def test_fuzz_from_caffe_body25(tmp_path, body25_files, data):
    """The whole conversion of a damaged 105 MB BODY_25 caffemodel."""
    from jaxpose.convert.caffe import from_caffe

    prototxt, original = body25_files
    path = tmp_path / "fuzz.caffemodel"
    path.write_bytes(data.draw(damaged(original)))
    with bounded(SECONDS * 3, 4 * len(original) / 2**20 + 64):
        model = _parse_or_our_error(from_caffe, prototxt, path)
    if model is not None:
        assert model.name == "BODY_25"


# ------------------------------------------------------------------ .prototxt


@pytest.fixture(scope="module")
def prototxt_bytes():
    from jaxpose.convert.caffe import detect_model, read_prototxt

    path = need_shared(PROTOTXTS["BODY_25"])
    detect_model(read_prototxt(path), source=str(path))  # the network's shapes, traced once, outside the bound
    return path.read_bytes()


@fuzz(40)
@given(data=st.data())
def test_fuzz_prototxt(tmp_path, prototxt_bytes, data):
    from jaxpose.convert.caffe import detect_model, read_prototxt

    path = tmp_path / "fuzz.prototxt"
    path.write_bytes(data.draw(damaged(prototxt_bytes)))

    def parse():
        return detect_model(read_prototxt(path), source=str(path))

    with bounded(SECONDS, 64):
        name = _parse_or_our_error(parse)
    assert name in (None, "BODY_25")


# ------------------------------------------------------------------ TF frozen graph


@pytest.fixture(scope="module")
def graph_bytes():
    from jaxpose.convert.tf_graph import params_from_graph, read_graph
    from jaxpose.hub import fetch_graph

    path = fetch_graph()
    params_from_graph(read_graph(path), source=str(path))  # the smoke forward, compiled once, outside the bound
    return path.read_bytes()


@fuzz(8)
@given(data=st.data())
def test_fuzz_tf_graph(tmp_path, graph_bytes, data):
    from jaxpose.convert.tf_graph import params_from_graph, read_graph

    path = tmp_path / "graph_opt.pb"
    path.write_bytes(data.draw(damaged(graph_bytes)))

    def parse():
        return params_from_graph(read_graph(path), source=str(path))

    with bounded(SECONDS, 4 * len(graph_bytes) / 2**20 + 64):
        params = _parse_or_our_error(parse)
    if params is not None:
        assert "Conv2d_0" in params


# ------------------------------------------------------------------ .jaxpose


@pytest.fixture(scope="module")
def jaxpose_file_bytes():
    from jaxpose.hub import fetch_default_model
    from jaxpose.model import load_model_file

    path = fetch_default_model()
    load_model_file(path)  # the network's shapes, traced once, outside the bound
    return path.read_bytes()


@fuzz(10)
@given(data=st.data())
def test_fuzz_jaxpose_model_file(tmp_path, jaxpose_file_bytes, data):
    from jaxpose.model import load_model_file

    path = tmp_path / "fuzz.jaxpose"
    path.write_bytes(data.draw(damaged(jaxpose_file_bytes)))
    with bounded(SECONDS, 4 * len(jaxpose_file_bytes) / 2**20 + 64):
        model = _parse_or_our_error(load_model_file, path)
    if model is not None:
        assert model.name == "MOBILENET_THIN"
