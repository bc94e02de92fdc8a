"""Net output -> fixed-shape peaks and limb scores, on the device (openpose-core §4-§7.2).

`postprocess` is pure and jittable: upsample and merge the scales, NMS the part channels and
score every candidate connection. Everything it returns has a static shape.

Two routes give the same results: the general one (any scales, either semantics, heat-maps
returned) upsamples every channel to full maps; the fast one (one scale, CUDA semantics, an
integer factor, no heat-maps: the default) upsamples only the part channels, as matrix
products in row-major layout (`resize.upsample_rows`, `peaks.find_peaks_rows`), and reads the
PAFs at the limb samples from their x-upsampled maps (`resize.sample_rows`), never building the
full-resolution PAF maps.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose.device.paf import ScoreThresholds, score_connections, score_with_sampler
from jaxpose.device.peaks import find_peaks, find_peaks_rows
from jaxpose.device.resize import StaticTaps, sample_taps, static_taps, upsample_merge, upsample_rows
from jaxpose.specs import ModelSpec


def pair_capacities(num_pairs: int, max_peaks: int) -> tuple[int, ...]:
    """Packed candidate-pair slot counts tried before scoring all K x M x M pairs: 1/16, 1/4, 1/2.

    With M = 16 and 19 limbs (4864 pairs) a photo of 4 people holds ~300 candidate pairs, a
    street video of 13 ~800-2700; each capacity is one compiled branch (~1 s of compile time)."""
    total = num_pairs * max_peaks * max_peaks
    return tuple(sorted({c for c in (total // 16, total // 4, total // 2) if c >= 8}))


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
    route: str = "auto",
) -> dict[str, jnp.ndarray]:
    """Per-scale net outputs (N, hi, wi, C) -> dict of fixed-shape arrays.

    ratios: (n_scales,) float32 r_i / r_0; nms_offset: float32 0.5 / s (§5);
    heat_hw: heatmap (Ht, Wt) = scale-0 net input size.
    Returns peaks (N, P, M, 3), counts (N, P), totals (N, P), scores (N, K, M, M) and, when
    `return_heatmaps`, heatmaps (N, C, Ht, Wt) (channel-first, as OpenPose's blob).
    loop_frames: process the N frames one after the other (`lax.map`, inside the same compiled
    call) instead of all at once; default: on CPU, where full-resolution maps of a whole batch
    overflow the caches.
    route: "auto" (the fast route where it applies) or "general" (always full maps; the
    reference the fast route is tested and measured against).
    """
    if route not in ("auto", "general"):
        raise ValueError(f"route must be 'auto' or 'general', got {route!r}")
    if loop_frames is None:
        loop_frames = jax.default_backend() == "cpu"
    one = functools.partial(_postprocess_frames, ratios=ratios, nms_offset=nms_offset,
                            thresholds=thresholds, spec=spec, heat_hw=heat_hw,
                            semantics=semantics, max_peaks=max_peaks,
                            return_heatmaps=return_heatmaps, route=route)
    if not loop_frames or outputs[0].shape[0] == 1:
        return one(list(outputs))
    per_frame = jax.lax.map(lambda outs: one([o[None] for o in outs]), list(outputs))
    return jax.tree.map(lambda a: a[:, 0], per_frame)


def fast_route_taps(outputs: Sequence[jnp.ndarray], heat_hw: tuple[int, int], semantics: str,
                    return_heatmaps: bool) -> StaticTaps | None:
    """The static taps of the fast route when it applies to these outputs, else None."""
    if len(outputs) != 1 or semantics != "cuda" or return_heatmaps or min(heat_hw) < 3:
        return None
    h = outputs[0].shape[1]
    if heat_hw[0] % h or heat_hw[0] // h < 2:
        return None
    return static_taps(heat_hw, outputs[0].shape[1:3], semantics)


def _postprocess_frames(outputs, *, ratios, nms_offset, thresholds, spec, heat_hw, semantics,
                        max_peaks, return_heatmaps, route) -> dict[str, jnp.ndarray]:
    taps = None if route == "general" else fast_route_taps(outputs, heat_hw, semantics,
                                                              return_heatmaps)
    if taps is not None:
        return _fast_route(outputs[0], taps, nms_offset, thresholds, spec=spec, max_peaks=max_peaks)
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


def _fast_route(output: jnp.ndarray, taps: StaticTaps, nms_offset: jnp.ndarray,
                thresholds: ScoreThresholds, *, spec: ModelSpec, max_peaks: int) -> dict[str, jnp.ndarray]:
    """One scale, CUDA semantics: (N, h, w, C) net output -> the same dict as the general route."""
    parts = upsample_rows(output[..., :spec.num_parts], taps)  # (Ht, N, P, Wt)
    found = find_peaks_rows(parts, thresholds.nms_threshold, nms_offset, max_peaks)
    channel = jnp.asarray(np.array(paf_channels(spec), np.int32).T)  # (2, K): x, y channels

    def sample(axis, frame, limb, sy, sx):
        return sample_taps(output, taps, frame, channel[axis][limb], sy, sx)

    scores = score_with_sampler(sample, taps.target_hw, found.peaks, found.counts, spec.pairs,
                                thresholds, "cuda", pair_capacities(spec.num_pairs, max_peaks))
    return {"peaks": found.peaks, "counts": found.counts, "totals": found.totals,
            "scores": scores}
