"""Predict every image of a COCO annotation file and score it with pycocotools' COCOeval.

Image ids come from the annotation file, matched by file name (folders dropped), so any id
scheme works (OCHuman numbers its images 1, 2, 3). Result entries are exactly what
`--write_coco_json` writes (`jaxpose.io.writers.coco_json.coco_entries`). The scores are
COCOeval's "keypoints" summary, unchanged: AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jaxpose.errors import InputError

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


@dataclasses.dataclass
class Predictions:
    """What `predict_coco` found: COCO result entries, and the images that failed (name, reason)."""

    entries: list[dict]
    images: int
    people: int
    failures: list[tuple[str, str]]


def _quiet_coco(source: str | Path | dict):
    from pycocotools.coco import COCO

    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"{path}: no such annotation file; pass the COCO keypoints ground truth.")
        import json

        try:
            source = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a readable JSON file ({exc}).") from None
    if not isinstance(source, dict) or not isinstance(source.get("images"), list) \
            or not isinstance(source.get("annotations"), list):
        raise InputError("the ground truth is not a COCO annotation file (needs 'images' and "
                         "'annotations' lists).")
    if not any("keypoints" in a for a in source["annotations"]):
        raise InputError("the ground truth has no keypoint annotations; COCO keypoint evaluation "
                         "needs a person-keypoints file.")
    if not any(_labelled(a) for a in source["annotations"]):
        raise InputError("the ground truth has no person with labelled keypoints (every "
                         "num_keypoints is 0): COCOeval ignores such people and would score -1 "
                         "everywhere; use annotations with visible keypoints.")
    coco = COCO()
    coco.dataset = source
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _labelled(annotation: dict) -> bool:
    """A person COCOeval scores: not a crowd, with num_keypoints > 0 (counted when absent)."""
    count = annotation.get("num_keypoints")
    if count is None:
        count = sum(1 for v in (annotation.get("keypoints") or [])[2::3] if v > 0)
    return not annotation.get("iscrowd", 0) and count > 0


def predict_coco(pose_fn: Callable, params: Any, annotations: str | Path, images_dir: str | Path,
                 on_image: Callable[[str, int], None] | None = None,
                 on_start: Callable[[int], None] | None = None) -> Predictions:
    """Run `pose_fn(params, rgb)` on every image of `annotations` found in `images_dir`.

    Images missing on disk are an InputError before any work; an unreadable one is recorded in
    `failures` (and skipped: it counts as an image without detections). `on_start(number of images)` once, `on_image(frame_name, people)` after each image.
    """
    from jaxpose.io.readers import decode_image
    from jaxpose.io.writers.coco_json import coco_entries

    gt = _quiet_coco(annotations)
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise InputError(f"{images_dir}: no such image folder.")
    if not gt.imgs:
        raise InputError(f"{annotations}: the annotation file lists no images; nothing to evaluate.")
    files = {image_id: Path(str(gt.imgs[image_id]["file_name"]).replace("\\", "/")).name
             for image_id in sorted(gt.imgs)}
    missing = [name for name in files.values() if not (images_dir / name).is_file()]
    if missing:
        raise InputError(f"{len(missing)} of {len(files)} images of {annotations} are missing in "
                         f"{images_dir} (e.g. {', '.join(missing[:3])}); check --images.")
    if on_start is not None:
        on_start(len(files))
    entries: list[dict] = []
    failures: list[tuple[str, str]] = []
    done = people = 0
    for image_id, file_name in files.items():
        path = images_dir / file_name
        try:
            image = decode_image(path)
        except InputError as exc:
            failures.append((file_name, str(exc)))
            continue
        poses = pose_fn(params, image)
        entries.extend(coco_entries(poses, image_id))
        done += 1
        people += poses.num_people
        if on_image is not None:
            on_image(Path(file_name).stem, poses.num_people)
    return Predictions(entries=entries, images=done, people=people, failures=failures)


def score_coco(annotations: str | Path | dict, entries: list[dict] | str | Path,
               image_ids: list[int] | None = None) -> dict[str, float]:
    """COCOeval "keypoints" statistics of result `entries` (a list or a results JSON file).

    image_ids: evaluate only these images (default: every image of the ground truth). No entry
    at all scores 0 everywhere (pycocotools' `loadRes` refuses an empty list).
    """
    from pycocotools.cocoeval import COCOeval

    gt = _quiet_coco(annotations)
    if isinstance(entries, (str, Path)):
        import json

        entries = json.loads(Path(entries).read_text())
    if not entries:
        return {name: 0.0 for name in STAT_NAMES}
    unknown = sorted({int(e["image_id"]) for e in entries} - set(gt.imgs))
    if unknown:
        raise InputError(f"results for image ids {unknown[:5]} that the ground truth does not have; "
                         "write the results with --coco_gt to take ids from it.")
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(list(entries))
        evaluator = COCOeval(gt, dt, "keypoints")
        if image_ids is not None:
            evaluator.params.imgIds = list(image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(v) for name, v in zip(STAT_NAMES, np.asarray(evaluator.stats))}


def format_table(stats: dict[str, float]) -> str:
    """The scores as a two-row Markdown table (3 decimals, like pycocotools' summary)."""
    header = "| " + " | ".join(STAT_NAMES) + " |"
    rule = "|" + "---|" * len(STAT_NAMES)
    row = "| " + " | ".join(f"{stats[n]:.3f}" for n in STAT_NAMES) + " |"
    return "\n".join((header, rule, row))
