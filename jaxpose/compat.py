"""`OpenPose`: a drop-in shape for code written against OpenPose's Python API (`pyopenpose`).

    from jaxpose import OpenPose
    op = OpenPose({"model_pose": "BODY_25", "model_folder": "openpose/models/", "hand": True})
    datum = op.process(cv2.imread("photo.jpg"))       # BGR uint8, like Datum.cvInputData
    datum.poseKeypoints                               # (people, parts, 3) or None, like pyopenpose

Parameter names and defaults are the command line's (`jaxpose --help`, OpenPose's flag names);
the pyopenpose call pattern also works: `configure(params)`, `start()`,
`emplaceAndPop([datum])` with `datum = Datum(); datum.cvInputData = image_bgr`.

Options -> models -> pose function is `jaxpose.options.build_pipeline`, shared with the `jaxpose`
command, `PoseEstimator` and the batch job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxpose.errors import InputError
from jaxpose.options.build import Pipeline, build_pipeline, heatmap_channels, options_from_params, render
from jaxpose.options.table import defaults
from jaxpose.poses import Poses

@dataclasses.dataclass
class Datum:
    """pyopenpose's `Datum` fields (features §8). Images are BGR uint8, arrays float32.

    Empty keypoint arrays are None, as pyopenpose returns them.
    """

    cvInputData: np.ndarray | None = None
    cvOutputData: np.ndarray | None = None
    poseKeypoints: np.ndarray | None = None
    poseScores: np.ndarray | None = None
    poseIds: np.ndarray | None = None
    poseHeatMaps: np.ndarray | None = None
    handKeypoints: list | None = None
    handRectangles: np.ndarray | None = None
    faceKeypoints: np.ndarray | None = None
    faceRectangles: np.ndarray | None = None
    name: str = ""
    frameNumber: int = 0
    id: int = 0
    poses: Poses | None = None  # jaxpose's own result, image pixels (before keypoint_scale)


def _none_if_empty(array: np.ndarray | None) -> np.ndarray | None:
    if array is None or array.size == 0:
        return None
    return np.asarray(array, dtype=np.float32)


def as_bgr_image(image: Any) -> np.ndarray:
    """Check a cvInputData-like image: (H, W, 3) uint8 BGR; grey (H, W) or (H, W, 1) is expanded."""
    if not isinstance(image, np.ndarray):
        raise InputError(
            f"the image must be a NumPy uint8 array (H, W, 3) in BGR order, e.g. from cv2.imread; got "
            f"{type(image).__name__}."
        )
    if image.dtype != np.uint8:
        raise InputError(f"the image must be uint8 (0..255); got {image.dtype}.")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise InputError(
            f"the image must have shape (H, W, 3) (BGR) or (H, W) (grey); got {image.shape}."
        )
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return image


class OpenPose:
    """OpenPose's Python wrapper, on jaxpose.

    params: pyopenpose-style dict of flag names (model_pose, model_folder, net_resolution, hand,
    face, number_people_max, render_pose, render_threshold, alpha_pose, heatmaps_add_parts, ...,
    keypoint_scale); unknown names are an error naming the closest one. Models load on `start()`
    or the first `process()`.
    """

    def __init__(self, params: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.options: dict[str, Any] = defaults()
        self._pipeline: Pipeline | None = None
        self._frame = 0
        self.configure({**(params or {}), **kwargs})

    def configure(self, params: Mapping[str, Any]) -> None:
        """Set parameters (pyopenpose `WrapperPython.configure`); reloads models on next use."""
        self.options = options_from_params(params, base=self.options)
        self._pipeline = None

    def start(self) -> None:
        """Load the models now (otherwise the first `process` does)."""
        self._pipeline = self.pipeline

    def stop(self) -> None:
        """Nothing to release (kept for pyopenpose compatibility)."""

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = build_pipeline(self.options)
        return self._pipeline

    def process(self, image_bgr: np.ndarray, name: str = "") -> Datum:
        """Detect people in one BGR uint8 image (like `cvInputData`); returns a filled `Datum`."""
        from jaxpose.io.keypoint_scale import scale_keypoints

        image_bgr = as_bgr_image(image_bgr)
        image_rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        pipeline = self.pipeline
        poses: Poses = pipeline.pose_fn(pipeline.params, image_rgb)
        saved = scale_keypoints(poses, self.options["keypoint_scale"])
        hands = None
        if saved.hand_left is not None and saved.hand_right is not None:
            hands = [np.asarray(saved.hand_left, np.float32), np.asarray(saved.hand_right, np.float32)]
        datum = Datum(
            cvInputData=image_bgr,
            cvOutputData=np.ascontiguousarray(render(image_rgb, poses, self.options)[:, :, ::-1]),
            poseKeypoints=_none_if_empty(saved.keypoints),
            poseScores=_none_if_empty(saved.scores),
            poseIds=np.full((poses.num_people,), -1, dtype=np.int64),
            poseHeatMaps=heatmap_channels(poses, self.options),
            handKeypoints=hands,
            handRectangles=poses.hand_rects,
            faceKeypoints=None if saved.face is None else np.asarray(saved.face, np.float32),
            faceRectangles=poses.face_rects,
            name=name,
            frameNumber=self._frame,
            id=self._frame,
            poses=poses,
        )
        self._frame += 1
        return datum

    __call__ = process

    def emplaceAndPop(self, datums: Sequence[Datum]) -> bool:  # noqa: N802 (pyopenpose's name)
        """pyopenpose's call: fill each datum that has `cvInputData` in place; returns True."""
        for datum in datums:
            if datum.cvInputData is None:
                raise InputError("Datum.cvInputData is empty: set it to a BGR uint8 image first.")
            filled = self.process(datum.cvInputData, name=datum.name)
            for field in dataclasses.fields(Datum):
                if field.name not in ("name",):
                    setattr(datum, field.name, getattr(filled, field.name))
        return True


WrapperPython = OpenPose
