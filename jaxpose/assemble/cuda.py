"""OpenPose's CUDA/OpenCL assembly: one global greedy pass over all limbs (openpose-core §7.3)."""

from __future__ import annotations

import numpy as np

from jaxpose.assemble.people import EMPTY, Person

_TENTH = np.float32(0.1)


def sorted_connections(
    peaks: np.ndarray, scores: np.ndarray, pairs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate connections (score > 1e-6) sorted descending by (total, score, k, i, j).

    peaks (P, M, 3), scores (K, M, M), pairs (K, 2) -> (score, k, i, j) arrays in greedy order,
    with total = score + 0.1 * peakScore(a) + 0.1 * peakScore(b) in float32.
    """
    k, i, j = np.nonzero(scores > 1e-6)
    score = scores[k, i, j].astype(np.float32)
    total = (score + _TENTH * peaks[pairs[k, 0], i, 2]) + _TENTH * peaks[pairs[k, 1], j, 2]
    order = np.lexsort((j, i, k, score, total.astype(np.float32)))[::-1]
    return score[order], k[order], i[order], j[order]


def assemble_cuda(peaks: np.ndarray, scores: np.ndarray, pairs: np.ndarray) -> list[Person]:
    """People in creation order from peaks (P, M, 3), limb scores (K, M, M), pairs (K, 2)."""
    num_parts = peaks.shape[0]
    part_scores = peaks[..., 2].astype(np.float32)
    score, ks, is_, js = sorted_connections(peaks, scores, pairs)
    assigned: dict[tuple[int, int], int] = {}
    people: list[Person] = []
    removed: set[int] = set()
    for sc, k, i, j in zip(score, ks.tolist(), is_.tolist(), js.tolist()):
        a, b = int(pairs[k, 0]), int(pairs[k, 1])
        pa, pb = assigned.get((a, i), -1), assigned.get((b, j), -1)
        if pa < 0 and pb < 0:
            assigned[(a, i)] = assigned[(b, j)] = len(people)
            people.append(Person.new(num_parts, {a: i, b: j},
                                     part_scores[a, i] + part_scores[b, j] + sc))
        elif pa < 0 or pb < 0:
            owner, part, cand = (pa, b, j) if pa >= 0 else (pb, a, i)
            person = people[owner]
            if person.slots[part] == EMPTY:
                person.slots[part] = cand
                person.count += 1
                person.score = person.score + (part_scores[part, cand] + sc)
                assigned[(part, cand)] = owner
        elif pa == pb:
            people[pa].score = people[pa].score + sc
        else:
            first, second = min(pa, pb), max(pa, pb)
            p1, p2 = people[first], people[second]
            if all(x == EMPTY or y == EMPTY for x, y in zip(p1.slots, p2.slots)):
                p1.slots = [y if x == EMPTY else x for x, y in zip(p1.slots, p2.slots)]
                p1.count += p2.count
                p1.score = p1.score + (p2.score + sc)
                removed.add(second)
                for key, owner in assigned.items():
                    if owner == second:
                        assigned[key] = first
    return [p for n, p in enumerate(people) if n not in removed]
