"""The `jaxpose` command: flags, bad inputs, resume, and end-to-end runs with the default model."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

import jaxpose.compat
import jaxpose.options.build
from conftest import MEDIA_DIR, need_shared
from jaxpose.cli import flags, run
from jaxpose.poses import Poses
from jaxpose.specs import get_spec

# ------------------------------------------------------------------ a fake pipeline for shell tests


def fake_poses(image: np.ndarray) -> Poses:
    """One planted person of the default model, placed from the image size and first pixel."""
    height, width = image.shape[:2]
    k = get_spec("MOBILENET_THIN").num_parts
    keypoints = np.zeros((1, k, 3), np.float32)
    keypoints[0, :, 0] = (np.arange(k) + 1) * width / (k + 2)
    keypoints[0, :, 1] = height / 4 + np.arange(k) * height / (2 * k) + float(image[0, 0, 0]) / 100
    keypoints[0, :, 2] = 0.5 + np.arange(k) / 100
    return Poses(
        keypoints=keypoints,
        scores=np.array([0.75], np.float32),
        model="MOBILENET_THIN",
        image_size=(width, height),
        net_input_size=(width, height),
        scale_net_to_output=1.0,
    )


class FakePoseFn:
    def __init__(self):
        self.images: list[np.ndarray] = []
        self.batches: list[int] = []

    def __call__(self, params, image):
        self.images.append(image)
        return fake_poses(image)

    def batch(self, params, frames):
        return self.collect(self.submit(params, frames))

    def submit(self, params, frames, pad_to=1):
        self.batches.append((len(frames), pad_to))
        self.images.extend(frames)
        return list(frames)

    def collect(self, frames):
        return [fake_poses(f) for f in frames]


@pytest.fixture
def fake(monkeypatch):
    pose_fn = FakePoseFn()
    pipeline = jaxpose.compat.Pipeline(pose_fn=pose_fn, params=None, model_pose="MOBILENET_THIN")
    monkeypatch.setattr(jaxpose.options.build, "build_pipeline", lambda options: pipeline)
    return pose_fn


def jaxpose_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run.main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def make_folder(folder: Path, count: int, size=(40, 30)) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(count):
        rgb = np.full((size[1], size[0], 3), 20 * i, np.uint8)
        cv2.imwrite(str(folder / f"img_{i:03d}.png"), rgb[:, :, ::-1])
        images.append(rgb)
    return images


# ------------------------------------------------------------------ flags and usage

NAMED_FLAGS = """image_dir video camera ip_camera frame_first frame_last frame_step frame_flip frame_rotate
model_pose model_folder net_resolution scale_number scale_gap number_people_max maximize_positives
keypoint_scale write_json write_images write_images_format write_video write_video_fps write_keypoint
write_keypoint_format write_coco_json write_heatmaps heatmaps_add_parts heatmaps_add_bkg heatmaps_add_PAFs
heatmaps_scale write_heatmaps_format render_pose render_threshold alpha_pose display hand face face_detector
hand_net_resolution face_net_resolution hand_scale_number hand_scale_range batch quiet skip_existing
semantics""".split()


def test_help_lists_every_flag():
    code, out, _ = jaxpose_cli("--help")
    assert code == 0
    for name in NAMED_FLAGS:
        assert f"--{name}\n" in out, name
    assert "default: -1x368" in out.replace('"', "") and "default: MOBILENET_THIN" in out.replace('"', "")


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--hand"], True),
        (["--hand=true"], True),
        (["--hand", "1"], True),
        (["--hand", "false"], False),
        (["-hand=0"], False),
        (["--hand", "--nohand"], False),
    ],
)
def test_gflags_boolean_spellings(argv, expected):
    assert flags.parse(argv).hand is expected


def test_gflags_value_spellings_and_positionals():
    o = flags.parse(["photo.jpg", "--net_resolution", "-1x128", "--camera=-1", "-scale_gap", "0.3", "--hand", "more"])
    assert o.net_resolution == "-1x128" and o.camera == -1 and o.scale_gap == 0.3
    assert o.hand is True and o.inputs == ["photo.jpg", "more"]
    assert {"net_resolution", "camera", "scale_gap", "hand"} == set(o.given)
    assert flags.parse_resolution("net_resolution", "-1x368") == (-1, 368)
    assert flags.parse_square("hand_net_resolution", "368x368") == 368


@pytest.mark.parametrize(
    "argv, message",
    [
        (["x", "--bogus"], "unknown flag --bogus"),
        (["x", "--net_resolutoin", "1x1"], "Did you mean --net_resolution"),
        (["x", "--scale_number", "two"], "--scale_number expects an integer"),
        (["x", "--hand=maybe"], "--hand expects true or false"),
        (["x", "--write_json"], "--write_json needs a value"),
        ([], "no input"),
        (["x", "--net_resolution", "368"], "WIDTHxHEIGHT"),
        (["x", "--net_resolution", "100x368"], "not a multiple of 16"),
        (["x", "--frame_rotate", "45"], "--frame_rotate"),
        (["x", "--write_heatmaps", "h"], "--heatmaps_add_parts"),
        (["x", "--model_pose", "BODY_99"], "--model_pose"),
        (["x", "--udp_host", "1.2.3.4"], "does not implement"),
        (["x", "--write_keypoint", "k", "--write_keypoint_format", "toml"], "write_keypoint_format"),
    ],
)
def test_usage_errors_exit_2_with_a_message(argv, message):
    code, _, err = jaxpose_cli(*argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_caffe_model_without_model_folder_is_a_usage_error():
    code, _, err = jaxpose_cli("x.jpg", "--model_pose", "BODY_25")
    assert code == 2 and "--model_folder" in err


def test_display_request_is_ignored_with_a_note(fake, tmp_path):
    make_folder(tmp_path / "in", 1)
    code, _, err = jaxpose_cli(tmp_path / "in", "--display", "2", "--write_json", tmp_path / "j")
    assert code == 0 and "--display 2 ignored" in err


# ------------------------------------------------------------------ bad inputs: reported, the rest goes on


def test_corrupt_image_in_folder(fake, tmp_path):
    make_folder(tmp_path / "in", 2)
    (tmp_path / "in" / "img_001b.jpg").write_bytes(b"\xff\xd8\xff garbage")
    code, _, err = jaxpose_cli("--image_dir", tmp_path / "in", "--write_json", tmp_path / "j")
    assert code == 1
    assert "img_001b.jpg" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "j").iterdir()) == [
        "img_000_keypoints.json",
        "img_001_keypoints.json",
    ]
    assert "2 frames" in err and "1 failed" in err


def test_truncated_video(fake, tmp_path):
    video = need_shared(MEDIA_DIR / "video.avi")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    code, _, err = jaxpose_cli("--video", cut, "--write_json", tmp_path / "j", "--frame_step", "10")
    assert code == 1 and "cut.avi" in err and "truncated" in err
    written = sorted(p.name for p in (tmp_path / "j").iterdir())
    assert written and written[0] == "cut_000000000000_keypoints.json"


def test_unreadable_path_and_the_other_input_still_runs(fake, tmp_path):
    make_folder(tmp_path / "in", 1)
    code, _, err = jaxpose_cli(tmp_path / "missing.mp4", tmp_path / "in", "--write_json", tmp_path / "j")
    assert code == 1 and "missing.mp4: no such file" in err
    assert (tmp_path / "j" / "img_000_keypoints.json").is_file()


def test_missing_camera(fake, tmp_path):
    code, _, err = jaxpose_cli("--camera", "9", "--write_json", tmp_path / "j")
    assert code == 1 and "camera 9" in err and "Traceback" not in err


def test_model_load_failure_is_one_line(monkeypatch, tmp_path):
    from jaxpose.errors import ModelFileError

    def broken(options):
        raise ModelFileError("weights.caffemodel: truncated file; download it again")

    monkeypatch.setattr(jaxpose.options.build, "build_pipeline", broken)
    make_folder(tmp_path / "in", 1)
    code, _, err = jaxpose_cli(tmp_path / "in", "--quiet")
    assert code == 1 and err.startswith("jaxpose: error: weights.caffemodel: truncated") and "Traceback" not in err


# ------------------------------------------------------------------ nothing lost: interrupt, resume


def _outputs(folder: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.exists() else {}


def test_interrupted_run_resumes_with_skip_existing(fake, tmp_path, monkeypatch):
    make_folder(tmp_path / "in", 5)
    argv = ["--image_dir", tmp_path / "in", "--write_json", tmp_path / "j", "--write_images", tmp_path / "r"]
    monkeypatch.setenv(run.STOP_AFTER_ENV, "2")
    code, _, err = jaxpose_cli(*argv)
    assert code == 130 and "--skip_existing" in err
    assert len(_outputs(tmp_path / "j")) == 2 and len(_outputs(tmp_path / "r")) == 2
    # every file left behind is complete
    for path in (tmp_path / "j").iterdir():
        json.loads(path.read_text())
    for path in (tmp_path / "r").iterdir():
        assert cv2.imread(str(path)) is not None
    # make the first frames' files look old, and lose one rendered image
    for path in list((tmp_path / "j").iterdir()) + list((tmp_path / "r").iterdir()):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    (tmp_path / "r" / "img_001_rendered.png").unlink()
    monkeypatch.delenv(run.STOP_AFTER_ENV)
    fake.images.clear()
    code, _, err = jaxpose_cli(*argv, "--skip_existing")
    assert code == 0 and "1 skipped" in err
    json_files, images = _outputs(tmp_path / "j"), _outputs(tmp_path / "r")
    assert sorted(json_files) == [f"img_{i:03d}_keypoints.json" for i in range(5)]
    assert sorted(images) == [f"img_{i:03d}_rendered.png" for i in range(5)]
    assert len(fake.images) == 4  # frame 0 complete: not even decoded; frame 1 redone for its image
    assert json_files["img_000_keypoints.json"] == 1_000_000_000
    assert json_files["img_001_keypoints.json"] == 1_000_000_000  # existed: not rewritten
    assert images["img_000_rendered.png"] == 1_000_000_000
    assert images["img_001_rendered.png"] != 1_000_000_000
    assert not [p for p in (tmp_path / "j").iterdir() if p.name.startswith(".")]


def test_interrupted_coco_and_video_files_are_complete(fake, tmp_path, monkeypatch):
    make_folder(tmp_path / "in", 4)
    monkeypatch.setenv(run.STOP_AFTER_ENV, "3")
    code, _, _ = jaxpose_cli(
        tmp_path / "in", "--write_coco_json", tmp_path / "c.json", "--write_video", tmp_path / "v.avi"
    )
    assert code == 130
    entries = json.loads((tmp_path / "c.json").read_text())
    assert sorted({e["image_id"] for e in entries}) == [0, 1, 2]
    capture = cv2.VideoCapture(str(tmp_path / "v.avi"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "in", "v.avi"]


def test_batch_pads_to_one_shape_and_matches_single_frames(fake, tmp_path):
    make_folder(tmp_path / "in", 4)
    assert jaxpose_cli(tmp_path / "in", "--write_json", tmp_path / "one")[0] == 0
    assert fake.batches == [(1, 1)] * 4
    fake.batches.clear()
    assert jaxpose_cli(tmp_path / "in", "--write_json", tmp_path / "three", "--batch", "3")[0] == 0
    assert fake.batches == [(3, 3), (1, 3)]  # the short last batch is padded to the same compile
    for path in (tmp_path / "one").iterdir():
        assert path.read_text() == (tmp_path / "three" / path.name).read_text()


def test_frame_rotate_reaches_the_pipeline(fake, tmp_path):
    images = make_folder(tmp_path / "in", 1, size=(40, 30))
    jaxpose_cli(tmp_path / "in", "--frame_rotate", "90", "--frame_flip", "--quiet")
    np.testing.assert_array_equal(fake.images[0], np.rot90(images[0][:, ::-1]))


# ------------------------------------------------------------------ end to end with the default model

PHOTOS = ("COCO_val2014_000000000192.jpg", "COCO_val2014_000000000294.jpg")
NET = "-1x160"


@pytest.fixture(scope="module")
def real_pose_fn():
    import jaxpose

    model = jaxpose.load_model("mobilenet_thin")
    return model, jaxpose.make_pose_fn(model, net_resolution=(-1, 160))


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    media = need_shared(MEDIA_DIR)
    root = tmp_path_factory.mktemp("photos")
    (root / "in").mkdir()
    for name in PHOTOS:
        shutil.copy(media / name, root / "in" / name)
    code, _, err = jaxpose_cli(
        "--image_dir", root / "in", "--net_resolution", NET,
        "--write_json", root / "json", "--write_keypoint", root / "xml", "--write_keypoint_format", "xml",
        "--write_coco_json", root / "coco.json", "--write_images", root / "rendered",
        "--render_pose", "1", "--write_heatmaps", root / "heat", "--heatmaps_add_parts",
    )
    assert code == 0, err
    return root


def _rgb(path: Path) -> np.ndarray:
    return cv2.imread(str(path))[:, :, ::-1].copy()


@pytest.mark.slow
def test_e2e_photos_json_matches_pose_fn(photo_run, real_pose_fn):
    model, pose_fn = real_pose_fn
    for name in PHOTOS:
        stem = Path(name).stem
        doc = json.loads((photo_run / "json" / f"{stem}_keypoints.json").read_text())
        assert list(doc) == ["version", "people"] and doc["version"] == 1.3
        poses = pose_fn(model.params, _rgb(photo_run / "in" / name))
        assert len(doc["people"]) == poses.num_people > 0
        for person, expected in zip(doc["people"], poses.keypoints):
            assert person["person_id"] == [-1] and person["face_keypoints_2d"] == []
            np.testing.assert_allclose(np.reshape(person["pose_keypoints_2d"], (-1, 3)), expected, rtol=1e-5, atol=1e-3)


@pytest.mark.slow
def test_e2e_photos_xml_and_coco_and_heatmaps(photo_run, real_pose_fn):
    model, pose_fn = real_pose_fn
    stem = Path(PHOTOS[0]).stem
    poses = pose_fn(model.params, _rgb(photo_run / "in" / PHOTOS[0]))
    storage = cv2.FileStorage(str(photo_run / "xml" / f"{stem}_pose.xml"), cv2.FILE_STORAGE_READ)
    matrix = storage.getNode("pose_0").mat()
    storage.release()
    np.testing.assert_allclose(matrix.reshape(poses.keypoints.shape), poses.keypoints, rtol=1e-5, atol=1e-3)
    entries = json.loads((photo_run / "coco.json").read_text())
    assert {e["image_id"] for e in entries} == {192, 294}
    assert all(e["category_id"] == 1 and len(e["keypoints"]) == 51 for e in entries)
    heat = cv2.imread(str(photo_run / "heat" / f"{stem}_pose_heatmaps.png"), cv2.IMREAD_UNCHANGED)
    h, w = poses.net_input_size[1], poses.net_input_size[0]
    assert heat.ndim == 2 and heat.shape[0] == h and heat.shape[1] == 18 * w


@pytest.mark.slow
def test_e2e_rendered_pixel_has_the_part_colour(photo_run, real_pose_fn):
    model, pose_fn = real_pose_fn
    spec = get_spec("MOBILENET_THIN")
    stem = Path(PHOTOS[0]).stem
    original = _rgb(photo_run / "in" / PHOTOS[0])
    rendered = _rgb(photo_run / "rendered" / f"{stem}_rendered.png")
    assert rendered.shape == original.shape
    poses = pose_fn(model.params, original)
    last = poses.keypoints[-1]
    part = max(k for k in range(spec.num_parts) if last[k, 2] > 0.05)  # drawn last: on top
    x, y = (int(round(float(v))) for v in last[part, :2])
    assert tuple(rendered[y, x]) == spec.part_colors[part]
    assert tuple(original[y, x]) != spec.part_colors[part]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["yml", "csv"])
def test_e2e_yml_and_csv_read_back(fmt, tmp_path, real_pose_fn):
    model, pose_fn = real_pose_fn
    media = need_shared(MEDIA_DIR)
    photo = media / PHOTOS[1]
    code, _, err = jaxpose_cli(photo, "--net_resolution", NET, "--write_keypoint", tmp_path, "--write_keypoint_format", fmt)
    assert code == 0, err
    poses = pose_fn(model.params, _rgb(photo))
    stem = photo.stem
    if fmt == "yml":
        storage = cv2.FileStorage(str(tmp_path / f"{stem}_pose.yml"), cv2.FILE_STORAGE_READ)
        got = storage.getNode("pose_0").mat().reshape(poses.keypoints.shape)
        storage.release()
    else:
        with open(tmp_path / f"{stem}_keypoints.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        got = np.zeros(poses.keypoints.shape, np.float32)
        for row in rows:
            assert row["frame"] == stem and row["set"] == "body"
            got[int(row["person"]), int(row["part_index"])] = [float(row[c]) for c in ("x", "y", "score")]
        assert len(rows) == poses.keypoints.shape[0] * poses.keypoints.shape[1]
    np.testing.assert_allclose(got, poses.keypoints, rtol=1e-5, atol=1e-3)


@pytest.mark.slow
def test_e2e_video_json_read_by_pose_format_and_video_written(tmp_path, real_pose_fn):
    from pose_format.utils.openpose import load_openpose_directory

    model, pose_fn = real_pose_fn
    video = need_shared(MEDIA_DIR / "video.avi")
    code, _, err = jaxpose_cli(
        "--video", video, "--frame_last", "3", "--net_resolution", NET, "--batch", "2",
        "--write_json", tmp_path / "json", "--write_video", tmp_path / "out.avi",
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "json").iterdir()) == [f"video_{i:012d}_keypoints.json" for i in range(4)]
    pose = load_openpose_directory(str(tmp_path / "json"), fps=50, width=1280, height=720)
    data = np.asarray(pose.body.data.filled(0))  # (frames, people, points, 2)
    confidence = np.asarray(pose.body.confidence)
    assert data.shape[0] == 4
    capture = cv2.VideoCapture(str(video))
    for index in range(4):
        ok, bgr = capture.read()
        assert ok
        poses = pose_fn(model.params, bgr[:, :, ::-1].copy())
        people = poses.num_people
        assert people > 0
        np.testing.assert_allclose(data[index, :people, :18], poses.keypoints[:, :, :2], rtol=1e-4, atol=1e-2)
        np.testing.assert_allclose(confidence[index, :people, :18], poses.keypoints[:, :, 2], rtol=1e-4, atol=1e-4)
        assert not confidence[index, people:].any()
    written = cv2.VideoCapture(str(tmp_path / "out.avi"))
    assert int(written.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    frames = 0
    while written.read()[0]:
        frames += 1
    assert frames == 4
    assert (written.get(cv2.CAP_PROP_FRAME_WIDTH), written.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (1280, 720)


# ------------------------------------------------------------------ options reach make_pose_fn; progress


def test_flags_map_onto_make_pose_fn_and_model_folder(monkeypatch, tmp_path):
    import jaxpose.convert.caffe
    import jaxpose.pipeline

    loaded, calls = [], []

    class FakeModel:
        def __init__(self, name):
            self.name, self.params = name, {name: 1}
            self.spec = types.SimpleNamespace(name=name)

    def load_model_folder(folder, name):
        loaded.append((folder, name))
        return FakeModel(name)

    monkeypatch.setattr(jaxpose.convert.caffe, "load_model_folder", load_model_folder)
    monkeypatch.setattr(jaxpose.pipeline, "make_pose_fn", lambda model, **kw: calls.append((model, kw)) or "fn")
    options = flags.parse(
        "--model_pose coco --model_folder M --hand --face --face_detector 1 --net_resolution 320x-1 "
        "--hand_net_resolution 256 --face_net_resolution 240x240 --hand_scale_number 6 --hand_scale_range 0.5 "
        "--scale_number 2 --scale_gap 0.3 --number_people_max 3 --maximize_positives "
        "--heatmaps_add_PAFs --net_resolution_dynamic 0".split()
    )
    # (--semantics cpu with 2 scales is a usage error on the command line; the mapping is checked)
    pipeline = jaxpose.compat.build_pipeline({**vars(options), "semantics": "cpu"})
    assert loaded == [("M", "COCO"), ("M", "HAND"), ("M", "FACE")]
    assert pipeline.params == {"body": {"COCO": 1}, "hand": {"HAND": 1}, "face": {"FACE": 1}}
    (model, still), (_, stream) = calls
    assert model.name == "COCO" and still["hand"].name == "HAND" and still["face"].name == "FACE"
    assert still["net_resolution"] == (320, -1) and still["net_resolution_dynamic"] == 0.0
    assert stream["net_resolution_dynamic"] == -1.0
    expected = dict(
        hand_net_resolution=256, face_net_resolution=240, hand_scale_number=6, hand_scale_range=0.5,
        scale_number=2, scale_gap=0.3, number_people_max=3, maximize_positives=True, semantics="cpu",
        return_heatmaps=True, face_detector="opencv",
    )
    assert {k: still[k] for k in expected} == expected


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--conv_impl", "fft", "--hand"], "--conv_impl 'fft': use one of xla, winograd, auto."),
        (["--conv_impl", "auto"], "--conv_impl auto acts on OpenPose's Caffe networks only"),
        (["--conv_impl", "auto", "--hand", "--precision", "bf16"], "--conv_impl auto computes in float32"),
    ],
)
def test_conv_impl_usage_errors_are_one_line(argv, message):
    code, _, err = jaxpose_cli("x.jpg", *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_conv_impl_off_cpu_is_a_note(monkeypatch):
    import jax

    from jaxpose.options.check import check_options

    options = flags.parse(["x.jpg", "--hand", "--conv_impl", "auto", "--write_json", "out"])
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert [n for n in check_options(options) if "conv_impl" in n] == [
        "--conv_impl auto: Winograd was measured faster on CPUs only; on gpu XLA's own convolutions "
        "(the default, xla) are usually faster."]
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert [n for n in check_options(options) if "conv_impl" in n] == []


def test_conv_impl_prepares_the_hand_and_face_nets_for_their_resolutions(monkeypatch, tmp_path):
    """--conv_impl auto reaches the hand and face models (kernels of the layers that run by Winograd
    at --hand_net_resolution / --face_net_resolution transformed once: at 192 the nine 3x3 layers
    with >= 256 channels, at 368 also the 25 7x7 ones) and leaves the MobileNet-thin body alone."""
    import jax

    import jaxpose.convert.caffe
    import jaxpose.pipeline
    from caffe_writer import write_random_caffemodel
    from conftest import PROTOTXTS
    from jaxpose.nets.openpose import openpose_net
    from jaxpose.nets.winograd import WINOGRAD_KERNEL
    from jaxpose.specs import get_spec as spec_of

    def load_model_folder(folder, name):  # random weights of the real architecture, no Caffe file needed
        net = openpose_net(name)
        shapes = jax.eval_shape(net.init, jax.random.key(0), jax.ShapeDtypeStruct((1, 64, 64, 3), np.float32))
        params = jax.tree.map(lambda a: np.zeros(a.shape, np.float32), shapes["params"])
        return jaxpose.Model(name=name, spec=spec_of(name), net=net, params=params)

    class Body:
        name, params, spec = "MOBILENET_THIN", {"b": 1}, types.SimpleNamespace(name="MOBILENET_THIN")
        net = types.SimpleNamespace()  # MobileNet-thin's module has no conv3x3_impl

    calls = []
    monkeypatch.setattr(jaxpose.convert.caffe, "load_model_folder", load_model_folder)
    monkeypatch.setattr(jaxpose.pipeline, "make_pose_fn", lambda model, **kw: calls.append((model, kw)) or "fn")
    options = flags.parse("--hand --face --conv_impl auto --hand_net_resolution 192 --model_folder M".split())
    pipeline = jaxpose.options.build.build_pipeline(vars(options), body=Body())
    (body, settings), _ = calls
    assert isinstance(body, Body) and pipeline.params["body"] == {"b": 1}
    assert settings["hand"].net.conv3x3_impl == settings["face"].net.conv3x3_impl == "auto"
    prepared = {role: {n for n, layer in pipeline.params[role].items() if WINOGRAD_KERNEL in layer}
                for role in ("hand", "face")}
    three = {n for n, layer in pipeline.params["hand"].items()
             if "kernel" in layer and layer["kernel"].shape[0] == 3 and min(layer["kernel"].shape[2:]) >= 256}
    assert prepared["hand"] == three and len(three) == 9
    assert len(prepared["face"]) == 9 + 25  # face at its default 368: the 7x7 layers too
    code, _, err = jaxpose_cli("x.jpg", "--conv_impl", "auto", "--model_pose", "COCO")
    # a Caffe body is a valid target: the command gets past the flag check to the missing weights
    assert code == 2 and "--model_pose COCO needs OpenPose's Caffe weights" in err and "conv_impl" not in err


def test_missing_model_folder_is_one_clear_line(tmp_path):
    make_folder(tmp_path / "in", 1)
    code, _, err = jaxpose_cli(tmp_path / "in", "--model_pose", "COCO", "--model_folder", tmp_path / "models")
    assert code == 1 and "models: no such models folder" in err and "Traceback" not in err


def test_hand_needs_a_model_folder():
    code, _, err = jaxpose_cli("x.jpg", "--hand")
    assert code == 2 and "--hand needs OpenPose's hand network" in err
    assert "MOBILENET_THIN" in err and "--model_folder" in err and "getModels.sh" in err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal_and_not_quiet(fake, tmp_path):
    from jaxpose.io.progress import Progress

    make_folder(tmp_path / "in", 3)
    terminal = _Terminal()
    code = run.main([str(tmp_path / "in"), "--write_json", str(tmp_path / "j")], stdout=io.StringIO(), stderr=terminal)
    assert code == 0
    text = terminal.getvalue()
    assert "3/3" in text and "frame/s" in text and "jaxpose: 3 frames, 3 people, 0 failed" in text
    assert not Progress(quiet=True, stream=_Terminal()).enabled
    assert not Progress(quiet=False, stream=io.StringIO()).enabled
    quiet = _Terminal()
    run.main([str(tmp_path / "in"), "--quiet"], stdout=io.StringIO(), stderr=quiet)
    assert quiet.getvalue() == ""


def test_write_video_mp4_and_fps(fake, tmp_path):
    make_folder(tmp_path / "in", 3)
    code, _, err = jaxpose_cli(tmp_path / "in", "--write_video", tmp_path / "v.mp4", "--write_video_fps", "12")
    assert code == 0, err
    capture = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3 and capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12)


def test_unwritable_output_is_reported_not_a_traceback(fake, tmp_path):
    make_folder(tmp_path / "in", 2)
    (tmp_path / "blocker").write_text("a file where a folder is needed")
    # checked before the first frame: exit 2, one line naming the flag and the path, no frame run
    code, _, err = jaxpose_cli(tmp_path / "in", "--write_coco_json", tmp_path / "blocker" / "c.json")
    assert code == 2 and f"--write_coco_json {tmp_path / 'blocker' / 'c.json'}" in err
    assert "blocker is not a folder" in err and "Traceback" not in err and not fake.images
    code, _, err = jaxpose_cli(tmp_path / "in", "--write_json", tmp_path / "blocker")
    assert code == 2 and "exists and is not a folder" in err and not fake.images


def test_keypoint_scale_applies_to_saved_keypoints_not_to_rendering(fake, tmp_path):
    images = make_folder(tmp_path / "in", 1, size=(40, 30))
    code, _, err = jaxpose_cli(
        tmp_path / "in", "--keypoint_scale", "3", "--write_json", tmp_path / "j",
        "--write_images", tmp_path / "r", "--render_pose", "1",
    )
    assert code == 0, err
    expected = fake_poses(images[0]).keypoints[0]
    saved = np.reshape(json.loads((tmp_path / "j" / "img_000_keypoints.json").read_text())["people"][0]["pose_keypoints_2d"], (-1, 3))
    np.testing.assert_allclose(saved[:, 0], expected[:, 0] / 39, rtol=1e-5)
    np.testing.assert_allclose(saved[:, 1], expected[:, 1] / 29, rtol=1e-5)
    rendered = _rgb(tmp_path / "r" / "img_000_rendered.png")
    x, y = (int(round(float(v))) for v in expected[17, :2])
    assert tuple(rendered[y, x]) == get_spec("MOBILENET_THIN").part_colors[17]


def test_output_layout_reaches_the_json_and_bad_names_are_usage_errors(fake, tmp_path):
    make_folder(tmp_path / "in", 1)
    assert jaxpose_cli(tmp_path / "in", "--write_json", tmp_path / "b25", "--output_layout", "body_25",
                       "--quiet")[0] == 0
    person = json.loads((tmp_path / "b25" / "img_000_keypoints.json").read_text())["people"][0]
    assert len(person["pose_keypoints_2d"]) == 25 * 3
    code, _, err = jaxpose_cli(tmp_path / "in", "--write_json", tmp_path / "x", "--output_layout", "MPII")
    assert code == 2 and "--output_layout" in err and "BODY_25" in err
    assert not (tmp_path / "x").exists()  # refused before anything was created


def test_the_summary_says_where_the_results_went(fake, tmp_path):
    make_folder(tmp_path / "in", 1)
    code, _, err = jaxpose_cli(tmp_path / "in", "--write_json", tmp_path / "j", "--write_video",
                               tmp_path / "v.avi")
    assert code == 0 and f"jaxpose: saved JSON in {tmp_path / 'j'}, rendered video in {tmp_path / 'v.avi'}" in err
    assert (tmp_path / "v.avi").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.slow
def test_model_pose_takes_a_model_file(tmp_path):
    """A fine-tuned model (`jaxpose train` writes run/model.jaxpose) runs in the command: the
    default model saved to a file gives the default model's JSON."""
    from jaxpose.hub import NAMED_MODELS, load_model
    from jaxpose.paths import cache_dir

    try:
        load_model("mobilenet_thin")
    except jaxpose.JaxposeError as exc:
        pytest.skip(f"default model unavailable: {exc}")
    photo = need_shared(MEDIA_DIR / "COCO_val2014_000000000192.jpg")
    model_file = cache_dir() / NAMED_MODELS["mobilenet_thin"].cache_name
    for name, model in (("named", "MOBILENET_THIN"), ("file", model_file)):
        assert jaxpose_cli(photo, "--model_pose", model, "--net_resolution", "-1x128", "--write_json",
                           tmp_path / name, "--quiet")[0] == 0
    stem = photo.stem
    assert (tmp_path / "file" / f"{stem}_keypoints.json").read_text() == \
        (tmp_path / "named" / f"{stem}_keypoints.json").read_text()
    code, _, err = jaxpose_cli(photo, "--model_pose", tmp_path / "absent.jaxpose")
    assert code == 2 and "nor a jaxpose model file" in err
