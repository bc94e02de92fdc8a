"""The bad-input sweep of issue #9, replayed against the `jaxpose` command (and the API).

Every case is its own test: the exit code, the one-line message (naming the input), the good
inputs' outputs, and no leftovers (no hidden temporary files). Most run the command in process
(`jaxpose.cli.run.main`) on small generated files with a real pipeline on a tiny stand-in network
(`tiny_cli`: the real `build_pipeline`, `make_pose_fn`, readers and writers; only the weights are
a 1x1 convolution); signals and FFmpeg's own stderr need a child process (tests/cli_harness.py).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxpose
import jaxpose.hub
import jaxpose.options.build
from conftest import MEDIA_DIR, PROTOTXTS, need_shared
from jaxpose.cli import run
from jaxpose.errors import InputError
from jaxpose.model import Model
from jaxpose.specs import get_spec
from tiny_net import TinyNet

REPO = Path(__file__).resolve().parents[1]
HARNESS = Path(__file__).with_name("cli_harness.py")


# ------------------------------------------------------------------ helpers


@pytest.fixture(scope="module")
def tiny_model():
    net = TinyNet(57, input_scale=1 / 255.0)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))["params"]
    return Model(name="MOBILENET_THIN", spec=get_spec("MOBILENET_THIN"), net=net, params=params)


@pytest.fixture(scope="module")
def compiled_across_tests(tiny_model):
    """A pose_fn of the command's configuration kept alive for the module, so that the command's
    pose_fns (made anew in every test) share its compiled functions (at most 8, as the default)."""
    return jaxpose.make_pose_fn(tiny_model)


@pytest.fixture
def tiny_cli(monkeypatch, tiny_model, tmp_path, compiled_across_tests):
    """The real command with the default model's weights replaced by the tiny network."""
    monkeypatch.setattr(jaxpose, "load_model", lambda name, **kw: tiny_model)
    monkeypatch.setattr(jaxpose.hub, "load_model", lambda name, **kw: tiny_model)
    monkeypatch.setenv("JAXPOSE_CACHE", str(tmp_path / "cache"))
    return tiny_model


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run.main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("jaxpose: error:")]


def assert_one_error(err: str, *needles: str) -> str:
    """Exactly one error line, holding every needle; no traceback."""
    assert "Traceback" not in err, err
    lines = error_lines(err)
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def no_leftovers(*folders: Path) -> None:
    for folder in folders:
        if folder.exists():
            hidden = [p.name for p in folder.iterdir() if p.name.startswith(".")]
            assert not hidden, hidden


def no_converted_model(cache: Path) -> bool:
    """Nothing in the jaxpose cache but JAX's compilation cache (no converted weights kept)."""
    from jaxpose.compile_cache import FOLDER

    return not [p for p in cache.rglob("*") if p.is_file() and FOLDER not in p.parts]


def write_image(path: Path, width: int, height: int, value: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((height, width, 3), value, np.uint8)
    image[:, : width // 2] = 200
    assert cv2.imwrite(str(path), image)
    return path


def json_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def harness(*argv, delay: float = 0.0, **popen) -> subprocess.Popen:
    env = dict(os.environ, HARNESS_DELAY=str(delay))
    env.pop("OPENCV_FFMPEG_LOGLEVEL", None)  # as a user's shell: the library must quiet FFmpeg
    return subprocess.Popen([sys.executable, str(HARNESS), *map(str, argv)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def wait_for_files(folder: Path, count: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len([p for p in folder.glob("*.json")] if folder.exists() else []) >= count:
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended early: {process.communicate()}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError("no output in time")


# ------------------------------------------------------------------ cases that already passed


def test_corrupt_image_is_one_line_and_the_rest_is_processed(tiny_cli, tmp_path):
    write_image(tmp_path / "in" / "a.png", 64, 48)
    (tmp_path / "in" / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    write_image(tmp_path / "in" / "c.png", 64, 48)
    code, _, err = cli(tmp_path / "in", "--write_json", tmp_path / "j", "--net_resolution", "-1x64")
    assert code == 1
    assert_one_error(err, "b.jpg", "not a readable image")
    assert json_names(tmp_path / "j") == ["a_keypoints.json", "c_keypoints.json"]
    no_leftovers(tmp_path / "j")


def test_zero_byte_image_is_one_line_and_the_rest_is_processed(tiny_cli, tmp_path):
    write_image(tmp_path / "in" / "a.png", 64, 48)
    (tmp_path / "in" / "empty.png").write_bytes(b"")
    code, _, err = cli(tmp_path / "in", "--write_json", tmp_path / "j", "--net_resolution", "-1x64")
    assert code == 1
    assert_one_error(err, "empty.png")
    assert json_names(tmp_path / "j") == ["a_keypoints.json"]


def test_truncated_video_keeps_the_frames_before_the_cut(tiny_cli, tmp_path):
    video = need_shared(MEDIA_DIR / "video.avi")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 3])
    code, _, err = cli("--video", cut, "--write_json", tmp_path / "j", "--frame_step", "20",
                       "--net_resolution", "-1x64")
    assert code == 1
    assert_one_error(err, "cut.avi", "truncated")
    written = json_names(tmp_path / "j")
    assert written and written[0] == "cut_000000000000_keypoints.json"
    no_leftovers(tmp_path / "j")


def test_video_flag_on_an_undecodable_file_is_one_line_and_exit_1(tiny_cli, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_bytes(b"not an image at all, just text\n" * 4)
    code, _, err = cli("--video", fake, "--write_json", tmp_path / "j", "--net_resolution", "-1x64")
    assert code == 1
    assert_one_error(err, "notes.png")
    assert json_names(tmp_path / "j") == []


def test_missing_camera_is_one_line(tiny_cli, tmp_path):
    code, _, err = cli("--camera", "9", "--write_json", tmp_path / "j")
    assert code == 1
    assert_one_error(err, "camera 9")


def test_closed_ip_camera_port_is_one_line(tiny_cli, tmp_path):
    code, _, err = cli("--ip_camera", "http://127.0.0.1:9/stream.mjpg", "--write_json", tmp_path / "j")
    assert code == 1
    assert_one_error(err, "http://127.0.0.1:9/stream.mjpg", "cannot open the IP camera")


def test_unknown_flag_is_a_usage_error(tmp_path):
    code, _, err = cli(tmp_path, "--write_jsn", tmp_path / "j")
    assert code == 2
    assert_one_error(err, "unknown flag --write_jsn", "--write_json")


def _models_folder(tmp_path: Path, caffemodel_bytes: bytes) -> Path:
    from jaxpose.convert.caffe import MODEL_FILES

    folder = tmp_path / "models"
    prototxt, caffemodel = (folder / rel for rel in MODEL_FILES["BODY_25"])
    prototxt.parent.mkdir(parents=True)
    prototxt.write_bytes(need_shared(PROTOTXTS["BODY_25"]).read_bytes())
    caffemodel.write_bytes(caffemodel_bytes)
    return folder


def test_truncated_caffemodel_is_one_line(tmp_path, monkeypatch):
    from caffe_writer import write_caffemodel

    monkeypatch.setenv("JAXPOSE_CACHE", str(tmp_path / "cache"))
    small = write_caffemodel(tmp_path / "w.caffemodel", {"conv1_1": [np.ones((64, 3, 3, 3), np.float32),
                                                                     np.zeros(64, np.float32)]})
    folder = _models_folder(tmp_path, small.read_bytes()[:-100])
    write_image(tmp_path / "in" / "a.png", 64, 48)
    code, _, err = cli(tmp_path / "in", "--model_pose", "BODY_25", "--model_folder", folder,
                       "--write_json", tmp_path / "j")
    assert code == 1
    assert_one_error(err, "pose_iter_584000.caffemodel", "truncated or corrupt")
    assert not (tmp_path / "j").exists() and no_converted_model(tmp_path / "cache")


def test_mismatched_caffemodel_names_the_file_and_the_differences(tmp_path, monkeypatch):
    from caffe_writer import write_caffemodel

    monkeypatch.setenv("JAXPOSE_CACHE", str(tmp_path / "cache"))
    wrong = write_caffemodel(tmp_path / "w.caffemodel", {"conv1_1": [np.ones((32, 3, 3, 3), np.float32),
                                                                     np.zeros(32, np.float32)]})
    folder = _models_folder(tmp_path, wrong.read_bytes())
    write_image(tmp_path / "in" / "a.png", 64, 48)
    code, _, err = cli(tmp_path / "in", "--model_pose", "BODY_25", "--model_folder", folder)
    assert code == 1 and "Traceback" not in err
    first = error_lines(err)
    assert len(first) == 1 and "pose_iter_584000.caffemodel" in first[0]
    assert "conv1_1/kernel: weights have shape (3, 3, 3, 32), the network expects (3, 3, 3, 64)" in err


def test_ctrl_c_then_skip_existing_resumes_without_leftovers(tmp_path):
    for i in range(12):
        write_image(tmp_path / "in" / f"img_{i:02d}.png", 40, 30, value=10 * i)
    argv = ["--image_dir", tmp_path / "in", "--write_json", tmp_path / "j", "--write_images", tmp_path / "r"]
    process = harness(*argv, delay=0.4)
    wait_for_files(tmp_path / "j", 3, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted after" in err and "--skip_existing" in err and "Traceback" not in err
    done = json_names(tmp_path / "j")
    assert 3 <= len(done) < 12
    for path in (tmp_path / "j").iterdir():
        json.loads(path.read_text())  # complete files only
    no_leftovers(tmp_path / "j", tmp_path / "r")
    process = harness(*argv, "--skip_existing")
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert json_names(tmp_path / "j") == [f"img_{i:02d}_keypoints.json" for i in range(12)]
    assert len(json_names(tmp_path / "r")) == 12
    no_leftovers(tmp_path / "j", tmp_path / "r")


# ------------------------------------------------------------------ 1. very wide images


@pytest.mark.parametrize("width, height", [(5000, 5), (1400, 2), (5000, 10)], ids=["5000x5", "1400x2", "5000x10"])
def test_very_wide_image_is_processed(tiny_cli, tmp_path, width, height):
    write_image(tmp_path / "in" / "wide.png", width, height)
    code, _, err = cli(tmp_path / "in", "--write_json", tmp_path / "j")
    assert code == 0, err
    assert "Traceback" not in err and not error_lines(err)
    doc = json.loads((tmp_path / "j" / "wide_keypoints.json").read_text())
    assert doc["version"] == 1.3 and isinstance(doc["people"], list)


def test_folder_with_wide_images_goes_on_to_the_next_input(tiny_cli, tmp_path):
    write_image(tmp_path / "in" / "a.png", 64, 48)
    write_image(tmp_path / "in" / "b.png", 5000, 5)
    write_image(tmp_path / "in" / "c.png", 16384, 2)  # less than half a net row: refused
    write_image(tmp_path / "in" / "d.png", 64, 48)
    code, _, err = cli(tmp_path / "in", "--write_json", tmp_path / "j")
    assert code == 1
    assert_one_error(err, "c", "16384x2 pixels", "too extreme")
    assert json_names(tmp_path / "j") == ["a_keypoints.json", "b_keypoints.json", "d_keypoints.json"]
    assert "4 frames" in err or "3 frames" in err  # the summary is printed


# ------------------------------------------------------------------ 2. bad weights


@pytest.fixture(scope="module")
def body25_blobs():
    from caffe_writer import random_blobs

    return random_blobs(need_shared(PROTOTXTS["BODY_25"]), seed=4)


def _caffe_bytes(tmp_path: Path, blobs: dict) -> bytes:
    from caffe_writer import write_caffemodel

    path = write_caffemodel(tmp_path / "tmp.caffemodel", blobs)
    data = path.read_bytes()
    path.unlink()
    return data


@pytest.mark.slow
@pytest.mark.parametrize("layer, blob", [("conv1_1", 0), ("Mconv7_stage1_L1", 1)], ids=["nan-conv1_1", "nan-last-bias"])
def test_caffemodel_with_nan_weights_is_refused_and_not_cached(tmp_path, monkeypatch, body25_blobs, layer, blob):
    monkeypatch.setenv("JAXPOSE_CACHE", str(tmp_path / "cache"))
    blobs = dict(body25_blobs)
    arrays = [a.copy() for a in blobs[layer]]
    arrays[blob].reshape(-1)[0] = np.nan
    blobs[layer] = arrays
    folder = _models_folder(tmp_path, _caffe_bytes(tmp_path, blobs))
    write_image(tmp_path / "in" / "a.png", 64, 48)
    code, _, err = cli(tmp_path / "in", "--model_pose", "BODY_25", "--model_folder", folder,
                       "--write_json", tmp_path / "j")
    assert code == 1
    assert_one_error(err, "pose_iter_584000.caffemodel", f"layer '{layer}'", "NaN")
    assert not (tmp_path / "j").exists()
    assert not list((tmp_path / "cache").rglob("*.jaxpose")) if (tmp_path / "cache").exists() else True


@pytest.mark.slow
def test_bit_flipped_caffemodel_is_refused(tmp_path, monkeypatch, body25_blobs):
    monkeypatch.setenv("JAXPOSE_CACHE", str(tmp_path / "cache"))
    data = bytearray(_caffe_bytes(tmp_path, body25_blobs))
    # the first float of conv1_1's weights: its exponent's top bit (bit 30 = bit 6 of byte 3)
    first = np.asarray(body25_blobs["conv1_1"][0]).reshape(-1)[:4].astype("<f4").tobytes()
    offset = bytes(data).index(first)
    data[offset + 3] ^= 0x40
    folder = _models_folder(tmp_path, bytes(data))
    write_image(tmp_path / "in" / "a.png", 64, 48)
    code, _, err = cli(tmp_path / "in", "--model_pose", "BODY_25", "--model_folder", folder)
    assert code == 1
    assert_one_error(err, "pose_iter_584000.caffemodel", "layer 'conv1_1'", "magnitude")


# ------------------------------------------------------------------ 3. bounded compiled functions


@pytest.mark.slow
def test_compiled_functions_stay_bounded_over_many_image_sizes(tiny_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("JAXPOSE_MAX_COMPILED", "2")
    sizes = [(160, 120), (300, 120), (120, 300), (160, 120)]
    for i, (w, h) in enumerate(sizes):
        write_image(tmp_path / "in" / f"img_{i}.png", w, h)
    pipelines = []
    build = jaxpose.options.build.build_pipeline
    monkeypatch.setattr(jaxpose.options.build, "build_pipeline", lambda options: pipelines.append(build(options)) or pipelines[-1])
    code, _, err = cli(tmp_path / "in", "--write_json", tmp_path / "j", "--net_resolution", "-1x64")
    assert code == 0, err
    fn = pipelines[0].pose_fn
    assert fn.max_compiled == 2 and len(fn._compiled_fns) <= 2
    # every size compiled (some twice: the peak buffer grows), the first one again after eviction
    assert fn._compiled_fns.misses >= 4
    assert len(json_names(tmp_path / "j")) == 4


def test_max_compiled_flag_reaches_the_pipeline(tiny_cli, tmp_path, monkeypatch):
    pipelines = []
    build = jaxpose.options.build.build_pipeline
    monkeypatch.setattr(jaxpose.options.build, "build_pipeline", lambda options: pipelines.append(build(options)) or pipelines[-1])
    write_image(tmp_path / "in" / "a.png", 64, 48)
    code, _, err = cli(tmp_path / "in", "--max_compiled", "3", "--quiet")
    assert code == 0, err
    assert pipelines[0].pose_fn.max_compiled == 3


# ------------------------------------------------------------------ 4. decompression bombs


def test_decompression_bomb_is_refused_without_decoding(tiny_cli, tmp_path):
    from test_image_limits import jpeg_claiming

    write_image(tmp_path / "in" / "a.png", 64, 48)
    jpeg_claiming(tmp_path / "in" / "bomb.jpg", 30000, 30000)
    start = time.perf_counter()
    code, _, err = cli(tmp_path / "in", "--write_json", tmp_path / "j", "--net_resolution", "-1x64")
    assert time.perf_counter() - start < 120
    assert code == 1
    assert_one_error(err, "bomb.jpg", "without decoding")
    assert json_names(tmp_path / "j") == ["a_keypoints.json"]


# ------------------------------------------------------------------ 5. SIGTERM (engine)


def test_sigterm_finishes_files_and_the_video_and_exits_143(tmp_path):
    for i in range(12):
        write_image(tmp_path / "in" / f"img_{i:02d}.png", 40, 30, value=10 * i)
    process = harness(tmp_path / "in", "--write_json", tmp_path / "j", "--write_video", tmp_path / "out.avi",
                      delay=0.4)
    wait_for_files(tmp_path / "j", 3, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "Traceback" not in err
    written = len(json_names(tmp_path / "j"))
    capture = cv2.VideoCapture(str(tmp_path / "out.avi"))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "j", "out.avi"]  # no hidden .avi


# ------------------------------------------------------------------ 6. output destinations (engine)


def test_write_json_that_is_a_file_is_refused_before_the_first_frame(tiny_cli, tmp_path):
    write_image(tmp_path / "in" / "a.png", 64, 48)
    write_image(tmp_path / "in" / "b.png", 64, 48)
    (tmp_path / "taken").write_text("a file")
    code, _, err = cli(tmp_path / "in", "--write_json", tmp_path / "taken")
    assert code == 2
    assert_one_error(err, str(tmp_path / "taken"))
    assert (tmp_path / "taken").read_text() == "a file"


def test_write_json_below_a_file_is_refused_before_the_first_frame(tiny_cli, tmp_path):
    write_image(tmp_path / "in" / "a.png", 64, 48)
    (tmp_path / "blocker").write_text("a file")
    code, _, err = cli(tmp_path / "in", "--write_json", tmp_path / "blocker" / "j")
    assert code == 2
    assert_one_error(err, str(tmp_path / "blocker"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_write_json_folder_is_refused_before_the_first_frame(tiny_cli, tmp_path):
    write_image(tmp_path / "in" / "a.png", 64, 48)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        code, _, err = cli(tmp_path / "in", "--write_json", tmp_path / "ro")
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert code == 2
    assert_one_error(err, str(tmp_path / "ro"))


# ------------------------------------------------------------------ 7. same-stem collisions (engine)


def test_same_stem_inputs_are_refused_or_kept_apart(tiny_cli, tmp_path):
    for name in ("photo.jpg", "photo.png", "photo.JPG"):
        write_image(tmp_path / "in" / name, 64, 48)
    code, _, err = cli(tmp_path / "in", "--write_json", tmp_path / "j", "--net_resolution", "-1x64")
    if code == 2:  # refused up front
        assert_one_error(err, "photo")
        assert not (tmp_path / "j").exists()
    else:  # or disambiguated: three distinct outputs, no silent overwrite
        assert code == 0, err
        assert len(json_names(tmp_path / "j")) == 3


# ------------------------------------------------------------------ 8. exit codes of bad flag values


@pytest.mark.parametrize("argv, needle", [
    (["--scale_number", "9"], "--scale_number"),
    (["--scale_number", "2", "--scale_gap", "0"], "--scale_gap"),
    (["--render_threshold", "nan"], "--render_threshold"),
    (["--net_resolution_dynamic", "nan"], "--net_resolution_dynamic"),
    (["--alpha_pose", "inf"], "--alpha_pose"),
    (["--hand_scale_range", "2.5"], "--hand_scale_range"),
], ids=["scale_number-9", "scale_gap-0", "render_threshold-nan", "net_resolution_dynamic-nan",
        "alpha_pose-inf", "hand_scale_range-2.5"])
def test_bad_flag_value_exits_2(tmp_path, argv, needle):
    write_image(tmp_path / "in" / "a.png", 64, 48)
    code, _, err = cli(tmp_path / "in", *argv, "--write_json", tmp_path / "j")
    assert code == 2
    assert_one_error(err, needle)
    assert not (tmp_path / "j").exists()


def test_video_with_image_dir_is_refused_as_conflicting_inputs(tmp_path):
    write_image(tmp_path / "in" / "a.png", 64, 48)
    code, _, err = cli("--video", tmp_path / "v.avi", "--image_dir", tmp_path / "in")
    assert code == 2
    assert_one_error(err, "conflicting inputs --image_dir and --video")


# ------------------------------------------------------------------ 9. the smaller ones


def test_interrupt_message_counts_the_frames_written(tmp_path):
    """Ctrl-C while a frame's rendered PNG is being written (its JSON file already is)."""
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    for i in range(12):
        cv2.imwrite(str(tmp_path / "in" / f"img_{i:02d}.png"), rng.integers(0, 256, (720, 1280, 3), np.uint8))
    process = harness(tmp_path / "in", "--write_json", tmp_path / "j", "--write_images", tmp_path / "r",
                      delay=0.01)
    wait_for_files(tmp_path / "j", 4, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert f"interrupted after {len(json_names(tmp_path / 'j'))} frames" in err


def _damaged_h264(tmp_path: Path) -> Path:
    data = bytearray(need_shared(MEDIA_DIR / "video.avi").read_bytes()[:400_000])
    rng = np.random.default_rng(1)
    for position in rng.integers(20_000, len(data), 120):
        data[position] ^= 0xFF
    path = tmp_path / "damaged.avi"
    path.write_bytes(bytes(data))
    return path


def test_ffmpeg_decoder_warnings_stay_off_stderr(tmp_path):
    """A damaged h264 video read after --write_video has started FFmpeg (first input: images)."""
    write_image(tmp_path / "in" / "a.png", 1280, 720)
    video = _damaged_h264(tmp_path)
    process = harness(tmp_path / "in", video, "--write_video", tmp_path / "out.avi", "--frame_last", "30",
                      "--write_json", tmp_path / "j")
    out, err = process.communicate(timeout=600)
    assert "[h264" not in err and "error while decoding" not in err, err[:2000]
    assert "[h264" not in out and "OPENCV:FFMPEG" not in out
    assert len(json_names(tmp_path / "j")) > 20  # the video's frames were processed


def test_mixed_frame_sizes_with_write_video_give_one_message(tiny_cli, tmp_path):
    # one aspect ratio and one padded size: one compile, three video frame sizes
    for i, (w, h) in enumerate([(64, 48), (96, 72), (64, 48), (128, 96)]):
        write_image(tmp_path / "in" / f"img_{i}.png", w, h)
    code, _, err = cli(tmp_path / "in", "--write_video", tmp_path / "out.avi", "--write_json", tmp_path / "j",
                       "--net_resolution", "-1x64")
    assert "Traceback" not in err
    assert len(error_lines(err)) <= 1 and len([line for line in err.splitlines() if "of another size" in line]) == 1
    assert len(json_names(tmp_path / "j")) == 4


def test_channels_first_array_says_so(tiny_model):
    fn = jaxpose.make_pose_fn(tiny_model, net_resolution=(-1, 64))
    with pytest.raises(InputError, match=r"channels-first .*np\.moveaxis\(image, 0, -1\)"):
        fn(tiny_model.params, np.zeros((3, 48, 64), np.uint8))


@pytest.mark.parametrize("params", [None, {}], ids=["None", "empty"])
def test_missing_params_give_an_input_error(tiny_model, params):
    fn = jaxpose.make_pose_fn(tiny_model, net_resolution=(-1, 64))
    with pytest.raises(InputError, match="params is (None|empty); pass the weights of MOBILENET_THIN"):
        fn(params, np.zeros((48, 64, 3), np.uint8))
