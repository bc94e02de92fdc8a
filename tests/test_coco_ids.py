"""COCO result image ids (issue #14 item 4): ids by file name from a ground-truth file
(`--coco_gt`), clashes named, and pycocotools' loadRes + COCOeval accepting our files for
../shared/eval/coco and ../shared/eval/ochuman."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from conftest import SHARED, need_shared
from jaxpose.errors import InputError
from jaxpose.io.writers.coco_json import (
    COCO17_PART_NAMES, CocoJsonWriter, check_image_ids, coco_gt_image_ids,
)
from jaxpose.poses import Poses
from jaxpose.specs import get_spec

SETS = {"coco": ("coco", "test_coco.json"), "ochuman": ("ochuman", "test_ochuman.json")}


def gt_poses(gt: dict, image: dict) -> Poses:
    """The ground-truth people of one image as COCO-18 `Poses` (score 1 on labelled points)."""
    spec = get_spec("COCO")
    anns = [a for a in gt["annotations"] if a["image_id"] == image["id"] and a.get("num_keypoints", 0) > 0]
    keypoints = np.zeros((len(anns), spec.num_parts, 3), np.float32)
    for p, ann in enumerate(anns):
        coco = np.asarray(ann["keypoints"], np.float32).reshape(17, 3)
        for i, name in enumerate(COCO17_PART_NAMES):
            if coco[i, 2] > 0:
                keypoints[p, spec.part_index(name)] = (coco[i, 0], coco[i, 1], 1.0)
    return Poses(keypoints=keypoints, scores=np.ones(len(anns), np.float32), model="COCO",
                 image_size=(image["width"], image["height"]), net_input_size=(368, 368),
                 scale_net_to_output=1.0)


def coco_eval(gt_path: Path, results: Path) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        dt = gt.loadRes(str(results))
        e = COCOeval(gt, dt, "keypoints")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats


@pytest.mark.parametrize("name", sorted(SETS))
def test_pycocotools_accepts_our_file_with_ids_from_the_ground_truth(tmp_path, name):
    folder, file = SETS[name]
    gt_path = need_shared(SHARED / "eval" / folder / file)
    gt = json.loads(gt_path.read_text())
    out = tmp_path / "results.json"
    with CocoJsonWriter(out, coco_gt=gt_path) as writer:
        for image in reversed(gt["images"]):  # any order: ids come from the file names
            writer.add(Path(image["file_name"]).stem, gt_poses(gt, image))
    written = json.loads(out.read_text())
    by_name = {Path(i["file_name"]).stem: i["id"] for i in gt["images"]}
    assert {e["image_id"] for e in written} == set(by_name.values())
    stats = coco_eval(gt_path, out)
    assert stats[0] == pytest.approx(1.0)  # the ground truth itself scores AP 1


def test_ochuman_ids_are_not_trailing_numbers():
    gt_path = need_shared(SHARED / "eval" / "ochuman" / "test_ochuman.json")
    assert coco_gt_image_ids(gt_path) == {"003799": 1, "000817": 2, "003896": 3}


def _poses() -> Poses:
    return Poses(keypoints=np.zeros((0, 18, 3), np.float32), scores=np.zeros(0, np.float32),
                 model="COCO", image_size=(10, 10), net_input_size=(16, 16), scale_net_to_output=1.0)


def test_two_frames_with_one_id_is_an_error_naming_both(tmp_path):
    with pytest.raises(InputError, match=r"'messi5' and 'cam1_000005' would both get image_id 5"):
        check_image_ids(["messi5", "x_000004", "cam1_000005"])
    with pytest.raises(InputError, match=r"'0001' and '0001'"):
        check_image_ids(["0001", "0001"])
    check_image_ids(["a1", "a2", "b3"])
    writer = CocoJsonWriter(tmp_path / "r.json")
    writer.add("messi5", _poses())
    with pytest.raises(InputError, match=r"'messi5' and 'cam1_000005'"):
        writer.add("cam1_000005", _poses())
    writer.close()
    assert json.loads((tmp_path / "r.json").read_text()) == []  # still a complete, valid file


def test_ground_truth_errors(tmp_path):
    gt = {"images": [{"id": 7, "file_name": "a/x1.jpg"}, {"id": 8, "file_name": "b/x1.png"}]}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    with pytest.raises(InputError, match=r"'a/x1.jpg' and 'b/x1.png' share the frame name 'x1'"):
        coco_gt_image_ids(path)
    path.write_text(json.dumps({"images": [{"id": 7, "file_name": "val/x1.jpg"}]}))
    writer = CocoJsonWriter(tmp_path / "r.json", coco_gt=path)
    assert writer.image_id("x1") == 7
    with pytest.raises(InputError, match=r"frame 'y2' is not an image of"):
        writer.add("y2", _poses())
    with pytest.raises(InputError, match="no such file"):
        CocoJsonWriter(tmp_path / "r2.json", coco_gt=tmp_path / "missing.json")


def test_cli_flag_needs_write_coco_json(tmp_path):
    from jaxpose.cli import run

    err = io.StringIO()
    code = run.main([str(tmp_path), "--coco_gt", "gt.json"], stdout=io.StringIO(), stderr=err)
    assert code == 2 and "--coco_gt" in err.getvalue()


@pytest.mark.slow
def test_cli_writes_ochuman_ids_from_coco_gt(tmp_path):
    """The main command with --coco_gt: OCHuman's ids 1, 2, 3 (not 3799, 817, 3896), and
    pycocotools scores the file."""
    from jaxpose.cli import run

    folder = need_shared(SHARED / "eval" / "ochuman")
    gt_path = folder / "test_ochuman.json"
    out = tmp_path / "res.json"
    code = run.main([str(folder), "--write_coco_json", str(out), "--coco_gt", str(gt_path),
                     "--net_resolution", "-1x256", "--quiet"], stdout=io.StringIO(), stderr=io.StringIO())
    assert code == 0
    ids = {e["image_id"] for e in json.loads(out.read_text())}
    assert ids and ids <= {1, 2, 3}
    stats = coco_eval(gt_path, out)
    assert stats[1] > 0  # AP50: people found and matched under the mapped ids
