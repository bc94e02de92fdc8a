"""Options -> models -> pose function: the one step the CLI, `OpenPose`, `PoseEstimator` and the batch
job share (data flows one way: cli / compat / estimator / batch -> options -> hub, convert -> model).

    pipeline = build_pipeline(options)      # options: flag name -> value (see jaxpose.options.table)
    poses = pipeline.pose_fn(pipeline.params, image_rgb)

The default body model is MobileNet-thin (fetched and cached on first use); BODY_25, COCO, MPI,
MPI_4_layers, hands and faces come from OpenPose's `models/` folder (converted once, then cached).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from jaxpose.errors import InputError, UsageError
from jaxpose.options.table import FLAGS, convert, defaults, parse_resolution, parse_square, unknown_flag
from jaxpose.poses import Poses

DEFAULT_MODEL_POSE = "MOBILENET_THIN"
CAFFE_BODY_MODELS = ("BODY_25", "COCO", "MPI", "MPI_4_layers")
FACE_DETECTORS = {0: "body", 1: "opencv"}


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """What `build_pipeline` returns: `pose_fn(params, image_rgb)` / `pose_fn.batch(params, frames)`.

    `stream_pose_fn` is the one for videos and cameras (OpenPose ignores --net_resolution_dynamic
    there); `for_stream(still)` picks the right one.
    """

    pose_fn: Callable
    params: Any
    model_pose: str
    stream_pose_fn: Callable | None = None

    def for_stream(self, still_images: bool) -> Callable:
        """The pose_fn for still images (folders, files) or for streams (videos, cameras)."""
        return self.pose_fn if still_images or self.stream_pose_fn is None else self.stream_pose_fn


def canonical_model_pose(name: str) -> str:
    """`--model_pose` value -> the spec name (case-insensitive), or the path of a jaxpose model
    file (a fine-tuned model from `jaxpose train`, a `jaxpose convert` output); UsageError else."""
    for known in (DEFAULT_MODEL_POSE,) + CAFFE_BODY_MODELS:
        if known.lower() == str(name).lower():
            return known
    if Path(name).is_file():
        return str(name)
    raise UsageError(
        f"--model_pose {name!r} is neither a body model jaxpose knows "
        f"({', '.join((DEFAULT_MODEL_POSE,) + CAFFE_BODY_MODELS)}) nor a jaxpose model file."
    )


def _load_caffe(model_folder: str, name: str, flag: str):
    from jaxpose.convert.caffe import WHERE_TO_GET, load_model_folder

    if not model_folder:
        if name in ("HAND", "FACE"):
            part = "hand" if name == "HAND" else "face"
            raise UsageError(
                f"{flag} needs OpenPose's {part} network, which the default body model "
                f"({DEFAULT_MODEL_POSE}) does not include: download OpenPose's models (its "
                f"models/getModels.sh fetches {part}/pose_iter_*.caffemodel) and pass "
                "--model_folder path/to/openpose/models."
            )
        raise UsageError(
            f"{flag} needs OpenPose's Caffe weights: pass --model_folder pointing at OpenPose's "
            "models/ folder, or use the default --model_pose "
            f"{DEFAULT_MODEL_POSE}. {WHERE_TO_GET}"
        )
    return load_model_folder(model_folder, name)


def load_body_model(options: Mapping[str, Any]):
    """The body `Model` named by `model_pose` (+ `model_folder` for OpenPose's Caffe models)."""
    from jaxpose.hub import load_model

    model_pose = canonical_model_pose(options["model_pose"])
    if model_pose == DEFAULT_MODEL_POSE:
        return load_model("mobilenet_thin")
    if model_pose not in CAFFE_BODY_MODELS:
        model = load_model(model_pose)
        if model.spec.num_pairs == 0:
            raise UsageError(f"--model_pose {model_pose}: holds the {model.name} network, not a body model.")
        return model
    return _load_caffe(options["model_folder"], model_pose, f"--model_pose {model_pose}")


def resolve_model(model: Any, model_folder: str | os.PathLike = "", role: str = "body") -> Any:
    """A `Model` from what a Python caller gives: a `Model`; a built-in name ("mobilenet_thin"); a
    model file (`jaxpose convert` / `save_model`); or an OpenPose model name (BODY_25, COCO, MPI,
    MPI_4_layers, HAND, FACE) with `model_folder`. For hands and faces, True = from `model_folder`."""
    from jaxpose.hub import NAMED_MODELS, load_model

    if hasattr(model, "spec") and hasattr(model, "params"):
        return model
    if model is True and role in ("hand", "face"):
        model = role.upper()
    if isinstance(model, str):
        openpose = next((n for n in CAFFE_BODY_MODELS + ("HAND", "FACE") if n.lower() == model.lower()), None)
        if openpose is not None and model.lower() not in NAMED_MODELS and not Path(model).is_file():
            return _load_caffe(str(model_folder), openpose, f"{role} model {openpose}")
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    raise InputError(
        f"{role} model {model!r}: pass a jaxpose Model, a built-in name (mobilenet_thin), a model "
        "file, or an OpenPose model name (BODY_25, COCO, MPI, MPI_4_layers, HAND, FACE) with model_folder."
    )


def pose_fn_settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """`make_pose_fn` keyword arguments from flag values (models not included)."""
    return dict(
        net_resolution=parse_resolution("net_resolution", options["net_resolution"]),
        scale_number=options["scale_number"],
        scale_gap=options["scale_gap"],
        semantics=options["semantics"],
        number_people_max=options["number_people_max"],
        maximize_positives=options["maximize_positives"],
        return_heatmaps=bool(
            options["heatmaps_add_parts"] or options["heatmaps_add_bkg"] or options["heatmaps_add_PAFs"]
        ),
        hand_net_resolution=parse_square("hand_net_resolution", options["hand_net_resolution"]),
        face_net_resolution=parse_square("face_net_resolution", options["face_net_resolution"]),
        hand_scale_number=options["hand_scale_number"],
        hand_scale_range=options["hand_scale_range"],
        face_detector=FACE_DETECTORS[options["face_detector"]],
        dtype=str(options["precision"]).lower(),
        devices=_devices(options),
        max_compiled=options["max_compiled"] if "max_compiled" in options.get("given", ()) else None,
    )


def apply_cpu_devices(options: Mapping[str, Any]) -> int:
    """--cpu_devices N (0: leave JAX's setting) -> `jaxpose.use_cpu_devices(N)`, before JAX starts
    (the command applies it first; `check_options` and `build_pipeline` again, which is a no-op);
    returns the number of CPU devices asked for (0 when none). UsageError when it cannot apply."""
    from jaxpose.jax_backend import use_cpu_devices

    count = options.get("cpu_devices", 0)
    if not count:
        return 0
    if count < -1:
        raise UsageError(f"--cpu_devices must be -1 (one per core), 0 (JAX's setting) or >= 1 (got {count}).")
    try:
        return use_cpu_devices(count)
    except InputError as error:
        raise UsageError(str(error).replace("cpu_devices=", "--cpu_devices ")) from None


def _devices(options: Mapping[str, Any]) -> Any:
    """--num_gpu / --num_gpu_start -> `make_pose_fn`'s devices (None: the default device alone),
    after --cpu_devices has set how many CPU devices JAX makes."""
    from jaxpose.sharding import devices_for_flags

    apply_cpu_devices(options)
    try:
        return devices_for_flags(options["num_gpu"], options["num_gpu_start"])
    except InputError as error:
        message = str(error).replace("num_gpu_start=", "--num_gpu_start ").replace("num_gpu=", "--num_gpu ")
        raise UsageError(message) from None


def with_conv_impl(impl: str, models: Mapping[str, Any], sizes: Mapping[str, Any]) -> dict[str, Any]:
    """`models` (role -> `Model` or None) with convolution implementation `impl` (`--conv_impl`)
    applied to those that have the choice (OpenPose's Caffe nets), each prepared for its net input
    size `sizes[role]`: a side (hand, face) or a (width, height) net_resolution whose -1 side is
    taken equal to the other (`Model.with_conv3x3_impl(impl, (H, W))`: Winograd kernels
    transformed once). Raises UsageError when no model has the choice."""
    from jaxpose.nets.layers import CONV_IMPL_NAMES

    if impl not in CONV_IMPL_NAMES:
        raise UsageError(f"conv_impl {impl!r}: use one of {', '.join(CONV_IMPL_NAMES)}.")
    if impl == "xla":
        return dict(models)
    chosen = [role for role, model in models.items() if model is not None and hasattr(model.net, "conv3x3_impl")]
    if not chosen:
        raise UsageError(f"conv_impl {impl!r} acts on OpenPose's Caffe networks only (hand, face, "
                         "BODY_25/COCO/MPI bodies), and none is in use: leave it at 'xla'.")
    out = dict(models)
    for role in chosen:
        size = sizes[role]
        if not isinstance(size, int):
            width, height = size
            size = (height if height > 0 else width, width if width > 0 else height)
        out[role] = models[role].with_conv3x3_impl(impl, size)
    return out


def build_pipeline(options: Mapping[str, Any], body: Any = None) -> Pipeline:
    """Load the models named by OpenPose-style `options` (flag name -> value) and make the pose_fns.

    `body`: an already loaded body `Model` to use instead of `model_pose` / `model_folder`.
    """
    from jaxpose.pipeline import make_pose_fn

    if options["hand_detector"] != 0:
        raise UsageError(f"--hand_detector {options['hand_detector']} is not implemented; use 0 (from the body).")
    if options["face_detector"] not in FACE_DETECTORS:
        raise UsageError(f"--face_detector {options['face_detector']} is not implemented; use 0 (body) or 1 (OpenCV).")
    if options["semantics"] not in ("cuda", "cpu"):
        raise UsageError(f"--semantics must be cuda or cpu (got {options['semantics']!r}).")
    settings = pose_fn_settings(options)  # before loading: a bad --num_gpu fails fast
    if body is None:
        body = load_body_model(options)
    model_pose = body.spec.name
    hand = _load_caffe(options["model_folder"], "HAND", "--hand") if options["hand"] else None
    face = _load_caffe(options["model_folder"], "FACE", "--face") if options["face"] else None
    models = with_conv_impl(options.get("conv_impl", "xla"), {"body": body, "hand": hand, "face": face}, {
        "body": settings["net_resolution"],
        "hand": settings["hand_net_resolution"],
        "face": settings["face_net_resolution"],
    })
    body, hand, face = models["body"], models["hand"], models["face"]
    settings = dict(settings, hand=hand, face=face)
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
            raise InputError(f"OpenPose parameter: {unknown_flag(name)}".replace("flag --", "parameter "))
        options[name] = convert(flag, value)
    return options


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
        color_by_id=bool(options.get("render_ids", False)),
        draw_ids=bool(options.get("render_ids", False)),
    )


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

