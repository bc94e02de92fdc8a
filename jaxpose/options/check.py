"""Consistency of a full set of options (OpenPose's start-up rules where they apply).

`check_options(options)` raises `UsageError` (the CLI's exit code 2) for values or combinations that
cannot work, and returns notes (no effect, but worth saying) for the caller to print.
"""

from __future__ import annotations

from typing import Any

from jaxpose.errors import JaxposeError, UsageError
from jaxpose.options.table import parse_resolution, parse_square


def check_options(options: Any) -> list[str]:
    """Flag consistency (OpenPose's start-up rules, where they apply). Returns notes to print."""
    from jaxpose.options.build import canonical_model_pose
    from jaxpose.pipeline import COMPUTE_DTYPES
    from jaxpose.specs import SPECS
    from jaxpose.io.keypoint_scale import KEYPOINT_SCALE_MODES
    from jaxpose.io.writers.heatmaps import HEATMAP_SCALE_MODES
    from jaxpose.io.writers.keypoint_file import KEYPOINT_FORMATS

    notes = []
    parse_resolution("net_resolution", options.net_resolution)
    parse_square("hand_net_resolution", options.hand_net_resolution)
    parse_square("face_net_resolution", options.face_net_resolution)
    model_pose = canonical_model_pose(options.model_pose)
    if options.batch < 1:
        raise UsageError(f"--batch must be >= 1 (got {options.batch}).")
    if options.num_gpu == 0 or options.num_gpu < -1:
        raise UsageError(f"--num_gpu must be -1 (all devices) or >= 1 (got {options.num_gpu}).")
    if options.num_gpu_start < 0:
        raise UsageError(f"--num_gpu_start must be >= 0, the index of the first device (got {options.num_gpu_start}).")
    notes += _check_cpu_devices(options)
    if str(options.precision).lower() not in COMPUTE_DTYPES:
        raise UsageError(f"--precision {options.precision!r}: use float32 (default) or bf16.")
    notes += _check_conv_impl(options, model_pose)
    _check_scales(options, parse_resolution("net_resolution", options.net_resolution))
    if options.keypoint_scale not in KEYPOINT_SCALE_MODES:
        raise UsageError(f"--keypoint_scale must be one of 0-6 (got {options.keypoint_scale}).")
    if options.render_pose not in (-1, 0, 1, 2):
        raise UsageError(f"--render_pose must be -1, 0, 1 or 2 (got {options.render_pose}).")
    if not 0.0 <= options.alpha_pose <= 1.0:
        raise UsageError(f"--alpha_pose must lie in [0, 1] (got {options.alpha_pose}).")
    if options.semantics not in ("cuda", "cpu"):
        raise UsageError(f"--semantics must be cuda or cpu (got {options.semantics!r}).")
    if options.write_keypoint and options.write_keypoint_format.lower() not in KEYPOINT_FORMATS:
        raise UsageError(
            f"--write_keypoint_format {options.write_keypoint_format!r}: use one of {', '.join(KEYPOINT_FORMATS)}."
        )
    if options.write_images and not _can_write_image(options.write_images_format):
        raise UsageError(f"--write_images_format {options.write_images_format!r} is not an image format OpenCV can write.")
    if options.heatmaps_scale not in HEATMAP_SCALE_MODES:
        raise UsageError(f"--heatmaps_scale must be one of 0-5 (got {options.heatmaps_scale}).")
    if options.write_heatmaps:
        if not (options.heatmaps_add_parts or options.heatmaps_add_bkg or options.heatmaps_add_PAFs):
            raise UsageError(
                "--write_heatmaps needs at least one of --heatmaps_add_parts, --heatmaps_add_bkg, --heatmaps_add_PAFs."
            )
        fmt = options.write_heatmaps_format.lower()
        if fmt != "float" and options.heatmaps_scale != 2:
            raise UsageError(
                f"--write_heatmaps_format {fmt} needs --heatmaps_scale 2; use --write_heatmaps_format float for other scales."
            )
        if fmt != "float" and not _can_write_image(fmt):
            raise UsageError(f"--write_heatmaps_format {fmt!r}: use png, jpg or float.")
    if options.coco_gt and not options.write_coco_json:
        raise UsageError("--coco_gt maps the image ids of --write_coco_json; add --write_coco_json FILE.")
    if options.write_coco_json:
        from jaxpose.io.writers.coco_json import coco_index_map

        try:
            coco_index_map(model_pose if model_pose in SPECS else "COCO")
        except JaxposeError as error:
            raise UsageError(f"--write_coco_json: {error}") from None
    from jaxpose.io.layout import check_layout

    try:
        options.output_layout = check_layout(options.output_layout)
    except JaxposeError as error:
        raise UsageError(f"--output_layout: {error}") from None
    if options.display not in (-1, 0):
        notes.append(
            f"--display {options.display} ignored: jaxpose never opens a window; "
            "see the results with --write_images or --write_video."
        )
    files = ("write_video", "write_coco_json", "write_posetrack", "write_keypoint_3d", "write_trc",
             "write_images_3d", "write_video_3d")
    if not any(per_frame_dirs(options).values()) and not any(getattr(options, f, "") for f in files):
        notes.append("no --write_* flag given: poses are computed but not saved (try --write_json DIR).")
    return notes


MAX_SCALE_NUMBER = 8  # OpenPose's resize-and-merge averages at most 8 scales (openpose-core §4.3)


def _check_scales(o: Any, net_resolution: tuple[int, int]) -> None:
    """scale_number in 1..8; with several scales, scale_gap > 0 and the smallest scale
    1 - (n - 1) * gap in [0, 1] giving a net side of at least 16 pixels, and the CUDA semantics
    (OpenPose's CPU build refuses several scales); hand_scale_number >= 1, hand_scale_range in
    [0, 2); camera >= -1; max_compiled >= 1."""
    if not 1 <= o.scale_number <= MAX_SCALE_NUMBER:
        raise UsageError(f"--scale_number must be in 1..{MAX_SCALE_NUMBER} (got {o.scale_number}).")
    if o.scale_number > 1:
        if not o.scale_gap > 0:
            raise UsageError(f"--scale_gap must be > 0 with --scale_number {o.scale_number} (got {o.scale_gap}).")
        smallest = 1 - (o.scale_number - 1) * o.scale_gap
        if smallest < 0:
            raise UsageError(
                f"--scale_number {o.scale_number} with --scale_gap {o.scale_gap} gives a scale of {smallest:g}, "
                f"below 0; use a gap of at most {1 / (o.scale_number - 1):g} or fewer scales."
            )
        for side in net_resolution:
            if side > 0 and int(side * smallest + 0.5) // 16 * 16 < 16:
                raise UsageError(
                    f"--scale_number {o.scale_number} with --scale_gap {o.scale_gap}: the smallest scale "
                    f"({smallest:g}) gives a net input side below 16 pixels ({side} x {smallest:g}); use "
                    "fewer scales or a smaller gap."
                )
        if str(o.semantics).lower() == "cpu":
            raise UsageError(
                "--scale_number > 1 with --semantics cpu: OpenPose's CPU build refuses several scales; "
                "use --semantics cuda or --scale_number 1."
            )
    if o.hand_scale_number < 1:
        raise UsageError(f"--hand_scale_number must be >= 1 (got {o.hand_scale_number}).")
    if not 0 <= o.hand_scale_range < 2:
        raise UsageError(f"--hand_scale_range must lie in [0, 2) (got {o.hand_scale_range}).")
    if o.camera < -1:
        raise UsageError(f"--camera must be -1 (the first that opens) or an index >= 0 (got {o.camera}).")
    if o.max_compiled < 1:
        raise UsageError(f"--max_compiled must be >= 1 (got {o.max_compiled}).")


def _can_write_image(fmt: str) -> bool:
    import cv2

    return bool(cv2.haveImageWriter(f"x.{fmt.lower().lstrip('.')}"))


def per_frame_dirs(options: Any) -> dict[str, str]:
    return {
        "json": options.write_json,
        "images": options.write_images,
        "keypoint": options.write_keypoint,
        "heatmaps": options.write_heatmaps,
    }


def _check_conv_impl(options: Any, model_pose: str) -> list[str]:
    """--conv_impl: a known name, float32 only, and a Caffe network for it to act on. Returns a
    note when Winograd is asked for off CPU (its per-layer rule was measured on CPU)."""
    from jaxpose.nets.layers import CONV_IMPL_NAMES
    from jaxpose.options.build import CAFFE_BODY_MODELS
    from jaxpose.pipeline import compute_dtype
    import jax.numpy as jnp

    impl = options.conv_impl
    if impl not in CONV_IMPL_NAMES:
        raise UsageError(f"--conv_impl {impl!r}: use one of {', '.join(CONV_IMPL_NAMES)}.")
    if impl == "xla":
        return []
    if compute_dtype(str(options.precision).lower()) is not jnp.float32:
        raise UsageError(f"--conv_impl {impl} computes in float32 on CPU; drop it or use --precision float32.")
    if not (options.hand or options.face or model_pose in CAFFE_BODY_MODELS):
        raise UsageError(
            f"--conv_impl {impl} acts on OpenPose's Caffe networks only (--hand, --face, --model_pose "
            f"BODY_25/COCO/MPI/MPI_4_layers), and none is in use: drop the flag or add one of them."
        )
    import jax

    if jax.default_backend() != "cpu":
        return [f"--conv_impl {impl}: Winograd was measured faster on CPUs only; on {jax.default_backend()} "
                "XLA's own convolutions (the default, xla) are usually faster."]
    return []


def _cpu_devices_used(options: Any) -> int:
    """How many of the CPU devices --cpu_devices makes --num_gpu / --num_gpu_start then use (0
    without --cpu_devices); applies --cpu_devices if the command has not yet."""
    from jaxpose.options.build import apply_cpu_devices

    count = apply_cpu_devices(vars(options))
    if not count:
        return 0
    return count - options.num_gpu_start if options.num_gpu == -1 else options.num_gpu


def batch_for_cpu_devices(options: Any) -> None:
    """--cpu_devices without --batch: --batch becomes the number of devices used (one frame each),
    so that `--cpu_devices -1` alone runs frames side by side. Sets `options.batch` in place."""
    used = _cpu_devices_used(options)
    if used > 1 and "batch" not in getattr(options, "given", ()):
        options.batch = used


def _check_cpu_devices(options: Any) -> list[str]:
    """--cpu_devices, applied now if the command has not yet (`apply_cpu_devices`). Returns a
    note when --batch does not split evenly over the devices --num_gpu then uses."""
    used = _cpu_devices_used(options)
    if used > 1 and options.batch % used:
        return [f"--batch {options.batch} is split over {used} CPU devices: each batch is padded to a multiple "
                f"of {used} frames (wasted work); use a --batch that is a multiple of {used}."]
    return []
