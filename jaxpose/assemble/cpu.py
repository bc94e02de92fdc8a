"""OpenPose's CPU-only assembly: per-pair greedy matching in pair-list order (openpose-core §7.4)."""

from __future__ import annotations

import numpy as np

from jaxpose.assemble.people import EMPTY, Person

_MPI_PARTS = 15  # OpenPose keys the single-part duplicate check on the part count


def match_pair(scores: np.ndarray, count_a: int, count_b: int) -> list[tuple[int, int, np.float32]]:
    """§7.4.2: greedy one-to-one matching of one pair's (M, M) score table."""
    table = scores[:count_a, :count_b]
    i, j = np.nonzero(table > 1e-6)
    sc = table[i, j].astype(np.float32)
    order = np.lexsort((j, i, sc))[::-1]
    limit = min(count_a, count_b)
    accepted: list[tuple[int, int, np.float32]] = []
    used_a: set[int] = set()
    used_b: set[int] = set()
    for n in order:
        a, b = int(i[n]), int(j[n])
        if a not in used_a and b not in used_b:
            accepted.append((a, b, sc[n]))
            if len(accepted) == limit:
                break
            used_a.add(a)
            used_b.add(b)
    return accepted


def assemble_cpu(
    peaks: np.ndarray, counts: np.ndarray, scores: np.ndarray, pairs: np.ndarray,
    redundant_pairs: tuple[int, ...],
) -> list[Person]:
    """People in creation order (peaks (P, M, 3), counts (P,), scores (K, M, M), pairs (K, 2))."""
    num_parts = peaks.shape[0]
    part_scores = peaks[..., 2].astype(np.float32)
    people: list[Person] = []
    for k, (a, b) in enumerate(pairs.tolist()):
        count_a, count_b = int(counts[a]), int(counts[b])
        if count_a == 0 or count_b == 0:
            if count_a == 0 and count_b == 0:
                continue
            side, n = (b, count_b) if count_a == 0 else (a, count_a)
            for c in range(n):
                if num_parts != _MPI_PARTS and any(p.slots[side] == c for p in people):
                    continue
                people.append(Person.new(num_parts, {side: c}, part_scores[side, c]))
            continue
        for i, j, sc in match_pair(scores[k], count_a, count_b):
            if k == 0:
                people.append(Person.new(num_parts, {a: i, b: j},
                                         part_scores[a, i] + part_scores[b, j] + sc))
            elif k in redundant_pairs:
                for p in people:
                    if p.slots[a] == i and p.slots[b] == EMPTY:
                        p.slots[b] = j
                    elif p.slots[b] == j and p.slots[a] == EMPTY:
                        p.slots[a] = i
            else:
                owner = next((p for p in people if p.slots[a] == i), None)
                if owner is None:
                    people.append(Person.new(num_parts, {a: i, b: j},
                                             part_scores[a, i] + part_scores[b, j] + sc))
                else:
                    owner.slots[b] = j
                    owner.count += 1
                    owner.score = owner.score + (part_scores[b, j] + sc)
    return people
