"""Files jaxpose creates get the usual permissions: 0o666 minus the umask (0644 under umask 022).

Checked under two umasks for outputs (JSON, images, COCO JSON, keypoint files, heatmaps) and for
cache files (the default model's verified graph and converted model), with `os.stat`.
"""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from jaxpose import hub, paths
from jaxpose.io.atomic import atomic_write_bytes, current_umask, new_file_mode
from jaxpose.io.writers import (
    CocoJsonWriter, write_heatmaps, write_keypoint_files, write_people_json, write_rendered_image,
)
from jaxpose.poses import Poses

UMASKS = [0o022, 0o077]


@pytest.fixture(params=UMASKS, ids=lambda m: f"umask{m:03o}")
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _poses() -> Poses:
    keypoints = np.zeros((1, 18, 3), np.float32)
    keypoints[0, :, :2] = np.arange(36, dtype=np.float32).reshape(18, 2) + 10
    keypoints[0, :, 2] = 0.8
    heatmaps = np.random.default_rng(0).uniform(0, 1, (6, 8, 57)).astype(np.float32)
    return Poses(keypoints, np.ones(1, np.float32), "COCO", (64, 48), (64, 48), 1.0,
                 heatmaps=heatmaps)


def test_umask_is_read_without_changing_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask
    assert new_file_mode() == 0o666 & ~umask


def test_outputs_respect_the_umask(tmp_path, umask):
    poses = _poses()
    expected = 0o666 & ~umask
    written = [
        write_people_json(tmp_path / "json", "frame", poses),
        write_rendered_image(tmp_path / "img", "frame", np.zeros((48, 64, 3), np.uint8), "png"),
        *write_keypoint_files(tmp_path / "kp", "frame", poses, "yml"),
        *write_keypoint_files(tmp_path / "kp", "frame", poses, "csv"),
        write_heatmaps(tmp_path / "heat", "frame", poses, fmt="float", add_parts=True),
    ]
    with CocoJsonWriter(tmp_path / "coco.json") as coco:
        coco.add("frame_000000000001", poses)
    written.append(tmp_path / "coco.json")
    for path in written:
        assert _mode(path) == expected, f"{path.name}: {_mode(path):03o} != {expected:03o}"
    for folder in ("json", "img", "kp", "heat"):
        assert _mode(tmp_path / folder) == 0o777 & ~umask
    assert not list(tmp_path.rglob("*.part"))


def test_rewriting_keeps_a_files_mode(tmp_path, umask):
    path = atomic_write_bytes(tmp_path / "x.json", b"1")
    os.chmod(path, 0o640)
    atomic_write_bytes(path, b"2")
    assert _mode(path) == 0o640 and path.read_bytes() == b"2"


def test_cache_files_respect_the_umask(tmp_path, monkeypatch, umask):
    """The default model's cache (verified graph + converted model), rebuilt from a local copy."""
    entry = hub.NAMED_MODELS["mobilenet_thin"]
    graph = paths.cache_dir() / entry.graph_name
    if not graph.is_file():
        pytest.skip(f"{graph} is not cached (run `jaxpose fetch-models` once)")
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    model_file = hub.fetch_default_model(source=graph)
    expected = 0o666 & ~umask
    assert _mode(model_file) == expected
    assert _mode(tmp_path / "cache" / entry.graph_name) == expected
    assert _mode(tmp_path / "cache") == 0o777 & ~umask


def test_videos_and_stitched_batch_videos_respect_the_umask(tmp_path, umask):
    """The command's --write_video (temporary file + rename) and the batch job's stitched video
    (one segment copied, several joined by ffmpeg) get an ordinary file's mode, not mkstemp's 0600."""
    from jaxpose.batch.finalize import concat_videos
    from jaxpose.stream.outputs import VideoWriter

    expected = 0o666 & ~umask
    segments = []
    for i in range(2):
        video = VideoWriter(tmp_path / f"seg{i}.avi", 10.0)
        for value in (0, 128):
            video.add(np.full((32, 48, 3), value + i, np.uint8))
        video.close()
        segments.append(tmp_path / f"seg{i}.avi")
        assert _mode(segments[-1]) == expected
    concat_videos(segments[:1], tmp_path / "out" / "one.avi")
    concat_videos(segments, tmp_path / "out" / "two.avi")
    for name in ("one.avi", "two.avi"):
        assert _mode(tmp_path / "out" / name) == expected, f"{name}: {_mode(tmp_path / 'out' / name):03o}"
    assert not list((tmp_path / "out").glob(".*"))
