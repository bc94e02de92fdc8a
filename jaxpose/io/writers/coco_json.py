"""`--write_coco_json <file>`: OpenPose's COCO keypoint-results file (features §3.3).

Public functions and classes:
    coco_image_id(frame_name) -> int              trailing decimal number of the frame name
    coco_gt_image_ids(gt_path) -> dict[str, int]  frame name (file name without extension) -> id
    check_image_ids(frame_names)                  InputError if two frames would share an id
    coco_entries(poses, image_id, variant="body") -> list[dict]
    coco_json_text(entries) -> str                OpenPose's layout (newlines + tab indentation)
    coco_variant_paths(path, variants=1) -> dict[str, Path]   variant -> file
    CocoJsonWriter(path, *, variants=1, flush_every=100, flush_seconds=10.0, coco_gt=None)
                                                  accumulate frames, write atomically
        .add(frame_name, poses)   .flush()   .close()   (also a context manager)

Entries: one per person with at least one keypoint of the variant scored > 0; keys image_id,
category_id (1), keypoints (COCO order; x, y, 1 when the score is > 0, else -1, -1, 0) and score
(the person score), then `track_id` (the tracker's id, `Poses.ids`) for tracked people only, so
untracked output is OpenPose's byte for byte. Body for BODY_25 and COCO-18 models (MPI has no COCO mapping: an error);
foot (variant mask 2) for BODY_25 only. Coordinates are written as stored (after --keypoint_scale).

Image ids: with a ground-truth file (`coco_gt`, the CLI's `--coco_gt`) each frame takes the id of
the ground-truth image whose file name (without folders and extension) equals the frame name, so
any id scheme works (OCHuman numbers its images 1, 2, 3); a frame not in the file is an error.
Without it the id is the frame name's trailing number, and two frames that would get the same id
(`messi5` and `cam1_000005`) are an error naming both: the writer raises it on the second frame,
and `check_image_ids` finds it before any work when the frame names are known.

The writer rewrites the whole file atomically after `flush_every` frames or `flush_seconds` seconds
(whichever comes first) and on close, so an interrupted run leaves a complete, valid JSON file with
the frames done up to the last flush.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from jaxpose.errors import InputError
from jaxpose.io.atomic import atomic_write_text
from jaxpose.io.writers._numbers import cpp_float
from jaxpose.poses import Poses
from jaxpose.specs import COCO_17, get_spec

# COCO-17 order (jaxpose.specs.COCO_17), matched by part NAME, so any model whose table has these
# names maps (BODY_25 / COCO-18 / MobileNet-thin); MPI lacks them.
COCO17_PART_NAMES = COCO_17.part_names
FOOT_PART_NAMES = ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
VARIANT_BITS = {"body": 1, "foot": 2, "face": 4, "hand21": 8, "hand42": 16}
_VARIANT_SUFFIX = {"body": "", "foot": "_foot", "face": "_face", "hand21": "_hand21",
                   "hand42": "_hand42"}


def coco_image_id(frame_name: str) -> int:
    """The trailing decimal number of a frame name (`COCO_val2014_000000000294` -> 294)."""
    match = re.search(r"(\d+)$", frame_name)
    if match is None:
        raise InputError(f"--write_coco_json needs frame names ending in digits (the COCO image "
                         f"id); {frame_name!r} does not. Pass the ground truth with --coco_gt ANNOTATIONS.json to "
                         "take ids from it, or rename the images, e.g. to their COCO ids.")
    return int(match.group(1))


def _id_clash(first: str, second: str, image_id: int) -> InputError:
    return InputError(
        f"--write_coco_json: frames {first!r} and {second!r} would both get image_id {image_id}; "
        "pass the ground truth with --coco_gt ANNOTATIONS.json to take ids from it, or rename "
        "the files so that their trailing numbers differ")


def check_image_ids(frame_names) -> None:
    """Raise InputError when two of `frame_names` would get the same trailing-number image id
    (naming both; the same name twice is two frames too) or a name has no trailing number.
    Pure; call it before any work when the inputs are known."""
    seen: dict[int, str] = {}
    for name in frame_names:
        image_id = coco_image_id(name)
        if image_id in seen:
            raise _id_clash(seen[image_id], name, image_id)
        seen[image_id] = name


def coco_gt_image_ids(gt_path: str | Path) -> dict[str, int]:
    """{frame name: image id} of a COCO ground-truth file: the frame name is the image's file
    name without folders and extension, as the readers name frames."""
    import json

    path = Path(gt_path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"--coco_gt {path}: no such file; pass the COCO annotation file the "
                         "images come from") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"--coco_gt {path}: not a readable JSON file ({exc})") from None
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise InputError(f"--coco_gt {path}: not a COCO annotation file (no 'images' list)")
    ids: dict[str, int] = {}
    files: dict[str, str] = {}
    for image in images:
        try:
            file_name, image_id = str(image["file_name"]), int(image["id"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"--coco_gt {path}: an image entry lacks 'file_name' or 'id': "
                             f"{str(image)[:80]}") from None
        stem = Path(file_name.replace("\\", "/")).stem
        if stem in ids and ids[stem] != image_id:
            raise InputError(f"--coco_gt {path}: images {files[stem]!r} and {file_name!r} share "
                             f"the frame name {stem!r} but have ids {ids[stem]} and {image_id}")
        ids[stem], files[stem] = image_id, file_name
    return ids


def coco_index_map(model: str, variant: str = "body") -> tuple[int, ...]:
    """Indices of the model's parts in COCO order for `variant` ("body" or "foot")."""
    spec = get_spec(model)
    names = {"body": COCO17_PART_NAMES, "foot": FOOT_PART_NAMES}.get(variant)
    if names is None:
        raise InputError(f"COCO JSON variant {variant!r} needs the BODY_135 model, which jaxpose "
                         f"does not have; use --write_coco_json_variants 1 (body) or 2 (foot)")
    missing = [n for n in names if n not in spec.part_names]
    if missing:
        raise InputError(f"--write_coco_json ({variant}) is not defined for model {spec.name} "
                         f"(no part {missing[0]}); use BODY_25 or COCO")
    return tuple(spec.part_names.index(n) for n in names)


def coco_entries(poses: Poses, image_id: int, variant: str = "body") -> list[dict]:
    """COCO result dicts for one frame: {"image_id", "category_id", "keypoints", "score"}, plus
    "track_id" for a tracked person (id >= 0).

    keypoints is a list of Python floats/ints in COCO order; values are float32 as stored.
    """
    index = np.asarray(coco_index_map(poses.model, variant), dtype=int)
    keypoints = np.asarray(poses.keypoints, dtype=np.float32)
    scores = np.asarray(poses.scores, dtype=np.float32)
    if len(scores) != len(keypoints):
        raise InputError(f"{len(keypoints)} people but {len(scores)} person scores")
    ids = np.asarray(poses.ids).tolist()
    entries = []
    for person in range(keypoints.shape[0]):
        points = keypoints[person, index]
        valid = points[:, 2] > 0
        if not valid.any():
            continue
        flat: list[float | int] = []
        for (x, y, _), ok in zip(points.tolist(), valid.tolist()):
            flat.extend((x, y, 1) if ok else (-1, -1, 0))
        entry = {"image_id": int(image_id), "category_id": 1, "keypoints": flat,
                 "score": float(scores[person])}
        if ids[person] >= 0:
            entry["track_id"] = int(ids[person])
        entries.append(entry)
    return entries


def _number(value: float | int) -> str:
    return str(value) if isinstance(value, int) else cpp_float(value)


def coco_json_text(entries: list[dict]) -> str:
    """The whole file as OpenPose lays it out: a JSON array, tab-indented, one line per key."""
    blocks = []
    for e in entries:
        keypoints = ",".join(_number(v) for v in e["keypoints"])
        blocks.append(
            "\t{\n"
            f'\t\t"image_id":{int(e["image_id"])},\n'
            f'\t\t"category_id":{int(e["category_id"])},\n'
            f'\t\t"keypoints":[\n\t\t\t{keypoints}\n\t\t],\n'
            f'\t\t"score":{cpp_float(e["score"])}'
            + (f',\n\t\t"track_id":{int(e["track_id"])}\n' if "track_id" in e else "\n")
            + "\t}"
        )
    return "[\n" + ",\n".join(blocks) + ("\n" if blocks else "") + "]"


def _variants(mask: int) -> tuple[str, ...]:
    if mask < 0 or mask >= 32:
        raise InputError(f"--write_coco_json_variants must be a bit mask in 0..31, got {mask}")
    mask = 31 if mask == 0 else mask
    return tuple(name for name, bit in VARIANT_BITS.items() if mask & bit)


def coco_variant_paths(path: str | Path, variants: int = 1) -> dict[str, Path]:
    """File of each variant in the mask: body at `path`, others `<path-without-ext>_<variant><ext>`."""
    path = Path(path)
    return {v: path.with_name(f"{path.stem}{_VARIANT_SUFFIX[v]}{path.suffix}")
            for v in _variants(variants)}


class CocoJsonWriter:
    """Accumulates COCO entries frame by frame; the files on disk are always complete JSON.

        with CocoJsonWriter("out/coco.json") as coco:
            for name, poses in frames:
                coco.add(name, poses)
    """

    def __init__(self, path: str | Path, *, variants: int = 1, flush_every: int = 100,
                 flush_seconds: float = 10.0, coco_gt: str | Path | None = None):
        if flush_every < 1:
            raise InputError(f"flush_every must be >= 1, got {flush_every}")
        self.flush_seconds = flush_seconds
        self.paths = coco_variant_paths(path, variants)
        for variant in self.paths:
            if variant not in ("body", "foot"):
                coco_index_map("BODY_25", variant)  # raises the BODY_135 error
        self.flush_every = flush_every
        self.gt_path = Path(coco_gt) if coco_gt else None
        self.gt_ids = coco_gt_image_ids(coco_gt) if coco_gt else None
        self._frames_by_id: dict[int, str] = {}
        self.entries: dict[str, list[dict]] = {v: [] for v in self.paths}
        self._pending = 0
        self.flush()

    def image_id(self, frame_name: str) -> int:
        """The frame's image id: from the ground truth when given, else its trailing number."""
        if self.gt_ids is None:
            return coco_image_id(frame_name)
        if frame_name not in self.gt_ids:
            raise InputError(f"--coco_gt: frame {frame_name!r} is not an image of {self.gt_path} "
                             "(no file of that name); process only that file's images")
        return self.gt_ids[frame_name]

    def add(self, frame_name: str, poses: Poses) -> None:
        """Record one frame's people under its image id (see the module docstring)."""
        image_id = self.image_id(frame_name)
        if image_id in self._frames_by_id:
            raise _id_clash(self._frames_by_id[image_id], frame_name, image_id)
        self._frames_by_id[image_id] = frame_name
        for variant in self.paths:
            self.entries[variant].extend(coco_entries(poses, image_id, variant))
        self._pending += 1
        if (self._pending >= self.flush_every
                or time.monotonic() - self._last_flush >= self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        """Rewrite every variant file atomically with all entries so far."""
        for variant, path in self.paths.items():
            atomic_write_text(path, coco_json_text(self.entries[variant]))
        self._pending = 0
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> "CocoJsonWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
