"""`LRUCache`: a bounded least-recently-used map, for compiled functions and per-size plans.

`jax.jit` keeps every executable it compiled for as long as the jitted function object lives
(one per input shape). The pipeline therefore makes one jitted function per full input shape
and keeps those functions here: evicting an entry drops the last reference to its jitted
function, and its executable (tens of MB for a real network) is freed with it.
`benchmarks/bench_memory.py` measures that memory stays flat.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable, Hashable

import numpy as np

from jaxpose.errors import InputError

DEFAULT_MAX_COMPILED = 8


def check_capacity(name: str, value: Any) -> int:
    """`value` as a capacity (an integer >= 1), else `InputError` naming the option `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name}={value!r}: must be an integer >= 1 (default {DEFAULT_MAX_COMPILED}).")
    return int(value)


class LRUCache:
    """At most `capacity` values by key; the least recently used one is dropped first.

    `get(key, make)` returns the value for `key`, calling `make()` to create it when absent.
    Thread-safe; `make` runs outside the lock (two threads may both make a missing value; one
    is kept).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = check_capacity("capacity", capacity)
        self.misses = 0  # values made (for compiled functions: compiles)
        self._entries: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = make()
        with self._lock:
            self.misses += 1
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            self._entries[key] = value
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def keys(self) -> list[Hashable]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
