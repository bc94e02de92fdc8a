"""The batch job's pure parts and its usage errors (fast): manifest parsing and input names, chunk
planning against FrameSelection, seam checks, COCO merging against the writer's own layout, the
resume refusal, `--ray` parsing, and the one-line exit-2 messages."""

from __future__ import annotations

import io
import json
import os
import socket
import socketserver
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jaxpose.batch.finalize import first_bad_seam, merge_coco_parts
from jaxpose.batch.jobdir import check_resume, output_options, plan_record
from jaxpose.batch.manifest import input_names, parse_lines, read_manifest
from jaxpose.batch.plan import InputPlan, chunk_ranges
from jaxpose.cli import batch as batch_cli
from jaxpose.cli import flags
from jaxpose.errors import UsageError
from jaxpose.io.readers import FrameSelection
from jaxpose.io.writers.coco_json import CocoJsonWriter, coco_json_text
from jaxpose.options.table import BATCH_FLAG_LIST
from jaxpose.poses import Poses


def _run(*argv) -> tuple[int, str]:
    err = io.StringIO()
    code = batch_cli.main([str(a) for a in argv], stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


# -- manifest ---------------------------------------------------------------------------------

def test_parse_lines_skips_blanks_and_comments():
    text = "# study\n\n  a.mp4  \n#b.mp4\nphotos/\n   \n"
    assert parse_lines(text) == [(3, "a.mp4"), (5, "photos/")]


def test_names_take_parent_folders_only_where_needed():
    paths = [Path("/d/s01/cam0.mp4"), Path("/d/s02/cam0.mp4"), Path("/d/s01/cam1.mp4"), Path("/x/photos")]
    names, clashes = input_names(paths)
    assert names == ["s01__cam0", "s02__cam0", "cam1", "photos"] and clashes == []
    names, clashes = input_names([Path("/d/x"), Path("/d/x.avi")])
    assert clashes == [(0, 1)]


@pytest.fixture
def tree(tmp_path):
    for rel in ("v/s01/cam0.avi", "v/s02/cam0.avi", "v/b.mp4", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "photos").mkdir()
    return tmp_path


def test_manifest_relative_paths_globs_and_names(tree):
    manifest = tree / "list.txt"
    manifest.write_text("# inputs\nv/*/cam0.avi\n\n" + str(tree / "v/b.mp4") + "\nphotos\n")
    inputs, problems = read_manifest(manifest)
    assert problems == []
    assert [(i.line, i.path, i.name) for i in inputs] == [
        (2, tree / "v/s01/cam0.avi", "s01__cam0"), (2, tree / "v/s02/cam0.avi", "s02__cam0"),
        (4, tree / "v/b.mp4", "b"), (5, tree / "photos", "photos")]


def test_manifest_problems_one_line_each(tree):
    manifest = tree / "list.txt"
    manifest.write_text("v/b.mp4\nmissing.avi\nv/*.mkv\nnotes.txt\nv/../v/b.mp4\n")
    inputs, problems = read_manifest(manifest)
    assert [i.name for i in inputs] == ["b"]
    assert len(problems) == 4 and all("\n" not in p for p in problems)
    assert problems[0].startswith(f"{manifest}:2: missing.avi: no such file or folder")
    assert problems[1].startswith(f"{manifest}:3: v/*.mkv: the pattern matches no")
    assert problems[2].startswith(f"{manifest}:4: notes.txt: unknown kind of input")
    assert "already listed on line 1" in problems[3] and problems[3].startswith(f"{manifest}:5:")


# -- chunk planning ---------------------------------------------------------------------------

def test_chunk_ranges_by_hand():
    assert chunk_ranges(FrameSelection(), 1200, 500) == [(0, 499), (500, 999), (1000, -1)]
    assert chunk_ranges(FrameSelection(3, 20, 2), 9, 4) == [(3, 9), (11, 17), (19, 20)]
    assert chunk_ranges(FrameSelection(), 10, 0) == [(0, -1)]
    assert chunk_ranges(FrameSelection(), None, 4) == [(0, -1)]
    assert chunk_ranges(FrameSelection(), 4, 4) == [(0, -1)]


@settings(max_examples=200, deadline=None)
@given(first=st.integers(0, 30), length=st.integers(0, 60), step=st.integers(1, 5),
       last=st.integers(-1, 90), chunk=st.integers(0, 12))
def test_chunks_cover_the_selection_once_in_order(first, length, step, last, chunk):
    if 0 <= last < first:
        return
    total_frames = first + length
    selection = FrameSelection(first, last, step)
    wanted = list(selection.indices(total_frames))
    if not wanted:
        return
    pieces = []
    for a, b in chunk_ranges(selection, len(wanted), chunk):
        pieces += list(FrameSelection(a, b, step).indices(total_frames))
        if chunk:
            assert len(FrameSelection(a, b, step).indices(total_frames)) <= chunk
    assert pieces == wanted


# -- seams and COCO ---------------------------------------------------------------------------

def test_first_bad_seam():
    ok = [{"head": None, "tail": "a"}, {"head": "a", "tail": "b"}, {"head": "b", "tail": "c"}]
    assert first_bad_seam(ok) is None
    assert first_bad_seam(ok[:1] + [{"head": "x", "tail": "b"}] + ok[2:]) == 1
    assert first_bad_seam(ok[:2] + [{"head": "z", "tail": "c"}]) == 2
    assert first_bad_seam(ok[:1] + [{"head": None, "tail": "b"}] + ok[2:]) is None  # unreadable lead


def _poses(people: int, seed: int) -> Poses:
    rng = np.random.default_rng(seed)
    keypoints = rng.uniform(1, 300, (people, 18, 3)).astype(np.float32)
    keypoints[:, ::4, 2] = 0
    return Poses(keypoints, rng.uniform(0, 1, people).astype(np.float32), "COCO", (320, 240), (320, 240), 1.0)


def test_coco_parts_merge_to_the_single_writer_file(tmp_path):
    frames = [(f"clip_{i:012d}", _poses(i % 3, i)) for i in range(7)]
    whole = CocoJsonWriter(tmp_path / "whole.json")
    for name, poses in frames:
        whole.add(name, poses)
    whole.close()
    parts = []
    for k, (a, b) in enumerate([(0, 3), (3, 4), (4, 7)]):  # the middle part holds 0 people
        writer = CocoJsonWriter(tmp_path / f"part{k}.json")
        for name, poses in frames[a:b]:
            writer.add(name, poses)
        writer.close()
        parts.append(tmp_path / f"part{k}.json")
    merged = merge_coco_parts(parts)
    assert merged == (tmp_path / "whole.json").read_text()
    assert json.loads(merged) == json.loads(coco_json_text([e for p in parts for e in json.loads(p.read_text())]))
    assert merge_coco_parts([parts[1]]) == "[\n]" == coco_json_text([])


# -- resume refusal ---------------------------------------------------------------------------

def _record(argv, chunk_frames=500, inputs=None):
    options = flags.parse(argv, extra=BATCH_FLAG_LIST)
    inputs = inputs or [InputPlan("a", "/x/a.avi", "video", 10, ((0, -1),), 1, (5, 6))]
    return plan_record(inputs, options, chunk_frames, "m.txt")


def test_resume_refused_with_other_options_and_allowed_with_run_only_ones():
    base = _record(["--write_json", "json", "--net_resolution", "-1x128"])
    check_resume(base, _record(["--write_json", "json", "--net_resolution", "-1x128", "--batch", "4",
                                "--quiet"]), Path("out"))
    with pytest.raises(UsageError, match=r"other options \(--net_resolution '-1x128' -> '-1x256'\)"):
        check_resume(base, _record(["--write_json", "json", "--net_resolution", "-1x256"]), Path("out"))
    with pytest.raises(UsageError, match="--chunk_frames 500"):
        check_resume(base, _record(["--write_json", "json", "--net_resolution", "-1x128"], 100), Path("out"))
    changed = [InputPlan("a", "/x/a.avi", "video", 10, ((0, -1),), 1, (5, 7))]
    with pytest.raises(UsageError, match="/x/a.avi changed"):
        check_resume(base, _record(["--write_json", "json", "--net_resolution", "-1x128"], inputs=changed), Path("out"))
    assert "batch" not in output_options(flags.parse([]))


# -- command line -----------------------------------------------------------------------------

def test_split_ray():
    assert batch_cli.split_ray(["m.txt", "--ray"]) == (["m.txt"], True, None)
    assert batch_cli.split_ray(["--ray", "m.txt"]) == (["m.txt"], True, None)
    assert batch_cli.split_ray(["--ray", "10.0.0.5:6379", "m.txt"]) == (["m.txt"], True, "10.0.0.5:6379")
    assert batch_cli.split_ray(["--ray=auto", "m.txt"]) == (["m.txt"], True, "auto")
    assert batch_cli.split_ray(["m.txt", "--ray", "ray://head:10001"]) == (["m.txt"], True, "ray://head:10001")
    assert batch_cli.split_ray(["m.txt"]) == (["m.txt"], False, None)


def test_usage_errors_exit_2_with_one_line(tree, tmp_path):
    manifest = tree / "list.txt"
    manifest.write_text("v/b.mp4\nnope/*.avi\n")
    code, err = _run(manifest, "--out", tmp_path / "o")
    assert code == 2 and err.count("\n") == 1 and f"{manifest}:2: nope/*.avi" in err
    manifest.write_text("v/b.mp4\n")
    (tmp_path / "blocker").write_text("")
    code, err = _run(manifest, "--out", tmp_path / "blocker")
    assert code == 2 and "--out" in err and "not a folder" in err and "Traceback" not in err
    code, err = _run(manifest, "--out", tmp_path / "blocker" / "sub")
    assert code == 2 and "cannot write there" in err
    code, err = _run(manifest)
    assert code == 2 and "--out DIR is required" in err
    code, err = _run(manifest, "--out", tmp_path / "o", "--write_json", "/abs/json")
    assert code == 2 and "relative path" in err
    code, err = _run(manifest, "--out", tmp_path / "o", "--video", "x.avi")
    assert code == 2 and "from the manifest" in err
    code, err = _run(manifest, "--out", tmp_path / "o", "--skip_existing")
    assert code == 2 and "resumes by itself" in err
    code, err = _run(manifest, "--out", tmp_path / "o", "--cpu_workers", "-1")
    assert code == 2 and "--cpu_workers must be >= 0 (got -1)" in err
    too_many = len(os.sched_getaffinity(0)) + 1
    code, err = _run(manifest, "--out", tmp_path / "o", "--cpu_workers", too_many)
    assert code == 2 and f"may use {too_many - 1} CPU core(s); give at most {too_many - 1}" in err
    code, err = _run(manifest, "--out", tmp_path / "o", "--cpu_workers", "1", "--ray", "auto")
    assert code == 2 and "--cpu_workers is for a job without --ray" in err and err.count("error:") == 1
    assert not (tmp_path / "o" / ".jaxpose-job").exists()


def test_core_sets_split_the_cores_evenly_in_order():
    from jaxpose.batch.processes import core_sets

    assert core_sets(2, [0, 1]) == [[0], [1]]
    assert core_sets(1, [0, 1, 2]) == [[0, 1, 2]]
    assert core_sets(3, [0, 1, 2, 3, 4, 5, 6]) == [[0, 1, 2], [3, 4], [5, 6]]
    assert core_sets(2, [4, 9, 12]) == [[4, 9], [12]]
    with pytest.raises(UsageError, match="--cpu_workers 3: this process may use 2 CPU core"):
        core_sets(3, [0, 1])


def test_ray_address_that_does_not_answer(tree, tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as s:  # a free loopback port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    manifest = tree / "list.txt"
    manifest.write_text("v/b.mp4\n")
    started = time.monotonic()
    code, err = _run(manifest, "--out", tmp_path / "o", "--ray", f"127.0.0.1:{port}", "--write_json", "json")
    assert code == 2 and f"--ray 127.0.0.1:{port}: no Ray cluster answers there" in err
    assert "Traceback" not in err and time.monotonic() - started < 60  # bounded, not a hang


def test_tracking_keeps_each_input_in_one_chunk(tmp_path):
    """Ids and smoothing need an input's frames in order: with --tracking or --smooth each input
    is one chunk whatever --chunk_frames says; without them a long video is cut."""
    import cv2

    from jaxpose.batch.job import make_plan

    video = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(7):
        video.write(np.full((24, 32, 3), 30 * i, np.uint8))
    video.release()
    (tmp_path / "list.txt").write_text("clip.avi\n")
    inputs, _ = read_manifest(tmp_path / "list.txt")
    for given, chunks in (([], 3), (["--tracking", "0"], 1), (["--smooth", "one_euro"], 1)):
        options = flags.parse([str(tmp_path / "list.txt"), "--out", "o", "--chunk_frames", "3", *given],
                              extra=BATCH_FLAG_LIST)
        (plan,) = make_plan(inputs, options, 3)
        assert plan.frames == 7 and len(plan.chunks()) == chunks, given
@pytest.mark.parametrize("given", [["--3d", "--camera_parameter_path", "cams"], ["--frame_undistort"],
                                   ["--write_trc", "trc"], ["--3d_method", "dlt"]])
def test_camera_flags_are_refused_not_ignored(tree, tmp_path, given):
    """The batch job has no multi-view / undistortion path: those flags are a one-line usage
    error (they used to be ignored, writing 2D files without a word)."""
    manifest = tree / "list.txt"
    manifest.write_text("v/b.mp4\n")
    code, err = _run(manifest, "--out", tmp_path / "o", "--write_json", "json", *given)
    assert code == 2 and err.startswith(f"jaxpose: error: {given[0]}: a batch job runs the 2D pipeline")
    assert not (tmp_path / "o").exists()
    assert batch_cli.check_batch_options(flags.parse([str(manifest), "--out", "o", "--no3d"], extra=BATCH_FLAG_LIST)) is None


def test_coco_ids_of_an_image_folder_are_checked_before_any_work(tree, tmp_path):
    """Each input writes its own COCO file: an image folder whose frame names give no image id
    (`skier`) or the same id twice (`messi5`, `cam1_000005`) is refused before any work, naming
    the manifest line and the fix, as the plain command refuses it (pycocotools needs the ids)."""
    import cv2

    manifest = tree / "list.txt"
    for folder, files in (("named", ("a_1.png", "skier.png")), ("clash", ("messi5.png", "cam1_000005.png"))):
        (tree / folder).mkdir()
        for file in files:
            cv2.imwrite(str(tree / folder / file), np.zeros((8, 8, 3), np.uint8))
    for line, (folder, reason) in enumerate((("named", "'skier' does not"), ("clash", "would both get image_id 5")), 2):
        manifest.write_text(f"v/b.mp4\n{folder}\n")
        code, err = _run(manifest, "--out", tmp_path / "o", "--write_coco_json", "coco.json")
        assert code == 2 and err.startswith(f"jaxpose: error: {tree / folder} (line 2): --write_coco_json")
        assert reason in err and "--coco_gt" in err and "Traceback" not in err
    inputs, _ = read_manifest(manifest)  # without --write_coco_json (or with --coco_gt) names do not matter
    batch_cli.check_coco_ids_per_input(inputs, flags.parse([str(manifest), "--out", "o"], extra=BATCH_FLAG_LIST))
    batch_cli.check_coco_ids_per_input(inputs, flags.parse(
        [str(manifest), "--out", "o", "--write_coco_json", "c.json", "--coco_gt", "gt.json"], extra=BATCH_FLAG_LIST))
    assert not (tmp_path / "o" / ".jaxpose-job").exists()


class _Reply(socketserver.BaseRequestHandler):
    reply = b""

    def handle(self):
        self.request.recv(64)
        if self.reply is None:  # accept, read, never answer
            time.sleep(3)
            return
        self.request.sendall(self.reply)


@pytest.fixture
def serve():
    servers = []

    def start(reply):
        handler = type("Handler", (_Reply,), {"reply": reply})
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_ray_address_where_another_service_answers(serve, tree, tmp_path, monkeypatch):
    """A web server (or Redis, SSH) on the port: one line naming the address, exit 2, within
    seconds (ray.init alone retries such an address for minutes); a port that accepts and never
    answers times out."""
    pytest.importorskip("ray")
    from jaxpose.batch import backends

    monkeypatch.setattr(backends, "CONNECT_TIMEOUT_S", 0.5)
    manifest = tree / "list.txt"
    manifest.write_text("v/b.mp4\n")
    web = serve(b"HTTP/1.0 400 Bad Request\r\n\r\n")
    started = time.monotonic()
    code, err = _run(manifest, "--out", tmp_path / "o", "--ray", f"127.0.0.1:{web}", "--write_json", "json")
    assert code == 2 and f"--ray 127.0.0.1:{web}: something answers there, but not a Ray cluster" in err
    assert "Traceback" not in err and time.monotonic() - started < 30
    monkeypatch.setenv("RAY_USE_TLS", "1")  # a TLS cluster does not answer plaintext HTTP/2: not refused here
    assert backends._probe_address(f"127.0.0.1:{web}") is None
    monkeypatch.delenv("RAY_USE_TLS")
    silent = serve(None)
    code, err = _run(manifest, "--out", tmp_path / "o", "--ray", f"127.0.0.1:{silent}", "--write_json", "json")
    assert code == 2 and f"--ray 127.0.0.1:{silent}: no Ray cluster answers there (timed out)" in err
    settings_frame = bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
    assert backends._answers_http2("127.0.0.1", serve(settings_frame), 2.0)  # what a gRPC server sends first
