"""3D outputs: *_keypoints_3d in the people JSON (features §3.2 / §5.3), .trc marker files read
back by an independent parser written from the documented layout, the 3D CSV, Poses3D, and the
matplotlib 3D rendering (PNG, mp4)."""

from __future__ import annotations

import csv
import io
import json

import cv2
import numpy as np
import pytest

from jaxpose.errors import InputError
from jaxpose.io.writers.keypoints3d_csv import keypoints3d_csv, write_keypoints3d_csv
from jaxpose.io.writers.people_json import people_json
from jaxpose.io.writers.people_json_3d import people_json_3d, write_people_json_3d
from jaxpose.io.writers.trc import TrcWriter, trc_text, write_trc
from jaxpose.poses import Poses
from jaxpose.poses3d import Poses3D
from jaxpose.specs import COCO

PERSON_KEYS = ["person_id", "pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d",
               "hand_right_keypoints_2d", "pose_keypoints_3d", "face_keypoints_3d",
               "hand_left_keypoints_3d", "hand_right_keypoints_3d"]


def _poses2d(people: int, parts: int = 18, seed: int = 0) -> Poses:
    rng = np.random.default_rng(seed)
    kp = np.c_[rng.uniform(0, 600, (people * parts, 2)), rng.uniform(0.1, 1, people * parts)]
    return Poses(kp.reshape(people, parts, 3).astype(np.float32), np.ones(people, np.float32),
                 "COCO", (640, 480), (368, 368), 1.0)


def _poses3d(people: int, detections, ids=None, seed: int = 1, **sets) -> Poses3D:
    rng = np.random.default_rng(seed)
    kp = np.c_[rng.normal(0, 1, (people * 18, 3)), np.ones(people * 18)].reshape(people, 18, 4)
    kp[:, 14:] = 0  # eyes and ears not reconstructed
    return Poses3D(kp.astype(np.float32), "COCO", "m", detections=np.asarray(detections),
                   ids=ids, **sets)


# ---- people JSON ----

def test_json_3d_layout_is_openposes():
    """One person, 2 parts: the 3D list is x, y, z, c per part (c = 1 or 0), %g of float32."""
    poses = Poses(np.array([[[10.5, 20.25, 0.5], [0, 0, 0]]], np.float32), np.ones(1, np.float32),
                  "COCO", (640, 480), (368, 368), 1.0)
    points = np.array([[[0.5, -1.25, 3.0, 1.0], [0.0, 0.0, 0.0, 0.0]]], np.float32)
    text = people_json(poses, keypoints_3d={"pose_keypoints_3d": points})
    assert text == ('{"version":1.3,"people":[{"person_id":[-1],"pose_keypoints_2d":[10.5,20.25,0.5,0,0,0],'
                    '"face_keypoints_2d":[],"hand_left_keypoints_2d":[],"hand_right_keypoints_2d":[],'
                    '"pose_keypoints_3d":[0.5,-1.25,3,1,0,0,0,0],"face_keypoints_3d":[],'
                    '"hand_left_keypoints_3d":[],"hand_right_keypoints_3d":[]}]}')


def test_json_without_3d_is_unchanged():
    poses = _poses2d(3)
    assert people_json(poses, keypoints_3d=None) == people_json(poses)
    assert people_json(poses, keypoints_3d={}) == people_json(poses)
    assert '"pose_keypoints_3d":[]' in people_json(poses)


def test_json_pairs_each_views_people_with_their_3d_people(tmp_path):
    poses = _poses2d(3)  # view 1's detections 0, 1, 2
    # 3D person 0 was detection 2 of view 1, person 1 detection 0, person 2 was not seen in view 1
    face = np.ones((3, 70, 4), np.float32)
    poses3d = _poses3d(3, [[0, 2], [1, 0], [2, -1]], ids=[4, 5, 6], face=face)
    data = json.loads(people_json_3d(poses, poses3d, view=1))
    people = data["people"]
    assert len(people) == 4 and all(list(p) == PERSON_KEYS for p in people)
    assert [p["person_id"] for p in people] == [[5], [-1], [4], [6]]
    np.testing.assert_allclose(people[0]["pose_keypoints_3d"], poses3d.keypoints[1].ravel(), rtol=1e-5)
    assert people[1]["pose_keypoints_3d"] == [0] * 72  # detected in 2D, not reconstructed
    np.testing.assert_allclose(people[2]["pose_keypoints_3d"], poses3d.keypoints[0].ravel(), rtol=1e-5)
    assert people[3]["pose_keypoints_2d"] == [] and len(people[3]["pose_keypoints_3d"]) == 72
    assert len(people[0]["face_keypoints_3d"]) == 280 and people[0]["hand_left_keypoints_3d"] == []
    np.testing.assert_allclose(people[0]["pose_keypoints_2d"], poses.keypoints[0].ravel(), rtol=1e-5)
    path = write_people_json_3d(tmp_path, "frame_000000000007", poses, poses3d, view=1)
    assert path.name == "frame_000000000007_keypoints_1.json"
    assert json.loads(path.read_text()) == data
    with pytest.raises(InputError, match="detection 2 of view 1, which has 2 people"):
        people_json_3d(_poses2d(2), poses3d, view=1)


# ---- .trc ----

def parse_trc(text: str) -> dict:
    """A tiny TRC reader written from the documented layout (OpenSim / Pose2Sim)."""
    lines = text.split("\n")
    first = lines[0].split("\t")
    assert first[:3] == ["PathFileType", "4", "(X/Y/Z)"]
    header = dict(zip(lines[1].split("\t"), lines[2].split("\t")))
    names_row = lines[3].split("\t")
    assert names_row[:2] == ["Frame#", "Time"]
    markers = int(header["NumMarkers"])
    names = [names_row[2 + 3 * i] for i in range(markers)]
    axes = lines[4].split("\t")
    assert axes[2:2 + 3 * markers] == [f"{a}{i + 1}" for i in range(markers) for a in "XYZ"]
    frames, times, values = [], [], []
    for line in lines[5:]:
        if not line.strip():
            continue
        cells = line.split("\t")
        frames.append(int(cells[0]))
        times.append(float(cells[1]))
        values.append([float(c) if c else np.nan for c in cells[2:2 + 3 * markers]])
    return {"file": first[3], "header": header, "names": names, "frames": frames, "times": times,
            "points": np.array(values).reshape(len(frames), markers, 3)}


def test_trc_read_back(tmp_path):
    frame0 = _poses3d(2, [[0, 0], [1, 1]], ids=[3, 5], seed=2)
    frame1 = _poses3d(1, [[0, 0]], ids=[5], seed=3)  # person 3 left the scene
    paths = write_trc(tmp_path / "walk.trc", [frame0, frame1], 30.0, first_frame=10)
    assert [p.name for p in paths] == ["walk_id3.trc", "walk_id5.trc"]
    five = parse_trc(paths[1].read_text())
    assert five["file"] == "walk_id5.trc"
    assert five["header"] == {"DataRate": "30", "CameraRate": "30", "NumFrames": "2",
                              "NumMarkers": "18", "Units": "m", "OrigDataRate": "30",
                              "OrigDataStartFrame": "10", "OrigNumFrames": "2"}
    assert five["names"] == list(COCO.part_names)
    assert five["frames"] == [10, 11] and five["times"] == pytest.approx([10 / 30, 11 / 30])
    written = five["points"].astype(np.float32)  # the text is float32's shortest round trip
    np.testing.assert_array_equal(written[0, :14], frame0.keypoints[1, :14, :3])
    np.testing.assert_array_equal(written[1, :14], frame1.keypoints[0, :14, :3])
    assert np.isnan(five["points"][:, 14:]).all()  # not reconstructed -> empty fields
    three = parse_trc(paths[0].read_text())
    assert np.isnan(three["points"][1]).all()  # absent in frame 1


def test_trc_up_axis_and_single_file(tmp_path):
    points = np.array([[[1.0, 2.0, 3.0]]])
    z_up = parse_trc(trc_text(points, ["a"], 25, up="z"))["points"][0, 0]
    assert z_up.tolist() == [2.0, 3.0, 1.0]  # Pose2Sim's zup2yup: X<-Y, Y<-Z, Z<-X
    y_down = parse_trc(trc_text(points, ["a"], 25, up="-y"))["points"][0, 0]
    assert y_down.tolist() == [1.0, -2.0, -3.0]
    writer = TrcWriter(tmp_path / "one.trc", 50)
    assert not (tmp_path / "one.trc").exists()
    writer.add(_poses3d(1, [[0]], seed=4))
    assert [p.name for p in writer.close()] == ["one.trc"]  # untracked single person: no suffix
    with pytest.raises(InputError, match="end in .trc"):
        write_trc(tmp_path / "x.csv", [_poses3d(1, [[0]])], 30)
    with pytest.raises(InputError, match="up='x'"):
        trc_text(points, ["a"], 25, up="x")
    with pytest.raises(InputError, match="rate"):
        trc_text(points, ["a"], 0)


# ---- CSV ----

def test_csv_3d(tmp_path):
    poses3d = _poses3d(2, [[0], [1]], ids=[9, -1])
    poses3d = poses3d.replace(reprojection_error=np.full((2, 18), 1.5, np.float32))
    rows = list(csv.DictReader(io.StringIO(keypoints3d_csv(poses3d, "f7"))))
    assert len(rows) == 2 * 18
    first = rows[0]
    assert first["frame"] == "f7" and first["person_id"] == "9" and first["part_name"] == "Nose"
    assert np.float32(first["x"]) == poses3d.keypoints[0, 0, 0] and first["units"] == "m"
    assert float(first["reprojection_error"]) == 1.5
    eye = rows[14]
    assert eye["part_name"] == "REye" and eye["x"] == eye["y"] == eye["z"] == "" and eye["score"] == "0.0"
    path = write_keypoints3d_csv(tmp_path, "f7", poses3d)
    assert path.name == "f7_keypoints_3d.csv" and path.read_text() == keypoints3d_csv(poses3d, "f7")


# ---- Poses3D ----

def test_poses3d_fields_and_units():
    poses3d = _poses3d(2, [[0], [1]])
    keypoints, scores = poses3d
    assert scores.shape == (2,) and scores[0] == pytest.approx(14 / 18)
    assert np.isnan(poses3d.reprojection_error).all() and poses3d.ids.tolist() == [-1, -1]
    mm = poses3d.in_units("mm")
    np.testing.assert_allclose(mm.keypoints[..., :3], keypoints[..., :3] * 1000, rtol=1e-6)
    np.testing.assert_array_equal(mm.keypoints[..., 3], keypoints[..., 3])
    assert mm.units == "mm"
    with pytest.raises(InputError, match=r"\(people, parts, 4\)"):
        Poses3D(np.zeros((1, 18, 3)), "COCO")
    with pytest.raises(InputError, match="one integer per person"):
        poses3d.with_ids([1, 2, 3])


# ---- rendering ----

def test_render3d_draws_limbs_in_the_specs_colours(tmp_path):
    from jaxpose.render.plot3d import Video3DWriter, render3d, write_3d_image

    rng = np.random.default_rng(5)
    kp = np.zeros((1, 18, 4), np.float32)
    kp[0, :14, :3] = rng.normal(0, 0.3, (14, 3)) + [0, 0, 1]
    kp[0, :14, 3] = 1
    poses3d = Poses3D(kp, "COCO", "m")
    image = render3d(poses3d, size=(320, 240))
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    colours = np.asarray(COCO.part_colors)
    drawn = [b for a, b in COCO.render_pairs if kp[0, a, 3] > 0 and kp[0, b, 3] > 0]
    near = [np.any(np.abs(image.astype(int) - colours[b]).max(-1) <= 8) for b in drawn]
    assert np.mean(near) > 0.8  # (a limb may hide behind another)
    empty = render3d(Poses3D(np.zeros((0, 18, 4), np.float32), "COCO", "m"), size=(320, 240))
    assert not np.any([np.any(np.abs(empty.astype(int) - c).max(-1) <= 8) for c in colours[[1, 2]]])
    path = write_3d_image(tmp_path, "f0", poses3d, size=(320, 240))
    assert path.name == "f0_3d.png" and cv2.imread(str(path)).shape == (240, 320, 3)
    import jax.numpy as jnp
    import warnings

    jnp.zeros(1).block_until_ready()  # JAX running: its fork hook is armed
    video = Video3DWriter(tmp_path / "skeleton.mp4", 10, size=(320, 240))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            video.add(poses3d)
        assert not (tmp_path / "skeleton.mp4").exists()
        out = video.close()
    assert not [w for w in caught if "fork" in str(w.message)]  # starting ffmpeg alarms no one
    import imageio.v2 as imageio

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"os\.fork", category=RuntimeWarning)
        frames = [f for f in imageio.get_reader(out)]
    assert len(frames) == 3 and frames[0].shape == (240, 320, 3)
