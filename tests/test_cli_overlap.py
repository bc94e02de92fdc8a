"""The command's overlapped run (`jaxpose.cli.run.process` on the streaming engine) with a fast fake
pose function in place of the network: the files equal the sequential run's (`--disable_multi_thread`)
byte for byte on a video and an image folder, also when frames fail in the middle; the people in
the JSON are those of the frames OpenCV decodes; and a slow writer keeps the frames in flight
under the queues' bound. tests/test_cli_stream.py does the same equality with the real model."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from jaxpose.cli import flags, run
from jaxpose.errors import InputError
from jaxpose.io.writers.people_json import people_json
from jaxpose.poses import Poses
from jaxpose.specs import COCO

SIZE = (96, 64)  # frame width, height
FAILING = 7  # frame FAILING is white, and a batch holding a white frame fails


def fake_poses(image: np.ndarray) -> Poses:
    """One person whose 18 keypoints are read from the image's pixels (frame-dependent output)."""
    h, w = image.shape[:2]
    rows = image[:: max(1, h // 18), 0, :].astype(np.float32)[:COCO.num_parts]
    keypoints = np.zeros((1, COCO.num_parts, 3), np.float32)
    keypoints[0, : len(rows), 0] = rows[:, 0] % w
    keypoints[0, : len(rows), 1] = rows[:, 1] % h
    keypoints[0, : len(rows), 2] = 0.5 + rows[:, 2] / 1024
    return Poses(keypoints, np.array([keypoints[0, :, 2].mean()], np.float32), COCO.name, (w, h), (w, h), 1.0)


class FakePoseFn:
    """submit / collect without a network: a batch holding a white frame is refused."""

    def submit(self, params, frames, pad_to=1):
        if any(f.mean() > 250 for f in frames):
            raise InputError("this batch cannot be processed")
        return frames

    def collect(self, frames):
        return [fake_poses(f) for f in frames]


@dataclasses.dataclass
class FakePipeline:
    params: object = None

    def for_stream(self, still: bool) -> FakePoseFn:
        return FakePoseFn()


def frame_image(i: int) -> np.ndarray:
    """(H, W, 3) uint8 BGR: a gradient shifted by i; frame FAILING is white."""
    w, h = SIZE
    if i == FAILING:
        return np.full((h, w, 3), 255, np.uint8)
    y, x = np.mgrid[0:h, 0:w]
    image = np.stack([(x * 2 + i) % 256, (y * 3 + 5 * i) % 256, (x + y + 11 * i) % 256], -1).astype(np.uint8)
    return image


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, SIZE)
    for i in range(12):
        writer.write(frame_image(i))
    writer.release()
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """PNG frames 0..9: frame 4 a corrupt file, frame FAILING's batch fails."""
    folder = tmp_path_factory.mktemp("frames")
    for i in range(10):
        if i == 4:
            (folder / f"f{i:02d}.png").write_bytes(b"\x89PNG not really a png")
        else:
            cv2.imwrite(str(folder / f"f{i:02d}.png"), frame_image(i))
    return folder


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _run(argv: list[str], inputs=None) -> tuple[int, str]:
    options = flags.parse([str(a) for a in argv])
    err = io.StringIO()
    code = run.process(options, FakePipeline(), inputs or run.plan_inputs(options), err)
    return code, err.getvalue()


def _outputs(root: Path) -> list:
    return ["--write_json", root / "json", "--write_images", root / "img", "--write_video", root / "out.avi",
            "--write_coco_json", root / "coco.json", "--write_keypoint", root / "kp",
            "--write_keypoint_format", "csv", "--quiet"]


@pytest.mark.parametrize("batch", ["1", "4"])
def test_video_overlapped_equals_sequential_with_a_failing_batch(video, tmp_path, batch):
    args = [video, "--batch", batch, "--net_resolution", "-1x128"]
    code_o, err_o = _run(args + _outputs(tmp_path / "o"))
    code_s, err_s = _run(args + ["--disable_multi_thread"] + _outputs(tmp_path / "s"))
    assert code_o == code_s == 1
    assert err_o == err_s
    overlapped = _tree(tmp_path / "o")
    assert overlapped == _tree(tmp_path / "s")
    # which frames failed: those sharing a batch with frame FAILING (batches of `batch` from 0)
    first = FAILING // int(batch) * int(batch)
    failed = set(range(first, first + int(batch)))
    assert err_o.count("this batch cannot be processed") == len(failed)
    capture = cv2.VideoCapture(str(video))
    for i in range(12):
        ok, bgr = capture.read()
        assert ok
        name = f"json/clip_{i:012d}_keypoints.json"
        if i in failed:
            assert name not in overlapped and f"clip_{i:012d}: this batch" in err_o
        else:
            assert overlapped[name].decode() == people_json(fake_poses(np.ascontiguousarray(bgr[:, :, ::-1])))
    written = cv2.VideoCapture(str(tmp_path / "o" / "out.avi"))
    assert int(written.get(cv2.CAP_PROP_FRAME_COUNT)) == 12 - len(failed)


def test_folder_overlapped_equals_sequential_with_a_corrupt_image(folder, tmp_path):
    args = [folder, "--batch", "2"]
    code_o, err_o = _run(args + _outputs(tmp_path / "o"))
    code_s, err_s = _run(args + ["--disable_multi_thread"] + _outputs(tmp_path / "s"))
    assert code_o == code_s == 1
    assert err_o == err_s
    overlapped = _tree(tmp_path / "o")
    assert overlapped == _tree(tmp_path / "s")
    lines = err_o.strip().splitlines()
    assert len(lines) == 3 and "f04.png" in lines[0]  # the corrupt file, then frames 7 and 8 (one batch:
    # the batches restart after the unreadable frame: 0-1, 2-3, 5-6, 7-8, 9)
    assert sorted(k for k in overlapped if k.startswith("json/")) == [
        f"json/f{i:02d}_keypoints.json" for i in (0, 1, 2, 3, 5, 6, 9)]
    for i in (0, 1, 2, 3, 5, 6, 9):
        rgb = np.ascontiguousarray(frame_image(i)[:, :, ::-1])
        assert overlapped[f"json/f{i:02d}_keypoints.json"].decode() == people_json(fake_poses(rgb))


class CountingSource:
    """A frame source that counts the frames it has handed out."""

    def __init__(self, source) -> None:
        self.source, self.read = source, 0

    def __getattr__(self, name):
        return getattr(self.source, name)

    def frames(self, skip=None):
        for item in self.source.frames(skip=skip):
            self.read += 1
            yield item


def test_a_slow_writer_keeps_the_frames_in_flight_bounded(tmp_path, monkeypatch):
    count, batch = 80, 2
    w, h = SIZE
    writer = cv2.VideoWriter(str(tmp_path / "long.avi"), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                             10.0, SIZE)
    for i in range(count):
        writer.write(frame_image(i % 5 + 10))
    writer.release()
    options = flags.parse([str(tmp_path / "long.avi"), "--batch", str(batch), "--write_json",
                           str(tmp_path / "json"), "--quiet"])
    counting: list[CountingSource] = []

    def open_counting():
        counting.append(CountingSource(run.plan_inputs(options)[0].open()))
        return counting[-1]

    written, in_flight = [], []
    original = run.write_result
    main_thread = threading.current_thread()

    def slow_write(result, *args, **kwargs):
        assert threading.current_thread() is main_thread
        in_flight.append(counting[0].read - len(written))
        time.sleep(0.01)
        written.append(result.name)
        return original(result, *args, **kwargs)

    monkeypatch.setattr(run, "write_result", slow_write)
    code = run.process(options, FakePipeline(), [run.InputSpec("long", open_counting)], io.StringIO())
    assert code == 0 and len(written) == count
    assert written == [f"long_{i:012d}" for i in range(count)]
    # reader: `prefetch` (2) batches queued + one held + one being filled; device: `in_flight` (2)
    # batches + one being finished; results queue: (2 + 2) * batch; the writer: one.
    bound = (2 + 1 + 1) * batch + (2 + 1) * batch + (2 + 2) * batch + 1
    assert max(in_flight) <= bound < count // 2
    assert max(in_flight) > batch  # the reader did run ahead of the writer (the overlap is real)
