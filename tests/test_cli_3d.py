"""`--3d` through the command, end to end, on a stereo pair made from a real photo.

Two views are cut from one photo, d pixels apart: view 0 = columns [d, W), view 1 = columns
[0, W - d). For two pinhole cameras with the same K, camera 1 at x = -B (t = (B, 0, 0)), every
point of view 0 appears d pixels further right in view 1 exactly when it lies at depth
Z = f·B / d: a flat scene at a known depth. The people the 2D network finds in both views must
come out at that depth (up to the network's few-pixel disagreement between the two crops).
"""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest

from jaxpose.cameras import Camera, CameraGroup
from jaxpose.cli import flags, run
from jaxpose.options.check import check_options
from jaxpose.stream.multiview import OUTPUTS_3D
from conftest import MEDIA_DIR, need_shared

F, B, D = 500.0, 0.2, 32  # focal length (px), baseline (m), shift (px): depth f·B/d = 3.125 m


def _cli(*argv) -> tuple[int, str]:
    err = io.StringIO()
    return run.main([str(a) for a in argv], stdout=io.StringIO(), stderr=err), err.getvalue()


def _rig(width: int, height: int) -> CameraGroup:
    K = np.array([[F, 0, width / 2], [0, F, height / 2], [0, 0, 1.0]])
    return CameraGroup((
        Camera("cam0", K, np.zeros(5), np.eye(3), np.zeros(3), (width, height), "m"),
        Camera("cam1", K, np.zeros(5), np.eye(3), np.array([B, 0.0, 0.0]), (width, height), "m"),
    ))


@pytest.fixture(scope="module")
def stereo(tmp_path_factory):
    """A folder with the two views of one instant (OpenPose's N consecutive images) and the
    cameras' XML files."""
    photo = cv2.imread(str(need_shared(MEDIA_DIR / "COCO_val2014_000000000192.jpg")))
    root = tmp_path_factory.mktemp("stereo")
    views = root / "views"
    views.mkdir()
    cv2.imwrite(str(views / "pair_0.png"), photo[:, D:])
    cv2.imwrite(str(views / "pair_1.png"), photo[:, :-D])
    height, width = photo.shape[0], photo.shape[1] - D
    _rig(width, height).to_openpose_xml(root / "cameras")
    return root


@pytest.mark.slow
def test_people_seen_by_both_views_come_out_at_the_scene_depth(stereo, tmp_path):
    code, err = _cli(stereo / "views", "--3d", "--camera_parameter_path", stereo / "cameras",
                     "--net_resolution", "-1x256", "--write_json", tmp_path / "json",
                     "--write_keypoint_3d", tmp_path / "csv", "--write_trc", tmp_path / "trc",
                     "--write_images", tmp_path / "img", "--write_images_3d", tmp_path / "img3d",
                     "--tracking", "0", "--quiet")
    assert code == 0, err
    people = json.loads((tmp_path / "json" / "pair_0_keypoints.json").read_text())["people"]
    people_1 = json.loads((tmp_path / "json" / "pair_0_keypoints_1.json").read_text())["people"]
    reconstructed = [p for p in people if any(p["pose_keypoints_3d"][3::4])]
    assert len(reconstructed) >= 2  # several people found in both views: not vacuous
    for person in reconstructed:
        xyzc = np.array(person["pose_keypoints_3d"]).reshape(-1, 4)
        assert xyzc.shape == (18, 4) and person["person_id"][0] >= 0
        z = xyzc[xyzc[:, 3] > 0, 2]
        np.testing.assert_allclose(np.median(z), F * B / D, rtol=0.08)
    # view 1's file pairs its own 2D people with the same 3D people
    ids_0 = sorted(p["person_id"][0] for p in reconstructed)
    ids_1 = sorted(p["person_id"][0] for p in people_1 if any(p["pose_keypoints_3d"][3::4]))
    assert ids_0 == ids_1
    csv_text = (tmp_path / "csv" / "pair_0_keypoints_3d.csv").read_text()
    assert csv_text.splitlines()[0].startswith("frame,person,person_id,set,part_index,part_name,x,y,z")
    assert "RShoulder" in csv_text
    assert list((tmp_path / "trc").glob("views*.trc"))
    assert (tmp_path / "img" / "pair_0_rendered.png").is_file()
    assert (tmp_path / "img" / "pair_0_rendered_1.png").is_file()
    assert (tmp_path / "img3d" / "pair_0_3d.png").is_file()


def test_3d_inputs_and_cameras_that_do_not_fit_are_clear_usage_errors(stereo, tmp_path):
    code, err = _cli(stereo / "views", "--3d")
    assert code == 2 and "--camera_parameter_path" in err
    code, err = _cli(stereo / "views", "--3d", "--camera_parameter_path", tmp_path / "none")
    assert code == 2 and "--camera_parameter_path" in err and "Traceback" not in err
    code, err = _cli(stereo / "views", "--3d", "--camera_parameter_path", stereo / "cameras",
                     "--3d_views", "3")
    assert code == 2 and "--3d_views 3" in err and "2 camera files" in err
    code, err = _cli(stereo / "views", "--3d", "--camera_parameter_path", stereo / "cameras",
                     "--3d_min_views", "1")
    assert code == 2 and "--3d_min_views 1" in err
    one = tmp_path / "one"
    one.mkdir()
    (one / "cam0.xml").write_bytes((stereo / "cameras" / "cam0.xml").read_bytes())
    code, err = _cli(stereo / "views", "--3d", "--camera_parameter_path", one)
    assert code == 2 and "at least 2 calibrated cameras" in err
    code, err = _cli(stereo / "views", "--3d_views", "2")
    assert code == 2 and "--3d_views needs --3d" in err
    same = tmp_path / "same"
    same.mkdir()
    for name in ("a", "b"):  # two files of one camera: no baseline
        (same / f"{name}.xml").write_bytes((stereo / "cameras" / "cam0.xml").read_bytes())
    code, err = _cli(stereo / "views", "--3d", "--camera_parameter_path", same)
    assert code == 2 and f"--camera_parameter_path {same}: all cameras share one centre" in err
    assert err.count("jaxpose: error:") == 1


def test_3d_outputs_need_3d_and_count_as_outputs(stereo, tmp_path):
    """A 3D file asked for without --3d would never be written: refused. With --3d, the 3D files are
    outputs (no "nothing saved" note), and PoseTrack's 2D format is refused like COCO's."""
    for flag in OUTPUTS_3D:
        code, err = _cli(stereo / "views", f"--{flag}", tmp_path / "out", "--quiet")
        assert code == 2 and f"--{flag} writes 3D keypoints: it needs --3d" in err, (flag, err)
        assert not (tmp_path / "out").exists()
        cameras = ["--3d", "--camera_parameter_path", str(stereo / "cameras")]
        options = flags.parse([str(stereo / "views"), *cameras, f"--{flag}", str(tmp_path / "out")])
        assert not any("no --write_*" in note for note in check_options(options)), flag
    options = flags.parse([str(stereo / "views"), *cameras])
    assert any("no --write_*" in note for note in check_options(options))
    code, err = _cli(stereo / "views", *cameras, "--tracking", "0", "--write_posetrack", tmp_path / "pt")
    assert code == 2 and "--write_posetrack is not written with --3d" in err
    assert not (tmp_path / "pt").exists()


def test_batch_jobs_refuse_3d_instead_of_ignoring_it(stereo, tmp_path):
    from jaxpose.cli import batch

    manifest = tmp_path / "manifest.txt"
    manifest.write_text(f"{stereo / 'views'}\n")
    for extra in (["--3d", "--camera_parameter_path", str(stereo / "cameras")], ["--write_trc", "trc"]):
        err = io.StringIO()
        code = batch.main([str(manifest), "--out", str(tmp_path / "out"), *extra],
                          stdout=io.StringIO(), stderr=err)
        assert code == 2 and "a batch job runs the 2D pipeline" in err.getvalue(), err.getvalue()
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_views_of_another_size_than_calibrated_fail_with_the_camera_named(stereo, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    for name in ("pair_0.png", "pair_1.png"):
        image = cv2.imread(str(stereo / "views" / name))
        cv2.imwrite(str(small / name), image[: image.shape[0] // 2, : image.shape[1] // 2])
    code, err = _cli(small, "--3d", "--camera_parameter_path", stereo / "cameras",
                     "--net_resolution", "-1x128", "--write_json", tmp_path / "json")
    assert code == 1 and "camera cam0" in err and "calibrated at" in err
    assert err.count("jaxpose: error:") == 1


def test_a_video_that_does_not_fit_the_cameras_fails_once_before_any_work(stereo, tmp_path):
    """Views of another size than calibrated, or a width that does not split into the cameras'
    views: one line naming the input (not one per frame), exit 1, nothing written."""
    pair = [cv2.imread(str(stereo / "views" / f"pair_{v}.png")) for v in range(2)]
    half = np.concatenate([cv2.resize(p, (p.shape[1] // 2, p.shape[0] // 2)) for p in pair], axis=1)
    video = tmp_path / "rig.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (half.shape[1], half.shape[0]))
    for _ in range(4):
        writer.write(half)
    writer.release()
    code, err = _cli(video, "--3d", "--camera_parameter_path", stereo / "cameras",
                     "--write_json", tmp_path / "json")
    width, height = half.shape[1] // 2, half.shape[0]
    assert code == 1 and err.count("jaxpose: error:") == 1, err
    assert f"{video}: view of camera cam0 is {width}x{height} but the camera was calibrated at" in err
    assert "0 frames" in err and not list((tmp_path / "json").glob("*"))
    rig = _rig(width, height)
    third = rig[1].replace(name="cam2", t=np.array([2 * B, 0.0, 0.0]))
    CameraGroup((*rig.cameras, third)).to_openpose_xml(tmp_path / "three")
    three = tmp_path / "three"
    assert half.shape[1] % 3  # 608 px
    code, err = _cli(video, "--3d", "--camera_parameter_path", three, "--write_json", tmp_path / "json")
    assert code == 1 and err.count("jaxpose: error:") == 1 and "cannot be split into 3 equal views" in err



@pytest.mark.slow
def test_one_video_per_camera_gives_the_scene_depth(stereo, tmp_path):
    """Beyond OpenPose: `--video a.avi,b.avi` (one synchronised video per camera, cameras' order)."""
    videos = []
    for v in range(2):
        view = cv2.imread(str(stereo / "views" / f"pair_{v}.png"))
        videos.append(tmp_path / f"cam{v}.avi")
        writer = cv2.VideoWriter(str(videos[-1]), cv2.VideoWriter_fourcc(*"MJPG"), 10,
                                 (view.shape[1], view.shape[0]))
        for _ in range(2):
            writer.write(view)
        writer.release()
    code, err = _cli("--video", ",".join(map(str, videos)), "--3d", "--camera_parameter_path",
                     stereo / "cameras", "--net_resolution", "-1x256", "--write_json", tmp_path / "json",
                     "--quiet")
    assert code == 0, err
    for frame in ("cam0_000000000000", "cam0_000000000001"):
        assert (tmp_path / "json" / f"{frame}_keypoints_1.json").is_file()
        people = json.loads((tmp_path / "json" / f"{frame}_keypoints.json").read_text())["people"]
        depths = [np.median(np.array(p["pose_keypoints_3d"]).reshape(-1, 4)[:, 2][
                  np.array(p["pose_keypoints_3d"]).reshape(-1, 4)[:, 3] > 0])
                  for p in people if any(p["pose_keypoints_3d"][3::4])]
        assert len(depths) >= 2
        np.testing.assert_allclose(depths, F * B / D, rtol=0.08)


def test_first_instant_check_reads_past_unreadable_frames_and_fails_only_ended_inputs():
    from jaxpose.errors import InputError
    from jaxpose.io import readers
    from jaxpose.stream.multiview import PEEK_INSTANTS, check_first_instant

    class Source:
        def __init__(self, items):
            self.items = items

        def frames(self, skip=None):
            yield from self.items

    group = _rig(64, 48)
    good = readers.Views("f3", 3, (np.zeros((48, 64, 3), np.uint8),) * 2)
    small = readers.Views("f0", 0, (np.zeros((24, 32, 3), np.uint8),) * 2)
    bad = [readers.FrameError(f"f{i}", i, f"f{i}: corrupt") for i in range(3)]
    check_first_instant(Source(bad + [good]), group, "in")  # unreadable first frames: the run reports them
    check_first_instant(Source(bad * PEEK_INSTANTS), group, "in")  # still going after the peek: not judged
    check_first_instant(Source([]), group, "in")
    with pytest.raises(InputError, match="^f2: corrupt$"):
        check_first_instant(Source(bad), group, "in")  # ended before any readable instant
    with pytest.raises(InputError, match="^in: view of camera cam0 is 32x24 but the camera was calibrated at 64x48"):
        check_first_instant(Source([small, good]), group, "in")
