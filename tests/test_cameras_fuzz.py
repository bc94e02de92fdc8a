"""Fuzzing every camera-file parser (issue #9): truncations, bit flips and garbage give InputError, quickly."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxpose.cameras import Camera, CameraGroup
from jaxpose.errors import InputError

TIME_BOUND_S = 2.0


def _seed_group() -> CameraGroup:
    K = np.array([[900.0, 0, 640.0], [0, 900.0, 360.0], [0, 0, 1]])
    cams = (Camera("cam0", K, [0.01, -0.02, 0.001, 0.0, 0.003], np.eye(3), np.zeros(3), (1280, 720), "m"),
            Camera("cam1", K, [0.02, 0.0, 0.0, 0.001], np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0.0]]),
                   [0.5, 0.0, 2.0], (1280, 720), "m"))
    return CameraGroup(cams)


def _seeds(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("seeds")
    group = _seed_group()
    group.to_openpose_xml(folder / "xml")
    group.to_toml(folder / "a.toml", style="anipose")
    group.to_toml(folder / "p.toml", style="pose2sim")
    entry = {"R": np.eye(3), "T": np.zeros((3, 1)), "f": np.full((2, 1), 1000.0), "c": np.full((2, 1), 500.0),
             "k": np.zeros((3, 1)), "p": np.zeros((2, 1)), "w": 1000, "h": 1002, "name": "camera1", "id": "1"}
    return {
        "xml": (folder / "xml" / "cam1.xml").read_bytes(),
        "anipose": (folder / "a.toml").read_bytes(),
        "pose2sim": (folder / "p.toml").read_bytes(),
        "pkl": pickle.dumps({("S1", "1"): entry}, protocol=3),  # as the real file
    }


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return _seeds(tmp_path_factory)


def _read(kind: str, path):
    if kind == "xml":
        return CameraGroup.from_openpose_xml(path)
    if kind == "pkl":
        return CameraGroup.from_h36m(path, "S1")
    return CameraGroup.from_toml(path)


def _mutate(data: bytes, draw) -> bytes:
    how = draw(st.sampled_from(["truncate", "flip", "splice", "garbage", "replace_digit"]))
    if how == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if how == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(out) - 1))
            out[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    if how == "splice":
        i = draw(st.integers(0, len(data)))
        return data[:i] + draw(st.binary(max_size=64)) + data[i:]
    if how == "replace_digit":
        digits = [i for i, b in enumerate(data) if chr(b).isdigit()]
        out = bytearray(data)
        for i in draw(st.lists(st.sampled_from(digits), min_size=1, max_size=4)):
            out[i] = draw(st.sampled_from(b"0123456789-.eE+ nx"))
        return bytes(out)
    return draw(st.binary(max_size=512))


@pytest.mark.parametrize("kind", ["xml", "anipose", "pose2sim", "pkl"])
def test_seed_files_read(seeds, kind, tmp_path):
    path = tmp_path / ("c.xml" if kind == "xml" else "c.pkl" if kind == "pkl" else "c.toml")
    path.write_bytes(seeds[kind])
    assert len(_read(kind, path)) >= 1


@pytest.mark.parametrize("kind", ["xml", "anipose", "pose2sim", "pkl"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupt_camera_files_give_input_error(seeds, kind, tmp_path, data):
    blob = _mutate(seeds[kind], data.draw)
    path = tmp_path / ("c.xml" if kind == "xml" else "c.pkl" if kind == "pkl" else "c.toml")
    path.write_bytes(blob)
    start = time.perf_counter()
    try:
        group = _read(kind, path)
    except InputError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip()[:1]
    else:  # a harmless mutation (e.g. in a comment or a digit) must still give valid cameras
        assert all(np.all(np.isfinite(cam.P)) for cam in group)
    assert time.perf_counter() - start < TIME_BOUND_S
