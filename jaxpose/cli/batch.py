"""`jaxpose batch MANIFEST --out DIR [--ray [ADDRESS]] [flags]`: many inputs, resumable, local or on Ray.

MANIFEST lists the inputs (jaxpose.batch.manifest); every input's outputs go to `DIR/<input name>/`
with the command's file names (`--write_json json` -> `DIR/<name>/json/`); the job resumes where it
stopped when run again (jaxpose.batch.job). The other flags are the command's (jaxpose --help).

Exit status: 0 every input done, 1 some inputs, chunks or frames failed, 2 bad usage (manifest
lines, flags, an output folder that cannot be written, a Ray address that does not answer, a
resume with other options), 130 interrupted by Ctrl-C, 143 stopped by SIGTERM.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import TextIO

from jaxpose.cli import flags
from jaxpose.errors import JaxposeError, UsageError
from jaxpose.options.check import batch_for_cpu_devices, check_options
from jaxpose.stream.outputs import check_writable_folder
from jaxpose.stream.stages import check_tracking_options
from jaxpose.options.table import BATCH_FLAG_LIST, Options

EXIT_USAGE = 2
INPUT_FLAGS = ("image_dir", "video", "ip_camera", "camera")
CAMERA_FLAGS = ("3d", "3d_views", "3d_min_views", "3d_method", "3d_up", "camera_parameter_path",
                "frame_undistort", "write_keypoint_3d", "write_trc", "write_images_3d", "write_video_3d")
WRITE_FLAGS = ("write_json", "write_images", "write_keypoint", "write_heatmaps", "write_video", "write_coco_json")
_ADDRESS = re.compile(r"^(auto|local|ray://\S+|\[?[\w.:-]*\]?:\d+)$")

USAGE = """\
Usage: jaxpose batch MANIFEST --out DIR [--cpu_workers N | --ray [ADDRESS] [--ray_workers N]] [--chunk_frames N]
                     [jaxpose flags: --write_json json --write_video rendered.avi --net_resolution ...]

MANIFEST: a text file, one video, image folder, image or glob per line (# comments, blank lines
ignored; relative paths are relative to the manifest). Each input's outputs go to DIR/<input name>/,
the --write_* values naming files and folders inside it. Run the same command again to resume:
finished chunks are skipped, the rest is done exactly once.

--ray [ADDRESS]: run on a Ray cluster (pip install 'jaxpose[ray]'): --ray alone starts a local
one; ADDRESS is HOST:PORT, ray://HOST:PORT or auto. DIR must be on storage every node can write.
--cpu_workers N: on a CPU machine, N local processes, each pinned to its own cores (N <= cores).

Examples:
  jaxpose batch videos.txt --out results --write_json json --write_video rendered.avi
  jaxpose batch videos.txt --out results --write_json json --cpu_workers 2
  jaxpose batch videos.txt --out /shared/results --write_json json --ray 10.0.0.5:6379
"""


def split_ray(argv: list[str]) -> tuple[list[str], bool, str | None]:
    """Take `--ray`, `--ray=ADDRESS` or `--ray ADDRESS` (ADDRESS: HOST:PORT, ray://..., auto,
    local) out of argv. Returns (the rest, whether --ray was given, the address or None)."""
    rest, use, address = [], False, None
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        name, has_value, value = token.lstrip("-").partition("=")
        if not token.startswith("-") or name != "ray":
            rest.append(token)
            continue
        use = True
        if has_value:
            if not value:
                raise UsageError("--ray= needs an address (HOST:PORT, ray://HOST:PORT or auto), or give --ray alone.")
            address = value
        elif i < len(argv) and _ADDRESS.match(argv[i]) and not Path(argv[i]).exists():
            address = argv[i]
            i += 1
    return rest, use, address


def check_batch_options(options: Options) -> None:
    """The batch job's own rules (UsageError): one manifest, --out, inputs only from the manifest,
    --write_* paths inside each input's folder."""
    if len(options.inputs) != 1:
        got = "none" if not options.inputs else " ".join(options.inputs)
        raise UsageError(f"jaxpose batch takes one MANIFEST file (got {got}).")
    if not options.out:
        raise UsageError("--out DIR is required: the folder for every input's outputs and the job's records.")
    for name in INPUT_FLAGS:
        if name in options.given:
            raise UsageError(f"--{name}: a batch job reads its inputs from the manifest; list them there.")
    for name in CAMERA_FLAGS:
        if name in options.given and getattr(options, name) is not False:  # --no3d is fine
            raise UsageError(f"--{name}: a batch job runs the 2D pipeline on each input; calibrated "
                             "cameras (--3d, --frame_undistort) run in the command: jaxpose --video "
                             "a.mp4,b.mp4 --3d --camera_parameter_path cameras/ ...")
    if options.skip_existing:
        raise UsageError("--skip_existing: a batch job resumes by itself (rerun the same command); drop it.")
    if options.chunk_frames < 0:
        raise UsageError(f"--chunk_frames must be >= 0 (got {options.chunk_frames}).")
    if options.ray_workers < 0:
        raise UsageError(f"--ray_workers must be >= 0 (got {options.ray_workers}).")
    if options.cpu_workers < 0:
        raise UsageError(f"--cpu_workers must be >= 0 (got {options.cpu_workers}).")
    if options.cpu_workers:
        from jaxpose.batch.processes import core_sets, pinnable_cores

        core_sets(options.cpu_workers, pinnable_cores())
    for name in WRITE_FLAGS:
        value = getattr(options, name)
        if value and (Path(value).is_absolute() or ".." in Path(value).parts):
            raise UsageError(f"--{name} {value}: in a batch job this names a file or folder inside each "
                             f"input's output folder; give a relative path such as --{name} "
                             f"{Path(value).name or 'out'}.")


def check_coco_ids_per_input(inputs: list, options: Options) -> None:
    """--write_coco_json without --coco_gt: each input's COCO file takes image ids from its frame
    names' trailing numbers; refuse, before any work, an image folder whose ids are missing or
    would clash (as the command does), naming the manifest line (UsageError)."""
    from jaxpose.cli.run import check_coco_ids

    for item in inputs:
        try:
            check_coco_ids(Options(**{**vars(options), "inputs": [str(item.path)], "image_dir": ""}))
        except UsageError as error:
            raise UsageError(f"{item.path} (line {item.line}): {error}") from None


def check_out(out: str) -> None:
    """The --out folder exists or can be created, and files can be created in it (UsageError)."""
    check_writable_folder("out", out)


def help_text() -> str:
    lines = [USAGE, "Batch flags:"]
    for flag in BATCH_FLAG_LIST:
        lines.append(f"  --{flag.name}  (default: {flag.default!r})")
        lines.extend(textwrap.wrap(flag.help, width=96, initial_indent="      ", subsequent_indent="      "))
    lines += ["", "The output, model and frame-selection flags are the command's: see `jaxpose --help`."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """`jaxpose batch`. Returns the exit status (0, 1, 2, 130, 143: see the module docstring)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    from jaxpose.batch.job import run_job
    from jaxpose.batch.manifest import read_manifest

    try:
        rest, use_ray, address = split_ray(argv)
        options = flags.parse(rest, extra=BATCH_FLAG_LIST)
        if options.help:
            stdout.write(help_text())
            return 0
        check_batch_options(options)
        batch_for_cpu_devices(options)
        if use_ray and options.cpu_workers:
            raise UsageError("--cpu_workers is for a job without --ray; with --ray give --ray_workers.")
        notes = check_options(options) + check_tracking_options(options)
        manifest = options.inputs[0]
        inputs, problems = read_manifest(manifest)
        if problems:
            for problem in problems:
                print(f"jaxpose: error: {problem}", file=stderr)
            return EXIT_USAGE
        check_coco_ids_per_input(inputs, options)
        check_out(options.out)
        if not options.quiet:
            for note in notes:
                print(f"jaxpose: note: {note}", file=stderr)
        return run_job(inputs, options, options.out, chunk_frames=options.chunk_frames,
                       manifest=str(Path(manifest).resolve()), ray=address, use_ray=use_ray,
                       ray_workers=options.ray_workers, cpu_workers=options.cpu_workers, stderr=stderr)
    except UsageError as error:
        print(f"jaxpose: error: {error}\nRun `jaxpose batch --help` for the flags.", file=stderr)
        return EXIT_USAGE
    except JaxposeError as error:
        print(f"jaxpose: error: {error}", file=stderr)
        return 1
