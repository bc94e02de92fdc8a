"""The streaming engine (jaxpose.stream): order, batching, overlap, failures, bounded memory, stops.

A fake pose function stands in for the network (its 'people' encode the frame's pixels), so these
tests check the engine's own rules quickly; tests/test_cli_stream.py runs the real model through
the command.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from jaxpose.errors import InputError, JaxposeError
from jaxpose.io.readers import Frame, FrameError, Skipped
from jaxpose.poses import Poses
from jaxpose.stream import Result, run_stream


def _poses(image: np.ndarray) -> Poses:
    value = float(image[0, 0, 0])
    keypoints = np.array([[[value, value + 1, 0.5]]], np.float32)
    return Poses(keypoints, np.ones(1, np.float32), "COCO", image.shape[1::-1], (8, 8), 1.0)


class FakePoseFn:
    """submit/collect over host arrays; records batches and what ran when."""

    def __init__(self, fail_value: int | None = None, bug_value: int | None = None, delay: float = 0.0):
        self.fail_value, self.bug_value, self.delay = fail_value, bug_value, delay
        self.submitted: list[tuple[int, int]] = []
        self.events: list[str] = []
        self.lock = threading.Lock()

    def submit(self, params, frames, pad_to=1):
        values = [int(f[0, 0, 0]) for f in frames]
        with self.lock:
            self.submitted.append((len(frames), pad_to))
            self.events.append(f"submit {values}")
        if self.fail_value in values:
            raise InputError("this batch cannot be processed")
        return frames

    def collect(self, frames):
        time.sleep(self.delay)
        values = [int(f[0, 0, 0]) for f in frames]
        with self.lock:
            self.events.append(f"collect {values}")
        if self.bug_value in values:
            raise ZeroDivisionError("division by zero")
        return [_poses(f) for f in frames]


def _frame(i: int, size=(6, 4)) -> Frame:
    return Frame(f"f{i}", i, np.full((size[1], size[0], 3), i, np.uint8))


def _values(results: list[Result]) -> list:
    return [int(r.poses.keypoints[0, 0, 0]) if r.ok else ("skip" if r.skipped else "error") for r in results]


@pytest.mark.parametrize("threads", [True, False])
@pytest.mark.parametrize("batch", [1, 3])
def test_results_come_in_input_order_one_per_item(threads, batch):
    items = [_frame(0), _frame(1), Skipped("s2", 2), _frame(3), FrameError("e4", 4, "e4: corrupt"),
             _frame(5), _frame(6, size=(8, 4)), _frame(7)]
    results = list(run_stream(items, FakePoseFn(), None, batch=batch, threads=threads))
    assert [r.name for r in results] == ["f0", "f1", "s2", "f3", "e4", "f5", "f6", "f7"]
    assert _values(results) == [0, 1, "skip", 3, "error", 5, 6, 7]
    assert results[4].error == "e4: corrupt"
    assert all(r.image is not None for r in results if r.ok)


def test_batches_are_same_size_runs_padded_to_the_batch():
    fake = FakePoseFn()
    items = [_frame(i) for i in range(5)] + [_frame(5, size=(8, 4))] + [_frame(6)]
    list(run_stream(items, fake, None, batch=2))
    # sizes change at frame 5 and 6: those runs are flushed early; every call pads to 2
    assert fake.submitted == [(2, 2), (2, 2), (1, 2), (1, 2), (1, 2)]


def test_device_work_of_the_next_batch_starts_before_the_previous_is_collected():
    fake = FakePoseFn(delay=0.01)
    list(run_stream([_frame(i) for i in range(6)], fake, None, batch=2, in_flight=2))
    assert fake.events.index("submit [2, 3]") < fake.events.index("collect [0, 1]")
    sequential = FakePoseFn()
    list(run_stream([_frame(i) for i in range(6)], sequential, None, batch=2, threads=False))
    assert sequential.events[:2] == ["submit [0, 1]", "collect [0, 1]"]


@pytest.mark.parametrize("threads", [True, False])
def test_a_refused_batch_fails_its_frames_only(threads):
    results = list(run_stream([_frame(i) for i in range(6)], FakePoseFn(fail_value=2), None, batch=2,
                              threads=threads))
    assert _values(results) == [0, 1, "error", "error", 4, 5]
    assert results[2].error == "f2: this batch cannot be processed" and results[2].traceback is None


@pytest.mark.parametrize("threads", [True, False])
def test_a_bug_is_one_line_per_frame_with_the_traceback_kept(threads):
    results = list(run_stream([_frame(i) for i in range(4)], FakePoseFn(bug_value=1), None,
                              batch=1, threads=threads))
    assert _values(results) == [0, "error", 2, 3]
    assert results[1].error.startswith("f1: internal error (ZeroDivisionError: division by zero)")
    assert "--verbose" in results[1].error
    assert "ZeroDivisionError" in results[1].traceback and "Traceback" in results[1].traceback


def test_stages_run_in_frame_order_and_a_failing_stage_fails_one_frame():
    seen = []

    def track(result: Result) -> Result:
        seen.append(result.name)
        if result.name == "f2":
            raise ValueError("stage broke")
        return result.replace(extra={"order": len(seen)})

    results = list(run_stream([_frame(i) for i in range(5)], FakePoseFn(delay=0.005), None, batch=2,
                              stages=[track]))
    assert seen == ["f0", "f1", "f2", "f3", "f4"]
    assert [r.extra.get("order") for r in results] == [1, 2, None, 4, 5]
    assert "internal error (ValueError: stage broke)" in results[2].error


def test_memory_is_bounded_the_reader_stays_a_few_batches_ahead():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield _frame(i % 200)
            i += 1

    stream = run_stream(endless(), FakePoseFn(), None, batch=4, prefetch=2, in_flight=2)
    for _ in range(10):
        next(stream)
    time.sleep(0.3)  # give the threads every chance to run ahead
    ahead = len(produced) - 10
    stream.close()
    # prefetch 2 batches + 2 on the device + the results queue ((2 + 2) * 4) + one being batched
    assert 0 < ahead <= (2 + 2) * 4 + (2 + 2) * 4 + 4


def test_closing_the_stream_stops_the_threads_and_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            for i in range(1000):
                yield _frame(i % 200)
        finally:
            closed.set()

    stream = run_stream(source(), FakePoseFn(), None, batch=2)
    next(stream)
    stream.close()
    assert closed.wait(5)
    time.sleep(0.2)
    assert not [t for t in threading.enumerate() if t.name.startswith("jaxpose-")]


def test_a_crashing_source_raises_in_the_caller_after_the_frames_before_it():
    def source():
        yield _frame(0)
        yield _frame(1)
        raise RuntimeError("the reader broke")

    stream = run_stream(source(), FakePoseFn(), None, batch=1)
    assert next(stream).name == "f0" and next(stream).name == "f1"
    with pytest.raises(RuntimeError, match="the reader broke"):
        next(stream)


def test_bad_batch_size_is_our_error():
    with pytest.raises(JaxposeError, match="batch must be >= 1"):
        run_stream([], FakePoseFn(), None, batch=0)


def test_multi_view_instants_go_to_the_device_together_and_come_back_per_camera():
    from jaxpose.io.readers import Views

    def instant(t: int, sizes=((6, 4), (6, 4))) -> Views:
        images = tuple(np.full((h, w, 3), 10 * t + v, np.uint8) for v, (w, h) in enumerate(sizes))
        return Views(f"t{t}", t, images)

    fake = FakePoseFn()
    items = [instant(0), instant(1), FrameError("t2", 2, "t2: camera 1 unreadable"),
             instant(3, sizes=((6, 4), (8, 4)))]
    results = list(run_stream(items, fake, None, batch=2))
    assert [r.name for r in results] == ["t0", "t1", "t2", "t3"]
    assert [[int(p.keypoints[0, 0, 0]) for p in r.views] for r in (results[0], results[1], results[3])] \
        == [[0, 1], [10, 11], [30, 31]]
    assert results[2].error == "t2: camera 1 unreadable" and results[0].poses is None
    assert results[3].images[1].shape == (4, 8, 3)
    # instants 0 and 1: one call with 4 images; instant 3's two sizes: one call each
    assert fake.submitted == [(4, 4), (1, 2), (1, 2)]


def test_batches_flush_on_size_change_errors_and_end():
    from jaxpose.stream.engine import batches

    def frame(i, h):
        return Frame(str(i), i, np.zeros((h, 4, 3), np.uint8))

    items = [frame(0, 2), frame(1, 2), frame(2, 2), frame(3, 3), FrameError("x", 4, "bad"), frame(5, 3), frame(6, 3)]
    out = list(batches(items, 2))
    shapes = [[f.name for f in b] if isinstance(b, list) else b.name for b in out]
    assert shapes == [["0", "1"], ["2"], ["3"], "x", ["5", "6"]]
