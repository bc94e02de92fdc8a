"""World length units of camera translations, and conversions between them.

A camera group's `units` is a free string; the lengths below convert (OpenPose's XML files are in
metres, Pose2Sim's TOML in metres, anipose's in the calibration board's units). Any other string
(e.g. "squares" for a board of unknown physical size) is kept as is and cannot be converted.
"""

from __future__ import annotations

from jaxpose.errors import InputError

METRES_PER_UNIT = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254, "ft": 0.3048}


def is_length(units: str) -> bool:
    """True when `units` is one of the known lengths (m, cm, mm, in, ft)."""
    return units in METRES_PER_UNIT


def unit_scale(from_units: str, to_units: str) -> float:
    """The factor that turns a length in `from_units` into `to_units` (1.0 when they are equal)."""
    if from_units == to_units:
        return 1.0
    for units in (from_units, to_units):
        if units not in METRES_PER_UNIT:
            raise InputError(
                f"cannot convert camera translations from {from_units!r} to {to_units!r}: {units!r} is not a "
                f"known length ({', '.join(METRES_PER_UNIT)}); calibrate with a square size in one of these units"
            )
    return METRES_PER_UNIT[from_units] / METRES_PER_UNIT[to_units]
