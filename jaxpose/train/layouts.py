"""COCO-17 annotations -> a body model's keypoint layout (openpose-training.md §1.2, §1.3).

Everything is derived from part *names*: the model's table (`jaxpose.specs`) and the COCO-17 name
list (`jaxpose.io.writers.coco_json.COCO17_PART_NAMES`). A model part is
    direct       its name is a COCO-17 part (Nose, RShoulder, ...);
    derived      the midpoint of two COCO-17 parts (`DERIVED_PARTS`: Neck, MidHip);
    unavailable  anything else (BODY_25's feet, MPI's Head and Chest): its heatmap channel and
                 every PAF touching it get loss weight 0 over the whole image (§1.4, OP-train 1.).

Keypoint states (the third column of a converted person):
    0 ABSENT     not labelled (COCO v = 0), outside the original image, or unavailable;
    1 DRAWN      labelled (COCO v = 1 or 2: occluded points are drawn like visible ones);
    2 UNCERTAIN  a derived point with some sources labelled and some not (OP-train's
                 isVisible = 3): not drawn; with ROI masking its person's region is masked.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from jaxpose.io.writers.coco_json import COCO17_PART_NAMES
from jaxpose.specs import ModelSpec, get_spec

ABSENT, DRAWN, UNCERTAIN = 0, 1, 2

# §1.3: the neck is the midpoint of the shoulders (every codebase); BODY_25's MidHip of the hips.
DERIVED_PARTS = {"Neck": ("RShoulder", "LShoulder"), "MidHip": ("RHip", "LHip")}


@dataclasses.dataclass(frozen=True)
class Layout:
    """How to fill each part of `spec` from COCO-17: `sources[k]` = () | (i,) | (i, j)."""

    spec: ModelSpec
    sources: tuple[tuple[int, ...], ...]

    @property
    def available(self) -> np.ndarray:
        """(K,) bool: the data can supply part k."""
        return np.array([len(s) > 0 for s in self.sources], bool)

    def channel_weights(self) -> np.ndarray:
        """(C,) float32 in the network's output order: 0 for the channels the data cannot supply
        (unavailable parts and both channels of every PAF touching one), 1 elsewhere."""
        spec = self.spec
        weights = np.ones(spec.num_channels, np.float32)
        available = self.available
        weights[: spec.num_parts][~available] = 0.0
        for (a, b), (cx, cy) in zip(spec.pairs, spec.map_idx):
            if not (available[a] and available[b]):
                weights[spec.paf_offset + cx] = weights[spec.paf_offset + cy] = 0.0
        return weights


@functools.lru_cache(maxsize=None)
def coco_layout(name: str) -> Layout:
    """The COCO-17 -> model mapping of body model `name` (a key of `jaxpose.specs.SPECS`)."""
    spec = get_spec(name)
    index = {n: i for i, n in enumerate(COCO17_PART_NAMES)}
    sources = []
    for part in spec.part_names:
        if part in index:
            sources.append((index[part],))
        elif part in DERIVED_PARTS:
            sources.append(tuple(index[p] for p in DERIVED_PARTS[part]))
        else:
            sources.append(())
    return Layout(spec, tuple(sources))


@functools.lru_cache(maxsize=None)
def flip_permutation(name: str) -> tuple[int, ...]:
    """Part index permutation of a horizontal flip: every "L..." part swaps with its "R..." twin."""
    names = get_spec(name).part_names
    where = {n: i for i, n in enumerate(names)}
    perm = []
    for n in names:
        twin = {"L": "R", "R": "L"}.get(n[:1], "") + n[1:]
        perm.append(where.get(twin, where[n]) if n[:1] in ("L", "R") else where[n])
    return tuple(perm)


def to_model_layout(coco: np.ndarray, image_wh: tuple[int, int], layout: Layout) -> np.ndarray:
    """COCO-17 people (P, 17, 3) x, y, v -> (P, K, 3) x, y, state in `layout`'s part order.

    A point is DRAWN iff it is labelled (v >= 1) and inside the original image (0 <= x < W,
    0 <= y < H; §1.2). A derived point is DRAWN iff both sources are, UNCERTAIN iff exactly one
    is, and sits at their midpoint.
    """
    coco = np.asarray(coco, np.float32).reshape(-1, len(COCO17_PART_NAMES), 3)
    w, h = image_wh
    x, y, v = coco[..., 0], coco[..., 1], coco[..., 2]
    drawn = (v >= 1) & (x >= 0) & (x < w) & (y >= 0) & (y < h)
    out = np.zeros((coco.shape[0], len(layout.sources), 3), np.float32)
    for k, src in enumerate(layout.sources):
        if len(src) == 1:
            out[:, k, :2] = coco[:, src[0], :2]
            out[:, k, 2] = np.where(drawn[:, src[0]], DRAWN, ABSENT)
        elif len(src) == 2:
            i, j = src
            both, some = drawn[:, i] & drawn[:, j], drawn[:, i] | drawn[:, j]
            out[:, k, :2] = np.where(both[:, None], (coco[:, i, :2] + coco[:, j, :2]) / 2, 0.0)
            out[:, k, 2] = np.where(both, DRAWN, np.where(some, UNCERTAIN, ABSENT))
    out[out[..., 2] == ABSENT, :2] = 0.0
    return out
