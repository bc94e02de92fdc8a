"""Number formatting shared by the JSON writers: C++ `ostream << float` (6 significant digits)."""

from __future__ import annotations

import math

import numpy as np

from jaxpose.errors import InputError


def cpp_float(value: float) -> str:
    """`value` rounded to float32 and printed like C++ `std::cout << float` (`%.6g`).

    Examples: 582.349, 0.845918, 0, -1, 1e-05, 1.23457e+06. Raises InputError on NaN / infinity,
    which JSON cannot hold.
    """
    v = float(np.float32(value))
    if not math.isfinite(v):
        raise InputError(f"cannot write the non-finite value {v} to JSON; check the keypoints")
    return "%.6g" % v


def cpp_floats(values: np.ndarray) -> str:
    """Comma-separated `cpp_float` of every entry of `values` (flattened in C order)."""
    flat = np.asarray(values, dtype=np.float32).ravel()
    if not np.all(np.isfinite(flat)):
        raise InputError("cannot write non-finite values (NaN / inf) to JSON; check the keypoints")
    return ",".join(["%.6g" % v for v in flat.astype(np.float64).tolist()])
