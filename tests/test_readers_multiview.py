"""Multi-view inputs (openpose-features §5.2): side-by-side video tiles, N consecutive images per
instant, and one synchronised source per camera."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from jaxpose.errors import InputError
from jaxpose.io import readers


def _write_video(path, frames):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    for frame in frames:
        writer.write(frame[:, :, ::-1])
    writer.release()


def test_side_by_side_tiles_are_equal_width_columns_in_order():
    image = np.arange(4 * 12 * 3, dtype=np.uint8).reshape(4, 12, 3)
    tiles = readers.split_side_by_side(image, 3)
    assert [t.shape for t in tiles] == [(4, 4, 3)] * 3
    np.testing.assert_array_equal(np.concatenate(tiles, axis=1), image)
    with pytest.raises(InputError, match="cannot be split into 5 equal views"):
        readers.split_side_by_side(image, 5)


def test_side_by_side_video_yields_instants(tmp_path):
    frames = [np.full((16, 32, 3), 40 * i, np.uint8) for i in range(3)]
    frames = [np.concatenate([f[:, :16], 255 - f[:, 16:]], axis=1) for f in frames]
    _write_video(tmp_path / "rig.avi", frames)
    source = readers.SideBySideSource(readers.VideoSource(tmp_path / "rig.avi"), 2)
    items = list(source.frames())
    assert [i.name for i in items] == [f"rig_{k:012d}" for k in range(3)]
    assert all(isinstance(i, readers.Views) and len(i.images) == 2 for i in items)
    assert abs(int(items[1].images[0].mean()) - 40) <= 3 and abs(int(items[1].images[1].mean()) - 215) <= 3


def test_grouped_image_folder_makes_instants_of_n_consecutive_images(tmp_path):
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), np.full((8, 8, 3), i, np.uint8))
    source = readers.GroupedImageSource(tmp_path, 3)
    items = list(source.frames())
    assert [i.name for i in items] == ["img0", "img3"] and source.total == 2
    assert [int(im[0, 0, 0]) for im in items[1].images] == [3, 4, 5]
    with pytest.raises(InputError, match="not a whole number of instants of 4 views"):
        readers.GroupedImageSource(tmp_path, 4)


def test_synchronised_sources_zip_cameras_and_refuse_different_lengths(tmp_path):
    for cam, count in (("a", 3), ("b", 3), ("c", 2)):
        _write_video(tmp_path / f"{cam}.avi", [np.full((8, 8, 3), 30 * k, np.uint8) for k in range(count)])
    sync = readers.SynchronizedSources([readers.VideoSource(tmp_path / f"{c}.avi") for c in "ab"], ["a", "b"])
    items = list(sync.frames())
    assert [i.name for i in items] == [f"a_{k:012d}" for k in range(3)]
    assert all(len(i.images) == 2 for i in items)
    with pytest.raises(InputError, match="different frame counts"):
        readers.SynchronizedSources([readers.VideoSource(tmp_path / f"{c}.avi") for c in "ac"], ["a", "c"])
