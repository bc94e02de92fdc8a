"""The options table: OpenPose's flag names, types, defaults and help, and value conversion.

One table (`FLAGS`) drives the command line (`jaxpose.cli.flags` parses argv with it and prints
`--help`), the `OpenPose` compat class, `PoseEstimator` and the batch job. Values arrive as text
(command line) or Python objects (params dicts) and are converted by `convert`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
from typing import Any

from jaxpose.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Flag:
    name: str
    kind: str  # "bool", "int", "float", "str"
    default: Any
    help: str
    group: str


_G_INPUT, _G_BODY, _G_HAND, _G_FACE, _G_3D, _G_TRACK, _G_RENDER, _G_OUT, _G_RUN, _G_GENERAL = (
    "Input",
    "Body model and keypoint detection",
    "Hand",
    "Face",
    "3D (several calibrated, synchronised cameras)",
    "Tracking and smoothing",
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
    Flag("model_pose", "str", "MOBILENET_THIN", "Body model: MOBILENET_THIN (default; fetched and cached on first use), OpenPose's BODY_25, COCO, MPI, MPI_4_layers (these need --model_folder), or the path of a jaxpose model file (e.g. run/model.jaxpose from `jaxpose train`).", _G_BODY),
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
    Flag("3d", "bool", False, "Reconstruct every person in 3D from several calibrated, synchronised views (needs --camera_parameter_path). Inputs: a video of views side by side, an image folder of N consecutive images per instant, one video per camera (--video a.mp4,b.mp4) or a folder of per-camera image folders.", _G_3D),
    Flag("3d_views", "int", -1, "Number of views per instant; -1 = the number of camera files.", _G_3D),
    Flag("3d_min_views", "int", -1, "Least views a keypoint must be seen in to be reconstructed; -1 = OpenPose's max(2, min(4, cameras - 1)).", _G_3D),
    Flag("3d_method", "str", "robust", "Triangulation: robust (default: consensus over view subsets, then refinement), openpose (OpenPose's rule exactly) or dlt (plain DLT of the valid views).", _G_3D),
    Flag("3d_up", "str", "-y", "The world axis pointing up, for --write_trc (OpenSim wants Y up) and the 3D views: -y (OpenPose's calibration world: camera 0's frame, y down), y or z.", _G_3D),
    Flag("camera_parameter_path", "str", "", "Folder of OpenPose camera .xml files (natural order = view order; `jaxpose calibrate` writes them), or one .xml file (for --frame_undistort alone).", _G_3D),
    Flag("frame_undistort", "bool", False, "Undistort the frames before detection with the cameras' distortion (same K, as OpenPose); works with one camera file without --3d too.", _G_3D),
    Flag("tracking", "int", -1, "Follow every person across the frames of a video: stable ids in person_id (JSON), CSV, COCO track_id, PoseTrack files and the rendering. -1 = off; 0 (or any N >= 0) = on, with the network run on every frame. Ids are per input (a new input starts again at 0).", _G_TRACK),
    Flag("tracking_buffer", "int", 30, "Frames a person may stay hidden and keep their id (then the id is retired; ids are never reused).", _G_TRACK),
    Flag("tracking_min_similarity", "float", 0.1, "Least similarity (0.7 OKS + 0.3 box IoU, after motion prediction) for a person to continue a track.", _G_TRACK),
    Flag("smooth", "str", "", "Smooth each tracked person's keypoints (turns --tracking on): one_euro (online, causal), savgol or butterworth (zero phase, whole sequences: files written when the input ends). Empty = off.", _G_TRACK),
    Flag("smooth_min_cutoff", "float", 1.0, "One Euro: minimum cutoff frequency, Hz (per frame without fps).", _G_TRACK),
    Flag("smooth_beta", "float", 0.05, "One Euro: speed coefficient, 1/pixels.", _G_TRACK),
    Flag("smooth_d_cutoff", "float", 1.0, "One Euro: cutoff of the speed estimate, Hz.", _G_TRACK),
    Flag("smooth_window", "int", 11, "Savitzky-Golay: window length, frames (odd).", _G_TRACK),
    Flag("smooth_polyorder", "int", 2, "Savitzky-Golay: polynomial order (< window).", _G_TRACK),
    Flag("smooth_cutoff", "float", 6.0, "Butterworth: cutoff frequency, Hz (cycles per frame, < 0.5, without fps).", _G_TRACK),
    Flag("smooth_order", "int", 4, "Butterworth: effective (zero-phase) order, even.", _G_TRACK),
    Flag("smooth_max_gap", "int", 5, "Fill a keypoint missing for at most this many frames by linear interpolation; longer gaps stay missing.", _G_TRACK),
    Flag("render_pose", "int", -1, "Draw the skeletons on --write_images/--write_video output: 0 no (raw frames), 1 opaque (OpenPose CPU look), 2 blended with --alpha_pose (OpenPose GPU look), -1 auto (= 2).", _G_RENDER),
    Flag("render_threshold", "float", 0.05, "Only draw keypoints with a score above this (and limbs with both ends above it). Never affects saved keypoints.", _G_RENDER),
    Flag("alpha_pose", "float", 0.6, "Opacity of the drawn skeleton, 0 (invisible) ... 1 (opaque).", _G_RENDER),
    Flag("disable_blending", "bool", False, "Draw the skeletons on a black background instead of the frame.", _G_RENDER),
    Flag("face_render_threshold", "float", 0.4, "Only draw face keypoints with a score above this.", _G_RENDER),
    Flag("hand_render_threshold", "float", 0.2, "Only draw hand keypoints with a score above this.", _G_RENDER),
    Flag("render_ids", "bool", False, "With --tracking: draw each person in their id's colour and write the id above them.", _G_RENDER),
    Flag("display", "int", -1, "OpenPose's GUI window. jaxpose never opens a window (headless): -1 and 0 are silent, other values are ignored with a note.", _G_RENDER),
    Flag("write_json", "str", "", "Folder for one OpenPose people JSON file per frame: `<frame name>_keypoints.json`.", _G_OUT),
    Flag("write_images", "str", "", "Folder for the rendered frames: `<frame name>_rendered.<--write_images_format>`.", _G_OUT),
    Flag("write_images_format", "str", "png", "Image extension of --write_images (png, jpg, bmp, ...).", _G_OUT),
    Flag("write_video", "str", "", "Rendered video file (MJPG .avi, or .mp4).", _G_OUT),
    Flag("write_video_fps", "float", -1.0, "Frame rate of --write_video; -1 = the input's (30 when the input has none, e.g. images).", _G_OUT),
    Flag("write_keypoint", "str", "", "(Deprecated in OpenPose) folder for OpenCV FileStorage keypoint files: `<frame name>_pose.<fmt>` (+ _face, _hand_left, _hand_right).", _G_OUT),
    Flag("write_keypoint_format", "str", "yml", "Format of --write_keypoint: yml, yaml, xml, json (OpenCV FileStorage), or csv (jaxpose: one row per person and part).", _G_OUT),
    Flag("write_coco_json", "str", "", "One COCO result JSON file for the whole run (image_id = trailing number of the frame name, or from --coco_gt).", _G_OUT),
    Flag("coco_gt", "str", "", "COCO annotation file the images come from: --write_coco_json takes each frame's image_id from it by file name.", _G_OUT),
    Flag("output_layout", "str", "native", "Body part order of --write_json and --write_keypoint: native (the model's own; COCO-18 for the default model), BODY_25 (OpenPose's 25 parts: pose-format, Pose2Sim pose_model BODY_25), COCO_17 (COCO order: pycocotools, MMPose), HALPE_26 (Pose2Sim's default Body_with_feet). Derived MidHip = mean of both hips (score: the smaller); parts the model lacks are 0,0,0. Never changes the rendering.", _G_OUT),
    Flag("write_keypoint_3d", "str", "", "With --3d: folder for one CSV of 3D keypoints per instant, `<frame>_keypoints_3d.csv` (person, person_id, set, part, x, y, z, units, score, reprojection error).", _G_OUT),
    Flag("write_trc", "str", "", "With --3d: folder for OpenSim / Pose2Sim marker files, `<input>.trc` (one per person: `_id<N>` with --tracking), written when the input ends.", _G_OUT),
    Flag("write_images_3d", "str", "", "With --3d: folder for a 3D view of each instant (matplotlib, axes in metres), `<frame>_3d.png`.", _G_OUT),
    Flag("write_video_3d", "str", "", "With --3d: an .mp4 (or .gif) of the 3D views.", _G_OUT),
    Flag("write_posetrack", "str", "", "Folder for PoseTrack 2018 result files (needs --tracking): one `<input name>.json` per input, for PoseTrack's official evaluation (poseval).", _G_OUT),
    Flag("write_heatmaps", "str", "", "Folder for the body heatmaps of each frame (needs a --heatmaps_add_* flag): `<frame name>_pose_heatmaps.<fmt>`.", _G_OUT),
    Flag("write_heatmaps_format", "str", "png", "Format of --write_heatmaps: an image extension (png, jpg; needs --heatmaps_scale 2) or float (raw float32).", _G_OUT),
    Flag("batch", "int", 1, "Run the network on N frames at once (videos, same-size images): faster on accelerators.", _G_RUN),
    Flag("num_gpu", "int", -1, "Devices to split each --batch over (JAX's local devices of the default backend: GPUs, else CPU); -1 = all from --num_gpu_start on. Results equal one device's.", _G_RUN),
    Flag("num_gpu_start", "int", 0, "Index of the first device --num_gpu uses.", _G_RUN),
    Flag("cpu_devices", "int", 0, "CPU only: split the CPU into N JAX devices (-1 = one per core) that --num_gpu then splits each --batch over, frames side by side (~1.15x frames/s at --batch 8 on 2 cores). Without --batch, --batch = the devices used; else use a multiple of them. 0 = JAX's own setting (one CPU device). Results equal one device's.", _G_RUN),
    Flag("precision", "str", "float32", "Network arithmetic: float32 (default, OpenPose's) or bf16 (bfloat16 operands, float32 sums and post-processing: faster on GPUs/TPUs, slower on CPU; keypoints may move by one step of the network's grid, see the README).", _G_RUN),
    Flag("conv_impl", "str", "xla", "Convolutions of OpenPose's Caffe networks (--hand, --face, --model_pose BODY_25/COCO/MPI; not MOBILENET_THIN): xla (default, compiles fastest), auto (one-pass Winograd on the layers where it measured faster on CPU: hands and faces in ~0.65x the time at 368; each network compiles a few seconds longer and holds ~0.5 GB more weights) or winograd (every 3x3 layer with >= 96 channels). float32 only.", _G_RUN),
    Flag("semantics", "str", "cuda", "Person grouping as OpenPose's CUDA build (cuda, default) or its CPU build (cpu).", _G_RUN),
    Flag("skip_existing", "bool", False, "Resume: skip frames whose per-frame outputs all exist already (they are not rewritten).", _G_RUN),
    Flag("max_compiled", "int", 8, "Compiled pose functions kept in memory (one per net input size, padded image size and batch size; the least recently used is dropped). Lower it for folders of many different image sizes; also $JAXPOSE_MAX_COMPILED.", _G_RUN),
    Flag("no_compile_cache", "bool", False, "Do not use JAX's persistent compilation cache (on by default, in <jaxpose cache>/jax_compilation_cache: later runs over the same image sizes compile nothing). JAXPOSE_COMPILE_CACHE=0 does the same.", _G_RUN),
    Flag("quiet", "bool", False, "No progress bar, notes or summary (errors are still printed).", _G_RUN),
    Flag("verbose", "bool", False, "Print the traceback of an internal error (a bug) under its one-line message.", _G_RUN),
    Flag("logging_level", "int", 3, "OpenPose's log verbosity.", _G_GENERAL),
    Flag("disable_multi_thread", "bool", False, "Sequential mode, as OpenPose: decoding, the network, grouping and writing run one after the other instead of overlapped (same results, slower).", _G_RUN),
    Flag("profile_speed", "int", 1000, "OpenPose's profiler interval.", _G_GENERAL),
    Flag("cli_verbose", "float", -1.0, "OpenPose's progress printing (jaxpose shows a progress bar instead).", _G_GENERAL),
    Flag("no_gui_verbose", "bool", False, "OpenPose's GUI text overlay switch.", _G_GENERAL),
    Flag("fullscreen", "bool", False, "OpenPose's full-screen GUI switch.", _G_GENERAL),
)

FLAGS: dict[str, Flag] = {flag.name: flag for flag in FLAG_LIST}

# `jaxpose batch` only (with `--ray [ADDRESS]`, parsed by jaxpose.cli.batch); never shape outputs.
_G_BATCH = "Batch job (jaxpose batch MANIFEST --out DIR)"
BATCH_FLAG_LIST: tuple[Flag, ...] = (
    Flag("out", "str", "", "Folder of the job: each input's outputs go to `<out>/<input name>/`, the job's records to `<out>/.jaxpose-job/`.", _G_BATCH),
    Flag("chunk_frames", "int", 500, "Frames per unit of work: a long video is cut into chunks of this many frames that run in parallel and resume separately; 0 = one chunk per input.", _G_BATCH),
    Flag("cpu_workers", "int", 0, "Without --ray, on a CPU machine: run the chunks on this many local processes, each pinned to its own share of the cores (one per core is ~1.2x the frames/s of one process on all of them); 0 = this process alone, on every core.", _G_BATCH),
    Flag("ray_workers", "int", 0, "With --ray: number of workers (actors); 0 = one per GPU of the cluster, or one per CPU when it has none.", _G_BATCH),
)

# OpenPose flags jaxpose does not implement: using one is a usage error that says so.
UNSUPPORTED = (
    "flir_camera", "flir_camera_index", "camera_resolution", "frames_repeat", "process_real_time",
    "body", "prototxt_path",
    "caffemodel_path", "upsampling_ratio", "output_resolution", "part_candidates",
    "identification", "ik_threads", "alpha_heatmap", "part_to_show",
    "face_render", "hand_render", "face_alpha_pose", "hand_alpha_pose", "face_alpha_heatmap",
    "hand_alpha_heatmap", "write_coco_json_variants", "write_coco_json_variant",
    "write_video_with_audio", "write_bvh", "write_video_adam", "udp_host",
    "udp_port", "fps_max",
)

TRUE_WORDS = {"true", "t", "1", "yes", "y", "on"}
FALSE_WORDS = {"false", "f", "0", "no", "n", "off"}


class Options(types.SimpleNamespace):
    """Parsed flag values by name; `given` = names set on the command line; `inputs` = positionals."""

    given: frozenset
    inputs: list


def defaults() -> dict[str, Any]:
    return {flag.name: flag.default for flag in FLAG_LIST}


def parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
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
