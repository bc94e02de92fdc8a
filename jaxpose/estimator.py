"""`PoseEstimator`: people from a photo, a video, a folder or a camera, without thinking about params.

    est = jaxpose.PoseEstimator()                      # default model (MobileNet-thin), OpenPose's defaults
    poses = est("photo.jpg")                           # a path, PIL image, NumPy or JAX array
    keypoints, scores = est(frame_bgr, bgr=True)       # OpenCV frames are BGR: say so
    for name, image, poses in est.stream("video.mp4"):  # or a folder, a camera index, a URL, frames
        ...

Arrays are RGB unless `bgr=True` (nothing in the pixels says which order they are in, so the
caller must); files and PIL images are read in the right order by the estimator itself. `stream`
runs the same streaming engine as the `jaxpose` command (decoding, batched device work and host
grouping overlapped), so its poses equal the command's JSON.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from jaxpose.errors import InputError
from jaxpose.io import readers
from jaxpose.poses import Poses

STREAM_ERRORS = ("warn", "raise", "ignore")


def _image_array(image: Any, bgr: bool) -> np.ndarray:
    """A path, PIL image, NumPy or JAX array -> (H, W, 3) uint8 RGB."""
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise InputError(f"{path}: no such image file.")
        return readers.decode_image(path)
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image: its mode says the order
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if bgr and array.ndim == 3 and array.shape[-1] == 3:
        array = array[..., ::-1]
    return np.ascontiguousarray(array)


class _ArraySource:
    """Frames the caller already has (an iterable of arrays): names are 12-digit indices."""

    fps: float | None = None

    def __init__(self, frames: Iterable[Any], bgr: bool) -> None:
        self._frames, self._bgr = frames, bgr
        self.total = len(frames) if hasattr(frames, "__len__") else None

    def frames(self, skip: Any = None) -> Iterator[readers.Item]:
        for index, frame in enumerate(self._frames):
            name = f"{index:012d}"
            try:
                yield readers.Frame(name, index, _image_array(frame, self._bgr))
            except InputError as error:
                yield readers.FrameError(name, index, f"{name}: {error}")


def _tracking_stages(track: Any, smoother: Any, fps: float | None) -> list:
    """The stream's stages: a tracker (and a smoother) over the results, in frame order."""
    if smoother is not None and not track:
        raise InputError("smoother= smooths tracked people: pass track=True too.")
    if not track:
        return []
    from jaxpose.track import Tracker
    from jaxpose.track.stream import frame_time

    tracker = Tracker() if track is True else track
    if not hasattr(tracker, "update"):
        raise InputError(f"track={track!r}: pass True or a jaxpose.Tracker.")

    def stage(result: Any) -> Any:
        stamp = frame_time(result.index, fps)
        poses = tracker.update(result.poses, timestamp=stamp)
        if smoother is not None:
            poses = smoother.update(poses, timestamp=stamp)
        return result.replace(poses=poses)

    return [stage]


class PoseEstimator:
    """A model, its options and its compiled functions, ready for images and streams.

    model: a built-in name ("mobilenet_thin", the default), a jaxpose model file, a loaded `Model`,
        or an OpenPose model name ("BODY_25", "COCO", "MPI", "MPI_4_layers") with `model_folder`.
    hand, face: True (from `model_folder`), a `Model` or a model file; hands / face per person.
    batch: frames per device call in `stream` (8 by default; 1 for the lowest latency).
    conv_impl: convolutions of OpenPose's Caffe nets, as the command's `--conv_impl`: "xla"
        (default), "auto" (one-pass Winograd where it pays on CPU: hands and faces ~1.5x faster at 368;
        kernels transformed once for the net resolutions given here) or "winograd".
    options: `make_pose_fn`'s keyword arguments (net_resolution, scale_number, number_people_max,
        semantics, thresholds, ...), OpenPose's flag names snake-cased.
    """

    def __init__(self, model: Any = "mobilenet_thin", *, model_folder: str | os.PathLike = "",
                 hand: Any = None, face: Any = None, batch: int = 8, conv_impl: str = "xla",
                 **options: Any) -> None:
        from jaxpose import compile_cache
        from jaxpose.options.build import resolve_model, with_conv_impl
        from jaxpose.options.table import parse_resolution, parse_square
        from jaxpose.pipeline import make_pose_fn

        compile_cache.enable()  # off with JAXPOSE_COMPILE_CACHE=0

        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InputError(f"batch={batch!r}: must be an integer >= 1.")
        self.model = resolve_model(model, model_folder)
        self.hand = resolve_model(hand, model_folder, "hand") if hand not in (None, False) else None
        self.face = resolve_model(face, model_folder, "face") if face not in (None, False) else None
        if conv_impl != "xla":
            resolution = options.get("net_resolution", (-1, 368))
            models = with_conv_impl(conv_impl, {"body": self.model, "hand": self.hand, "face": self.face}, {
                "body": parse_resolution("net_resolution", resolution) if isinstance(resolution, str) else resolution,
                "hand": parse_square("hand_net_resolution", options.get("hand_net_resolution", 368)),
                "face": parse_square("face_net_resolution", options.get("face_net_resolution", 368)),
            })
            self.model, self.hand, self.face = models["body"], models["hand"], models["face"]
        self.batch = batch
        self.pose_fn = make_pose_fn(self.model, hand=self.hand, face=self.face, **options)
        if "net_resolution_dynamic" in options:
            self.stream_pose_fn = self.pose_fn
        else:  # videos and cameras: OpenPose's -1 (no cap on the automatic side)
            self.stream_pose_fn = make_pose_fn(self.model, hand=self.hand, face=self.face,
                                               net_resolution_dynamic=-1.0, **options)
        self.params = self.pose_fn.params

    def __call__(self, image: Any, bgr: bool = False) -> Poses:
        """People in one image: a file path, a PIL image, or an (H, W, 3) uint8 NumPy / JAX array
        (RGB; `bgr=True` for OpenCV's order). Returns `Poses` (`keypoints, scores = poses` works)."""
        return self.pose_fn(self.params, _image_array(image, bgr))

    def stream(self, source: Any, *, bgr: bool = False, progress: bool = False,
               errors: str = "warn", batch: int | None = None, track: Any = False,
               smoother: Any = None) -> Iterator[tuple[str, np.ndarray, Poses]]:
        """`(frame_name, image_rgb, poses)` for each frame of `source`, lazily and in order.

        source: a video file, an image folder or file, a camera index (int), a stream URL
            ("rtsp://...", "http://..."), or an iterable of images (arrays: RGB unless `bgr`).
        progress: show a tqdm progress bar. errors: a frame that cannot be read or processed is
            reported with a warning ("warn", default) and left out, raises ("raise"), or is left
            out silently ("ignore"). Frame names follow OpenPose (`video_000000000012`, file stems).
        track: True (a new `jaxpose.Tracker()`) or a `Tracker`: the Poses carry stable `.ids`
            (time stamps from the video's frame rate). smoother: e.g.
            `jaxpose.track.OneEuroSmoother()`, applied to the tracked people (needs `track`).
        """
        if errors not in STREAM_ERRORS:
            raise InputError(f"errors={errors!r}: choose one of {', '.join(STREAM_ERRORS)}.")
        from jaxpose.stream import run_stream

        opened, still = self._open(source, bgr)
        pose_fn = self.pose_fn if still else self.stream_pose_fn
        results = run_stream(opened.frames(), pose_fn, self.params, batch=batch or self.batch,
                             stages=_tracking_stages(track, smoother, opened.fps))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=opened.total, unit="frame")
        try:
            for result in results:
                if bar is not None:
                    bar.update(1)
                if result.ok:
                    yield result.name, result.image, result.poses
                elif errors == "raise":
                    raise InputError(result.error)
                elif errors == "warn":
                    warnings.warn(f"jaxpose: {result.error}", stacklevel=2)
        finally:
            results.close()
            if bar is not None:
                bar.close()

    @staticmethod
    def _open(source: Any, bgr: bool) -> tuple[Any, bool]:
        """(frame source, still images?) for a `stream` source."""
        if isinstance(source, bool):
            raise InputError("stream source True/False: pass a path, a camera index or frames.")
        if isinstance(source, int):
            return readers.CameraSource(source), False
        if isinstance(source, str) and "://" in source:
            return readers.IPCameraSource(source), False
        if isinstance(source, (str, os.PathLike)):
            opened = readers.open_path(source)
            return opened, not isinstance(opened, readers.VideoSource)
        if isinstance(source, np.ndarray) and source.ndim == 3:
            raise InputError(f"stream of one image of shape {source.shape}: call the estimator on it, "
                             "or pass frames as (T, H, W, 3).")
        if isinstance(source, Iterable):
            return _ArraySource(source, bgr), False
        raise InputError(f"stream source of type {type(source).__name__}: pass a video, folder or "
                         "image path, a camera index, a stream URL, or an iterable of frames.")
