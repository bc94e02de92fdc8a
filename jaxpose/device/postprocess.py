"""Net output -> fixed-shape peaks and limb scores, on the device (openpose-core §4-§7.2).

`postprocess` is pure and jittable: upsample and merge the scales, NMS the part channels and
score every candidate connection. Everything it returns has a static shape.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp

from jaxpose.device.paf import ScoreThresholds, score_connections
from jaxpose.device.peaks import find_peaks
from jaxpose.device.resize import upsample_merge
from jaxpose.specs import ModelSpec


def paf_channels(spec: ModelSpec) -> tuple[tuple[int, int], ...]:
    """Absolute (x, y) channels of each pair's PAF in the net output (§2.4)."""
    return tuple((spec.paf_offset + x, spec.paf_offset + y) for x, y in spec.map_idx)


def postprocess(
    outputs: Sequence[jnp.ndarray],
    ratios: jnp.ndarray,
    nms_offset: jnp.ndarray,
    thresholds: ScoreThresholds,
    *,
    spec: ModelSpec,
    heat_hw: tuple[int, int],
    semantics: str = "cuda",
    max_peaks: int = 127,
    return_heatmaps: bool = False,
    loop_frames: bool | None = None,
) -> dict[str, jnp.ndarray]:
    """Per-scale net outputs (N, hi, wi, C) -> dict of fixed-shape arrays.

    ratios: (n_scales,) float32 r_i / r_0; nms_offset: float32 0.5 / s (§5);
    heat_hw: heatmap (Ht, Wt) = scale-0 net input size.
    Returns peaks (N, P, M, 3), counts (N, P), totals (N, P), scores (N, K, M, M) and, when
    `return_heatmaps`, heatmaps (N, C, Ht, Wt) (channel-first, as OpenPose's blob).
    loop_frames: process the N frames one after the other (`lax.map`, inside the same compiled
    call) instead of all at once; default: on CPU, where full-resolution maps of a whole batch
    overflow the caches.
    """
    if loop_frames is None:
        loop_frames = jax.default_backend() == "cpu"
    one = functools.partial(_postprocess_frames, ratios=ratios, nms_offset=nms_offset,
                            thresholds=thresholds, spec=spec, heat_hw=heat_hw,
                            semantics=semantics, max_peaks=max_peaks,
                            return_heatmaps=return_heatmaps)
    if not loop_frames or outputs[0].shape[0] == 1:
        return one(list(outputs))
    per_frame = jax.lax.map(lambda outs: one([o[None] for o in outs]), list(outputs))
    return jax.tree.map(lambda a: a[:, 0], per_frame)


def _postprocess_frames(outputs, *, ratios, nms_offset, thresholds, spec, heat_hw, semantics,
                        max_peaks, return_heatmaps) -> dict[str, jnp.ndarray]:
    merged = upsample_merge(outputs, heat_hw, ratios, semantics)  # (N, C, Ht, Wt)
    found = find_peaks(merged[:, :spec.num_parts], thresholds.nms_threshold, nms_offset,
                       max_peaks, semantics)
    scores = score_connections(merged, found.peaks, found.counts, spec.pairs, paf_channels(spec),
                               thresholds, semantics)
    result = {"peaks": found.peaks, "counts": found.counts, "totals": found.totals,
              "scores": scores}
    if return_heatmaps:
        result["heatmaps"] = merged
    return result
