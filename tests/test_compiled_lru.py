"""Compiled functions are kept in a bounded LRU; evicting one drops its jitted function entirely.

Memory over time (RSS) is measured by benchmarks/bench_memory.py; here: the bound, the order,
that an evicted function is really gone (a weak reference dies), that results do not change
when a size comes back, and that the bound reaches the hand/face networks.
"""

from __future__ import annotations

import gc
import types
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpose
from jaxpose import pipeline
from jaxpose.errors import InputError
from jaxpose.lru import LRUCache
from jaxpose.specs import get_spec
from tiny_net import TinyNet


@pytest.fixture(scope="module")
def tiny():
    spec = get_spec("COCO")
    net = TinyNet(spec.num_channels)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))["params"]
    return types.SimpleNamespace(name=spec.name, spec=spec, net=net, params=params)


def _image(w, h, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def test_lru_keeps_the_most_recent_and_calls_make_once_per_miss():
    made = []
    cache = LRUCache(2)

    def get(key):
        return cache.get(key, lambda: made.append(key) or f"value {key}")

    assert get("a") == "value a" and get("b") == "value b" and get("a") == "value a"
    get("c")  # evicts b, the least recently used
    assert cache.keys() == ["a", "c"] and made == ["a", "b", "c"]
    get("b")
    assert made == ["a", "b", "c", "b"] and cache.keys() == ["c", "b"] and len(cache) == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, "8", True])
def test_max_compiled_must_be_a_positive_integer(tiny, bad):
    with pytest.raises(InputError, match="max_compiled"):
        jaxpose.make_pose_fn(tiny, max_compiled=bad)


def test_max_compiled_from_the_environment(tiny, monkeypatch):
    monkeypatch.setenv(pipeline.MAX_COMPILED_ENV, "3")
    assert jaxpose.make_pose_fn(tiny).max_compiled == 3
    assert jaxpose.make_pose_fn(tiny, max_compiled=5).max_compiled == 5
    monkeypatch.setenv(pipeline.MAX_COMPILED_ENV, "many")
    with pytest.raises(InputError, match="JAXPOSE_MAX_COMPILED='many'"):
        jaxpose.make_pose_fn(tiny)
    monkeypatch.delenv(pipeline.MAX_COMPILED_ENV)
    assert jaxpose.make_pose_fn(tiny).max_compiled == 8


def test_compiled_functions_are_bounded_and_evicted_ones_are_freed(tiny, monkeypatch):
    traces = []
    core = pipeline._device_core

    def counting_core(*args, **kwargs):
        traces.append(args[1].shape)
        return core(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_device_core", counting_core)
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64), max_peaks=8, max_compiled=2)
    # three image sizes in three different padded buckets (and net input sizes)
    sizes = [(150, 100), (300, 100), (100, 150)]
    first = fn(tiny.params, _image(*sizes[0]))
    cache = fn._compiled_fns
    evicted = weakref.ref(cache.get(cache.keys()[0], lambda: None))
    fn(tiny.params, _image(*sizes[1]))
    fn(tiny.params, _image(*sizes[2]))
    assert len(cache) == 2 and len(traces) == 3
    gc.collect()
    assert evicted() is None  # nothing else (no JAX cache) holds the evicted function
    again = fn(tiny.params, _image(*sizes[0]))  # evicted: compiled again, same result
    assert len(traces) == 4 and len(cache) == 2
    np.testing.assert_array_equal(again.keypoints, first.keypoints)
    fn(tiny.params, _image(*sizes[0], seed=1))  # most recent: no new compile
    assert len(traces) == 4


def test_pose_fns_of_one_configuration_share_compiles_until_dropped(tiny):
    a = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64), max_peaks=8, nms_threshold=0.1)
    b = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64), max_peaks=8, nms_threshold=0.2)
    assert a._compiled_fns is b._compiled_fns  # thresholds are traced: one compile serves both
    c = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64), max_peaks=8, max_compiled=3)
    assert c._compiled_fns is not a._compiled_fns
    cache = weakref.ref(a._compiled_fns)
    del a, b
    gc.collect()
    assert cache() is None  # the cache (and its compiled functions) went with its pose_fns


def test_plans_are_bounded(tiny, monkeypatch):
    monkeypatch.setattr(pipeline, "PLAN_CACHE_SIZE", 3)
    fn = jaxpose.make_pose_fn(tiny, net_resolution=(-1, 64))
    for w in range(100, 110):
        fn.plan((w, 80))
    assert len(fn._plans) == 3 and fn._plans.keys() == [(107, 80), (108, 80), (109, 80)]


def test_hand_and_face_compiled_functions_are_bounded():
    from jaxpose.wholebody import _CropRunner

    spec = get_spec("HAND")
    net = TinyNet(spec.num_parts + 1)
    params = net.init(jax.random.PRNGKey(1), jnp.zeros((1, 64, 64, 3)))["params"]
    hand = types.SimpleNamespace(name="HAND", spec=spec, net=net, params=params)
    runner = _CropRunner(hand, 64, 2, face=False, semantics="cpu", max_compiled=1)
    rects = np.array([[10.0, 10.0, 40.0, 40.0]], np.float32)
    for h in (64, 128, 64):  # padded image sizes: 64x64, 128x64, 64x64 again
        image = jax.device_put(np.zeros((h, 64, 3), np.uint8))
        out = runner(params, image, rects, np.zeros(1, bool))
        assert out.shape == (1, spec.num_parts, 3) and np.isfinite(out).all()
        assert len(runner.compiled) == 1
