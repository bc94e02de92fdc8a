"""OpenPose's per-frame names and the output file names built from them (features §3.1).

Public functions:
    image_frame_name(path) -> str            image file stem ("COCO_val2014_000000000192")
    video_frame_name(video_path, index) -> str   "<video stem>_<12-digit index>"
    camera_frame_name(index) -> str          "<12-digit index>" (webcam, IP camera, FLIR)
    output_path(directory, frame_name, tag, ext, view=0) -> Path
                                             "<dir>/<frame>_<tag>[_<view>].<ext>", used by every writer
    natural_key(name) -> tuple               sort key for OpenPose's natural order of image files
"""

from __future__ import annotations

import re
from pathlib import Path

FRAME_DIGITS = 12  # OpenPose pads video/camera frame indices to 12 digits.


def image_frame_name(path: str | Path) -> str:
    """Frame name of an image from `--image_dir`: its file name without the extension."""
    return Path(path).stem


def video_frame_name(video_path: str | Path, index: int) -> str:
    """Frame name of frame `index` (0-based capture position) of a video file."""
    return f"{Path(video_path).stem}_{camera_frame_name(index)}"


def camera_frame_name(index: int) -> str:
    """Frame name of a webcam / IP camera / FLIR frame: the zero-padded frame index."""
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")
    return f"{int(index):0{FRAME_DIGITS}d}"


def output_path(directory: str | Path, frame_name: str, tag: str, ext: str, view: int = 0) -> Path:
    """`<directory>/<frame_name>_<tag>.<ext>`; views >= 1 get `_<view>` after the tag, as OpenPose.

    tag is e.g. "keypoints" (people JSON), "pose" / "face" / "hand_left" / "hand_right"
    (`--write_keypoint`), "pose_heatmaps", "rendered". `ext` may be given with or without the dot.
    """
    if not frame_name:
        raise ValueError("an output file needs a non-empty frame name")
    suffix = f"_{view}" if view >= 1 else ""
    return Path(directory) / f"{frame_name}_{tag}{suffix}.{ext.lstrip('.')}"


def natural_key(name: str) -> tuple:
    """Sort key giving natural order ("img2" < "img10"), as OpenPose lists image directories."""
    return tuple((0, int(tok), "") if tok.isdigit() else (1, 0, tok)
                 for tok in re.split(r"(\d+)", name) if tok)
