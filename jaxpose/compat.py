"""`OpenPose`: a drop-in shape for code written against OpenPose's Python API (`pyopenpose`).

    from jaxpose import OpenPose
    op = OpenPose({"model_pose": "BODY_25", "model_folder": "openpose/models/", "hand": True})
    datum = op.process(cv2.imread("photo.jpg"))       # BGR uint8, like Datum.cvInputData
    datum.poseKeypoints                               # (people, parts, 3) or None, like pyopenpose

Parameter names and defaults are the command line's (`jaxpose --help`, OpenPose's flag names);
the pyopenpose call pattern also works: `configure(params)`, `start()`,
`emplaceAndPop([datum])` with `datum = Datum(); datum.cvInputData = image_bgr`.

Also here: `build_pipeline(options)`, shared with the `jaxpose` command: OpenPose-style settings ->
loaded models + `make_pose_fn` + params.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from jaxpose.cli.flags import FLAGS, UsageError, convert, defaults, parse_resolution, parse_square
from jaxpose.errors import InputError
from jaxpose.poses import Poses

DEFAULT_MODEL_POSE = "MOBILENET_THIN"
CAFFE_BODY_MODELS = ("BODY_25", "COCO", "MPI", "MPI_4_layers")
FACE_DETECTORS = {0: "body", 1: "opencv"}


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """What `build_pipeline` returns: call `pose_fn(params, image_rgb)` / `pose_fn.batch(params, frames)`."""

    pose_fn: Callable
    params: Any
    model_pose: str
    stream_pose_fn: Callable | None = None  # for videos/cameras (OpenPose ignores
    # --net_resolution_dynamic there); None = use `pose_fn`

    def for_stream(self, still_images: bool) -> Callable:
        """The pose_fn for still images (folders, files) or for streams (videos, cameras)."""
        return self.pose_fn if still_images or self.stream_pose_fn is None else self.stream_pose_fn


def canonical_model_pose(name: str) -> str:
    """`--model_pose` value -> the spec name (case-insensitive); UsageError for an unknown model."""
    for known in (DEFAULT_MODEL_POSE,) + CAFFE_BODY_MODELS:
        if known.lower() == str(name).lower():
            return known
    raise UsageError(
        f"--model_pose {name!r} is not a body model jaxpose knows; use one of "
        f"{', '.join((DEFAULT_MODEL_POSE,) + CAFFE_BODY_MODELS)}."
    )


def _load_caffe(model_folder: str, name: str, flag: str):
    if not model_folder:
        raise UsageError(
            f"{flag} needs OpenPose's Caffe weights: pass --model_folder pointing at OpenPose's "
            "models/ folder (get it with OpenPose's models/getModels.sh), or use the default "
            f"--model_pose {DEFAULT_MODEL_POSE}."
        )
    from jaxpose.convert.caffe import load_model_folder

    return load_model_folder(model_folder, name)


def build_pipeline(options: Mapping[str, Any]) -> Pipeline:
    """Load the models named by OpenPose-style `options` (flag names -> values) and make `pose_fn`.

    The default body model is MobileNet-thin (fetched and cached on first use); BODY_25, COCO, MPI,
    MPI_4_layers, and hands/faces, come from `model_folder` (converted once, then cached).
    """
    import jaxpose

    model_pose = canonical_model_pose(options["model_pose"])
    if model_pose == DEFAULT_MODEL_POSE:
        body = jaxpose.load_model("mobilenet_thin")
    else:
        body = _load_caffe(options["model_folder"], model_pose, f"--model_pose {model_pose}")
    if options["hand_detector"] != 0:
        raise UsageError(f"--hand_detector {options['hand_detector']} is not implemented; use 0 (from the body).")
    if options["face_detector"] not in FACE_DETECTORS:
        raise UsageError(f"--face_detector {options['face_detector']} is not implemented; use 0 (body) or 1 (OpenCV).")
    if options["semantics"] not in ("cuda", "cpu"):
        raise UsageError(f"--semantics must be cuda or cpu (got {options['semantics']!r}).")
    hand = _load_caffe(options["model_folder"], "HAND", "--hand") if options["hand"] else None
    face = _load_caffe(options["model_folder"], "FACE", "--face") if options["face"] else None
    return_heatmaps = bool(
        options["heatmaps_add_parts"] or options["heatmaps_add_bkg"] or options["heatmaps_add_PAFs"]
    )
    from jaxpose.pipeline import make_pose_fn

    settings = dict(
        net_resolution=parse_resolution("net_resolution", options["net_resolution"]),
        scale_number=options["scale_number"],
        scale_gap=options["scale_gap"],
        semantics=options["semantics"],
        number_people_max=options["number_people_max"],
        maximize_positives=options["maximize_positives"],
        return_heatmaps=return_heatmaps,
        hand=hand,
        face=face,
        hand_net_resolution=parse_square("hand_net_resolution", options["hand_net_resolution"]),
        face_net_resolution=parse_square("face_net_resolution", options["face_net_resolution"]),
        hand_scale_number=options["hand_scale_number"],
        hand_scale_range=options["hand_scale_range"],
        face_detector=FACE_DETECTORS[options["face_detector"]],
    )
    pose_fn = make_pose_fn(body, net_resolution_dynamic=options["net_resolution_dynamic"], **settings)
    stream_pose_fn = make_pose_fn(body, net_resolution_dynamic=-1.0, **settings)
    if hand is None and face is None:
        params = body.params
    else:
        params = {"body": body.params}
        if hand is not None:
            params["hand"] = hand.params
        if face is not None:
            params["face"] = face.params
    return Pipeline(pose_fn=pose_fn, params=params, model_pose=model_pose, stream_pose_fn=stream_pose_fn)


def options_from_params(
    params: Mapping[str, Any] | None, base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """pyopenpose-style params (flag names; values as Python objects or strings) over `base`
    (default: the flags' defaults) -> full options. Unknown names raise InputError."""
    options = dict(base) if base is not None else defaults()
    for name, value in (params or {}).items():
        flag = FLAGS.get(name)
        if flag is None:
            from jaxpose.cli.flags import unknown_flag

            raise InputError(f"OpenPose parameter: {unknown_flag(name)}".replace("flag --", "parameter "))
        options[name] = convert(flag, value)
    return options


def heatmap_channels(poses: Poses, options: Mapping[str, Any]) -> np.ndarray | None:
    """OpenPose's `poseHeatMaps`: float32 (C, H, W), the requested groups, scaled per heatmaps_scale."""
    from jaxpose.io.writers.heatmaps import export_heatmaps

    if poses.heatmaps is None:
        return None
    return export_heatmaps(
        poses,
        add_parts=options["heatmaps_add_parts"],
        add_bkg=options["heatmaps_add_bkg"],
        add_pafs=options["heatmaps_add_PAFs"],
        scale_mode=options["heatmaps_scale"],
    )


def render(image_rgb: np.ndarray, poses: Poses, options: Mapping[str, Any]) -> np.ndarray:
    """The rendered frame (H, W, 3) uint8 RGB per render_pose / render_threshold / alpha_pose."""
    from jaxpose.render.skeleton import render_pose

    mode = options["render_pose"]
    if mode == 0:
        return image_rgb
    return render_pose(
        image_rgb,
        poses,
        render_threshold=options["render_threshold"],
        hand_render_threshold=options["hand_render_threshold"],
        face_render_threshold=options["face_render_threshold"],
        alpha_pose=1.0 if mode == 1 else options["alpha_pose"],
        disable_blending=options["disable_blending"],
    )


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
