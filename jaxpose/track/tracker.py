"""`Tracker`: stable person ids across frames, a small deterministic host-side state machine.

    tracker = jaxpose.Tracker()                      # parameters below, all named, with defaults
    for poses in frames:                             # in frame order
        poses = tracker.update(poses, timestamp=t)   # same Poses, `.ids` filled
    tracker.reset()                                  # a new video: forget everyone, ids from 0

Rules (issue #11; basis doc §4.2, §4.5):
- Association: every (detection, track) pair gets a similarity
  `S = oks_weight · OKS + (1 - oks_weight) · IoU` between the detection and the track's
  *predicted* pose: OKS over the keypoints present in both (per-part σ from the model's part
  names, `jaxpose.specs.sigmas`; scale s² = the larger of the two keypoint-box areas; divided by at
  least `min_common_keypoints` keypoints; the better of the detection as given and with its left
  and right parts exchanged) and IoU of the two keypoint boxes. Pairs with
  S < `min_similarity` are gated out; the rest are assigned globally, maximising the summed
  margin S - min_similarity (`scipy.optimize.linear_sum_assignment`; a gated-out pair costs the
  same as no match, so one strong match is never traded for several weak ones).
- Motion model: constant velocity. A track carries each keypoint's last observed position and
  time and one body velocity (the median over keypoints of their displacement per time unit
  between observations, exponentially averaged with weight `velocity_smoothing`); a keypoint is
  predicted at `last position + velocity · (t - its last time)`, which bridges missed frames.
- Track buffer: a track not matched for more than `buffer_frames` consecutive updates is dropped;
  a person hidden for up to `buffer_frames` frames keeps their id.
- Ids: 0, 1, 2, ... in order of first appearance (within a frame, in detection order); an id is
  never reused until `reset()`. A detection with fewer than `min_keypoints` present keypoints
  (score > 0) gets no id (-1) and starts no track.
- Time: `timestamp` in seconds (e.g. frame index / fps; any increasing unit works) or, when None,
  the update count (frames). Timestamps must increase. Velocities are per that unit; the buffer
  always counts updates.

Works on keypoint arrays (N, K, D + 1) (x, y[, z], score; missing keypoints have score 0), so 2D
`Poses` and 3D people ((N, K, 4) x, y, z, score) share one core: `update_keypoints`. `update`
adapts any object with `.keypoints` and an `ids` field (`Poses`, a `Poses3D`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from jaxpose.errors import InputError
from jaxpose.poses import UNTRACKED
from jaxpose.specs import get_spec
from jaxpose.specs.sigmas import part_sigmas
from jaxpose.track.similarity import (
    box_iou, box_scale, mirror_index, near_pairs, paired_oks, point_boxes,
)

DEFAULT_SIGMA = 0.079  # σ used for every part when neither sigmas nor a model name is known
MOTION_MODELS = ("constant_velocity", "none")
_TIE = 1e-9  # a pair exactly at the gate still beats no match


@dataclasses.dataclass
class _Tracks:
    """Every held track, one row each. points/seen_at: last observation per keypoint (seen_at NaN:
    never seen); velocity: body velocity per time unit; observations: matches so far; missed:
    consecutive updates without a match."""

    ids: np.ndarray          # (M,) int64
    points: np.ndarray       # (M, K, D)
    seen_at: np.ndarray      # (M, K)
    velocity: np.ndarray     # (M, D)
    observations: np.ndarray  # (M,) int
    missed: np.ndarray       # (M,) int

    @classmethod
    def empty(cls, num_parts: int, dims: int) -> "_Tracks":
        return cls(np.zeros(0, np.int64), np.zeros((0, num_parts, dims)),
                   np.zeros((0, num_parts)), np.zeros((0, dims)), np.zeros(0, np.int64),
                   np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.ids)

    def predict(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(M, K, D) predicted keypoints at time t and (M, K) which keypoints are known."""
        known = np.isfinite(self.seen_at)
        dt = np.where(known, t - np.where(known, self.seen_at, t), 0.0)
        return self.points + self.velocity[:, None, :] * dt[..., None], known

    def select(self, keep: np.ndarray) -> "_Tracks":
        return _Tracks(*(getattr(self, f.name)[keep] for f in dataclasses.fields(self)))

    def append(self, other: "_Tracks") -> "_Tracks":
        return _Tracks(*(np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                         for f in dataclasses.fields(self)))


class Tracker:
    """Multi-person tracker over keypoints (2D or 3D). See the module docstring for the rules.

    Parameters (defaults in brackets):
        oks_weight [0.7]: weight of OKS in the similarity; 1 - oks_weight goes to box IoU.
        min_similarity [0.1]: gate; pairs less similar than this are never matched.
        buffer_frames [30]: updates a track survives unmatched (a hidden person keeps their id).
        motion_model ["constant_velocity"]: or "none" (predict the last observed position).
        velocity_smoothing [0.5]: weight of the newest velocity measurement, in (0, 1].
        min_common_keypoints [3]: OKS divides by at least this many common keypoints.
        min_keypoints [1]: detections with fewer present keypoints get id -1.
        mirror_invariant [True]: also score each detection with its left and right parts
            exchanged and keep the better OKS (detectors swap sides on small people); needs part
            names (`model` or the input's `.model`).
        sigmas [None]: (K,) per-part OKS σ; default from `model` or the input's `.model`
            (`jaxpose.specs.sigmas`), else 0.079 for every part.
        model [None]: body model name whose part names give the σ.
    """

    def __init__(self, *, oks_weight: float = 0.7, min_similarity: float = 0.1,
                 buffer_frames: int = 30, motion_model: str = "constant_velocity",
                 velocity_smoothing: float = 0.5, min_common_keypoints: int = 3,
                 min_keypoints: int = 1, mirror_invariant: bool = True, sigmas: Any = None,
                 model: str | None = None) -> None:
        if not 0.0 <= oks_weight <= 1.0:
            raise InputError(f"oks_weight must lie in [0, 1], got {oks_weight}")
        if not 0.0 < min_similarity <= 1.0:
            raise InputError(f"min_similarity must lie in (0, 1], got {min_similarity}")
        if int(buffer_frames) != buffer_frames or buffer_frames < 0:
            raise InputError(f"buffer_frames must be an integer >= 0, got {buffer_frames}")
        if motion_model not in MOTION_MODELS:
            raise InputError(f"motion_model {motion_model!r} is unknown; use one of "
                             f"{', '.join(MOTION_MODELS)}")
        if not 0.0 < velocity_smoothing <= 1.0:
            raise InputError(f"velocity_smoothing must lie in (0, 1], got {velocity_smoothing}")
        if min_common_keypoints < 1 or min_keypoints < 1:
            raise InputError("min_common_keypoints and min_keypoints must be >= 1")
        self.oks_weight = float(oks_weight)
        self.min_similarity = float(min_similarity)
        self.buffer_frames = int(buffer_frames)
        self.motion_model = motion_model
        self.velocity_smoothing = float(velocity_smoothing)
        self.min_common_keypoints = int(min_common_keypoints)
        self.min_keypoints = int(min_keypoints)
        self.mirror_invariant = bool(mirror_invariant)
        self.model = model
        self._given_sigmas = None if sigmas is None else np.asarray(sigmas, np.float64)
        self.reset()

    # -- state

    def reset(self) -> None:
        """Forget every track; the next id is 0 again (ids are per video)."""
        self._tracks: _Tracks | None = None
        self._next_id = 0
        self._frame = 0
        self._last_time: float | None = None
        self._timed: bool | None = None
        self._shape: tuple[int, int] | None = None
        self._sigmas: np.ndarray | None = self._given_sigmas
        self._mirror: np.ndarray | None = None

    @property
    def next_id(self) -> int:
        """The id the next new person will get."""
        return self._next_id

    @property
    def active_ids(self) -> list[int]:
        """Ids of the tracks currently held (seen or within the buffer), ascending."""
        return [] if self._tracks is None else sorted(self._tracks.ids.tolist())

    # -- public updates

    def update(self, poses: Any, timestamp: float | None = None) -> Any:
        """Track one frame. `poses`: a `Poses` (or any dataclass with `.keypoints` (N, K, D+1),
        `.ids` and optionally `.model`) -> the same with `.ids` filled; or a plain (N, K, D+1)
        array -> (N,) int64 ids."""
        if isinstance(poses, np.ndarray):
            return self.update_keypoints(poses, timestamp)
        keypoints = getattr(poses, "keypoints", None)
        if keypoints is None:
            raise InputError(f"Tracker.update needs Poses or a keypoint array, got "
                             f"{type(poses).__name__}")
        ids = self.update_keypoints(keypoints, timestamp, model=getattr(poses, "model", None))
        if hasattr(poses, "replace"):
            return poses.replace(ids=ids)
        return dataclasses.replace(poses, ids=ids)

    def update_keypoints(self, keypoints: Any, timestamp: float | None = None,
                         model: str | None = None) -> np.ndarray:
        """Track one frame of people given as (N, K, D+1) x, y[, z], score -> (N,) int64 ids."""
        keypoints = self._checked(keypoints)
        t = self._time(timestamp)
        ids = np.full(len(keypoints), UNTRACKED, np.int64)
        points = keypoints[..., :-1].astype(np.float64)
        present = keypoints[..., -1] > 0
        det_index = np.flatnonzero(present.sum(axis=1) >= self.min_keypoints)
        if self._tracks is None and len(det_index):
            self._tracks = _Tracks.empty(*points.shape[1:])
        if self._tracks is None:
            self._frame += 1
            self._last_time = t
            return ids
        dets = np.zeros(0, np.int64)
        rows = np.zeros(0, np.int64)
        if len(det_index) and len(self._tracks):
            sigmas = self._resolve_sigmas(keypoints.shape[1], model)
            d, rows = self._associate(points[det_index], present[det_index], t, sigmas)
            dets = det_index[d]
            self._observe(rows, points[dets], present[dets], t)
            ids[dets] = self._tracks.ids[rows]
        self._age(rows)
        new = det_index[ids[det_index] == UNTRACKED]
        if len(new):
            self._resolve_sigmas(keypoints.shape[1], model)
            ids[new] = self._new_tracks(points[new], present[new], t)
        self._frame += 1
        self._last_time = t
        return ids

    # -- internals

    def _checked(self, keypoints: Any) -> np.ndarray:
        keypoints = np.asarray(keypoints)
        if keypoints.ndim != 3 or keypoints.shape[-1] not in (3, 4):
            raise InputError(f"tracking needs keypoints of shape (people, parts, 3) for 2D or "
                             f"(people, parts, 4) for 3D; got {keypoints.shape}")
        if not np.all(np.isfinite(keypoints)):
            raise InputError("tracking got NaN or infinite keypoints; missing keypoints must be "
                             "given with score 0")
        shape = keypoints.shape[1:]
        if keypoints.shape[0] == 0:
            return keypoints
        if self._shape is None:
            self._shape = shape
        elif shape != self._shape:
            raise InputError(f"keypoints of shape {keypoints.shape} after {self._shape} per "
                             f"person: one Tracker follows one model; call reset() or use a new "
                             f"Tracker for another model")
        return keypoints

    def _time(self, timestamp: float | None) -> float:
        timed = timestamp is not None
        if self._timed is None:
            self._timed = timed
        elif timed != self._timed:
            raise InputError("give a timestamp on every Tracker.update or on none (then time "
                             "counts frames)")
        t = float(timestamp) if timed else float(self._frame)
        if not np.isfinite(t):
            raise InputError(f"timestamp must be a finite number of seconds, got {timestamp}")
        if self._last_time is not None and t <= self._last_time:
            raise InputError(f"timestamps must increase: {t} after {self._last_time}; feed "
                             f"frames in order (and reset() between videos)")
        return t

    def _resolve_sigmas(self, num_parts: int, model: str | None) -> np.ndarray:
        """The per-part σ (and, once, the left/right mirror map) for this tracker's model."""
        if self._sigmas is None or self._mirror is None:
            name = self.model or model
            spec = None
            if name is not None:
                try:
                    spec = get_spec(name)
                except KeyError as exc:
                    raise InputError(f"tracking: {exc.args[0]}") from None
            if self._sigmas is None:
                try:
                    self._sigmas = (part_sigmas(spec) if spec is not None
                                    else np.full(num_parts, DEFAULT_SIGMA))
                except KeyError as exc:
                    raise InputError(f"tracking: {exc.args[0]}; pass Tracker(sigmas=...)") from None
            names = spec.part_names if spec is not None else ()
            self._mirror = (mirror_index(names) if self.mirror_invariant and len(names) == num_parts
                            else np.arange(num_parts))
        if self._sigmas.shape != (num_parts,):
            raise InputError(f"tracking: {self._sigmas.shape[0]} OKS sigmas for {num_parts} "
                             f"keypoints per person; pass one sigma per keypoint")
        return self._sigmas

    def _similarity(self, points: np.ndarray, present: np.ndarray, t: float,
                    sigmas: np.ndarray) -> np.ndarray:
        """(N detections, M tracks) similarity S (0 for pairs too far apart to matter)."""
        track_points, track_known = self._tracks.predict(t)
        det_boxes = point_boxes(points, present)
        track_boxes = point_boxes(track_points, track_known)
        scale = np.maximum(box_scale(det_boxes)[:, None], box_scale(track_boxes)[None, :])
        rows, cols = near_pairs(det_boxes, track_boxes, scale)
        det_points, det_present = points[rows], present[rows]
        ref_points, ref_known, pair_scale = track_points[cols], track_known[cols], scale[rows, cols]
        mirror = self._mirror
        swap = mirror is not None and bool(np.any(mirror != np.arange(len(mirror))))
        if swap:  # score each pair as given and left/right exchanged, in one call
            det_points = np.concatenate([det_points, det_points[:, mirror]])
            det_present = np.concatenate([det_present, det_present[:, mirror]])
            ref_points = np.concatenate([ref_points, ref_points])
            ref_known = np.concatenate([ref_known, ref_known])
            pair_scale = np.concatenate([pair_scale, pair_scale])
        score = paired_oks(det_points, det_present, ref_points, ref_known, sigmas, pair_scale,
                           self.min_common_keypoints)
        if swap:
            score = np.maximum(score[:len(rows)], score[len(rows):])
        similarity = np.zeros(scale.shape)
        similarity[rows, cols] = score
        if self.oks_weight < 1.0:
            similarity *= self.oks_weight
            similarity += (1.0 - self.oks_weight) * box_iou(det_boxes, track_boxes)
        return similarity

    def _associate(self, points: np.ndarray, present: np.ndarray, t: float,
                   sigmas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Globally optimal (detection, track row) pairs that pass the gate, as two arrays."""
        similarity = self._similarity(points, present, t, sigmas)
        allowed = similarity >= self.min_similarity
        # Maximise the summed margin above the gate; a gated-out pair costs 0, like leaving
        # both unmatched, so the solver never trades a strong match for more weak ones.
        cost = np.where(allowed, self.min_similarity - similarity - _TIE, 0.0)
        rows, cols = linear_sum_assignment(cost)
        ok = allowed[rows, cols]
        return rows[ok].astype(np.int64), cols[ok].astype(np.int64)

    def _observe(self, rows: np.ndarray, points: np.ndarray, present: np.ndarray,
                 t: float) -> None:
        """Fold matched detections into their tracks: velocity first, then the positions."""
        tracks = self._tracks
        seen = tracks.seen_at[rows]
        if self.motion_model == "constant_velocity":
            common = present & np.isfinite(seen)
            dt = np.where(common, t - np.where(common, seen, 0.0), 1.0)
            rate = (points - tracks.points[rows]) / dt[..., None]
            measured = _masked_median(rate, common)
            weight = np.where(tracks.observations[rows] == 1, 1.0, self.velocity_smoothing)
            blended = (1.0 - weight[:, None]) * tracks.velocity[rows] + weight[:, None] * measured
            tracks.velocity[rows] = np.where(common.any(axis=1)[:, None], blended,
                                             tracks.velocity[rows])
        tracks.points[rows] = np.where(present[..., None], points, tracks.points[rows])
        tracks.seen_at[rows] = np.where(present, t, seen)
        tracks.observations[rows] += 1
        tracks.missed[rows] = 0

    def _age(self, matched_rows: np.ndarray) -> None:
        """Count a miss for every unmatched track; drop those missed more than the buffer."""
        unmatched = np.ones(len(self._tracks), bool)
        unmatched[matched_rows] = False
        self._tracks.missed[unmatched] += 1
        keep = self._tracks.missed <= self.buffer_frames
        if not keep.all():
            self._tracks = self._tracks.select(keep)

    def _new_tracks(self, points: np.ndarray, present: np.ndarray, t: float) -> np.ndarray:
        """Start one track per detection, ids in detection order; returns the ids."""
        n, dims = len(points), points.shape[-1]
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._tracks = self._tracks.append(_Tracks(
            ids=ids,
            points=np.where(present[..., None], points, 0.0),
            seen_at=np.where(present, t, np.nan),
            velocity=np.zeros((n, dims)),
            observations=np.ones(n, np.int64),
            missed=np.zeros(n, np.int64),
        ))
        self._next_id += n
        return ids


def _masked_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(n, D) median over axis 1 of values (n, K, D) where mask (n, K); 0 where nothing is masked.

    Sorting with +inf in the masked-out places, then averaging the middle one or two entries."""
    n, _, dims = values.shape
    count = mask.sum(axis=1)
    ordered = np.sort(np.where(mask[..., None], values, np.inf), axis=1)
    low = np.maximum((count - 1) // 2, 0)
    high = np.maximum(count // 2, 0)
    rows = np.arange(n)
    median = 0.5 * (ordered[rows, low] + ordered[rows, high])
    return np.where(count[:, None] > 0, median, 0.0)
