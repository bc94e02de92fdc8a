"""Planted people: ideal network outputs rendered from known skeletons, for any body model.

A person is a dict {part index: (x, y)} in heatmap pixels (= net-input pixels of scale 0) plus a
peak amplitude and a PAF length. `render` draws, at the network's stride 8, one Gaussian per part (peak = amplitude,
sigma in stride cells) and, for every pair whose two parts are present, the ideal PAF: the unit
vector A -> B (times the PAF length) on every cell within `width` cells of the segment, averaged
where limbs of one channel overlap (as OpenPose's training labels). Low-res cell u corresponds to
heatmap pixel x = 8 (u + 0.5) - 0.5, the inverse of the upsampling's sampling rule.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxpose.specs import ModelSpec

STRIDE = 8

# A standing person facing the camera, in stride cells relative to the mid-hip (y down).
TEMPLATE = {
    "Head": (0.0, -6.2), "Nose": (0.0, -5.0), "Neck": (0.0, -3.5), "Chest": (0.0, -1.2),
    "REye": (-0.7, -5.7), "LEye": (0.7, -5.7), "REar": (-1.4, -5.3), "LEar": (1.4, -5.3),
    "RShoulder": (-2.0, -3.4), "RElbow": (-2.6, -1.0), "RWrist": (-3.0, 1.3),
    "LShoulder": (2.0, -3.4), "LElbow": (2.6, -1.0), "LWrist": (3.0, 1.3),
    "MidHip": (0.0, 0.6), "RHip": (-1.2, 0.8), "LHip": (1.2, 0.8),
    "RKnee": (-1.3, 3.9), "RAnkle": (-1.4, 7.0), "LKnee": (1.3, 3.9), "LAnkle": (1.4, 7.0),
    "LBigToe": (2.3, 7.9), "LSmallToe": (2.9, 7.5), "LHeel": (1.2, 7.9),
    "RBigToe": (-2.3, 7.9), "RSmallToe": (-2.9, 7.5), "RHeel": (-1.2, 7.9),
}


@dataclasses.dataclass
class Person:
    parts: dict[int, tuple[float, float]]  # part index -> (x, y) heatmap pixels
    amplitude: float = 1.0  # peak height of every part
    paf: float = 1.0  # PAF vector length on this person's limbs
    weak: dict[int, float] = dataclasses.field(default_factory=dict)  # part -> own peak height


def standing(spec: ModelSpec, cx: float, cy: float, amplitude: float = 1.0,
             only: tuple[str, ...] | None = None, drop: tuple[str, ...] = ()) -> Person:
    """The template person with mid-hip at cell (cx, cy), for `spec`'s part names."""
    parts = {}
    for index, name in enumerate(spec.part_names):
        if (only is not None and name not in only) or name in drop:
            continue
        u, v = TEMPLATE[name]
        # the small offsets keep parts off half-cell positions, where the upsampled peak is a
        # two-pixel plateau that no strict NMS accepts
        parts[index] = (cell_to_pixel(cx + u + 0.13), cell_to_pixel(cy + v + 0.21))
    return Person(parts, amplitude)


def cell_to_pixel(u: float) -> float:
    return STRIDE * (u + 0.5) - 0.5


def pixel_to_cell(x: float) -> float:
    return (x + 0.5) / STRIDE - 0.5


def render(spec: ModelSpec, people: list[Person], heat_wh: tuple[int, int],
           sigma: float = 1.5, width: float = 1.0) -> np.ndarray:
    """(h, w, C) float32 ideal net output for a heatmap of `heat_wh` pixels (multiples of 8)."""
    w, h = heat_wh[0] // STRIDE, heat_wh[1] // STRIDE
    out = np.zeros((h, w, spec.num_channels), np.float32)
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    for person in people:
        for part, (x, y) in person.parts.items():
            u, v = pixel_to_cell(x), pixel_to_cell(y)
            peak = person.weak.get(part, person.amplitude)
            g = peak * np.exp(-((gx - u) ** 2 + (gy - v) ** 2) / (2 * sigma ** 2))
            out[..., part] = np.maximum(out[..., part], g)
    if spec.has_background:
        out[..., spec.num_parts] = 1.0 - out[..., :spec.num_parts].max(axis=-1)
    for k, (a, b) in enumerate(spec.pairs):
        acc = np.zeros((h, w, 2))
        hits = np.zeros((h, w))
        for person in people:
            if a not in person.parts or b not in person.parts:
                continue
            ua, va = (pixel_to_cell(c) for c in person.parts[a])
            ub, vb = (pixel_to_cell(c) for c in person.parts[b])
            d = np.array([ub - ua, vb - va])
            length = np.hypot(*d)
            unit = d / length
            along = (gx - ua) * unit[0] + (gy - va) * unit[1]
            across = np.abs(-(gx - ua) * unit[1] + (gy - va) * unit[0])
            on = (along >= -0.5) & (along <= length + 0.5) & (across <= width)
            acc[on] += unit * person.paf
            hits[on] += 1
        field = np.where(hits[..., None] > 0, acc / np.maximum(hits, 1)[..., None], 0.0)
        cx, cy = (spec.paf_offset + c for c in spec.map_idx[k])
        out[..., cx], out[..., cy] = field[..., 0], field[..., 1]
    return out


def expected_keypoints(spec: ModelSpec, person: Person, scale: float = 1.0) -> np.ndarray:
    """(P, 2) image-pixel positions OpenPose reports for a planted person: s * x + 0.5 (§8.1);
    NaN where the part is absent."""
    kp = np.full((spec.num_parts, 2), np.nan)
    for part, (x, y) in person.parts.items():
        kp[part] = (scale * x + 0.5, scale * y + 0.5)
    return kp
