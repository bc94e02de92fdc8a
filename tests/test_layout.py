"""Output layouts (`to_layout`, `--output_layout`): other tools label every joint correctly.

References: pose-format's `load_openpose_directory` (its own BODY_25 part list), the COCO
annotation file's keypoint names and skeleton (../shared/eval/coco), pycocotools' COCOeval, and
hand-computed cases. Input people are built so that each part's coordinates encode its name.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SHARED, need_shared
from jaxpose.cli import flags
from jaxpose.errors import InputError
from jaxpose.io.layout import LAYOUTS, check_layout, to_layout
from jaxpose.io.writers.keypoint_file import keypoints_csv, write_keypoint_files
from jaxpose.io.writers.people_json import people_json, write_people_json
from jaxpose.poses import Poses
from jaxpose.specs import get_spec

COCO_GT = SHARED / "eval/coco/test_coco.json"
# COCO-18 (OpenPose COCO / MobileNet-thin) part order, written out here from OpenPose's docs
# (openpose-core.md §2) rather than read from our tables, so the test is independent of them.
COCO18 = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
          "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar"]


def _named_person(names, people=2, offset=0.0):
    """(people, len(names), 3): part k of person p at x = 100 p + k + 1 + offset, y = 10 k + 5."""
    keypoints = np.zeros((people, len(names), 3), np.float32)
    for p in range(people):
        for k in range(len(names)):
            keypoints[p, k] = (100 * p + k + 1 + offset, 10 * k + 5, 0.5 + 0.01 * k)
    return keypoints


def _coco18_poses(keypoints, model="MOBILENET_THIN"):
    return Poses(keypoints, np.linspace(0.9, 0.5, keypoints.shape[0]).astype(np.float32), model,
                 (640, 480), (432, 368), 1.5)


def _coco_name(snake: str) -> str:
    """COCO's 'left_shoulder' -> OpenPose's 'LShoulder' (naming rule, not a table)."""
    side, _, part = snake.partition("_")
    if not part:
        return snake.capitalize()
    return {"left": "L", "right": "R"}[side] + part.capitalize()


# ------------------------------------------------------------------------------------ the tables

def test_coco17_layout_is_the_coco_files_order_and_skeleton():
    category = json.loads(need_shared(COCO_GT).read_text())["categories"][0]
    spec = get_spec("COCO_17")
    assert list(spec.part_names) == [_coco_name(n) for n in category["keypoints"]]
    assert sorted(map(tuple, spec.render_pairs)) == sorted((a - 1, b - 1) for a, b in category["skeleton"])


def test_halpe26_and_body25_layouts_extend_the_right_orders():
    halpe = get_spec("HALPE_26").part_names
    assert halpe[:17] == get_spec("COCO_17").part_names
    # Pose2Sim's HALPE_26 ids: Head 17, Neck 18, Hip 19, LBigToe 20, RBigToe 21, LSmallToe 22,
    # RSmallToe 23, LHeel 24, RHeel 25.
    assert halpe[17:] == ("Head", "Neck", "MidHip", "LBigToe", "RBigToe", "LSmallToe",
                          "RSmallToe", "LHeel", "RHeel")
    from pose_format.utils.openpose import BODY_POINTS

    assert list(get_spec("BODY_25").part_names) == BODY_POINTS


def test_check_layout_names_and_errors():
    assert check_layout("body_25") == "BODY_25"
    assert check_layout(" Native ") == "native"
    assert set(LAYOUTS) == {"native", "BODY_25", "COCO_17", "HALPE_26"}
    with pytest.raises(InputError, match="BODY_25, COCO_17"):
        check_layout("COCO_18")
    assert flags.parse(["x", "--output_layout", "COCO_17"]).output_layout == "COCO_17"
    assert flags.parse(["x"]).output_layout == "native"


# ------------------------------------------------------------------------------ hand-computed

def test_coco18_to_body25_copies_by_name_derives_midhip_and_zeroes_the_feet():
    keypoints = _named_person(COCO18)
    keypoints[1, COCO18.index("LHip")] = 0  # person 1 has no left hip -> no MidHip
    out = to_layout(_coco18_poses(keypoints), "BODY_25")
    names = get_spec("BODY_25").part_names
    assert out.model == "BODY_25" and out.keypoints.shape == (2, 25, 3)
    for k, name in enumerate(names):
        if name in COCO18:
            np.testing.assert_array_equal(out.keypoints[:, k], keypoints[:, COCO18.index(name)])
    r, l = keypoints[0, COCO18.index("RHip")], keypoints[0, COCO18.index("LHip")]
    midhip = out.keypoints[:, names.index("MidHip")]
    np.testing.assert_allclose(midhip[0], [(r[0] + l[0]) / 2, (r[1] + l[1]) / 2, min(r[2], l[2])])
    np.testing.assert_array_equal(midhip[1], [0, 0, 0])
    feet = [names.index(n) for n in ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")]
    assert not out.keypoints[:, feet].any()
    np.testing.assert_array_equal(out.scores, _coco18_poses(keypoints).scores)


def test_to_coco17_and_halpe26_and_native():
    keypoints = _named_person(COCO18, people=1)
    poses = _coco18_poses(keypoints)
    coco17 = to_layout(poses, "COCO_17")
    assert coco17.keypoints.shape == (1, 17, 3)
    for k, name in enumerate(get_spec("COCO_17").part_names):
        np.testing.assert_array_equal(coco17.keypoints[0, k], keypoints[0, COCO18.index(name)])
    halpe = to_layout(poses, "HALPE_26")
    names = get_spec("HALPE_26").part_names
    np.testing.assert_array_equal(halpe.keypoints[0, names.index("Neck")], keypoints[0, 1])
    np.testing.assert_array_equal(halpe.keypoints[0, names.index("Head")], [0, 0, 0])
    assert halpe.keypoints[0, names.index("MidHip"), 2] > 0
    assert to_layout(poses, "native") is poses


def test_body25_model_to_coco17_and_empty_frames():
    names = list(get_spec("BODY_25").part_names)
    keypoints = _named_person(names)
    out = to_layout(_coco18_poses(keypoints, model="BODY_25"), "COCO_17")
    for k, name in enumerate(get_spec("COCO_17").part_names):
        np.testing.assert_array_equal(out.keypoints[:, k], keypoints[:, names.index(name)])
    empty = to_layout(_coco18_poses(np.zeros((0, 18, 3), np.float32)), "BODY_25")
    assert empty.keypoints.shape == (0, 25, 3) and empty.num_people == 0


# --------------------------------------------------------------------------------- pose-format

def _load_with_pose_format(directory):
    from pose_format.utils.openpose import BODY_POINTS, load_openpose_directory

    pose = load_openpose_directory(str(directory), fps=25, width=640, height=480)
    xy = np.asarray(pose.body.data.filled(0))[0]  # (people, points, 2)
    confidence = np.asarray(pose.body.confidence)[0]
    return {name: (xy[:, k], confidence[:, k]) for k, name in enumerate(BODY_POINTS)}


def test_pose_format_labels_every_joint_of_the_body25_layout(tmp_path):
    keypoints = _named_person(COCO18)
    write_people_json(tmp_path, "frame_000000000000", _coco18_poses(keypoints), layout="BODY_25")
    read = _load_with_pose_format(tmp_path)
    for name, (xy, confidence) in read.items():
        if name in COCO18:
            part = keypoints[:, COCO18.index(name)]
            np.testing.assert_allclose(xy, part[:, :2], err_msg=name)
            np.testing.assert_allclose(confidence, part[:, 2], rtol=1e-5, err_msg=name)
        elif name == "MidHip":
            hips = keypoints[:, [COCO18.index("RHip"), COCO18.index("LHip")]]
            np.testing.assert_allclose(xy, hips[:, :, :2].mean(axis=1))
        else:
            assert not confidence.any(), f"{name} should be absent"


def test_native_coco18_json_is_mislabelled_by_pose_format(tmp_path):
    """Why the layout exists: pose-format assumes BODY_25, so our RHip becomes its 'MidHip'."""
    keypoints = _named_person(COCO18)
    write_people_json(tmp_path, "frame_000000000000", _coco18_poses(keypoints))
    read = _load_with_pose_format(tmp_path)
    np.testing.assert_allclose(read["MidHip"][0], keypoints[:, COCO18.index("RHip"), :2])
    wrong = [name for name, (xy, conf) in read.items()
             if name in COCO18 and not np.allclose(xy, keypoints[:, COCO18.index(name), :2])]
    assert len(wrong) == 10, wrong  # every part from index 8 on


# ------------------------------------------------------------------------------ COCO tools

def test_coco17_layout_scores_perfectly_with_cocoeval(tmp_path):
    """A COCO-18 person built from the ground truth, written in COCO_17 order: OKS AP = 1."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_file = need_shared(COCO_GT)
    gt = json.loads(gt_file.read_text())
    names = [_coco_name(n) for n in gt["categories"][0]["keypoints"]]
    annotations = [a for a in gt["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]]
    results = {"layout": [], "native": []}
    for annotation in annotations:
        truth = np.asarray(annotation["keypoints"], np.float32).reshape(17, 3)
        person = np.zeros((1, 18, 3), np.float32)
        for k, name in enumerate(names):
            if truth[k, 2] > 0:
                person[0, COCO18.index(name)] = (truth[k, 0], truth[k, 1], 1.0)
        poses = _coco18_poses(person)
        for key, points in (("layout", to_layout(poses, "COCO_17").keypoints[0]),
                            ("native", poses.keypoints[0, :17])):
            flat = np.concatenate([points[:, :2], np.ones((17, 1), np.float32)], axis=1)
            results[key].append({"image_id": annotation["image_id"], "category_id": 1,
                                 "keypoints": flat.ravel().tolist(), "score": 1.0})
    coco = COCO(str(gt_file))
    aps = {}
    for key, entries in results.items():
        evaluator = COCOeval(coco, coco.loadRes(entries), "keypoints")
        evaluator.evaluate(), evaluator.accumulate(), evaluator.summarize()
        aps[key] = evaluator.stats[0]
    assert aps["layout"] == pytest.approx(1.0)
    assert aps["native"] < 0.5


# ------------------------------------------------------------------------------- writers

def test_people_json_layout_and_part_candidates_guard():
    keypoints = _named_person(COCO18, people=1)
    text = people_json(_coco18_poses(keypoints), layout="COCO_17")
    flat = json.loads(text)["people"][0]["pose_keypoints_2d"]
    assert len(flat) == 17 * 3
    assert flat[:3] == pytest.approx(keypoints[0, 0].tolist())  # Nose first in both
    assert flat[3:6] == pytest.approx(keypoints[0, COCO18.index("LEye")].tolist())
    with pytest.raises(InputError, match="native"):
        people_json(_coco18_poses(keypoints), part_candidates=[np.zeros((0, 3))] * 18,
                    layout="BODY_25")


def test_csv_and_filestorage_writers_take_the_layout(tmp_path):
    import csv
    import io

    import cv2

    keypoints = _named_person(COCO18, people=1)
    [path] = write_keypoint_files(tmp_path, "f", _coco18_poses(keypoints), "csv", layout="BODY_25")
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    by_name = {row["part_name"]: row for row in rows}
    assert len(rows) == 25
    assert float(by_name["RHip"]["x"]) == keypoints[0, COCO18.index("RHip"), 0]
    assert float(by_name["LBigToe"]["score"]) == 0.0
    [yml] = write_keypoint_files(tmp_path, "f", _coco18_poses(keypoints), "yml", layout="COCO_17")
    storage = cv2.FileStorage(str(yml), cv2.FILE_STORAGE_READ)
    matrix = storage.getNode("pose_0").mat()
    storage.release()
    assert matrix.shape[:2] == (1, 17)
    np.testing.assert_array_equal(matrix[0, 1], keypoints[0, COCO18.index("LEye")])
    assert "part_name" in keypoints_csv(_coco18_poses(keypoints), "f")
