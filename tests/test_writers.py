"""Writers (features §3): people JSON, FileStorage / CSV keypoints, COCO JSON, heatmaps, images, names.

Expectations are written from the doc (key order, layouts, COCO index maps, scaling formulas) and
checked by reading the files back with independent readers (json, cv2.FileStorage, csv, cv2.imread).
"""

from __future__ import annotations

import csv
import json
import re

import cv2
import numpy as np
import pytest

from jaxpose.errors import InputError
from jaxpose.io.names import (
    camera_frame_name, image_frame_name, natural_key, output_path, video_frame_name,
)
from jaxpose.io.writers.coco_json import (
    CocoJsonWriter, coco_entries, coco_image_id, coco_json_text,
)
from jaxpose.io.writers.heatmaps import export_heatmaps, heatmaps_bytes, tile_heatmaps, write_heatmaps
from jaxpose.io.writers.image import write_image, write_rendered_image
from jaxpose.io.writers.keypoint_file import keypoints_csv, write_keypoint_files
from jaxpose.io.writers.people_json import people_json, write_people_json
from jaxpose.poses import Poses

PERSON_KEYS = ["person_id", "pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d",
               "hand_right_keypoints_2d", "pose_keypoints_3d", "face_keypoints_3d",
               "hand_left_keypoints_3d", "hand_right_keypoints_3d"]


def _poses(model="BODY_25", parts=25, people=2, hands=True, face=True, seed=0) -> Poses:
    rng = np.random.default_rng(seed)

    def kp(n):
        a = np.zeros((people, n, 3), np.float32)
        a[..., 0] = rng.uniform(0, 1000, (people, n))
        a[..., 1] = rng.uniform(0, 700, (people, n))
        a[..., 2] = rng.uniform(0, 1, (people, n))
        a[:, ::4] = 0  # some missing parts
        return a

    return Poses(kp(parts), rng.uniform(0, 1, people).astype(np.float32), model, (1000, 700),
                 (528, 368), 1.9, hand_left=kp(21) if hands else None,
                 hand_right=kp(21) if hands else None, face=kp(70) if face else None)


def _g(v) -> str:
    """C++ `ostream << float`: float32, then %g with 6 significant digits."""
    return "%g" % float(np.float32(v))


# ------------------------------------------------------------------ frame and file names (§3.1)

def test_frame_names_follow_openpose():
    assert image_frame_name("/x/COCO_val2014_000000000192.jpg") == "COCO_val2014_000000000192"
    assert video_frame_name("/x/video.avi", 0) == "video_000000000000"
    assert video_frame_name("clip.mp4", 1234) == "clip_000000001234"
    assert camera_frame_name(42) == "000000000042"
    assert output_path("d", "img", "keypoints", "json").as_posix() == "d/img_keypoints.json"
    assert output_path("d", "img", "keypoints", ".json", view=1).as_posix() == "d/img_keypoints_1.json"
    assert sorted(["a10.png", "a2.png", "a1.png"], key=natural_key) == ["a1.png", "a2.png", "a10.png"]


# ------------------------------------------------------------------ people JSON (§3.2)

def test_people_json_schema_order_and_values(tmp_path):
    poses = _poses()
    path = write_people_json(tmp_path, "frame7", poses)
    assert path.name == "frame7_keypoints.json"
    text = path.read_text()
    assert " " not in text and "\n" not in text
    assert text.startswith('{"version":1.3,"people":[{"person_id":[-1],"pose_keypoints_2d":[')
    data = json.loads(text, object_pairs_hook=lambda pairs: pairs)
    assert [k for k, _ in data] == ["version", "people"]
    people = dict(data)["people"]
    assert len(people) == 2
    for person, pairs in enumerate(people):
        assert [k for k, _ in pairs] == PERSON_KEYS
        d = dict(pairs)
        assert d["person_id"] == [-1]
        assert len(d["pose_keypoints_2d"]) == 75 and len(d["face_keypoints_2d"]) == 210
        assert len(d["hand_left_keypoints_2d"]) == 63 and len(d["hand_right_keypoints_2d"]) == 63
        assert all(d[k] == [] for k in PERSON_KEYS[5:])
        np.testing.assert_allclose(d["pose_keypoints_2d"], poses.keypoints[person].ravel(),
                                   rtol=1e-5)
    # the number texts are exactly %g of the float32 values
    pose_text = re.search(r'"pose_keypoints_2d":\[([^\]]*)\]', text).group(1)
    assert pose_text.split(",") == [_g(v) for v in poses.keypoints[0].ravel()]


def test_people_json_number_formatting_like_cpp():
    body = np.zeros((1, 25, 3), np.float32)
    body[0, 0] = (582.34899, 0.8459181, 1)
    body[0, 1] = (1e-5, 1234567.0, 0.25)
    body[0, 2] = (-1.0, 0.1, 0.0)
    poses = Poses(body, np.ones(1, np.float32), "BODY_25", (10, 10), (16, 16), 1.0)
    pose = people_json(poses).split('"pose_keypoints_2d":[')[1].split("]")[0].split(",")
    assert pose[:9] == ["582.349", "0.845918", "1", "1e-05", "1.23457e+06", "0.25", "-1", "0.1", "0"]


def test_people_json_empty_frame_and_disabled_detectors():
    empty = Poses(np.zeros((0, 25, 3), np.float32), np.zeros(0, np.float32), "BODY_25",
                  (10, 10), (16, 16), 1.0)
    assert people_json(empty) == '{"version":1.3,"people":[]}'
    d = json.loads(people_json(_poses(hands=False, face=False)))
    assert d["people"][0]["face_keypoints_2d"] == [] and d["people"][1]["hand_left_keypoints_2d"] == []


def test_people_json_part_candidates_and_ids():
    poses = _poses(model="COCO", parts=18, people=1)
    cands = [np.array([[1.5, 2.5, 0.9], [3, 4, 0.2]], np.float32)] + \
        [np.zeros((0, 3), np.float32)] * 17
    text = people_json(poses, part_candidates=cands, person_ids=[5])
    assert '"part_candidates":[{"0":[1.5,2.5,0.9,3,4,0.2],"1":[],' in text
    data = json.loads(text, object_pairs_hook=lambda pairs: pairs)
    assert [k for k, _ in data] == ["version", "people", "part_candidates"]
    assert list(dict(dict(data)["part_candidates"][0]).keys()) == [str(i) for i in range(18)]
    assert dict(dict(data)["people"][0])["person_id"] == [5]


def test_people_json_rejects_nan():
    poses = _poses()
    poses.keypoints[0, 1, 0] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        people_json(poses)


# ------------------------------------------------------------------ --write_keypoint (§3.4)

@pytest.mark.parametrize("fmt", ["yml", "yaml", "xml", "json"])
def test_filestorage_files_read_back_with_opencv(tmp_path, fmt):
    poses = _poses()
    paths = write_keypoint_files(tmp_path, "img", poses, fmt)
    assert [p.name for p in paths] == [f"img_{s}.{fmt}" for s in
                                       ("pose", "face", "hand_left", "hand_right")]
    arrays = [poses.keypoints, poses.face, poses.hand_left, poses.hand_right]
    for path, tag, expected in zip(paths, ("pose", "face", "hand_left", "hand_right"), arrays):
        storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
        node = storage.getNode(f"{tag}_0")
        assert node.isMap(), f"{path} has no node {tag}_0"
        assert node.getNode("dt").string() == "3f"
        mat = node.mat()
        storage.release()
        assert mat.shape == expected.shape  # rows = people, cols = parts, 3 channels
        np.testing.assert_array_equal(mat, expected)


def test_filestorage_empty_frame_and_body_only(tmp_path):
    empty = Poses(np.zeros((0, 18, 3), np.float32), np.zeros(0, np.float32), "COCO",
                  (10, 10), (16, 16), 1.0)
    (path,) = write_keypoint_files(tmp_path, "e", empty, "yml")
    storage = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    assert storage.getNode("pose_0").getNode("rows").real() == 0
    with pytest.raises(InputError, match="write_keypoint_format"):
        write_keypoint_files(tmp_path, "e", empty, "txt")


def test_csv_reads_back_with_csv_module(tmp_path):
    poses = _poses()
    (path,) = write_keypoint_files(tmp_path, "img_000000000003", poses, "csv")
    assert path.name == "img_000000000003_keypoints.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys()) == ["frame", "person", "person_id", "set", "part_index",
                                    "part_name", "x", "y", "score"]
    assert {row["person_id"] for row in rows} == {"-1"}  # untracked
    assert len(rows) == 2 * (25 + 70 + 21 + 21)
    arrays = {"body": poses.keypoints, "face": poses.face, "hand_left": poses.hand_left,
              "hand_right": poses.hand_right}
    for row in rows:
        expected = arrays[row["set"]][int(row["person"]), int(row["part_index"])]
        got = np.float32([row["x"], row["y"], row["score"]])
        np.testing.assert_array_equal(got, expected)  # exact float32 round trip
        assert row["frame"] == "img_000000000003"
    by_key = {(r["set"], r["part_index"]): r["part_name"] for r in rows}
    assert by_key[("body", "4")] == "RWrist" and by_key[("body", "24")] == "RHeel"
    assert by_key[("hand_left", "4")] == "Thumb4FingerTip" and by_key[("face", "69")] == "LPupil"
    assert keypoints_csv(poses, "x", header=False).count("\n") == len(rows)


# ------------------------------------------------------------------ COCO JSON (§3.3)

# The doc's index maps, COCO-17 order.
DOC_MAP = {"BODY_25": [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11],
           "COCO": [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]}


@pytest.mark.parametrize("model,parts", [("BODY_25", 25), ("COCO", 18), ("MOBILENET_THIN", 18)])
def test_coco_entries_follow_the_doc_map(model, parts):
    poses = _poses(model=model, parts=parts, people=3, hands=False, face=False)
    poses.keypoints[2, :, 2] = 0  # nobody there: no entry
    entries = coco_entries(poses, 294)
    assert len(entries) == 2
    index = DOC_MAP["COCO" if parts == 18 else "BODY_25"]
    for person, entry in enumerate(entries):
        assert list(entry) == ["image_id", "category_id", "keypoints", "score"]
        assert entry["image_id"] == 294 and entry["category_id"] == 1
        assert entry["score"] == pytest.approx(float(poses.scores[person]))
        triplets = np.asarray(entry["keypoints"], np.float64).reshape(17, 3)
        for coco_k, part in enumerate(index):
            x, y, c = poses.keypoints[person, part]
            if c > 0:
                np.testing.assert_allclose(triplets[coco_k], [x, y, 1], rtol=1e-6)
            else:
                np.testing.assert_array_equal(triplets[coco_k], [-1, -1, 0])


def test_coco_mpi_and_image_id_errors():
    mpi = _poses(model="MPI", parts=15, hands=False, face=False)
    with pytest.raises(InputError, match="MPI"):
        coco_entries(mpi, 1)
    assert coco_image_id("COCO_val2014_000000000294") == 294
    assert coco_image_id("video_000000000012") == 12
    with pytest.raises(InputError, match="digits"):
        coco_image_id("holiday")


def test_coco_json_text_layout():
    entries = [{"image_id": 294, "category_id": 1, "keypoints": [412.5, 140.25, 1, -1, -1, 0],
                "score": 0.734161}]
    assert coco_json_text(entries) == (
        '[\n\t{\n\t\t"image_id":294,\n\t\t"category_id":1,\n\t\t"keypoints":[\n'
        '\t\t\t412.5,140.25,1,-1,-1,0\n\t\t],\n\t\t"score":0.734161\n\t}\n]')
    assert json.loads(coco_json_text([])) == []


def test_coco_writer_leaves_a_valid_file_after_each_flush(tmp_path):
    path = tmp_path / "out" / "coco.json"
    poses = _poses(hands=False, face=False)
    writer = CocoJsonWriter(path, variants=3, flush_every=2, flush_seconds=1e9)
    assert json.loads(path.read_text()) == []
    for i in range(3):
        writer.add(f"img_{i:012d}", poses)
    partial = json.loads(path.read_text())  # "interrupted" here: 2 frames flushed
    assert [e["image_id"] for e in partial] == [0, 0, 1, 1]
    writer.close()
    full = json.loads(path.read_text())
    assert [e["image_id"] for e in full] == [0, 0, 1, 1, 2, 2]
    foot = json.loads((tmp_path / "out" / "coco_foot.json").read_text())
    foot_kp = np.asarray(foot[0]["keypoints"]).reshape(6, 3)
    for k, part in enumerate([19, 20, 21, 22, 23, 24]):
        x, y, c = poses.keypoints[0, part]
        expected = [x, y, 1] if c > 0 else [-1, -1, 0]
        np.testing.assert_allclose(foot_kp[k], expected, rtol=1e-5)
    with pytest.raises(InputError, match="BODY_135"):
        CocoJsonWriter(tmp_path / "f.json", variants=4)


# ------------------------------------------------------------------ heatmaps (§3.5, core §9)

def _heatmap_poses(h=3, w=4):
    # COCO: 18 parts, background at 18, PAFs 19..56
    rng = np.random.default_rng(1)
    maps = rng.uniform(-1.5, 1.5, (h, w, 57)).astype(np.float32)
    maps[0, 0, 0], maps[0, 1, 0], maps[0, 2, 0] = 0.5, 2.0, -0.2
    maps[0, 0, 19], maps[0, 1, 19], maps[0, 2, 19] = 1.0, -0.3, -2.0
    return _poses(model="COCO", parts=18, hands=False, face=False).replace(heatmaps=maps)


def _by_hand(v: float, paf: bool, mode: int) -> float:
    if mode == 3:
        return v
    p, q = min(max(v, 0.0), 1.0), min(max(v, -1.0), 1.0)
    if mode in (0, 5):
        return q if paf else 2 * p - 1
    if mode in (1, 4):
        return 0.5 * q + 0.5 if paf else p
    return float(int(q * 128.5 + 128.5 + 0.5)) if paf else float(int(p * 255 + 0.5))


@pytest.mark.parametrize("mode", [0, 1, 2, 3, 4, 5])
def test_heatmap_scaling_by_hand(mode):
    poses = _heatmap_poses()
    chw = export_heatmaps(poses, add_parts=True, add_bkg=True, add_pafs=True, scale_mode=mode)
    assert chw.shape == (57, 3, 4)
    for c in (0, 18, 19, 40):
        for y in range(3):
            for x in range(4):
                raw = float(poses.heatmaps[y, x, c])
                assert chw[c, y, x] == pytest.approx(_by_hand(raw, c >= 19, mode), abs=1e-5)


def test_heatmap_channel_selection():
    poses = _heatmap_poses()
    pafs = export_heatmaps(poses, add_pafs=True, scale_mode=3)
    np.testing.assert_array_equal(pafs, np.moveaxis(poses.heatmaps[..., 19:], -1, 0))
    parts_bkg = export_heatmaps(poses, add_parts=True, add_bkg=True, scale_mode=3)
    np.testing.assert_array_equal(parts_bkg, np.moveaxis(poses.heatmaps[..., :19], -1, 0))
    with pytest.raises(InputError, match="heatmaps_add"):
        export_heatmaps(poses, scale_mode=2)


def test_heatmap_png_tiles_channels_horizontally(tmp_path):
    poses = _heatmap_poses()
    path = write_heatmaps(tmp_path, "img", poses, add_parts=True, add_pafs=True)
    assert path.name == "img_pose_heatmaps.png"
    grey = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert grey.shape == (3, (18 + 38) * 4) and grey.dtype == np.uint8
    assert grey[0, 0] == 128 and grey[0, 1] == 255 and grey[0, 2] == 0  # part 0: 0.5, 2, -0.2
    # PAF channel 19 is tile 18 (no background requested): 1.0 -> 257 -> 255, -0.3 -> 90, -2 -> 0
    assert list(grey[0, 18 * 4:18 * 4 + 3]) == [255, int(-0.3 * 128.5 + 129.0), 0]
    for c in range(56):
        source = c if c < 18 else c + 1
        expected = np.clip([[_by_hand(float(v), source >= 19, 2) for v in row]
                            for row in poses.heatmaps[..., source]], 0, 255)
        np.testing.assert_array_equal(grey[:, c * 4:(c + 1) * 4], expected)
    with pytest.raises(InputError, match="heatmaps_scale 2"):
        write_heatmaps(tmp_path, "img", poses, add_parts=True, scale_mode=1)


def test_heatmap_float_format(tmp_path):
    poses = _heatmap_poses()
    path = write_heatmaps(tmp_path, "img", poses, fmt="float", add_bkg=True, scale_mode=0)
    raw = np.fromfile(path, dtype="<f4")
    assert list(raw[:4]) == [3, 1, 3, 4]
    expected = [[_by_hand(float(v), False, 0) for v in row] for row in poses.heatmaps[..., 18]]
    np.testing.assert_allclose(raw[4:].reshape(3, 4), expected, atol=1e-6)
    assert tile_heatmaps(np.full((2, 1, 1), 300.0)).tolist() == [[255, 255]]
    assert heatmaps_bytes(np.zeros((1, 2, 2)), "float")[:4] == np.float32(3).tobytes()


def test_heatmaps_missing_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no heatmaps"):
        write_heatmaps(tmp_path, "img", _poses(), add_parts=True)


# ------------------------------------------------------------------ images (§3.6)

@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_write_image_is_rgb_on_disk(tmp_path, ext):
    rgb = np.zeros((8, 10, 3), np.uint8)
    rgb[..., 0] = 200  # red
    path = write_rendered_image(tmp_path, "frame", rgb, ext)
    assert path.name == f"frame_rendered.{ext}"
    bgr = cv2.imread(str(path))
    np.testing.assert_allclose(bgr[..., ::-1].astype(int), rgb.astype(int), atol=2)
    with pytest.raises(InputError):
        write_image(tmp_path / "noext", rgb)
