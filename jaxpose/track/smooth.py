"""Temporal smoothing of keypoints, per tracked person, in 2D or 3D (basis doc §4.3, §4.5 D).

Online (frame by frame, causal):
    OneEuroFilter(min_cutoff, beta, d_cutoff)(x, t, present=None) -> filtered x   any array shape
    OneEuroSmoother(min_cutoff, beta, d_cutoff, fps=None, max_gap=5).update(poses, timestamp=None)
        -> Poses with the keypoints of every tracked person (id >= 0) filtered
Offline (whole sequences, zero-phase):
    interpolate_gaps(series, max_gap) -> series
    savgol_smooth(series, window=11, polyorder=2, max_gap=5)      scipy.signal.savgol_filter
    butterworth_smooth(series, cutoff=6.0, fps=None, order=4, max_gap=5)   butter + filtfilt
    one_euro_smooth(series, min_cutoff=1.0, beta=0.05, d_cutoff=1.0, fps=None, max_gap=5)
    smooth_series(series, method, **params)           method: "savgol", "butterworth", "one_euro"
    smooth_tracks(frames, method, fps=None, **params) -> list of Poses, each track smoothed

A `series` is one person's keypoints over time, (T, K, D + 1): x, y[, z], score per frame; a
keypoint with score <= 0 is missing. Rules:
- Missing keypoints are never invented beyond `max_gap` frames: interior gaps of at most
  `max_gap` frames are filled by linear interpolation (coordinates; score = the smaller of the two
  bracketing scores); longer gaps and the ends stay missing. Each contiguous run of present frames
  is filtered on its own; a run too short for a filter (Savitzky-Golay: < window frames;
  Butterworth: <= 3·(order + 1) frames, filtfilt's padding) is left as it is.
- One Euro (Casiez, Roussel, Vogel 2012) per coordinate: with te the time since the previous
  sample, alpha(fc) = 1 / (1 + 1/(2π·fc·te)); the derivative (x - x̂_prev)/te is low-passed with
  alpha(d_cutoff); the cutoff is min_cutoff + beta·|derivative|; x̂ = alpha·x + (1 - alpha)·x̂_prev.
  Cutoffs are in Hz and beta in 1/(units of x) (pixels for 2D) when time is in seconds.
- Savitzky-Golay: `savgol_filter(run, window, polyorder, axis=0)` (frames; no fps needed).
- Butterworth: `filtfilt(*butter(order // 2, cutoff / (fps / 2)), run, axis=0)`: zero phase,
  effective order `order` (as Pose2Sim), cutoff in Hz.
- Without fps, time counts frames: One Euro and Butterworth cutoffs are then in cycles per frame
  (Butterworth's must be below 0.5), and a `NoFpsWarning` says so.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.signal import butter, filtfilt, savgol_filter

from jaxpose.errors import InputError
from jaxpose.poses import UNTRACKED

METHODS = ("savgol", "butterworth", "one_euro")


class NoFpsWarning(UserWarning):
    """Smoothing without a frame rate: time counts frames, cutoffs are in cycles per frame."""


def _warn_frames(what: str) -> None:
    warnings.warn(f"{what}: no fps given, so time counts frames and cutoffs are in cycles per "
                  f"frame (give fps= for Hz)", NoFpsWarning, stacklevel=3)


def one_euro_alpha(cutoff: Any, te: Any) -> np.ndarray:
    """Smoothing factor of a first-order low-pass at `cutoff` for a sample period `te`."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / np.asarray(te, np.float64))


def _check_one_euro(min_cutoff: float, beta: float, d_cutoff: float) -> None:
    if not min_cutoff > 0 or not d_cutoff > 0:
        raise InputError(f"One Euro cutoffs must be > 0 (min_cutoff={min_cutoff}, "
                         f"d_cutoff={d_cutoff})")
    if not beta >= 0:
        raise InputError(f"One Euro beta must be >= 0, got {beta}")


class OneEuroFilter:
    """Online One Euro filter over arrays of a fixed shape; each element filtered on its own.

    `__call__(x, t, present=None)`: `present` (broadcastable to x) marks the elements observed at
    time t; the others are returned unchanged and keep their state. An element's first sample
    passes through (x̂ = x, derivative 0).
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> None:
        _check_one_euro(min_cutoff, beta, d_cutoff)
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: np.ndarray | None = None

    def forget(self, mask: Any) -> None:
        """Drop the state of the masked elements (their next sample starts afresh)."""
        if self._t is not None:
            self._t = np.where(np.broadcast_to(mask, self._t.shape), np.nan, self._t)

    def __call__(self, x: Any, t: float, present: Any = None) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._t is None:
            self._x = np.zeros_like(x)
            self._dx = np.zeros_like(x)
            self._t = np.full(x.shape, np.nan)
        if x.shape != self._t.shape:
            raise InputError(f"OneEuroFilter got shape {x.shape} after {self._t.shape}")
        observed = np.ones(x.shape, bool) if present is None else np.broadcast_to(present, x.shape)
        fresh = observed & np.isnan(self._t)
        going = observed & ~np.isnan(self._t)
        te = np.where(going, t - np.nan_to_num(self._t), 1.0)
        if np.any(te[going] <= 0):
            raise InputError(f"One Euro time stamps must increase (got {t} after "
                             f"{np.nanmax(self._t[going])})")
        a_d = one_euro_alpha(self.d_cutoff, te)
        dx = (x - self._x) / te
        dx_hat = a_d * dx + (1.0 - a_d) * self._dx
        a = one_euro_alpha(self.min_cutoff + self.beta * np.abs(dx_hat), te)
        x_hat = a * x + (1.0 - a) * self._x
        self._x = np.where(fresh, x, np.where(going, x_hat, self._x))
        self._dx = np.where(fresh, 0.0, np.where(going, dx_hat, self._dx))
        self._t = np.where(observed, t, self._t)
        return np.where(observed, self._x, x)


class OneEuroSmoother:
    """Online One Euro smoothing of tracked `Poses` (2D or 3D), one filter per person id.

    update(poses, timestamp=None): timestamp in seconds; None -> frame index / fps, or the frame
    index itself without fps (then cutoffs are per frame, see `NoFpsWarning`). People with id -1
    and missing keypoints pass through unchanged; a keypoint missing for more than `max_gap`
    frames, or a person unseen that long, starts afresh.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0,
                 fps: float | None = None, max_gap: int = 5) -> None:
        _check_one_euro(min_cutoff, beta, d_cutoff)
        if fps is not None and not fps > 0:
            raise InputError(f"fps must be > 0, got {fps}")
        self.params = (float(min_cutoff), float(beta), float(d_cutoff))
        self.fps = fps
        self.max_gap = int(max_gap)
        self.time_unit = "s" if fps is not None else "frame"
        self.reset()

    def reset(self) -> None:
        self._filters: dict[int, OneEuroFilter] = {}
        self._last_frame: dict[int, np.ndarray] = {}
        self._frame = 0
        self._warned = False

    def _time(self, timestamp: float | None) -> float:
        if timestamp is not None:
            self.time_unit = "s"
            return float(timestamp)
        if self.fps is not None:
            return self._frame / float(self.fps)
        if not self._warned:
            _warn_frames("One Euro smoothing")
            self._warned = True
        return float(self._frame)

    def update(self, poses: Any, timestamp: float | None = None) -> Any:
        t = self._time(timestamp)
        keypoints = np.array(poses.keypoints, copy=True)
        ids = np.asarray(poses.ids)
        for person, pid in enumerate(ids.tolist()):
            if pid == UNTRACKED:
                continue
            present = keypoints[person, :, -1] > 0
            filt = self._filters.get(pid)
            if filt is None:
                filt = self._filters[pid] = OneEuroFilter(*self.params)
                self._last_frame[pid] = np.full(len(present), -np.inf)
            stale = self._frame - self._last_frame[pid] > self.max_gap + 1
            filt.forget(stale[:, None])
            coords = filt(keypoints[person, :, :-1], t, present[:, None])
            keypoints[person, :, :-1] = coords.astype(keypoints.dtype)
            self._last_frame[pid] = np.where(present, self._frame, self._last_frame[pid])
        self._frame += 1
        self._drop_stale()
        return poses.replace(keypoints=keypoints) if hasattr(poses, "replace") else keypoints

    def _drop_stale(self) -> None:
        for pid in [p for p, last in self._last_frame.items()
                    if self._frame - last.max() > self.max_gap + 1]:
            del self._filters[pid], self._last_frame[pid]


# ---------------------------------------------------------------------------- offline


def _checked_series(series: Any) -> np.ndarray:
    series = np.asarray(series)
    if series.ndim != 3 or series.shape[-1] not in (3, 4):
        raise InputError(f"a keypoint series must be (frames, parts, 3) or (frames, parts, 4); "
                         f"got {series.shape}")
    return series


def _runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], valid.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def interpolate_gaps(series: Any, max_gap: int = 5) -> np.ndarray:
    """Fill interior gaps of at most `max_gap` frames per keypoint by linear interpolation.

    series: (T, K, C) with C - 1 coordinates and a score. Filled keypoints get the smaller of the
    two bracketing scores; gaps longer than `max_gap` and leading/trailing gaps stay missing.
    """
    series = _checked_series(series)
    if int(max_gap) != max_gap or max_gap < 0:
        raise InputError(f"max_gap must be an integer >= 0 frames, got {max_gap}")
    out = np.array(series, copy=True)
    for k in range(series.shape[1]):
        valid = series[:, k, -1] > 0
        frames = np.flatnonzero(valid)
        for before, after in zip(frames[:-1], frames[1:]):
            gap = after - before - 1
            if gap == 0 or gap > max_gap:
                continue
            w = (np.arange(1, gap + 1) / (gap + 1))[:, None]
            a, b = series[before, k, :-1], series[after, k, :-1]
            out[before + 1:after, k, :-1] = (1.0 - w) * a + w * b
            out[before + 1:after, k, -1] = min(series[before, k, -1], series[after, k, -1])
    return out


def _filter_runs(series: np.ndarray, max_gap: int, min_length: int, fn) -> np.ndarray:
    """Interpolate short gaps, then apply fn((L, C-1) run) to each long-enough run per keypoint."""
    filled = interpolate_gaps(series, max_gap)
    out = np.array(filled, copy=True)
    for k in range(filled.shape[1]):
        for start, stop in _runs(filled[:, k, -1] > 0):
            if stop - start >= min_length:
                run = filled[start:stop, k, :-1].astype(np.float64)
                out[start:stop, k, :-1] = fn(run)
    return out


def savgol_smooth(series: Any, window: int = 11, polyorder: int = 2,
                  max_gap: int = 5) -> np.ndarray:
    """Savitzky-Golay per keypoint and coordinate (scipy.signal.savgol_filter, mode "interp")."""
    series = _checked_series(series)
    if int(window) != window or window < 1 or window % 2 == 0:
        raise InputError(f"savgol window must be an odd number of frames, got {window}")
    if int(polyorder) != polyorder or not 0 <= polyorder < window:
        raise InputError(f"savgol polyorder must be in [0, window), got {polyorder}")
    return _filter_runs(series, max_gap, int(window),
                        lambda run: savgol_filter(run, int(window), int(polyorder), axis=0))


def butterworth_coefficients(cutoff: float, fps: float | None, order: int) -> tuple:
    """(b, a) of `butter(order // 2, cutoff / nyquist)`; without fps, cutoff in cycles/frame."""
    if int(order) != order or order < 2 or order % 2:
        raise InputError(f"butterworth order must be an even integer >= 2 (the zero-phase "
                         f"order; filtfilt doubles butter's), got {order}")
    nyquist = 0.5 if fps is None else float(fps) / 2.0
    unit = "cycles per frame" if fps is None else "Hz"
    if not 0 < cutoff < nyquist:
        hint = " (no fps given: cutoff is in cycles per frame)" if fps is None else ""
        raise InputError(f"butterworth cutoff {cutoff} {unit} must lie between 0 and the "
                         f"Nyquist frequency {nyquist} {unit}{hint}")
    return butter(int(order) // 2, cutoff / nyquist)


def butterworth_smooth(series: Any, cutoff: float = 6.0, fps: float | None = None,
                       order: int = 4, max_gap: int = 5) -> np.ndarray:
    """Zero-phase Butterworth low-pass per keypoint and coordinate (butter + filtfilt)."""
    series = _checked_series(series)
    if fps is None:
        _warn_frames("Butterworth smoothing")
    b, a = butterworth_coefficients(cutoff, fps, order)
    min_length = 3 * max(len(a), len(b)) + 1
    return _filter_runs(series, max_gap, min_length, lambda run: filtfilt(b, a, run, axis=0))


def one_euro_smooth(series: Any, min_cutoff: float = 1.0, beta: float = 0.05,
                    d_cutoff: float = 1.0, fps: float | None = None,
                    max_gap: int = 5) -> np.ndarray:
    """The online One Euro filter run forward over a whole series (causal, not zero-phase)."""
    series = _checked_series(series)
    if fps is None:
        _warn_frames("One Euro smoothing")
    period = 1.0 if fps is None else 1.0 / float(fps)

    def run_filter(run: np.ndarray) -> np.ndarray:
        filt = OneEuroFilter(min_cutoff, beta, d_cutoff)
        return np.stack([filt(sample, i * period) for i, sample in enumerate(run)])

    return _filter_runs(series, max_gap, 1, run_filter)


def smooth_series(series: Any, method: str, **params: Any) -> np.ndarray:
    """Dispatch to `savgol_smooth`, `butterworth_smooth` or `one_euro_smooth`."""
    functions = {"savgol": savgol_smooth, "butterworth": butterworth_smooth,
                 "one_euro": one_euro_smooth}
    if method not in functions:
        raise InputError(f"unknown smoothing method {method!r}; use one of {', '.join(METHODS)}")
    if method == "savgol":
        params.pop("fps", None)
    try:
        return functions[method](series, **params)
    except TypeError as exc:
        raise InputError(f"{method} smoothing: {exc}") from None


def smooth_tracks(frames: Sequence[Any], method: str, fps: float | None = None,
                  **params: Any) -> list[Any]:
    """Smooth every tracked person (id >= 0) of a whole sequence of `Poses` (2D or 3D).

    Each id's keypoints over the frames it spans form one series (frames where it is absent are
    missing); the series is smoothed with `smooth_series`, and written back to the frames where
    the person is present. Keypoints filled within `max_gap` are written too; untracked people are
    unchanged. Returns new Poses (`.replace(keypoints=...)`), one per input frame.
    """
    keypoints = [np.array(f.keypoints, copy=True) for f in frames]
    where: dict[int, list[tuple[int, int]]] = {}
    for index, poses in enumerate(frames):
        for person, pid in enumerate(np.asarray(poses.ids).tolist()):
            if pid != UNTRACKED:
                where.setdefault(pid, []).append((index, person))
    with warnings.catch_warnings():
        if fps is None and method != "savgol":
            _warn_frames(f"{method} smoothing")
        warnings.simplefilter("ignore", NoFpsWarning)
        for pid, places in where.items():
            first = places[0][0]
            span = places[-1][0] - first + 1
            template = keypoints[places[0][0]][places[0][1]]
            series = np.zeros((span,) + template.shape, np.float64)
            for index, person in places:
                series[index - first] = keypoints[index][person]
            smoothed = smooth_series(series, method, fps=fps, **params)
            for index, person in places:
                keypoints[index][person] = smoothed[index - first].astype(keypoints[index].dtype)
    return [poses.replace(keypoints=k) for poses, k in zip(frames, keypoints)]
