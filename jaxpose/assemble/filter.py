"""Dropping weak people (openpose-core §7.5), both assemblers."""

from __future__ import annotations

import numpy as np

from jaxpose.assemble.people import EMPTY, Person

_BODY25_PARTS = 25
_FEET = range(19, 25)


def keep_people(
    people: list[Person], min_subset_cnt: int, min_subset_score: float, maximize_positives: bool
) -> list[Person]:
    """People with enough parts and a high enough average score, in order.

    BODY_25 foot rule (off with maximize_positives): feet do not count towards the part count and a
    person with <= 4 non-foot parts but some feet is dropped; if that drops everyone, a second pass
    runs without it.
    """
    kept = []
    threshold = np.float32(min_subset_score)
    for person in people:
        n = person.count
        if not maximize_positives and len(person.slots) == _BODY25_PARTS:
            feet = sum(person.slots[p] != EMPTY for p in _FEET)
            if feet > 0:
                n -= feet
                if n <= 4:
                    continue
        if n >= min_subset_cnt and np.float32(person.score / np.float32(n)) >= threshold:
            kept.append(person)
    if not kept and not maximize_positives:
        return keep_people(people, min_subset_cnt, min_subset_score, True)
    return kept
