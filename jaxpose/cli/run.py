"""`jaxpose [INPUT] [--flags]`: OpenPose's command on jaxpose (flags: jaxpose/options/table.py).

Flow: parse flags -> check them and every output destination -> load models (`build_pipeline`) ->
for each input, the streaming engine (`jaxpose.stream`: decoding, device batches, host assembly and
these writes overlapped) -> write each frame's files atomically as soon as it is done -> summary.
A bad frame or input is reported on one stderr line and the run goes on.

Exit status: 0 all well, 1 some inputs/frames failed (or a model could not be loaded),
2 bad usage, 130 interrupted by Ctrl-C, 143 stopped by SIGTERM (in both cases every file written
so far is complete and the video is finalised; rerun with --skip_existing).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from jaxpose.cli import flags
from jaxpose.cli.flags import Options, UsageError
from jaxpose.errors import InputError, JaxposeError
from jaxpose.io import readers
from jaxpose.io.progress import Progress, RunStats, format_saved, format_summary
from jaxpose.options.check import batch_for_cpu_devices, check_options, per_frame_dirs
from jaxpose.stream import run_stream
from jaxpose.stream.multiview import (
    UndistortedSource, check_3d_options, open_views, pinhole, reconstruction_stage, three_d,
)
from jaxpose.stream.outputs import Outputs
from jaxpose.stream.stages import (
    OFFLINE_SMOOTHERS, capture_position, check_tracking_options, smoothed_whole_input, tracking_enabled,
    tracking_stages,
)
from jaxpose.stream.session import Reporter, Terminated, sigterm_as_interrupt, write_result

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143

# Test hook: stop (as if Ctrl-C) after this many processed frames. Not a user setting.
STOP_AFTER_ENV = "JAXPOSE_TEST_STOP_AFTER"


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One input to process: a label for messages and how to open it (may raise JaxposeError)."""

    label: str
    open: Callable[[], readers.Source]


def plan_inputs(options: Options, cameras: tuple[Any, int] | None = None) -> list[InputSpec]:
    """The inputs named by the flags and positionals, in order; UsageError when there are none.

    cameras: (CameraGroup, views) for --3d (multi-view inputs) or --frame_undistort.
    """
    producers = [f"--{name}" for name in ("image_dir", "video", "ip_camera") if getattr(options, name)]
    producers += ["--camera"] if "camera" in options.given else []
    if len(producers) > 1:
        raise UsageError(
            f"conflicting inputs {' and '.join(producers)}: OpenPose reads one input per run; give one "
            "of them (several files or folders can be given as plain arguments)."
        )
    try:
        selection = readers.FrameSelection(options.frame_first, options.frame_last, options.frame_step)
        orientation = readers.Orientation(options.frame_rotate, options.frame_flip)
    except InputError as error:
        raise UsageError(str(error)) from None
    if cameras is not None and three_d(options):
        return _plan_views(options, cameras, selection, orientation)
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
    if cameras is not None:  # --frame_undistort with one camera
        group = cameras[0]
        specs = [InputSpec(s.label, lambda s=s: UndistortedSource(s.open(), group.cameras)) for s in specs]
    return specs


def _plan_views(options: Options, cameras: tuple[Any, int], selection: readers.FrameSelection,
                orientation: readers.Orientation) -> list[InputSpec]:
    """--3d inputs: each positional path, --image_dir or --video (one file of side-by-side views,
    a comma-separated video per camera, a folder of N images per instant or of camera folders)."""
    group, views = cameras
    targets = [str(p) for p in options.inputs] + [t for t in (options.image_dir, options.video) if t]
    if options.ip_camera or "camera" in options.given:
        raise UsageError("--3d reads recorded views (videos or image folders), not live cameras.")
    if not targets:
        raise UsageError("no input: with --3d give a video of views side by side, --video a.mp4,b.mp4 "
                         "(one per camera), or an image folder.")

    def opener(target: str) -> Callable[[], Any]:
        def open_() -> Any:
            source = open_views(target, views, selection, orientation, group)
            return UndistortedSource(source, group.cameras) if options.frame_undistort else source
        return open_

    return [InputSpec(target, opener(target)) for target in targets]


def name_collisions(options: Options) -> list[str]:
    """Inputs that would write the same frame names (`photo.jpg` and `photo.png` both give frame
    `photo`; two videos `a/clip.mp4`, `b/clip.mp4` both give `clip_000000000000`, ...)."""
    owners: dict[str, list[str]] = {}
    paths = [Path(p) for p in options.inputs]
    if options.image_dir:
        paths.append(Path(options.image_dir))
    if options.video:
        paths.append(Path(options.video))
    for path in paths:
        if path.is_dir():
            try:
                files = readers.list_images(path)
            except InputError:
                continue
            for file in files:
                owners.setdefault(file.stem, []).append(str(file))
        elif path.suffix.lower() in readers.VIDEO_EXTENSIONS:
            owners.setdefault(f"{path.stem}_<frame>", []).append(str(path))
        elif path.suffix.lower() in readers.IMAGE_EXTENSIONS:
            owners.setdefault(path.stem, []).append(str(path))
    return [f"{', '.join(files)} (frame name {name})" for name, files in owners.items() if len(files) > 1]


def check_coco_ids(options: Options) -> None:
    """--write_coco_json without --coco_gt: image ids come from the frame names' trailing numbers;
    refuse, before any work, image inputs whose ids would clash (`messi5`, `cam1_000005`)."""
    if not options.write_coco_json or options.coco_gt:
        return
    from jaxpose.io.writers.coco_json import check_image_ids

    names = []
    for path in [Path(p) for p in options.inputs] + ([Path(options.image_dir)] if options.image_dir else []):
        if path.is_dir():
            try:
                names += [file.stem for file in readers.list_images(path)]
            except InputError:
                continue
        elif path.suffix.lower() in readers.IMAGE_EXTENSIONS:
            names.append(path.stem)
    try:
        check_image_ids(names)
    except InputError as error:
        raise UsageError(str(error)) from None


def check_name_collisions(options: Options) -> None:
    """Refuse, before any work, inputs whose outputs would overwrite each other (UsageError)."""
    if not (any(per_frame_dirs(options).values()) or options.write_coco_json):
        return
    clashes = name_collisions(options)
    if clashes:
        more = f" (and {len(clashes) - 3} more)" if len(clashes) > 3 else ""
        raise UsageError(
            "these inputs share a frame name, so their output files would overwrite each other: "
            f"{'; '.join(clashes[:3])}{more}. Rename them or process them in separate runs "
            "with other output folders."
        )


def input_name(source: Any, label: str) -> str:
    """The name of one input: the video's or folder's stem, or the label (cameras)."""
    path = getattr(source, "path", None)
    return Path(path).stem if path is not None else label.replace(" ", "_")


def process(options: Options, pipeline: Any, inputs: list[InputSpec], stderr: TextIO,
            cameras: tuple[Any, int] | None = None) -> int:
    """Run every input through the pipeline and the writers. Returns the exit status."""
    stats = RunStats()
    stop_after = int(os.environ.get(STOP_AFTER_ENV, "0") or 0)
    interrupted: KeyboardInterrupt | None = None
    try:
        outputs = Outputs(options, every_frame=tracking_enabled(options) or three_d(options))
    except (JaxposeError, OSError) as error:
        print(f"jaxpose: error: cannot create the outputs: {error}", file=stderr)
        return EXIT_FAILURES
    with Progress(quiet=options.quiet, stream=stderr) as progress, sigterm_as_interrupt():
        report = Reporter(progress, options.quiet, options.verbose)
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
                still = getattr(source, "still", False) or isinstance(
                    source, (readers.ImageFolderSource, readers.ImageFileSource))
                if tracking_enabled(options) and still:
                    report.note(f"{spec.label}: ids follow people across these images in file order; "
                                "ids are per video, so for unrelated photos they mean nothing.")
                if tracking_enabled(options) and source.fps is None and options.smooth in ("one_euro", "butterworth"):
                    report.note(f"{spec.label}: no frame rate, so --smooth {options.smooth} counts time in "
                                "frames (cutoffs in cycles per frame).")
                outputs.start_input(input_name(source, spec.label), source.fps)
                stages = tracking_stages(options, source.fps, capture_position(source))
                if cameras is not None and three_d(options):
                    triangulated = pinhole(cameras[0]) if options.frame_undistort else cameras[0]
                    stages = [reconstruction_stage(triangulated, options)] + stages
                results = run_stream(
                    source.frames(skip=outputs.done), pipeline.for_stream(still), pipeline.params,
                    batch=options.batch, stages=stages, threads=not options.disable_multi_thread)
                try:
                    if options.smooth in OFFLINE_SMOOTHERS:
                        results = smoothed_whole_input(results, spec.open, options, source.fps)
                    for result in results:
                        write_result(result, outputs, source.fps, stats, report, progress)
                        if stop_after and stats.frames >= stop_after:
                            raise KeyboardInterrupt
                finally:
                    results.close()
                outputs.end_input()
        except KeyboardInterrupt as stop:
            interrupted = stop
        finally:
            try:
                outputs.close()
            except OSError as error:
                report.error(f"cannot finish the run's files ({error}).")
                stats.failures += 1
            left_out = outputs.video.left_out_message() if outputs.video is not None else None
            if left_out:
                report.error(left_out)
                stats.failures += 1
    stats.finish()
    if interrupted is not None:
        terminated = isinstance(interrupted, Terminated)
        print(
            f"jaxpose: {'stopped by SIGTERM' if terminated else 'interrupted'} after {stats.frames} "
            "frames; every file written is complete. Rerun the same command with --skip_existing "
            "to resume.",
            file=stderr,
        )
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    if not options.quiet:
        print(format_summary(stats), file=stderr)
        saved = format_saved({"JSON": options.write_json, "rendered images": options.write_images,
                              "rendered video": options.write_video, "keypoint files": options.write_keypoint,
                              "COCO results": options.write_coco_json, "heatmaps": options.write_heatmaps})
        if saved and stats.frames:
            print(saved, file=stderr)
    return EXIT_FAILURES if stats.failures else EXIT_OK


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """The `jaxpose` command. Returns the exit status (0 ok, 1 failures, 2 usage, 130 / 143 stopped)."""
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
        batch_for_cpu_devices(options)  # first: --cpu_devices before anything starts JAX
        cameras = check_3d_options(options)
        inputs = plan_inputs(options, cameras)
        notes = check_options(options) + check_tracking_options(options)
        if options.write_posetrack and not tracking_enabled(options):
            raise UsageError("--write_posetrack needs --tracking 0 (PoseTrack files hold person ids).")
        Outputs.validate(options)
        check_name_collisions(options)
        check_coco_ids(options)
    except UsageError as error:
        print(f"jaxpose: error: {error}\nRun `jaxpose --help` for the flags.", file=stderr)
        return EXIT_USAGE
    if not options.quiet:
        for note in notes:
            print(f"jaxpose: note: {note}", file=stderr)
    from jaxpose.options.build import build_pipeline

    if not options.no_compile_cache:
        from jaxpose import compile_cache

        compile_cache.enable()
    try:
        with sigterm_as_interrupt():
            pipeline = build_pipeline(vars(options))
    except UsageError as error:
        print(f"jaxpose: error: {error}\nRun `jaxpose --help` for the flags.", file=stderr)
        return EXIT_USAGE
    except JaxposeError as error:
        print(f"jaxpose: error: {error}", file=stderr)
        return EXIT_FAILURES
    except KeyboardInterrupt as stop:
        print("jaxpose: interrupted while loading the model.", file=stderr)
        return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    return process(options, pipeline, inputs, stderr, cameras)
