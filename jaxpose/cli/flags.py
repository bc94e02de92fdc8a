"""The `jaxpose` command's flags: OpenPose's names and defaults, a forgiving gflags-style parser, help.

One table (`FLAGS`) drives parsing, defaults, `jaxpose --help` and the `OpenPose` compat class.
Accepted spellings, as gflags: `--flag value`, `--flag=value`, `-flag value`; booleans also as
`--flag` alone, `--flag=true|false|1|0|yes|no`, `--flag 1` and `--noflag`.

Every bad value is a `UsageError` (exit code 2) before anything runs: numbers that do not parse
or are not finite (`convert`), sizes (`parse_resolution`, `parse_square`), and the value ranges
and combinations of `check_values`, which `parse` applies.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import textwrap
import types
from typing import Any

from jaxpose.errors import JaxposeError


class UsageError(JaxposeError):
    """Bad command line: unknown flag, missing or malformed value, inconsistent flags (exit code 2)."""


@dataclasses.dataclass(frozen=True)
class Flag:
    name: str
    kind: str  # "bool", "int", "float", "str"
    default: Any
    help: str
    group: str


_G_INPUT, _G_BODY, _G_HAND, _G_FACE, _G_RENDER, _G_OUT, _G_RUN, _G_GENERAL = (
    "Input",
    "Body model and keypoint detection",
    "Hand",
    "Face",
    "Rendering and display",
    "Saving results",
    "jaxpose extras",
    "Accepted for compatibility (no effect)",
)

FLAG_LIST: tuple[Flag, ...] = (
    Flag("image_dir", "str", "", "Process a directory of images (bmp, dib, pbm, pgm, ppm, sr, ras, jpg, jpeg, png), in natural order. Frame name = file name without extension.", _G_INPUT),
    Flag("video", "str", "", "Process a video file (e.g. `video.avi`). Frame name = `<video name>_<12-digit frame index>`.", _G_INPUT),
    Flag("camera", "int", -1, "Webcam index to read from (-1 = the first one that opens). Used only when given.", _G_INPUT),
    Flag("ip_camera", "str", "", "String with the IP camera URL (RTSP or HTTP stream).", _G_INPUT),
    Flag("frame_first", "int", 0, "Start on this frame index (0-based) of a video or image folder.", _G_INPUT),
    Flag("frame_last", "int", -1, "Finish on this frame index (inclusive); -1 = till the end. Also stops cameras after that many frames.", _G_INPUT),
    Flag("frame_step", "int", 1, "Process every n-th frame (e.g. 5 -> frames 0, 5, 10, ...).", _G_INPUT),
    Flag("frame_flip", "bool", False, "Mirror each frame horizontally (before --frame_rotate, as OpenPose).", _G_INPUT),
    Flag("frame_rotate", "int", 0, "Rotate each frame counter-clockwise by 0, 90, 180 or 270 degrees.", _G_INPUT),
    Flag("model_pose", "str", "MOBILENET_THIN", "Body model: MOBILENET_THIN (default; fetched and cached on first use), or OpenPose's BODY_25, COCO, MPI, MPI_4_layers (these need --model_folder).", _G_BODY),
    Flag("model_folder", "str", "", "OpenPose `models/` folder (with pose/, hand/, face/ .prototxt + .caffemodel). Weights are converted on first use and cached.", _G_BODY),
    Flag("net_resolution", "str", "-1x368", "Body network input size `WxH`, multiples of 16; -1 = computed from the image aspect ratio (e.g. 656x368 for 16:9). Lower = faster, less accurate.", _G_BODY),
    Flag("net_resolution_dynamic", "float", 1.0, "Images only: cap the automatic (-1) dimension at this factor x the 16:9 default; <= 0 = no cap.", _G_BODY),
    Flag("scale_number", "int", 1, "Number of scales to average.", _G_BODY),
    Flag("scale_gap", "float", 0.25, "Scale gap between scales: scales are 1, 1-gap, 1-2*gap, ...", _G_BODY),
    Flag("number_people_max", "int", -1, "Keep only the N people with the highest score x box size; -1 = all.", _G_BODY),
    Flag("maximize_positives", "bool", False, "Lower the grouping thresholds: more people found, more false positives.", _G_BODY),
    Flag("keypoint_scale", "int", 0, "Coordinates of saved keypoints: 0 input-image pixels, 1 net-input pixels, 2 output canvas (= input), 3 [0,1], 4 [-1,1], 5 [0,1] fixed aspect, 6 [-1,1] fixed aspect. Rendering always uses image pixels.", _G_BODY),
    Flag("heatmaps_add_parts", "bool", False, "Add the body-part heatmaps to --write_heatmaps output (and OpenPose.poseHeatMaps).", _G_BODY),
    Flag("heatmaps_add_bkg", "bool", False, "Add the background heatmap.", _G_BODY),
    Flag("heatmaps_add_PAFs", "bool", False, "Add the part affinity fields.", _G_BODY),
    Flag("heatmaps_scale", "int", 2, "Heatmap values: 0 in [-1,1], 1 in [0,1], 2 integers in [0,255] (needed for image formats), 3 unscaled.", _G_BODY),
    Flag("hand", "bool", False, "Also detect 21 hand keypoints per hand (needs --model_folder with hand/).", _G_HAND),
    Flag("hand_detector", "int", 0, "Hand boxes: 0 = from the body keypoints (the only one implemented).", _G_HAND),
    Flag("hand_net_resolution", "str", "368x368", "Hand network input size (square, multiple of 16), `368x368` or `368`.", _G_HAND),
    Flag("hand_scale_number", "int", 1, "Number of hand scales to run; the scale with the highest mean score wins (OpenPose's best: 6).", _G_HAND),
    Flag("hand_scale_range", "float", 0.4, "Total span of the hand scales, centred on 1 (0.4 -> 0.8 ... 1.2).", _G_HAND),
    Flag("face", "bool", False, "Also detect 70 face keypoints (needs --model_folder with face/).", _G_FACE),
    Flag("face_detector", "int", 0, "Face boxes: 0 = from the body keypoints; 1 = OpenCV face detector.", _G_FACE),
    Flag("face_net_resolution", "str", "368x368", "Face network input size (square, multiple of 16), `368x368` or `368`.", _G_FACE),
    Flag("render_pose", "int", -1, "Draw the skeletons on --write_images/--write_video output: 0 no (raw frames), 1 opaque (OpenPose CPU look), 2 blended with --alpha_pose (OpenPose GPU look), -1 auto (= 2).", _G_RENDER),
    Flag("render_threshold", "float", 0.05, "Only draw keypoints with a score above this (and limbs with both ends above it). Never affects saved keypoints.", _G_RENDER),
    Flag("alpha_pose", "float", 0.6, "Opacity of the drawn skeleton, 0 (invisible) ... 1 (opaque).", _G_RENDER),
    Flag("disable_blending", "bool", False, "Draw the skeletons on a black background instead of the frame.", _G_RENDER),
    Flag("face_render_threshold", "float", 0.4, "Only draw face keypoints with a score above this.", _G_RENDER),
    Flag("hand_render_threshold", "float", 0.2, "Only draw hand keypoints with a score above this.", _G_RENDER),
    Flag("display", "int", -1, "OpenPose's GUI window. jaxpose never opens a window (headless): -1 and 0 are silent, other values are ignored with a note.", _G_RENDER),
    Flag("write_json", "str", "", "Folder for one OpenPose people JSON file per frame: `<frame name>_keypoints.json`.", _G_OUT),
    Flag("write_images", "str", "", "Folder for the rendered frames: `<frame name>_rendered.<--write_images_format>`.", _G_OUT),
    Flag("write_images_format", "str", "png", "Image extension of --write_images (png, jpg, bmp, ...).", _G_OUT),
    Flag("write_video", "str", "", "Rendered video file (MJPG .avi, or .mp4).", _G_OUT),
    Flag("write_video_fps", "float", -1.0, "Frame rate of --write_video; -1 = the input's (30 when the input has none, e.g. images).", _G_OUT),
    Flag("write_keypoint", "str", "", "(Deprecated in OpenPose) folder for OpenCV FileStorage keypoint files: `<frame name>_pose.<fmt>` (+ _face, _hand_left, _hand_right).", _G_OUT),
    Flag("write_keypoint_format", "str", "yml", "Format of --write_keypoint: yml, yaml, xml, json (OpenCV FileStorage), or csv (jaxpose: one row per person and part).", _G_OUT),
    Flag("write_coco_json", "str", "", "One COCO result JSON file for the whole run (image_id = trailing number of the frame name).", _G_OUT),
    Flag("write_heatmaps", "str", "", "Folder for the body heatmaps of each frame (needs a --heatmaps_add_* flag): `<frame name>_pose_heatmaps.<fmt>`.", _G_OUT),
    Flag("write_heatmaps_format", "str", "png", "Format of --write_heatmaps: an image extension (png, jpg; needs --heatmaps_scale 2) or float (raw float32).", _G_OUT),
    Flag("batch", "int", 1, "Run the network on N frames at once (videos, same-size images): faster on accelerators.", _G_RUN),
    Flag("semantics", "str", "cuda", "Person grouping as OpenPose's CUDA build (cuda, default) or its CPU build (cpu).", _G_RUN),
    Flag("skip_existing", "bool", False, "Resume: skip frames whose per-frame outputs all exist already (they are not rewritten).", _G_RUN),
    Flag("max_compiled", "int", 8, "Compiled pose functions kept in memory (one per net input size, padded image size and batch size; the least recently used is dropped). Lower it for folders of many different image sizes; also $JAXPOSE_MAX_COMPILED.", _G_RUN),
    Flag("quiet", "bool", False, "No progress bar, notes or summary (errors are still printed).", _G_RUN),
    Flag("logging_level", "int", 3, "OpenPose's log verbosity.", _G_GENERAL),
    Flag("disable_multi_thread", "bool", False, "OpenPose's sequential mode.", _G_GENERAL),
    Flag("profile_speed", "int", 1000, "OpenPose's profiler interval.", _G_GENERAL),
    Flag("num_gpu", "int", -1, "OpenPose's GPU count (JAX uses its default device).", _G_GENERAL),
    Flag("num_gpu_start", "int", 0, "OpenPose's first GPU index.", _G_GENERAL),
    Flag("cli_verbose", "float", -1.0, "OpenPose's progress printing (jaxpose shows a progress bar instead).", _G_GENERAL),
    Flag("no_gui_verbose", "bool", False, "OpenPose's GUI text overlay switch.", _G_GENERAL),
    Flag("fullscreen", "bool", False, "OpenPose's full-screen GUI switch.", _G_GENERAL),
)

FLAGS: dict[str, Flag] = {flag.name: flag for flag in FLAG_LIST}

# OpenPose flags jaxpose does not implement: using one is a usage error that says so.
UNSUPPORTED = (
    "flir_camera", "flir_camera_index", "camera_resolution", "frames_repeat", "process_real_time",
    "camera_parameter_path", "frame_undistort", "3d_views", "body", "prototxt_path",
    "caffemodel_path", "upsampling_ratio", "output_resolution", "part_candidates", "tracking",
    "identification", "3d", "3d_min_views", "ik_threads", "alpha_heatmap", "part_to_show",
    "face_render", "hand_render", "face_alpha_pose", "hand_alpha_pose", "face_alpha_heatmap",
    "hand_alpha_heatmap", "write_coco_json_variants", "write_coco_json_variant",
    "write_video_with_audio", "write_video_3d", "write_bvh", "write_video_adam", "udp_host",
    "udp_port", "fps_max",
)

_TRUE = {"true", "t", "1", "yes", "y", "on"}
_FALSE = {"false", "f", "0", "no", "n", "off"}


class Options(types.SimpleNamespace):
    """Parsed flag values by name; `given` = names set on the command line; `inputs` = positionals."""

    given: frozenset
    inputs: list


def defaults() -> dict[str, Any]:
    return {flag.name: flag.default for flag in FLAG_LIST}


def parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise UsageError(f"--{name} expects true or false (got {text!r}).")


def convert(flag: Flag, value: Any) -> Any:
    """`value` (text from the command line, or a Python value from a params dict) as the flag's type."""
    if flag.kind == "bool":
        if isinstance(value, (bool, int)) and not isinstance(value, float):
            return bool(value)
        return parse_bool(flag.name, str(value))
    if flag.kind == "str":
        return str(value)
    try:
        if flag.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value) if not isinstance(value, str) else int(value.strip())
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        kind = "an integer" if flag.kind == "int" else "a number"
        raise UsageError(f"--{flag.name} expects {kind} (got {value!r}).") from None
    if not math.isfinite(number):
        raise UsageError(f"--{flag.name} expects a finite number (got {value!r}).")
    return number


def unknown_flag(name: str) -> UsageError:
    if name in UNSUPPORTED:
        return UsageError(f"--{name} is an OpenPose flag that jaxpose does not implement; drop it.")
    close = difflib.get_close_matches(name, list(FLAGS), n=2)
    hint = f" Did you mean {' or '.join('--' + c for c in close)}?" if close else ""
    return UsageError(f"unknown flag --{name}.{hint}")


def _looks_like_flag(token: str) -> bool:
    if not token.startswith("-") or token == "-":
        return False
    try:
        float(token)
        return False
    except ValueError:
        return True


def parse(argv: list[str]) -> Options:
    """Parse the command line. Returns Options (all flags, defaults filled in), or raises UsageError.

    `--help` / `-h` / `--helpfull` set `options.help`; `--version` sets `options.version`.
    """
    values = defaults()
    given: set[str] = set()
    inputs: list[str] = []
    show_help = show_version = False
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            inputs.extend(argv[i:])
            break
        if not _looks_like_flag(token):
            inputs.append(token)
            continue
        name, has_value, text = token.lstrip("-").partition("=")
        if name in ("h", "help", "helpfull", "helpshort"):
            show_help = True
            continue
        if name == "version":
            show_version = True
            continue
        flag = FLAGS.get(name)
        if flag is None and name.startswith("no") and FLAGS.get(name[2:], None) and FLAGS[name[2:]].kind == "bool":
            if has_value:
                raise UsageError(f"--{name} takes no value.")
            values[name[2:]] = False
            given.add(name[2:])
            continue
        if flag is None:
            raise unknown_flag(name)
        if flag.kind == "bool":
            if has_value:
                value = parse_bool(name, text)
            elif i < len(argv) and argv[i].strip().lower() in _TRUE | _FALSE:
                value = parse_bool(name, argv[i])
                i += 1
            else:
                value = True
        else:
            if not has_value:
                if i >= len(argv):
                    raise UsageError(f"--{name} needs a value (e.g. --{name}={_example(flag)}).")
                text = argv[i]
                i += 1
            value = convert(flag, text)
        values[flag.name] = value
        given.add(flag.name)
    options = Options(**values)
    options.given = frozenset(given)
    options.inputs = inputs
    options.help = show_help
    options.version = show_version
    if not (show_help or show_version):
        check_values(options)
    return options


MAX_SCALE_NUMBER = 8  # OpenPose's resize-and-merge averages at most 8 scales (openpose-core §4.3)
# OpenPose's producers: exactly one may be given (openpose-features §7.1).
PRODUCER_FLAGS = ("image_dir", "video", "ip_camera", "camera")


def check_values(options: Options) -> None:
    """Value ranges and combinations of the flags (pure; UsageError naming the flag and the fix).

    net_resolution, hand/face_net_resolution parse (multiples of 16); scale_number in 1..8;
    scale_gap > 0 with several scales and the smallest scale 1 - (n - 1) * gap in [0, 1], giving
    a net input side of at least 16 pixels on the fixed side(s); several scales need the CUDA
    semantics (OpenPose's CPU build refuses them); hand_scale_number >= 1; hand_scale_range in
    [0, 2); camera >= -1; max_compiled >= 1; at most one of --image_dir, --video, --ip_camera,
    --camera (positional inputs may be added). Non-finite numbers are refused when parsed
    (`convert`).
    """
    o = options
    net_resolution = parse_resolution("net_resolution", o.net_resolution)
    parse_square("hand_net_resolution", o.hand_net_resolution)
    parse_square("face_net_resolution", o.face_net_resolution)
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
    producers = [name for name in PRODUCER_FLAGS
                 if (name in o.given if name == "camera" else bool(getattr(o, name)))]
    if len(producers) > 1:
        given = " and ".join(f"--{name}" for name in producers)
        raise UsageError(
            f"{given} are conflicting inputs: give one of --image_dir, --video, --ip_camera, --camera "
            "(as OpenPose), or several inputs as positional arguments."
        )


def _example(flag: Flag) -> str:
    return {"int": "1", "float": "0.5", "bool": "true"}.get(flag.kind, "VALUE" if flag.default == "" else str(flag.default))


def parse_resolution(name: str, text: str) -> tuple[int, int]:
    """`"-1x368"` -> (-1, 368): width x height, each -1 (automatic) or a positive integer."""
    parts = str(text).lower().replace(" ", "").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--{name} expects WIDTHxHEIGHT such as -1x368 (got {text!r}).") from None
    for size in (width, height):
        if size != -1 and size <= 0:
            raise UsageError(f"--{name}: sizes must be positive or -1 (got {text!r}).")
        if size > 0 and size % 16:
            raise UsageError(
                f"--{name}: {size} is not a multiple of 16 (OpenPose's rule; got {text!r}); use e.g. {size // 16 * 16 or 16}."
            )
    if width == -1 and height == -1:
        raise UsageError(f"--{name}: at most one of width and height may be -1 (got {text!r}).")
    return width, height


def parse_square(name: str, text: Any) -> int:
    """`"368x368"`, `"368"` or 368 -> 368 (hand and face nets are square)."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    parts = str(text).lower().replace(" ", "").split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise UsageError(f"--{name} expects a size such as 368x368 (got {text!r}).") from None
    if len(sizes) not in (1, 2) or len(set(sizes)) != 1 or sizes[0] <= 0:
        raise UsageError(f"--{name} must be square and positive, such as 368x368 (got {text!r}).")
    if sizes[0] % 16:
        raise UsageError(
            f"--{name}: {sizes[0]} is not a multiple of 16 (OpenPose's rule; got {text!r}); use e.g. "
            f"{sizes[0] // 16 * 16 or 16}."
        )
    return sizes[0]


def help_text() -> str:
    """`jaxpose --help`: usage, examples, then every flag (gflags style: help, type, default)."""
    lines = [
        "jaxpose: multi-person body (+ hand, face) keypoints, OpenPose-compatible, in JAX.",
        "",
        "Usage: jaxpose [INPUT ...] [--flag value | --flag=value ...]",
        "       jaxpose convert ...        (OpenPose Caffe weights -> jaxpose model file)",
        "       jaxpose fetch-models       (download the default model ahead of time)",
        "",
        "INPUT is a folder of images, an image or a video (same as --image_dir / --video).",
        "",
        "Examples:",
        "  jaxpose --video video.avi --write_json out/ --write_video out.avi",
        "  jaxpose photos/ --write_images rendered/ --write_coco_json results.json",
        "  jaxpose --image_dir photos --model_pose BODY_25 --model_folder openpose/models --hand",
        "",
        "Exit status: 0 all inputs processed, 1 some inputs or frames failed, 2 bad usage, 130 interrupted.",
    ]
    groups: dict[str, list[Flag]] = {}
    for flag in FLAG_LIST:
        groups.setdefault(flag.group, []).append(flag)
    for group, flags in groups.items():
        lines += ["", f"{group}:"]
        for flag in flags:
            kind = {"str": "string", "int": "int32", "float": "double", "bool": "bool"}[flag.kind]
            default = f'"{flag.default}"' if flag.kind == "str" else str(flag.default).lower()
            lines.append(f"  --{flag.name}")
            lines.extend(textwrap.wrap(f"({flag.help})", width=96, initial_indent="      ",
                                       subsequent_indent="       ", break_on_hyphens=False))
            lines.append(f"      type: {kind}  default: {default}")
    lines += [
        "",
        "Booleans accept --flag, --flag=true/false, --flag 1/0 and --noflag, as OpenPose's gflags.",
    ]
    return "\n".join(lines) + "\n"
