"""Inputs and checks shared by the batch job's tests: three short clips cut from ../shared's
video.avi and vtest.avi, an image folder, the plain command's outputs for each of them (the
reference), and a file-for-file comparison (videos: decoded frames)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np

from jaxpose.cli import run
from conftest import MEDIA_DIR, need_shared

SIZE = (192, 144)  # every input the same size: one compile per pose_fn
WRITE = ["--write_json", "json", "--write_keypoint", "csv", "--write_keypoint_format", "csv",
         "--write_coco_json", "coco.json", "--write_video", "rendered.avi"]
MODEL = ["--net_resolution", "-1x128", "--quiet"]
CLIPS = {"walk": ("video.avi", 40, 7), "street": ("vtest.avi", 100, 6), "street2": ("vtest.avi", 300, 3)}
NAMES = ["walk", "street", "street2", "photos"]


def jax_cache_env(root: Path) -> dict[str, str]:
    """JAX's persistent compilation cache for subprocesses and Ray workers (faster, same results)."""
    return {"JAX_COMPILATION_CACHE_DIR": str(root / "jax-cache"),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def _cut(source: Path, target: Path, start: int, count: int) -> None:
    capture = cv2.VideoCapture(str(source))
    for _ in range(start):
        capture.grab()
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"MJPG"), capture.get(cv2.CAP_PROP_FPS), SIZE)
    for _ in range(count):
        ok, frame = capture.read()
        assert ok
        writer.write(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    capture.release()


def make_media(root: Path) -> Path:
    """Clips and photos under `root`; returns the manifest (relative paths, a glob, a comment)."""
    media = need_shared(MEDIA_DIR)
    (root / "clips").mkdir(parents=True)
    for name, (video, start, count) in CLIPS.items():
        _cut(need_shared(media / video), root / "clips" / f"{name}.avi", start, count)
    (root / "photos").mkdir()
    for i, photo in enumerate(sorted(media.glob("COCO_val2014_*.jpg"))[:3]):
        image = cv2.imread(str(photo))
        cv2.imwrite(str(root / "photos" / f"img_{i}.jpg"), cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA))
    manifest = root / "manifest.txt"
    manifest.write_text("# three clips and a folder\nclips/walk.avi\nclips/street*.avi\n\nphotos\n")
    return manifest


def input_path(root: Path, name: str) -> Path:
    return root / "photos" if name == "photos" else root / "clips" / f"{name}.avi"


def reference(root: Path, target: Path) -> Path:
    """The plain command's outputs for each input, as `target/<name>/...` with the same --write_*."""
    for name in NAMES:
        argv = [str(input_path(root, name))]
        for i in range(0, len(WRITE), 2):
            value = WRITE[i + 1]
            argv += [WRITE[i], value if WRITE[i] == "--write_keypoint_format" else str(target / name / value)]
        assert run.main(argv + MODEL, stdout=io.StringIO(), stderr=io.StringIO()) == 0
    return target


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def decoded(video: Path) -> tuple[float, list[np.ndarray]]:
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    return fps, frames


def assert_same_outputs(out: Path, ref: Path, names=NAMES) -> None:
    """Every input's folder holds exactly the reference's files: byte-equal, videos frame-equal."""
    for name in names:
        ours, theirs = tree(out / name), tree(ref / name)
        assert sorted(ours) == sorted(theirs), name
        for key in theirs:
            if key.endswith(".avi"):
                fps_a, frames_a = decoded(out / name / key)
                fps_b, frames_b = decoded(ref / name / key)
                assert fps_a == fps_b and len(frames_a) == len(frames_b) > 0, (name, key)
                assert all(np.array_equal(a, b) for a, b in zip(frames_a, frames_b)), (name, key)
            else:
                assert ours[key] == theirs[key], (name, key)


def leftovers(out: Path) -> list[str]:
    """Half-written files (atomic writers' temporaries) and parts left in the job folder."""
    stale = [str(p) for p in out.rglob(".*.part")]
    parts = out / ".jaxpose-job" / "parts"
    if parts.is_dir():
        stale += [str(p) for p in parts.rglob("*") if p.is_file()]
    return stale


def copy_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


__all__ = ["MODEL", "NAMES", "WRITE", "assert_same_outputs", "copy_env", "decoded", "jax_cache_env",
           "leftovers", "make_media", "reference", "tree"]
