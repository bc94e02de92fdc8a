"""3D keypoints as OpenSim marker files (`.trc`), the format Pose2Sim writes and OpenSim reads.

Public functions:
    trc_text(points, marker_names, rate, *, units="m", file_name="", first_frame=0, up="y") -> str
    person_tracks(frames) -> dict[str, ndarray]      one (T, K, 3) track per person, NaN = missing
    write_trc(path, frames, rate, *, up="y", marker_names=None) -> list[Path]
    TrcWriter(path, rate, *, up="y", marker_names=None): .add(poses3d), .close() -> list[Path]

Layout (tab-separated, as Pose2Sim's `make_trc`; OpenSim's TRC reader takes it):

    PathFileType<TAB>4<TAB>(X/Y/Z)<TAB><file name>
    DataRate<TAB>CameraRate<TAB>NumFrames<TAB>NumMarkers<TAB>Units<TAB>OrigDataRate<TAB>OrigDataStartFrame<TAB>OrigNumFrames
    <rate> <rate> <T> <K> <units> <rate> <first frame> <T>          (tab-separated values)
    Frame#<TAB>Time<TAB><name 1><TAB><TAB><TAB><name 2><TAB><TAB><TAB>...
    <TAB><TAB>X1<TAB>Y1<TAB>Z1<TAB>X2<TAB>Y2<TAB>Z2 ...<TAB>
    <frame><TAB><time><TAB>x<TAB>y<TAB>z ...                          one line per frame

Frame# counts from `first_frame`, Time = frame / rate seconds; a marker that was not
reconstructed leaves its three fields empty (Pose2Sim writes NaN that way). Numbers are the
shortest text that reads back to the same float32. OpenSim expects Y up: `up` names the world axis
that points up, and the coordinates are turned so that it becomes Y ("y": unchanged; "z":
(X, Y, Z) -> (Y, Z, X), Pose2Sim's `zup2yup`; "-y": (X, Y, Z) -> (X, -Y, -Z), for OpenPose's
calibration world, camera 0's frame with y pointing down).

One file per person: `write_trc("walk.trc", frames, 30)` writes walk.trc for a single person, else
walk_id<id>.trc per tracked id (`Poses3D.ids`), or walk_P<n>.trc by person index when untracked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from jaxpose.errors import InputError
from jaxpose.io.atomic import atomic_write_text
from jaxpose.poses3d import Poses3D
from jaxpose.specs import SPECS

UP_AXES = {"y": ((0, 1), (1, 1), (2, 1)), "z": ((1, 1), (2, 1), (0, 1)),
           "-y": ((0, 1), (1, -1), (2, -1))}  # output axis <- (input axis, sign)


def _number(value: float) -> str:
    return "" if not np.isfinite(value) else str(np.float32(value))


def turn_up(points: np.ndarray, up: str) -> np.ndarray:
    """(..., 3) world coordinates -> the same points with axis `up` as Y (see the module docstring)."""
    if up not in UP_AXES:
        raise InputError(f"up={up!r}: give the world axis that points up, one of {', '.join(UP_AXES)}")
    points = np.asarray(points, np.float64)
    return np.stack([sign * points[..., axis] for axis, sign in UP_AXES[up]], axis=-1)


def trc_text(points: np.ndarray, marker_names: Sequence[str], rate: float, *, units: str = "m",
             file_name: str = "", first_frame: int = 0, up: str = "y") -> str:
    """The .trc text of one track: points (T, K, 3) world coordinates, NaN where missing."""
    points = np.asarray(points, np.float64)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise InputError(f"a TRC track must be (frames, markers, 3); got {points.shape}")
    frames, markers = points.shape[:2]
    if len(marker_names) != markers:
        raise InputError(f"{len(marker_names)} marker names for {markers} markers")
    if not (np.isfinite(rate) and rate > 0):
        raise InputError(f"rate={rate!r}: the frame rate must be a positive number of frames/s")
    points = turn_up(points, up)
    rate_text = f"{float(rate):g}"
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{file_name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\t"
        "OrigNumFrames",
        "\t".join([rate_text, rate_text, str(frames), str(markers), units, rate_text,
                   str(first_frame), str(frames)]),
        "Frame#\tTime\t" + "\t\t\t".join(marker_names) + "\t\t\t",
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, markers + 1)) + "\t",
    ]
    for t in range(frames):
        frame = first_frame + t
        values = "\t".join(_number(v) for v in points[t].ravel())
        lines.append(f"{frame}\t{frame / float(rate):.6f}\t{values}")
    return "\n".join(lines) + "\n"


def _track_key(poses3d: Poses3D, person: int) -> str:
    pid = int(poses3d.ids[person])
    return f"id{pid}" if pid >= 0 else f"P{person + 1}"


def person_tracks(frames: Sequence[Poses3D]) -> dict[str, np.ndarray]:
    """One (T, K, 3) track per person over `frames` (NaN where absent or not reconstructed), keyed
    "id<id>" for tracked people and "P<n>" (person index + 1 in each frame) for untracked ones,
    in order of first appearance."""
    if not frames:
        return {}
    parts = frames[0].keypoints.shape[1]
    tracks: dict[str, np.ndarray] = {}
    for t, poses3d in enumerate(frames):
        if poses3d.keypoints.shape[1] != parts:
            raise InputError(f"frame {t} has {poses3d.keypoints.shape[1]} keypoints, frame 0 {parts}")
        for person in range(poses3d.num_people):
            key = _track_key(poses3d, person)
            if key not in tracks:
                tracks[key] = np.full((len(frames), parts, 3), np.nan)
            row = poses3d.keypoints[person]
            tracks[key][t] = np.where(row[:, 3:] > 0, row[:, :3], np.nan)
    return tracks


def _marker_names(frames: Sequence[Poses3D], marker_names: Sequence[str] | None) -> Sequence[str]:
    if marker_names is not None:
        return marker_names
    model = frames[0].model
    if model not in SPECS:
        raise InputError(f"model {model!r} has no part names in jaxpose.specs; pass marker_names")
    return SPECS[model].part_names


def write_trc(path: str | Path, frames: Sequence[Poses3D], rate: float, *, up: str = "y",
              marker_names: Sequence[str] | None = None, first_frame: int = 0) -> list[Path]:
    """Write one .trc per person of `frames` (one Poses3D per instant, in order); returns the paths."""
    path = Path(path)
    if path.suffix.lower() != ".trc":
        raise InputError(f"{path}: a marker file must end in .trc")
    frames = list(frames)
    if not frames:
        raise InputError("no frames to write to a .trc file")
    names = _marker_names(frames, marker_names)
    units = frames[0].units
    tracks = person_tracks(frames)
    written = []
    for key, points in tracks.items():
        target = path if len(tracks) == 1 else path.with_name(f"{path.stem}_{key}{path.suffix}")
        written.append(atomic_write_text(target, trc_text(
            points, names, rate, units=units, file_name=target.name, first_frame=first_frame, up=up)))
    return written


class TrcWriter:
    """Collect one `Poses3D` per instant, write the .trc file(s) at `close()` (the header needs the
    frame count). Nothing is written before `close()`."""

    def __init__(self, path: str | Path, rate: float, *, up: str = "y",
                 marker_names: Sequence[str] | None = None, first_frame: int = 0):
        if up not in UP_AXES:
            raise InputError(f"up={up!r}: give the world axis that points up, one of "
                             f"{', '.join(UP_AXES)}")
        self.path, self.rate, self.up = Path(path), rate, up
        self.marker_names, self.first_frame = marker_names, first_frame
        self.frames: list[Poses3D] = []

    def add(self, poses3d: Poses3D) -> None:
        self.frames.append(poses3d)

    def close(self) -> list[Path]:
        if not self.frames:
            return []
        return write_trc(self.path, self.frames, self.rate, up=self.up,
                         marker_names=self.marker_names, first_frame=self.first_frame)
