"""Training data: COCO-17 -> model layouts against the doc's tables (openpose-training.md §1.3,
§5.1 swap lists), the reader's masks against pycocotools, bad input, augmentation geometry, and
the loader's determinism."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from conftest import SHARED, need_shared
from jaxpose.errors import InputError
from jaxpose.train.augment import augment, augment_matrix, largest_rotated_rect
from jaxpose.train.coco_data import CocoKeypoints
from jaxpose.train.layouts import ABSENT, DRAWN, UNCERTAIN, coco_layout, flip_permutation, to_model_layout
from jaxpose.train.loader import BatchStream
from jaxpose.train.recipes import CMU_AUGMENT, TF_POSE_AUGMENT, recipe_for

COCO_DIR = SHARED / "eval" / "coco"

# §1.3, transcribed: OpenPose COCO-18 index -> COCO-17 index (Neck = mean of 5 and 6).
DOC_COCO18 = {0: 0, 2: 6, 3: 8, 4: 10, 5: 5, 6: 7, 7: 9, 8: 12, 9: 14, 10: 16, 11: 11, 12: 13,
              13: 15, 14: 2, 15: 1, 16: 4, 17: 3}
# §1.3 BODY_25 table: 8 = MidHip mean(11, 12); 19..24 feet (not in COCO-17).
DOC_BODY25 = {0: 0, 2: 6, 3: 8, 4: 10, 5: 5, 6: 7, 7: 9, 9: 12, 10: 14, 11: 16, 12: 11, 13: 13,
              14: 15, 15: 2, 16: 1, 17: 4, 18: 3}
# §5.2 flip swap pairs.
DOC_SWAP_COCO18 = [(5, 2), (6, 3), (7, 4), (11, 8), (12, 9), (13, 10), (15, 14), (17, 16)]
DOC_SWAP_BODY25 = [(5, 2), (6, 3), (7, 4), (12, 9), (13, 10), (14, 11), (16, 15), (18, 17), (19, 22),
                   (20, 23), (21, 24)]


@pytest.mark.parametrize("name,table,derived", [
    ("COCO", DOC_COCO18, {1: {5, 6}}),
    ("MOBILENET_THIN", DOC_COCO18, {1: {5, 6}}),
    ("BODY_25", DOC_BODY25, {1: {5, 6}, 8: {11, 12}}),
])
def test_layout_matches_the_doc_table(name, table, derived):
    layout = coco_layout(name)
    for k, src in enumerate(layout.sources):
        if k in table:
            assert src == (table[k],), (name, k)
        elif k in derived:
            assert set(src) == derived[k]
        else:
            assert src == ()  # BODY_25's feet: not in COCO-17


@pytest.mark.parametrize("name,pairs", [("COCO", DOC_SWAP_COCO18), ("BODY_25", DOC_SWAP_BODY25)])
def test_flip_permutation_is_the_doc_swap_list(name, pairs):
    perm = flip_permutation(name)
    expected = list(range(len(perm)))
    for a, b in pairs:
        expected[a], expected[b] = b, a
    assert list(perm) == expected


def test_neck_rule_states():
    coco = np.zeros((4, 17, 3), np.float32)
    coco[:, 5] = (10, 20, 2)
    coco[:, 6] = (30, 40, 1)
    coco[1, 6, 2] = 0  # one shoulder unlabelled -> uncertain
    coco[2, 5, 2] = coco[2, 6, 2] = 0  # none -> absent
    coco[3, 6, 0] = 500  # outside the 100x100 image -> not drawn (§1.2)
    out = to_model_layout(coco, (100, 100), coco_layout("COCO"))
    assert tuple(out[0, 1]) == (20, 30, DRAWN)  # midpoint, occluded (v=1) drawn like visible
    assert out[1, 1, 2] == UNCERTAIN and out[2, 1, 2] == ABSENT and out[3, 1, 2] == UNCERTAIN
    assert out[3, 2, 2] == ABSENT  # RShoulder outside the image


def test_mask_miss_from_crowd_rle_and_unannotated_people(tmp_path):
    """Unannotated people (0 keypoints) and crowd RLEs minus labelled people are ignored."""
    h, w = 60, 80
    image = np.full((h, w, 3), 100, np.uint8)
    cv2.imwrite(str(tmp_path / "1.png"), image)
    crowd = np.zeros((h, w), np.uint8, order="F")
    crowd[0:30, 40:80] = 1
    rle = mask_utils.encode(np.asfortranarray(crowd))
    rle["counts"] = rle["counts"].decode()
    person_kp = [0] * 51
    person_kp[0:3] = [50, 10, 2]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "num_keypoints": 1, "area": 100,
         "bbox": [45, 5, 10, 10], "keypoints": person_kp, "segmentation": [[45, 5, 55, 5, 55, 15, 45, 15]]},
        {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 0, "num_keypoints": 0, "area": 100,
         "bbox": [0, 40, 10, 10], "keypoints": [0] * 51, "segmentation": [[0, 40, 10, 40, 10, 50, 0, 50]]},
        {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 1, "num_keypoints": 0, "area": 1200,
         "bbox": [40, 0, 40, 30], "keypoints": [0] * 51, "segmentation": rle},
    ]
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "1.png", "width": w, "height": h}],
                                "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    data = CocoKeypoints(path, tmp_path)
    mask = data.mask_miss(data.images[0])
    person = mask_utils.decode(mask_utils.frPyObjects(anns[0]["segmentation"], h, w)).max(-1).astype(bool)
    unlabelled = mask_utils.decode(mask_utils.frPyObjects(anns[1]["segmentation"], h, w)).max(-1).astype(bool)
    expected = np.where(unlabelled | (crowd.astype(bool) & ~person), 0, 255)
    np.testing.assert_array_equal(mask, expected)
    assert mask[10, 50] == 255 and mask[10, 70] == 0 and mask[45, 5] == 0


def _write(tmp_path, data) -> str:
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_bad_input(tmp_path):
    coco_json = need_shared(COCO_DIR / "test_coco.json")
    gt = json.loads(coco_json.read_text())
    with pytest.raises(InputError, match="no such annotation file"):
        CocoKeypoints(tmp_path / "nope.json", COCO_DIR)
    no_kp = dict(gt, annotations=[{k: v for k, v in a.items() if k != "keypoints"} for a in gt["annotations"]])
    with pytest.raises(InputError, match="no keypoints"):
        CocoKeypoints(_write(tmp_path, no_kp), COCO_DIR)
    empty = dict(gt, annotations=[dict(a, keypoints=[0] * 51, num_keypoints=0) for a in gt["annotations"]])
    with pytest.raises(InputError, match="nothing to train on"):
        CocoKeypoints(_write(tmp_path, empty), COCO_DIR)
    with pytest.raises(InputError, match="nothing to train on"):
        CocoKeypoints(_write(tmp_path, dict(gt, images=[], annotations=gt["annotations"])), COCO_DIR)
    with pytest.raises(InputError, match=r"2 of 4 images are missing on disk"):
        partial = tmp_path / "imgs"
        partial.mkdir()
        for name in ("000000000785.jpg", "000000040083.jpg"):
            shutil.copy(COCO_DIR / name, partial / name)
        CocoKeypoints(coco_json, partial)
    crowdpose = need_shared(SHARED / "eval" / "crowdpose" / "test_crowdpose.json")
    with pytest.raises(InputError, match="has 14 keypoints"):
        CocoKeypoints(crowdpose, crowdpose.parent)


@pytest.mark.parametrize("config", [CMU_AUGMENT, TF_POSE_AUGMENT], ids=["cmu", "tf_pose"])
def test_augmentation_moves_keypoints_with_the_pixels(config):
    """One white dot at part k: after augmentation the label that lands on the dot is k, or its
    mirror twin when the sample was flipped (left pixels must carry the left label)."""
    rng = np.random.default_rng(0)
    h, w = 240, 320
    coco = np.zeros((1, 17, 3), np.float32)
    for i in range(17):
        coco[0, i] = (rng.uniform(60, 260), rng.uniform(40, 200), 2)
    people = to_model_layout(coco, (w, h), coco_layout("COCO"))
    perm = flip_permutation("COCO")
    boxes, areas = np.array([[60, 40, 200, 160]], np.float32), np.array([5000.0], np.float32)
    checked = 0
    for seed in range(8):
        _, flipped = augment_matrix((w, h), coco, boxes, areas, config, (192, 160), np.random.default_rng(seed))
        for k in range(18):
            image = np.zeros((h, w, 3), np.uint8)
            x, y = people[0, k, :2]
            cv2.circle(image, (int(round(x)), int(round(y))), 3, (255, 255, 255), -1)
            crop, _, moved = augment(image, np.full((h, w), 255, np.uint8), people, coco, boxes,
                                     areas, config, (192, 160), perm, np.random.default_rng(seed))
            label = perm[k] if flipped else k
            mx, my = moved[0, label, :2]
            assert moved[0, label, 2] == DRAWN
            if 2 <= mx < 190 and 2 <= my < 158:
                assert crop[int(round(my)), int(round(mx)), 0] > 100, (seed, k, flipped, mx, my)
                checked += 1
    assert checked > 40


def test_largest_rotated_rect():
    assert largest_rotated_rect(100, 50, 0) == (100, 50)
    wr, hr = largest_rotated_rect(100, 100, 45)
    assert wr == pytest.approx(100 / np.sqrt(2)) and hr == pytest.approx(100 / np.sqrt(2))


def test_loader_deterministic_and_resumable():
    """Batch s is the same from a stream started at 0 and one started at s, with 1 or 3 threads."""
    need_shared(COCO_DIR / "test_coco.json")
    data = CocoKeypoints(COCO_DIR / "test_coco.json", COCO_DIR)
    layout, recipe = coco_layout("MOBILENET_THIN"), recipe_for("MOBILENET_THIN")
    a = BatchStream(data, layout, recipe, batch_size=3, crop_wh=(96, 64), seed=5, workers=1)
    b = BatchStream(data, layout, recipe, batch_size=3, crop_wh=(96, 64), seed=5, workers=3)
    try:
        from_start = [batch for _, batch in zip(range(3), a.batches(0))]
        resumed = next(b.batches(2))
        for field in ("images", "keypoints", "masks", "image_ids"):
            np.testing.assert_array_equal(getattr(from_start[2], field), getattr(resumed, field))
        assert from_start[0].images.shape == (3, 64, 96, 3) and from_start[0].keypoints.shape == (3, 32, 18, 3)
        seen = np.concatenate([x.image_ids for x in from_start])[:4]
        assert sorted(seen) == sorted(im.image_id for im in data.images)  # one epoch = a permutation
    finally:
        a.close()
        b.close()


def test_metrics_csv_resume_and_tensorboard(tmp_path):
    """The CSV keeps the rows up to the resumed step; TensorBoard scalars are real event records."""
    import struct

    from jaxpose.train.metrics import MetricsLog

    log = MetricsLog(tmp_path, ["loss", "lr"], tensorboard=True)
    for step in (1, 2, 3):
        log.write(step, {"loss": 10.0 / step, "lr": 1e-5})
    log.close()
    log = MetricsLog(tmp_path, ["loss", "lr"], resume_step=2)
    log.write(3, {"loss": 7.0, "lr": 1e-5})
    log.close()
    lines = (tmp_path / "metrics.csv").read_text().split()
    assert lines[0] == "step,loss,lr" and [r.split(",")[0] for r in lines[1:]] == ["1", "2", "3"]
    assert lines[3].split(",")[1] == "7"
    from tensorboardX.proto import event_pb2

    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    data, values = events[0].read_bytes(), []
    while data:  # TFRecord: length (8), crc (4), payload, crc (4)
        (length,) = struct.unpack("<Q", data[:8])
        event = event_pb2.Event.FromString(data[12:12 + length])
        data = data[16 + length:]
        values += [(event.step, v.tag, v.simple_value) for v in event.summary.value]
    assert (2, "train/loss", pytest.approx(5.0)) in values
