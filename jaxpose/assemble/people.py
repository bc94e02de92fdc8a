"""The person record both assemblers build: P part slots, a part count and a summed score."""

from __future__ import annotations

import dataclasses

import numpy as np

EMPTY = -1


@dataclasses.dataclass
class Person:
    """slots[p] = index of the candidate of part p (0-based, EMPTY when missing).

    count: number of parts as OpenPose counts them (the CPU shoulder->ear rule fills a slot without
    counting it). score: float32 sum of part and limb scores (OpenPose's `personScore`).
    """

    slots: list[int]
    count: int
    score: np.float32

    @classmethod
    def new(cls, num_parts: int, fills: dict[int, int], score: np.float32) -> "Person":
        slots = [EMPTY] * num_parts
        for part, candidate in fills.items():
            slots[part] = candidate
        return cls(slots, len(fills), np.float32(score))
