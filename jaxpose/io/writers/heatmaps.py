"""`--write_heatmaps <dir>`: body heatmaps / PAFs as OpenPose exports them (core §9, features §3.5).

Public functions:
    select_heatmaps(heatmaps, model, *, add_parts, add_bkg, add_pafs) -> (C', H, W) float32, kinds
    scale_heatmaps(chw, kinds, scale_mode=2) -> (C', H, W) float32     `--heatmaps_scale`
    export_heatmaps(poses, *, add_parts=False, add_bkg=False, add_pafs=False, scale_mode=2)
                                                       -> (C', H, W) float32 (`datum.poseHeatMaps`)
    tile_heatmaps(chw) -> (H, C'*W) uint8               channel c in columns [c*W, (c+1)*W)
    heatmaps_bytes(chw, fmt="png") -> bytes             image file, or OpenPose's raw `float`
    write_heatmaps(directory, frame_name, poses, *, fmt="png", add_parts=False, add_bkg=False,
                   add_pafs=False, scale_mode=2, view=0) -> Path   "<frame>_pose_heatmaps.<fmt>"

Channels are parts (model order), background, PAFs (network order), each block only when asked.
`--heatmaps_scale`: 0 [-1, 1], 1 [0, 1], 2 integers 0..255 (PAFs up to 257, clamped when written as
an image), 3 unscaled, 4 as 1, 5 as 0. Image formats need mode 2; `float` takes any mode and writes
little-endian float32: the number of dimensions, the sizes (C, H, W), then the values in C order.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from jaxpose.errors import InputError
from jaxpose.io.atomic import atomic_write_bytes
from jaxpose.io.names import output_path
from jaxpose.poses import Poses
from jaxpose.specs import get_spec

HEATMAP_SCALE_MODES = (0, 1, 2, 3, 4, 5)
FLOAT_FORMAT = "float"


def select_heatmaps(heatmaps: np.ndarray, model: str, *, add_parts: bool, add_bkg: bool,
                    add_pafs: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pick the requested blocks of an (H, W, C) merged net output.

    Returns the (C', H, W) float32 channels and a (C',) bool array, True for PAF channels.
    """
    spec = get_spec(model)
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    if heatmaps.ndim != 3 or heatmaps.shape[-1] != spec.num_channels:
        raise InputError(f"heatmaps of {spec.name} must be (H, W, {spec.num_channels}); "
                         f"got {heatmaps.shape}")
    if not (add_parts or add_bkg or add_pafs):
        raise InputError("--write_heatmaps needs at least one of --heatmaps_add_parts, "
                         "--heatmaps_add_bkg, --heatmaps_add_PAFs")
    if add_bkg and not spec.has_background:
        raise InputError(f"model {spec.name} has no background channel; drop --heatmaps_add_bkg")
    channels: list[int] = []
    if add_parts:
        channels += range(spec.num_parts)
    if add_bkg:
        channels.append(spec.num_parts)
    if add_pafs:
        channels += range(spec.paf_offset, spec.num_channels)
    channels_arr = np.asarray(channels)
    chw = np.ascontiguousarray(np.moveaxis(heatmaps[..., channels_arr], -1, 0))
    return chw, channels_arr >= spec.paf_offset


def scale_heatmaps(chw: np.ndarray, is_paf: np.ndarray, scale_mode: int = 2) -> np.ndarray:
    """Apply `--heatmaps_scale` to (C, H, W) channels; `is_paf` (C,) marks the PAF channels."""
    if scale_mode not in HEATMAP_SCALE_MODES:
        raise InputError(f"--heatmaps_scale must be one of 0..5, got {scale_mode!r}")
    chw = np.asarray(chw, dtype=np.float32)
    if scale_mode == 3:
        return chw.copy()
    f32 = np.float32
    parts = np.clip(chw, f32(0), f32(1))
    pafs = np.clip(chw, f32(-1), f32(1))
    if scale_mode in (0, 5):
        parts, pafs = parts * f32(2) - f32(1), pafs
    elif scale_mode in (1, 4):
        parts, pafs = parts, pafs * f32(0.5) + f32(0.5)
    else:  # 2: OpenPose's int(v + 0.5) on non-negative values = floor(v + 0.5)
        parts = np.floor(parts * f32(255) + f32(0.5))
        pafs = np.floor(pafs * f32(128.5) + f32(128.5) + f32(0.5))
    return np.where(np.asarray(is_paf, bool)[:, None, None], pafs, parts).astype(np.float32)


def export_heatmaps(poses: Poses, *, add_parts: bool = False, add_bkg: bool = False,
                    add_pafs: bool = False, scale_mode: int = 2) -> np.ndarray:
    """OpenPose's `datum.poseHeatMaps`: the selected, scaled (C', H, W) float32 channels."""
    if poses.heatmaps is None:
        raise InputError("these poses carry no heatmaps; run the pipeline with heatmaps "
                         "requested (e.g. --heatmaps_add_parts) to write them")
    chw, is_paf = select_heatmaps(poses.heatmaps, poses.model, add_parts=add_parts,
                                  add_bkg=add_bkg, add_pafs=add_pafs)
    return scale_heatmaps(chw, is_paf, scale_mode)


def tile_heatmaps(chw: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, C*W) uint8, channels side by side, values rounded and clamped to 0..255."""
    chw = np.asarray(chw, dtype=np.float32)
    if chw.ndim != 3:
        raise InputError(f"heatmaps must be (C, H, W), got {chw.shape}")
    c, h, w = chw.shape
    tiled = chw.transpose(1, 0, 2).reshape(h, c * w)
    return np.clip(np.rint(tiled), 0, 255).astype(np.uint8)


def _float_bytes(chw: np.ndarray) -> bytes:
    header = np.asarray((chw.ndim, *chw.shape), dtype="<f4")
    return header.tobytes() + np.ascontiguousarray(chw, dtype="<f4").tobytes()


def heatmaps_bytes(chw: np.ndarray, fmt: str = "png") -> bytes:
    """The file content for (C, H, W) heatmaps in `fmt` (an OpenCV image extension, or "float")."""
    fmt = fmt.lower().lstrip(".")
    chw = np.asarray(chw, dtype=np.float32)
    if fmt == FLOAT_FORMAT:
        return _float_bytes(chw)
    params = {"png": [cv2.IMWRITE_PNG_COMPRESSION, 9],
              "jpg": [cv2.IMWRITE_JPEG_QUALITY, 100],
              "jpeg": [cv2.IMWRITE_JPEG_QUALITY, 100]}.get(fmt, [])
    try:
        ok, encoded = cv2.imencode(f".{fmt}", tile_heatmaps(chw), params)
    except cv2.error as e:
        raise InputError(f"--write_heatmaps_format {fmt!r} is not an image format OpenCV can "
                         f"write; use png, jpg or float") from e
    if not ok:
        raise InputError(f"OpenCV could not encode heatmaps as {fmt!r}; use png, jpg or float")
    return encoded.tobytes()


def write_heatmaps(directory: str | Path, frame_name: str, poses: Poses, *, fmt: str = "png",
                   add_parts: bool = False, add_bkg: bool = False, add_pafs: bool = False,
                   scale_mode: int = 2, view: int = 0) -> Path:
    """Write `<directory>/<frame_name>_pose_heatmaps.<fmt>` atomically; returns its path."""
    fmt = fmt.lower().lstrip(".")
    if fmt != FLOAT_FORMAT and scale_mode != 2:
        raise InputError(f"--write_heatmaps_format {fmt} needs --heatmaps_scale 2 "
                         f"(got {scale_mode}); use --write_heatmaps_format float for other scales")
    chw = export_heatmaps(poses, add_parts=add_parts, add_bkg=add_bkg, add_pafs=add_pafs,
                          scale_mode=scale_mode)
    return atomic_write_bytes(output_path(directory, frame_name, "pose_heatmaps", fmt, view),
                              heatmaps_bytes(chw, fmt))
