"""Streaming readers: OpenPose's frame names, selection, orientation, bad frames, batching."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import MEDIA_DIR, need_shared
from jaxpose.errors import InputError
from jaxpose.io import readers
from jaxpose.io.readers import Frame, FrameError, FrameSelection, Orientation, Skipped


def _write_png(path: Path, value: int, size=(6, 4)) -> np.ndarray:
    """A (H, W, 3) RGB image with distinct channels, saved as PNG; returns the RGB array."""
    width, height = size
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = value
    rgb[..., 1] = np.arange(width)[None, :] * 10
    rgb[..., 2] = np.arange(height)[:, None] * 20
    cv2.imwrite(str(path), rgb[:, :, ::-1])
    return rgb


def _openpose_orient(bgr: np.ndarray, rotate: int, flip: bool) -> np.ndarray:
    """OpenPose's Producer::flipAndRotate, spelled with the same cv2 calls (producer.cpp)."""
    m = bgr.copy()
    if rotate == 0:
        if flip:
            m = cv2.flip(m, 1)
    elif rotate == 90:
        m = cv2.transpose(m)
        if not flip:
            m = cv2.flip(m, 0)
    elif rotate == 180:
        m = cv2.flip(m, 0) if flip else cv2.flip(m, -1)
    elif rotate == 270:
        m = cv2.transpose(m)
        m = cv2.flip(m, -1) if flip else cv2.flip(m, 1)
    return m


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
@pytest.mark.parametrize("flip", [False, True])
def test_orient_matches_openpose_flip_and_rotate(rotate, flip):
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    expected = _openpose_orient(image, rotate, flip)
    np.testing.assert_array_equal(readers.orient(image, Orientation(rotate, flip)), expected)


def test_orient_90_is_counter_clockwise():
    # top-right pixel goes to the top-left corner under a counter-clockwise quarter turn
    image = np.zeros((2, 3, 3), np.uint8)
    image[0, 2] = 255
    out = readers.orient(image, Orientation(90, False))
    assert out.shape == (3, 2, 3)
    assert out[0, 0, 0] == 255 and out.sum() == 255 * 3


def test_bad_rotation_and_selection_are_input_errors():
    with pytest.raises(InputError, match="frame_rotate"):
        Orientation(45)
    with pytest.raises(InputError, match="frame_step"):
        FrameSelection(step=0)
    with pytest.raises(InputError, match="frame_last"):
        FrameSelection(first=5, last=2)


def test_image_folder_natural_order_extensions_hidden_and_subfolders(tmp_path):
    for name in ["img10.png", "img2.PNG", "img1.jpg", ".hidden.png", "notes.txt", "a.tiff"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    names = [p.name for p in readers.list_images(tmp_path)]
    assert names == ["img1.jpg", "img2.PNG", "img10.png"]


def test_image_folder_frames_selection_and_names(tmp_path):
    images = {i: _write_png(tmp_path / f"f{i}.png", value=i * 20) for i in range(7)}
    source = readers.ImageFolderSource(tmp_path, FrameSelection(first=1, last=5, step=2))
    items = list(source.frames())
    assert source.total == 3
    assert [item.name for item in items] == ["f1", "f3", "f5"]
    assert [item.index for item in items] == [0, 1, 2]
    for item, i in zip(items, (1, 3, 5)):
        assert isinstance(item, Frame) and item.image.dtype == np.uint8
        np.testing.assert_array_equal(item.image, images[i])  # RGB, not BGR


def test_corrupt_image_yields_frame_error_and_the_others_are_read(tmp_path):
    _write_png(tmp_path / "a.png", 10)
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    _write_png(tmp_path / "c.png", 30)
    items = list(readers.ImageFolderSource(tmp_path).frames())
    assert [type(item) for item in items] == [Frame, FrameError, Frame]
    assert "b.jpg" in items[1].message and items[1].name == "b"


def test_grey_png_becomes_three_channels(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.full((3, 4), 77, np.uint8))
    (item,) = readers.ImageFileSource(tmp_path / "g.png").frames()
    assert item.image.shape == (3, 4, 3) and (item.image == 77).all()


def test_skip_does_not_decode(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"nope")
    _write_png(tmp_path / "ok.png", 1)
    items = list(readers.ImageFolderSource(tmp_path).frames(skip=lambda name: name == "broken"))
    assert isinstance(items[0], Skipped) and items[0].name == "broken"
    assert isinstance(items[1], Frame)


def test_empty_or_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no images"):
        readers.ImageFolderSource(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        readers.ImageFolderSource(tmp_path / "missing")


def test_open_path_dispatch_and_unreadable(tmp_path):
    _write_png(tmp_path / "x.png", 1)
    assert isinstance(readers.open_path(tmp_path), readers.ImageFolderSource)
    assert isinstance(readers.open_path(tmp_path / "x.png"), readers.ImageFileSource)
    with pytest.raises(InputError, match="no such file"):
        readers.open_path(tmp_path / "missing.avi")
    (tmp_path / "data.bin").write_bytes(b"1")
    with pytest.raises(InputError, match="unknown kind of input"):
        readers.open_path(tmp_path / "data.bin")


def test_video_names_selection_and_pixels_match_opencv():
    video = need_shared(MEDIA_DIR / "video.avi")
    source = readers.VideoSource(video, FrameSelection(first=2, last=6, step=2))
    assert source.total == 3 and source.fps == pytest.approx(50.0)
    items = list(source.frames())
    assert [item.name for item in items] == [f"video_{i:012d}" for i in (2, 4, 6)]
    capture = cv2.VideoCapture(str(video))
    reference = []
    for _ in range(7):
        ok, bgr = capture.read()
        assert ok
        reference.append(bgr[:, :, ::-1])
    for item, i in zip(items, (2, 4, 6)):
        np.testing.assert_array_equal(item.image, reference[i])


def test_video_skip_and_flip(tmp_path):
    video = need_shared(MEDIA_DIR / "video.avi")
    plain = list(readers.VideoSource(video, FrameSelection(last=1)).frames())
    flipped = list(
        readers.VideoSource(video, FrameSelection(last=1), Orientation(0, True)).frames(
            skip=lambda name: name.endswith("0")
        )
    )
    assert isinstance(flipped[0], Skipped) and isinstance(flipped[1], Frame)
    np.testing.assert_array_equal(flipped[1].image, plain[1].image[:, ::-1])


def test_truncated_video_ends_with_a_frame_error(tmp_path):
    video = need_shared(MEDIA_DIR / "video.avi")
    truncated = tmp_path / "cut.avi"
    truncated.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    items = list(readers.VideoSource(truncated).frames())
    assert isinstance(items[-1], FrameError)
    assert "cut.avi" in items[-1].message and "truncated" in items[-1].message
    assert all(isinstance(item, Frame) for item in items[:-1]) and len(items) > 10


def test_a_file_opencv_opens_but_cannot_decode_ends_with_a_frame_error(tmp_path):
    fake = tmp_path / "notes.png"  # FFmpeg's image2 demuxer opens it as a one-frame "video"
    fake.write_bytes(b"not an image at all, just text\n" * 4)
    capture = cv2.VideoCapture(str(fake))
    opened, decoded = capture.isOpened(), capture.read()[0]
    capture.release()
    if not opened:
        with pytest.raises(InputError, match="notes.png"):
            readers.VideoSource(fake)
        return
    assert not decoded
    items = list(readers.VideoSource(fake).frames())
    assert len(items) == 1 and isinstance(items[0], FrameError)
    assert "notes.png" in items[0].message and "no frame could be decoded" in items[0].message


def test_garbage_video_and_missing_camera_are_input_errors(tmp_path):
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(InputError, match="bad.avi"):
        readers.VideoSource(bad)
    with pytest.raises(InputError, match="no such video"):
        readers.VideoSource(tmp_path / "none.avi")
    with pytest.raises(InputError, match="camera 9"):
        readers.CameraSource(9)


def test_frame_folder_from_shared_media(tmp_path):
    media = need_shared(MEDIA_DIR)
    for name in ("COCO_val2014_000000000192.jpg", "messi5.jpg"):
        shutil.copy(media / name, tmp_path / name)
    items = list(readers.open_path(tmp_path).frames())
    assert [item.name for item in items] == ["COCO_val2014_000000000192", "messi5"]
    np.testing.assert_array_equal(items[1].image, cv2.imread(str(media / "messi5.jpg"))[:, :, ::-1])


def test_unreachable_ip_camera_is_an_input_error():
    with pytest.raises(InputError, match="127.0.0.1:1"):
        readers.IPCameraSource("rtsp://127.0.0.1:1/stream")
