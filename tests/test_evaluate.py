"""COCO evaluation (jaxpose.evaluate, `jaxpose eval`): scores equal pycocotools run by hand on the
same results file; the default model's AP on ../shared/eval/coco; bad input."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from conftest import SHARED, need_shared
from jaxpose.cli import eval as eval_cli
from jaxpose.errors import InputError
from jaxpose.evaluate import STAT_NAMES, format_table, score_coco
from test_coco_ids import gt_poses

COCO_DIR = SHARED / "eval" / "coco"
ANN = COCO_DIR / "test_coco.json"


def by_hand(gt_path, results_path) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        e = COCOeval(gt, gt.loadRes(str(results_path)), "keypoints")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats


def printed_stats(text: str) -> dict[str, float]:
    header, _, row = [line for line in text.splitlines() if line.startswith("|")][:3]
    names = [c.strip() for c in header.strip("|").split("|")]
    values = [float(c) for c in row.strip("|").split("|")]
    return dict(zip(names, values))


def test_score_of_planted_results_equals_pycocotools(tmp_path):
    """Ground-truth people with one person jittered: our score_coco equals COCOeval by hand."""
    gt = json.loads(need_shared(ANN).read_text())
    from jaxpose.io.writers.coco_json import coco_entries, coco_json_text

    entries = []
    rng = np.random.default_rng(0)
    for image in gt["images"]:
        poses = gt_poses(gt, image)
        keypoints = poses.keypoints.copy()
        keypoints[..., :2] += rng.normal(0, 4, keypoints[..., :2].shape) * (keypoints[..., 2:] > 0)
        entries += coco_entries(poses.replace(keypoints=keypoints, scores=rng.uniform(0.2, 1, len(keypoints)).astype(np.float32)), image["id"])
    path = tmp_path / "r.json"
    path.write_text(coco_json_text(entries))
    ours = score_coco(ANN, entries)
    np.testing.assert_allclose([ours[n] for n in STAT_NAMES], by_hand(ANN, path), atol=1e-12)
    assert 0 < ours["AP"] < 1
    assert score_coco(ANN, path) == ours  # a results file works too
    table = format_table(ours)
    assert printed_stats(table) == {n: round(ours[n], 3) for n in STAT_NAMES}


def test_no_results_scores_zero_and_unknown_ids_are_named():
    need_shared(ANN)
    assert score_coco(ANN, []) == {n: 0.0 for n in STAT_NAMES}
    with pytest.raises(InputError, match=r"image ids \[5\]"):
        score_coco(ANN, [{"image_id": 5, "category_id": 1, "keypoints": [0] * 51, "score": 1.0}])


def run_eval(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = eval_cli.main(args, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_eval_cli_bad_input(tmp_path):
    need_shared(ANN)
    code, _, err = run_eval(["--coco", str(tmp_path / "none.json"), "--images", str(COCO_DIR)])
    assert code == 1 and "no such annotation file" in err
    images = tmp_path / "imgs"
    images.mkdir()
    shutil.copy(COCO_DIR / "000000000785.jpg", images)
    code, _, err = run_eval(["--coco", str(ANN), "--images", str(images)])
    assert code == 1 and "3 of 4 images" in err and "missing" in err
    gt = json.loads(ANN.read_text())
    for a in gt["annotations"]:
        del a["keypoints"]
    (tmp_path / "nokp.json").write_text(json.dumps(gt))
    code, _, err = run_eval(["--coco", str(tmp_path / "nokp.json"), "--images", str(COCO_DIR)])
    assert code == 1 and "no keypoint annotations" in err
    for a in gt["annotations"]:
        a["keypoints"], a["num_keypoints"] = [0] * 51, 0
    (tmp_path / "zerokp.json").write_text(json.dumps(gt))
    code, out, err = run_eval(["--coco", str(tmp_path / "zerokp.json"), "--images", str(COCO_DIR)])
    assert code == 1 and "no person with labelled keypoints" in err and "-1.000" not in out
    code, _, err = run_eval(["--coco", str(ANN), "--images", str(COCO_DIR), "--write_json", "x"])
    assert code == 2 and "--write_json is not used" in err
    code, _, err = run_eval(["--images", str(COCO_DIR)])
    assert code == 2
    (tmp_path / "a_file").write_text("x")
    for where, reason in ((tmp_path, "is a folder"), (tmp_path / "a_file" / "r.json", "is not a folder")):
        code, _, err = run_eval(["--coco", str(ANN), "--images", str(COCO_DIR), "--write_coco_json", str(where)])
        assert code == 2 and err.count("\n") == 1 and f"--write_coco_json {where}: " in err and reason in err


@pytest.mark.slow
def test_eval_default_model_on_shared_coco(tmp_path):
    """`jaxpose eval` with the default model: AP 0.570 +- 0.005 (measured independently with
    pycocotools on the main command's COCO JSON), and the printed table equals COCOeval run by
    hand on the results file it wrote."""
    need_shared(ANN)
    results = tmp_path / "results.json"
    code, out, err = run_eval(["--coco", str(ANN), "--images", str(COCO_DIR), "--write_coco_json", str(results), "--quiet"])
    assert code == 0, err
    printed = printed_stats(out)
    hand = by_hand(ANN, results)
    for name, value in zip(STAT_NAMES, hand):
        assert printed[name] == pytest.approx(round(float(value), 3), abs=1e-9)
    assert printed["AP"] == pytest.approx(0.570, abs=0.005)
    assert re.search(r"4 images, \d+ people found", out)
