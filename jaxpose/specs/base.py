"""The shape of a model table: every fact about a model that more than one room needs.

Networks, converters, post-processing, rendering and writers all read these tables; nothing else in
the package repeats a part name, a pair, a colour or a threshold.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

Normalization = Literal["openpose", "raw_bgr"]


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Assembly thresholds (OpenPose's `PoseProperty` values, snake-cased)."""

    nms_threshold: float
    inter_threshold: float
    inter_min_above_threshold: float
    min_subset_cnt: int
    min_subset_score: float


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model's table.

    Network output layout (NHWC, stride `stride`): channels `0..P-1` are the part heatmaps, then one
    background channel when `has_background`, then `2K` PAF channels; the PAF of pair `k` is at
    `paf_offset + map_idx[k] = (x channel, y channel)`.
    """

    name: str
    part_names: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]  # PAF pairs (A, B), in OpenPose's list order
    map_idx: tuple[tuple[int, int], ...]  # PAF (x, y) channel offsets relative to `paf_offset`
    render_pairs: tuple[tuple[int, int], ...]
    part_colors: tuple[tuple[int, int, int], ...]  # RGB per part; a limb takes the colour of its B
    thresholds: Thresholds
    thresholds_maximize_positives: Thresholds
    has_background: bool = True
    stride: int = 8
    normalization: Normalization = "openpose"
    redundant_pairs: tuple[int, ...] = ()  # pair indices the CPU assembler treats as shoulder->ear
    render_threshold: float = 0.05
    # Caffe/TF names of the network's output blob, for converters and the reference tests.
    output_blob: str = "net_output"

    @property
    def num_parts(self) -> int:
        return len(self.part_names)

    @property
    def num_pairs(self) -> int:
        return len(self.pairs)

    @property
    def paf_offset(self) -> int:
        return self.num_parts + (1 if self.has_background else 0)

    @property
    def num_channels(self) -> int:
        return self.paf_offset + 2 * self.num_pairs

    @property
    def score_normalizer(self) -> int:
        """Divisor of a person's summed score (OpenPose: `P + K`)."""
        return self.num_parts + self.num_pairs

    def part_index(self, name: str) -> int:
        return self.part_names.index(name)

    def thresholds_for(self, maximize_positives: bool) -> Thresholds:
        return self.thresholds_maximize_positives if maximize_positives else self.thresholds


def pairs_from_flat(flat: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """`(a0, b0, a1, b1, ...)` -> `((a0, b0), (a1, b1), ...)`: OpenPose writes its lists flat."""
    if len(flat) % 2:
        raise ValueError("a flat pair list needs an even number of entries")
    return tuple((flat[i], flat[i + 1]) for i in range(0, len(flat), 2))
