"""`jaxpose [INPUT] [--flags]`: OpenPose's command on jaxpose (flags in jaxpose/cli/flags.py).

Flow: parse flags -> check them -> load models (`build_pipeline`) -> for each input, stream frames
(batched when `--batch` > 1) -> pose_fn -> write each frame's files atomically as soon as they are
ready -> summary. A bad frame or input is reported on one stderr line and the run goes on.

Exit status: 0 all well, 1 some inputs/frames failed (or a model could not be loaded),
2 bad usage, 130 interrupted (every file written so far is complete; rerun with --skip_existing).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from jaxpose.cli import flags
from jaxpose.cli.flags import Options, UsageError
from jaxpose.errors import InputError, JaxposeError
from jaxpose.io import readers
from jaxpose.io.progress import Progress, RunStats, format_summary
from jaxpose.poses import Poses

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_VIDEO_FPS = 30.0

# Test hook: stop (as if Ctrl-C) after this many processed frames. Not a user setting.
STOP_AFTER_ENV = "JAXPOSE_TEST_STOP_AFTER"


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One input to process: a label for messages and how to open it (may raise JaxposeError)."""

    label: str
    open: Callable[[], readers.Source]


def plan_inputs(options: Options) -> list[InputSpec]:
    """The inputs named by the flags and positionals, in order; UsageError when there are none."""
    try:
        selection = readers.FrameSelection(options.frame_first, options.frame_last, options.frame_step)
        orientation = readers.Orientation(options.frame_rotate, options.frame_flip)
    except InputError as error:
        raise UsageError(str(error)) from None
    specs = [
        InputSpec(str(path), lambda path=path: readers.open_path(path, selection, orientation))
        for path in options.inputs
    ]
    if options.image_dir:
        specs.append(
            InputSpec(options.image_dir, lambda: readers.ImageFolderSource(options.image_dir, selection, orientation))
        )
    if options.video:
        specs.append(InputSpec(options.video, lambda: readers.VideoSource(options.video, selection, orientation)))
    if options.ip_camera:
        specs.append(
            InputSpec(options.ip_camera, lambda: readers.IPCameraSource(options.ip_camera, orientation, options.frame_last))
        )
    if "camera" in options.given:
        specs.append(
            InputSpec(f"camera {options.camera}", lambda: readers.CameraSource(options.camera, orientation, options.frame_last))
        )
    if not specs:
        raise UsageError(
            "no input: give a folder, image or video path, or --image_dir DIR, --video FILE, "
            "--camera N or --ip_camera URL."
        )
    return specs


def check_options(options: Options) -> list[str]:
    """Flag consistency (OpenPose's start-up rules, where they apply). Returns notes to print."""
    from jaxpose.compat import canonical_model_pose
    from jaxpose.io.keypoint_scale import KEYPOINT_SCALE_MODES
    from jaxpose.io.writers.heatmaps import HEATMAP_SCALE_MODES
    from jaxpose.io.writers.keypoint_file import KEYPOINT_FORMATS

    notes = []
    flags.parse_resolution("net_resolution", options.net_resolution)
    flags.parse_square("hand_net_resolution", options.hand_net_resolution)
    flags.parse_square("face_net_resolution", options.face_net_resolution)
    model_pose = canonical_model_pose(options.model_pose)
    if options.batch < 1:
        raise UsageError(f"--batch must be >= 1 (got {options.batch}).")
    if options.scale_number < 1:
        raise UsageError(f"--scale_number must be >= 1 (got {options.scale_number}).")
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
            coco_index_map(model_pose)
        except JaxposeError as error:
            raise UsageError(f"--write_coco_json: {error}") from None
    if options.display not in (-1, 0):
        notes.append(
            f"--display {options.display} ignored: jaxpose never opens a window; "
            "see the results with --write_images or --write_video."
        )
    if not any(_per_frame_dirs(options).values()) and not (options.write_video or options.write_coco_json):
        notes.append("no --write_* flag given: poses are computed but not saved (try --write_json DIR).")
    return notes


def _can_write_image(fmt: str) -> bool:
    import cv2

    return bool(cv2.haveImageWriter(f"x.{fmt.lower().lstrip('.')}"))


def _per_frame_dirs(options: Options) -> dict[str, str]:
    return {
        "json": options.write_json,
        "images": options.write_images,
        "keypoint": options.write_keypoint,
        "heatmaps": options.write_heatmaps,
    }


class VideoWriter:
    """`--write_video`: MJPG (.avi, as OpenPose) or mp4v (.mp4) via OpenCV, size fixed by frame 1.

    Frames go to a hidden temporary file beside the target, renamed over it on `close()` (also on
    Ctrl-C), so the target path only ever holds a finished video.
    """

    def __init__(self, path: str | os.PathLike, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self._writer = None
        self._tmp: Path | None = None

    def add(self, rgb: np.ndarray) -> None:
        import cv2

        height, width = rgb.shape[:2]
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix or ".avi", dir=self.path.parent)
            os.close(fd)
            self._tmp = Path(tmp)
            fourcc = "mp4v" if self.path.suffix.lower() in (".mp4", ".m4v", ".mov") else "MJPG"
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*fourcc), self.fps, (width, height))
            if not self._writer.isOpened():
                self._tmp.unlink(missing_ok=True)
                self._writer = None
                raise InputError(f"{self.path}: OpenCV cannot write this video (use a .avi or .mp4 path).")
            self.size = (width, height)
        if (width, height) != self.size:
            raise InputError(
                f"{self.path}: frame of {width}x{height} does not fit the video's {self.size[0]}x{self.size[1]} "
                "(all frames of --write_video must have the same size)."
            )
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        os.replace(self._tmp, self.path)


class Outputs:
    """Every `--write_*` output of a run: per-frame files (atomic) and run-level files."""

    def __init__(self, options: Options, model_pose: str) -> None:
        self.options = options
        self.dirs = _per_frame_dirs(options)
        self.skip_existing = options.skip_existing
        self.coco = None
        self.video: VideoWriter | None = None
        self.video_fps: float | None = None
        if options.write_coco_json:
            from jaxpose.io.writers.coco_json import CocoJsonWriter

            self.coco = CocoJsonWriter(options.write_coco_json, coco_gt=options.coco_gt or None)

    @property
    def run_level(self) -> bool:
        return bool(self.options.write_coco_json or self.options.write_video)

    def frame_paths(self, name: str) -> dict[str, list[Path]]:
        """The files each per-frame output kind writes for frame `name`."""
        from jaxpose.io.names import output_path

        o = self.options
        paths: dict[str, list[Path]] = {}
        if o.write_json:
            paths["json"] = [output_path(o.write_json, name, "keypoints", "json")]
        if o.write_images:
            paths["images"] = [output_path(o.write_images, name, "rendered", o.write_images_format.lower())]
        if o.write_keypoint:
            fmt = o.write_keypoint_format.lower()
            if fmt == "csv":
                paths["keypoint"] = [output_path(o.write_keypoint, name, "keypoints", "csv")]
            else:
                tags = ["pose"] + (["face"] if o.face else []) + (["hand_left", "hand_right"] if o.hand else [])
                paths["keypoint"] = [output_path(o.write_keypoint, name, tag, fmt) for tag in tags]
        if o.write_heatmaps:
            paths["heatmaps"] = [output_path(o.write_heatmaps, name, "pose_heatmaps", o.write_heatmaps_format.lower())]
        return paths

    def done(self, name: str) -> bool:
        """--skip_existing: all of this frame's files exist (and nothing run-level needs its poses)."""
        if not self.skip_existing or self.run_level:
            return False
        paths = [p for group in self.frame_paths(name).values() for p in group]
        return bool(paths) and all(p.is_file() for p in paths)

    def write(self, frame: readers.Frame, poses: Poses, fps: float | None) -> None:
        """Write one frame's outputs (skipping existing files with --skip_existing)."""
        from jaxpose.compat import render
        from jaxpose.io.keypoint_scale import scale_keypoints
        from jaxpose.io.writers.heatmaps import write_heatmaps
        from jaxpose.io.writers.image import write_rendered_image
        from jaxpose.io.writers.keypoint_file import write_keypoint_files
        from jaxpose.io.writers.people_json import write_people_json

        o = self.options
        todo = {
            kind: paths
            for kind, paths in self.frame_paths(frame.name).items()
            if not (self.skip_existing and all(p.is_file() for p in paths))
        }
        saved = scale_keypoints(poses, o.keypoint_scale) if o.keypoint_scale else poses
        rendered = render(frame.image, poses, vars(o)) if ("images" in todo or o.write_video) else None
        if "json" in todo:
            write_people_json(o.write_json, frame.name, saved)
        if "keypoint" in todo:
            write_keypoint_files(o.write_keypoint, frame.name, saved, o.write_keypoint_format.lower())
        if "heatmaps" in todo:
            write_heatmaps(
                o.write_heatmaps,
                frame.name,
                poses,
                fmt=o.write_heatmaps_format,
                add_parts=o.heatmaps_add_parts,
                add_bkg=o.heatmaps_add_bkg,
                add_pafs=o.heatmaps_add_PAFs,
                scale_mode=o.heatmaps_scale,
            )
        if "images" in todo:
            write_rendered_image(o.write_images, frame.name, rendered, o.write_images_format.lower())
        if o.write_video:
            if self.video is None:
                self.video = VideoWriter(o.write_video, self._video_fps(fps))
            self.video.add(rendered)
        if self.coco is not None:
            self.coco.add(frame.name, saved)

    def _video_fps(self, source_fps: float | None) -> float:
        if self.options.write_video_fps > 0:
            return float(self.options.write_video_fps)
        return source_fps or DEFAULT_VIDEO_FPS

    def close(self) -> None:
        """Finish the run-level files (also after an error or Ctrl-C)."""
        try:
            if self.coco is not None:
                self.coco.close()
        finally:
            if self.video is not None:
                self.video.close()


def run_pose_fn(pose_fn: Callable, params: Any, frames: list[readers.Frame], batch: int) -> list[Poses]:
    """Poses of each frame; with `batch` > 1 one device call per batch, padded to `batch` frames
    (repeating the last) so every batch of a size compiles once."""
    if batch == 1:
        return [pose_fn(params, frame.image) for frame in frames]
    images = [frame.image for frame in frames]
    images += [images[-1]] * (batch - len(images))
    return list(pose_fn.batch(params, np.stack(images)))[: len(frames)]


class Reporter:
    """stderr messages through the progress bar: errors always, notes unless --quiet."""

    def __init__(self, progress: Progress, quiet: bool, stream: TextIO) -> None:
        self.progress, self.quiet, self.stream = progress, quiet, stream

    def error(self, message: str) -> None:
        self.progress.write(f"jaxpose: error: {message}")

    def note(self, message: str) -> None:
        if not self.quiet:
            self.progress.write(f"jaxpose: note: {message}")


def process(options: Options, pipeline: Any, inputs: list[InputSpec], stderr: TextIO) -> int:
    """Run every input through the pipeline and the writers. Returns the exit status."""
    stats = RunStats()
    stop_after = int(os.environ.get(STOP_AFTER_ENV, "0") or 0)
    interrupted = False
    try:
        outputs = Outputs(options, pipeline.model_pose)
    except (JaxposeError, OSError) as error:
        print(f"jaxpose: error: cannot create the outputs: {error}", file=stderr)
        return EXIT_FAILURES
    with Progress(quiet=options.quiet, stream=stderr) as progress:
        report = Reporter(progress, options.quiet, stderr)
        if options.skip_existing and outputs.run_level:
            report.note(
                "--skip_existing with --write_video/--write_coco_json: every frame is still processed "
                "for those files; existing per-frame files are kept as they are."
            )
        try:
            for spec in inputs:
                try:
                    source = spec.open()
                except JaxposeError as error:
                    report.error(str(error))
                    stats.failures += 1
                    continue
                progress.add_total(source.total)
                still = isinstance(source, (readers.ImageFolderSource, readers.ImageFileSource))
                pose_fn = pipeline.for_stream(still)
                items = readers.batch_frames(source.frames(skip=outputs.done), options.batch)
                for item in items:
                    if isinstance(item, readers.Skipped):
                        stats.skipped += 1
                        progress.update(1)
                        continue
                    if isinstance(item, readers.FrameError):
                        report.error(item.message)
                        stats.failures += 1
                        progress.update(1)
                        continue
                    _process_batch(item, pose_fn, pipeline.params, options, outputs, source.fps, stats, report, progress)
                    if stop_after and stats.frames >= stop_after:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            interrupted = True
        finally:
            outputs.close()
    stats.finish()
    if interrupted:
        print(
            f"jaxpose: interrupted after {stats.frames} frames; every file written is complete. "
            "Rerun the same command with --skip_existing to resume.",
            file=stderr,
        )
        return EXIT_INTERRUPTED
    if not options.quiet:
        print(format_summary(stats), file=stderr)
    return EXIT_FAILURES if stats.failures else EXIT_OK


def _process_batch(
    frames: list[readers.Frame],
    pose_fn: Callable,
    params: Any,
    options: Options,
    outputs: Outputs,
    fps: float | None,
    stats: RunStats,
    report: Reporter,
    progress: Progress,
) -> None:
    try:
        results = run_pose_fn(pose_fn, params, frames, options.batch)
    except JaxposeError as error:
        for frame in frames:
            report.error(f"{frame.name}: {error}")
        stats.failures += len(frames)
        progress.update(len(frames))
        return
    for frame, poses in zip(frames, results):
        try:
            outputs.write(frame, poses, fps)
        except JaxposeError as error:
            report.error(f"{frame.name}: {error}")
            stats.failures += 1
        except OSError as error:
            report.error(f"{frame.name}: cannot write the outputs ({error}).")
            stats.failures += 1
        stats.frames += 1
        stats.people += poses.num_people
        progress.update(1, people=poses.num_people)


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """The `jaxpose` command. Returns the exit status (0 ok, 1 failures, 2 usage, 130 interrupted)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        options = flags.parse(argv)
        if options.help:
            stdout.write(flags.help_text())
            return EXIT_OK
        if options.version:
            import jaxpose

            print(f"jaxpose {jaxpose.__version__}", file=stdout)
            return EXIT_OK
        inputs = plan_inputs(options)
        notes = check_options(options)
    except UsageError as error:
        print(f"jaxpose: error: {error}\nRun `jaxpose --help` for the flags.", file=stderr)
        return EXIT_USAGE
    if not options.quiet:
        for note in notes:
            print(f"jaxpose: note: {note}", file=stderr)
    from jaxpose.compat import build_pipeline

    try:
        pipeline = build_pipeline(vars(options))
    except UsageError as error:
        print(f"jaxpose: error: {error}\nRun `jaxpose --help` for the flags.", file=stderr)
        return EXIT_USAGE
    except JaxposeError as error:
        print(f"jaxpose: error: {error}", file=stderr)
        return EXIT_FAILURES
    except KeyboardInterrupt:
        print("jaxpose: interrupted while loading the model.", file=stderr)
        return EXIT_INTERRUPTED
    return process(options, pipeline, inputs, stderr)
