"""Tracking outputs (issue #11): person_id in the people JSON, the CSV person_id column, COCO
track_id, the PoseTrack 2018 file (checked against PoseTrack's own annotation file and poseval's
reading rules), and id colours/labels in the renderer."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from conftest import SHARED, need_shared
from jaxpose.errors import InputError
from jaxpose.io.writers import (
    PoseTrackWriter, coco_entries, coco_json_text, keypoints_csv, people_json,
)
from jaxpose.io.writers.posetrack import posetrack_annotations, posetrack_image_id
from jaxpose.poses import Poses
from jaxpose.render import render_pose
from jaxpose.render.ids import draw_id_labels, id_color
from jaxpose.specs import COCO, MPI

POSETRACK_SEQUENCE = SHARED / "eval/posetrack18/annotations/val/012834_mpii_test.json"


def _poses(people=2, ids=None, model="COCO", parts=18, seed=0):
    rng = np.random.default_rng(seed)
    keypoints = np.concatenate([rng.uniform(10, 500, (people, parts, 2)),
                                rng.uniform(0.1, 0.9, (people, parts, 1))], -1).astype(np.float32)
    keypoints[:, 3] = 0  # one absent part
    return Poses(keypoints, rng.uniform(0.2, 0.8, people).astype(np.float32), model, (640, 480),
                 (656, 368), 1.0, ids=None if ids is None else np.asarray(ids, np.int64))


# ------------------------------------------------------------------------- people JSON


def test_people_json_writes_the_tracker_ids_and_is_unchanged_when_untracked():
    untracked = _poses()
    explicit = people_json(untracked, person_ids=[-1, -1])
    assert people_json(untracked) == explicit                  # byte-identical to OpenPose's -1
    assert explicit.count('"person_id":[-1]') == 2
    tracked = untracked.replace(ids=np.array([4, 17]))
    text = people_json(tracked)
    assert [p["person_id"] for p in json.loads(text)["people"]] == [[4], [17]]
    assert text.replace('"person_id":[4]', '"person_id":[-1]').replace(
        '"person_id":[17]', '"person_id":[-1]') == explicit   # nothing else changed


# ---------------------------------------------------------------------------------- CSV


def test_csv_has_the_person_id_of_every_row():
    poses = _poses(ids=[9, 2])
    rows = list(csv.DictReader(io.StringIO(keypoints_csv(poses, "f_000000000001"))))
    assert len(rows) == 2 * 18
    for row in rows:
        assert int(row["person_id"]) == [9, 2][int(row["person"])]
    untracked = list(csv.DictReader(io.StringIO(keypoints_csv(_poses(), "f"))))
    assert {row["person_id"] for row in untracked} == {"-1"}


# ----------------------------------------------------------------------------------- COCO


def test_coco_track_id_only_when_tracked():
    untracked = coco_entries(_poses(), 1)
    assert all("track_id" not in e for e in untracked)
    text = coco_json_text(untracked)
    assert "track_id" not in text
    tracked = coco_entries(_poses(ids=[5, -1]), 1)
    assert [e.get("track_id") for e in tracked] == [5, None]
    parsed = json.loads(coco_json_text(tracked))
    assert parsed[0]["track_id"] == 5 and list(parsed[0])[-1] == "track_id"
    assert "track_id" not in parsed[1]
    # the layout stays OpenPose's: one key per line, tab-indented
    assert '\t\t"score":' in coco_json_text(tracked) and '\t\t"track_id":5\n\t}' in coco_json_text(tracked)


# ------------------------------------------------------------------------------ PoseTrack


def _gt_sequence():
    return json.loads(need_shared(POSETRACK_SEQUENCE).read_text())


def _poses_from_posetrack(gt, model_spec, names):
    """Ground-truth PoseTrack people as Poses of `model_spec`, by `names` (PoseTrack -> part)."""
    anns = gt["annotations"]
    keypoints = np.zeros((len(anns), model_spec.num_parts, 3), np.float32)
    order = gt["categories"][0]["keypoints"]
    for n, ann in enumerate(anns):
        raw = np.asarray(ann["keypoints"], np.float64).reshape(17, 3)
        for name, part in names.items():
            x, y, v = raw[order.index(name)]
            if v > 0:
                keypoints[n, model_spec.part_index(part)] = (x, y, 0.5 + 0.01 * n)
    ids = np.array([ann["track_id"] for ann in anns], np.int64)
    return Poses(keypoints, np.full(len(anns), 0.7, np.float32), model_spec.name, (1920, 1080),
                 (656, 368), 1.0, ids=ids)


BODY = {"left_shoulder": "LShoulder", "right_shoulder": "RShoulder", "left_elbow": "LElbow",
        "right_elbow": "RElbow", "left_wrist": "LWrist", "right_wrist": "RWrist",
        "left_hip": "LHip", "right_hip": "RHip", "left_knee": "LKnee", "right_knee": "RKnee",
        "left_ankle": "LAnkle", "right_ankle": "RAnkle"}


def _poseval_read(document):
    """What poseval's PoseTrack 2018 reader (`Video.from_new`) checks and extracts: one person
    category with its 15 evaluated joints among the keypoint names; per image, the people with
    their track ids (unique per frame, 0..999) and joints by name."""
    evaluated = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
                 "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
                 "left_wrist", "head_bottom", "nose", "head_top")
    (category,) = document["categories"]
    assert category["name"] == "person" and len(category["keypoints"]) in (15, 17)
    assert set(evaluated) <= set(category["keypoints"])
    frames = {}
    for image in document["images"]:
        people = [a for a in document["annotations"] if a["image_id"] == image["id"]]
        ids = [a["track_id"] for a in people]
        assert len(set(ids)) == len(ids) and all(0 <= i <= 999 for i in ids)
        frames[image["file_name"]] = {
            a["track_id"]: {name: (x, y, v, s) for name, (x, y, v), s in zip(
                category["keypoints"], np.reshape(a["keypoints"], (-1, 3)).tolist(), a["scores"])
                if name in evaluated}
            for a in people}
    return frames


def test_posetrack_file_matches_posetrack_annotations(tmp_path):
    gt = _gt_sequence()
    names = dict(BODY, nose="Nose", head_bottom="Neck")
    poses = _poses_from_posetrack(gt, COCO, names)
    path = tmp_path / "012834_mpii_test.json"
    with PoseTrackWriter(path) as writer:
        writer.add("000000", poses)
    document = json.loads(path.read_text())
    assert document["categories"] == gt["categories"]          # PoseTrack's own category block
    (image,) = document["images"]
    (gt_image,) = gt["images"]
    for key in ("file_name", "id", "frame_id", "vid_id"):
        assert image[key] == gt_image[key], key
    assert image["nframes"] == 1
    frames = _poseval_read(document)
    people = frames[gt_image["file_name"]]
    order = gt["categories"][0]["keypoints"]
    assert sorted(people) == sorted(a["track_id"] for a in gt["annotations"])
    for ann in gt["annotations"]:
        raw = np.asarray(ann["keypoints"], np.float64).reshape(17, 3)
        written = people[ann["track_id"]]
        for name in names:
            x, y, v = raw[order.index(name)]
            if v > 0:
                np.testing.assert_allclose(written[name][:2], (x, y), rtol=1e-6)
                assert written[name][2] == 1 and written[name][3] > 0
            else:
                assert written[name] == (0, 0, 0, 0.0)
        assert written["head_top"] == (0, 0, 0, 0.0)               # COCO-18 has no head top
    for ann in document["annotations"]:
        assert ann["id"] == ann["image_id"] * 100 + poses.ids.tolist().index(ann["track_id"])
        assert len(ann["keypoints"]) == 51 and len(ann["scores"]) == 17
        x, y, w, h = ann["bbox"]
        assert w >= 0 and h >= 0


def test_posetrack_mpi_head_is_head_top():
    gt = _gt_sequence()
    poses = _poses_from_posetrack(gt, MPI, dict(BODY, head_top="Head", head_bottom="Neck"))
    (first,) = [a for a in gt["annotations"] if a["track_id"] == 0]
    written = _poseval_read({"images": [{"id": 1, "file_name": "x"}],
                             "annotations": posetrack_annotations(poses, 1),
                             "categories": gt["categories"]})["x"][0]
    order = gt["categories"][0]["keypoints"]
    x, y, v = np.reshape(first["keypoints"], (17, 3))[order.index("head_top")]
    assert v > 0
    np.testing.assert_allclose(written["head_top"][:2], (x, y), rtol=1e-6)
    assert written["nose"] == (0, 0, 0, 0.0)                         # MPI has no nose


def test_posetrack_writer_adds_every_frame_and_rejects_untracked_people(tmp_path):
    path = tmp_path / "clip.json"
    writer = PoseTrackWriter(path, flush_every=1)
    assert json.loads(path.read_text()) == {"images": [], "annotations": [],
                                            "categories": json.loads(path.read_text())["categories"]}
    writer.add("clip_000000000000", _poses(ids=[0, 1]))
    writer.add("clip_000000000001", _poses(people=0, ids=[]))
    writer.add("clip_000000000002", _poses(ids=[1, 2], seed=3))
    document = json.loads(path.read_text())
    assert [i["file_name"] for i in document["images"]] == [
        "images/val/clip/000000.jpg", "images/val/clip/000001.jpg", "images/val/clip/000002.jpg"]
    assert [i["id"] for i in document["images"]] == [0, 1, 2]      # no numeric video id
    assert {i["nframes"] for i in document["images"]} == {3}
    assert [a["track_id"] for a in document["annotations"]] == [0, 1, 1, 2]
    with pytest.raises(InputError, match="tracking"):
        writer.add("clip_000000000003", _poses())
    with pytest.raises(InputError, match="0..999"):
        writer.add("clip_000000000003", _poses(ids=[3, 1000]))
    with pytest.raises(InputError, match="frame number"):
        writer.add("holiday", _poses(ids=[0, 1]))
    assert posetrack_image_id("012834_mpii_test", 7) == 10128340007


# -------------------------------------------------------------------------------- render


def _one_person(x0, pid, model="COCO"):
    body = np.zeros((1, 18, 3), np.float32)
    body[0, 1] = (x0, 80, 0.9)         # Neck
    body[0, 2] = (x0 - 60, 80, 0.9)    # RShoulder
    body[0, 8] = (x0 - 30, 300, 0.9)   # RHip
    return Poses(body, np.ones(1, np.float32), model, (600, 400), (656, 368), 1.0,
                 ids=np.array([pid]))


def test_id_colours_follow_the_stated_rule():
    assert id_color(0) == (255, 38, 38)   # hue 0, s 0.85, v 1
    import colorsys
    r, g, b = colorsys.hsv_to_rgb((5 * 0.6180339887498949) % 1.0, 0.85, 1.0)
    assert id_color(5) == (round(r * 255), round(g * 255), round(b * 255))
    assert len({id_color(i) for i in range(20)}) == 20
    with pytest.raises(InputError):
        id_color(-1)


def test_render_colours_each_id_consistently_and_leaves_the_default_alone():
    image = np.full((400, 600, 3), 100, np.uint8)
    a0, a1 = _one_person(200, 3), _one_person(450, 3)
    default = render_pose(image, a0, alpha_pose=1.0)
    assert np.array_equal(default[80, 200], (255, 0, 0))            # the COCO table's Neck red
    assert np.array_equal(render_pose(image, a0, alpha_pose=1.0, color_by_id=False), default)
    colour = id_color(3)
    first = render_pose(image, a0, alpha_pose=1.0, color_by_id=True)
    second = render_pose(image, a1, alpha_pose=1.0, color_by_id=True)
    assert tuple(first[80, 200]) == colour and tuple(second[80, 450]) == colour  # same id, same colour
    assert tuple(first[80, 170]) == colour                           # the limb too
    other = render_pose(image, _one_person(200, 4), alpha_pose=1.0, color_by_id=True)
    assert tuple(other[80, 200]) == id_color(4) != colour
    untracked = render_pose(image, _one_person(200, -1), alpha_pose=1.0, color_by_id=True)
    assert np.array_equal(untracked, default)


def test_draw_ids_writes_the_label_in_the_id_colour_above_the_box():
    image = np.zeros((400, 600, 3), np.uint8)
    poses = _one_person(200, 12)
    out = draw_id_labels(image, poses, draw_boxes=False)
    x, y, w, h = poses.boxes[0]
    label = out[: int(y), int(x): int(x) + 80]
    assert (np.abs(label.astype(int) - id_color(12)).sum(-1) < 60).sum() > 5    # text pixels
    assert not out[int(y) + 5:].any()                                         # nothing else
    boxed = draw_id_labels(image, poses)
    assert tuple(boxed[int(y + h / 2), int(x)]) == id_color(12)                # left box edge
    rendered = render_pose(image, poses, color_by_id=True, draw_ids=True)
    assert (np.abs(rendered[: int(y)].astype(int) - id_color(12)).sum(-1) < 60).sum() > 5
    assert not draw_id_labels(image, _one_person(200, -1)).any()               # untracked: none


def test_plot_colours_by_id_and_labels_the_person():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxpose.render.plot import plot

    fig, ax = plt.subplots()
    plot(None, _one_person(200, 5), ax, color_by_id=True)
    colour = np.array(id_color(5)) / 255.0
    assert ax.lines and all(np.allclose(matplotlib.colors.to_rgb(line.get_color()), colour)
                            for line in ax.lines)
    assert [t.get_text() for t in ax.texts] == ["5"]
    plt.close(fig)
    fig, ax = plt.subplots()
    plot(None, _one_person(200, 5), ax)   # default: the table's colours, no label
    assert not ax.texts and not np.allclose(matplotlib.colors.to_rgb(ax.lines[0].get_color()), colour)
    plt.close(fig)
