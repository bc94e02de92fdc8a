"""`Poses3D`: the people of one instant in 3D (host-side NumPy arrays, world units)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from jaxpose.errors import InputError
from jaxpose.poses import UNTRACKED


def person_scores(keypoints: np.ndarray) -> np.ndarray:
    """(N, K, 4) -> (N,) float32: the mean of each person's K keypoint scores (0 = not
    reconstructed), as OpenPose normalises a person's summed score by its number of parts."""
    keypoints = np.asarray(keypoints, np.float32)
    if keypoints.shape[1] == 0:
        return np.zeros(keypoints.shape[0], np.float32)
    return keypoints[..., 3].mean(axis=1).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Poses3D:
    """People reconstructed in 3D from V calibrated views of one instant.

    keypoints:  (N, K, 4) float32 x, y, z in the cameras' world `units`, score; a keypoint that
                was not reconstructed is (0, 0, 0, 0) (OpenPose's `pose_keypoints_3d` layout).
    scores:     (N,) float32 person score (`person_scores` unless given).
    model:      body model name (a key of `jaxpose.specs.SPECS`), for part names and limbs.
    units:      the world's length unit ("m" for OpenPose's calibration files).
    reprojection_error: (N, K) float32 mean distance, undistorted pixels, between the 2D points of
                the views used and the projections of the 3D point; NaN where not reconstructed
                (or unknown).
    views:      (N, K, V) bool, the views each keypoint was triangulated from.
    detections: (N, V) int64, index of the person's 2D detection in each view's `Poses`
                (-1: not seen in that view).
    ids:        (N,) int64 person ids from a tracker; -1 (`UNTRACKED`) when untracked. Set them
                with `with_ids` (e.g. from `jaxpose.track`).
    face, hand_left, hand_right: (N, 70, 4), (N, 21, 4), (N, 21, 4) like `keypoints`, or None.
    """

    keypoints: np.ndarray
    model: str
    units: str = "m"
    scores: np.ndarray | None = None
    reprojection_error: np.ndarray | None = None
    views: np.ndarray | None = None
    detections: np.ndarray | None = None
    ids: np.ndarray | None = None
    face: np.ndarray | None = None
    hand_left: np.ndarray | None = None
    hand_right: np.ndarray | None = None

    def __post_init__(self) -> None:
        keypoints = np.asarray(self.keypoints, np.float32)
        if keypoints.ndim != 3 or keypoints.shape[-1] != 4:
            raise InputError(f"3D keypoints must be (people, parts, 4) x, y, z, score; got "
                             f"{keypoints.shape}")
        n, k = keypoints.shape[:2]
        object.__setattr__(self, "keypoints", keypoints)
        if self.scores is None:
            object.__setattr__(self, "scores", person_scores(keypoints))
        if self.reprojection_error is None:
            object.__setattr__(self, "reprojection_error", np.full((n, k), np.nan, np.float32))
        if self.ids is None:
            object.__setattr__(self, "ids", np.full(n, UNTRACKED, np.int64))
        ids = np.asarray(self.ids, np.int64)
        if ids.shape != (n,):
            raise InputError(f"ids must hold one integer per person ({n}), got shape {ids.shape}")
        object.__setattr__(self, "ids", ids)
        if np.shape(self.scores) != (n,) or np.shape(self.reprojection_error) != (n, k):
            raise InputError(f"scores must be ({n},) and reprojection_error ({n}, {k}); got "
                             f"{np.shape(self.scores)} and {np.shape(self.reprojection_error)}")
        for name in ("face", "hand_left", "hand_right"):
            array = getattr(self, name)
            if array is not None:
                array = np.asarray(array, np.float32)
                if array.ndim != 3 or array.shape[0] != n or array.shape[-1] != 4:
                    raise InputError(f"{name} 3D keypoints must be ({n}, parts, 4); got "
                                     f"{array.shape}")
                object.__setattr__(self, name, array)

    @property
    def num_people(self) -> int:
        return int(self.keypoints.shape[0])

    def __iter__(self) -> Iterator[np.ndarray]:
        """`keypoints, scores = poses3d` (as `Poses`)."""
        return iter((self.keypoints, self.scores))

    def replace(self, **changes) -> "Poses3D":
        return dataclasses.replace(self, **changes)

    def with_ids(self, ids) -> "Poses3D":
        """The same people with tracker ids (N,) (int; -1 = untracked)."""
        return self.replace(ids=np.asarray(ids, np.int64))

    def in_units(self, units: str) -> "Poses3D":
        """Coordinates converted to `units` (m, cm, mm, ...); scores and errors unchanged."""
        from jaxpose.cameras.units import unit_scale

        factor = np.float32(unit_scale(self.units, units))

        def scaled(array):
            if array is None:
                return None
            out = array.copy()
            out[..., :3] *= factor
            return out

        return self.replace(keypoints=scaled(self.keypoints), face=scaled(self.face),
                            hand_left=scaled(self.hand_left), hand_right=scaled(self.hand_right),
                            units=units)
