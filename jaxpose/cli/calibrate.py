"""`jaxpose calibrate`: chessboard frames -> OpenPose camera XML files (+ TOML), and a report.

    jaxpose calibrate --camera "calib/left*.jpg" --camera "calib/right*.jpg" \\
        --grid_number_inner_corners 9x6 --grid_square_size_mm 25 --camera_parameter_folder cameras/

One `--camera` per camera, in view order: a folder of images, a quoted glob pattern or a video. With
2+ cameras the i-th frame of every camera is one instant (synchronised). Writes one `<name>.xml` per
camera (what `--3d --camera_parameter_path cameras/` reads; translations in metres when the square
size is a length) and, with `--toml`, an anipose- or Pose2Sim-style TOML file; prints the report.

Exit status: 0 calibrated, 1 calibration failed (board never found, too few views, cameras never
seen together, a write failing at the end), 2 bad usage (flags, missing inputs, destinations that
cannot be written: checked before calibrating).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from pathlib import Path

from jaxpose.errors import JaxposeError

PROG = "jaxpose calibrate"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Calibrate cameras from chessboard images or videos: intrinsics per camera (OpenCV calibrateCamera, "
            "OpenPose's corner refinement rule by default), and with 2+ cameras their extrinsics (pairwise "
            "initialisation, then a bundle adjustment). The world frame is the first camera's."
        ),
    )
    parser.add_argument("--camera", action="append", required=True, metavar="SOURCE",
                        help="one camera's frames: a folder of images, a quoted glob ('calib/left*.jpg') or a video; "
                             "repeat once per camera, in view order")
    parser.add_argument("--grid_number_inner_corners", required=True, metavar="WxH",
                        help="inner corners of the chessboard (squares - 1 per side), e.g. 9x6")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--grid_square_size_mm", type=float, metavar="MM",
                      help="side of one chessboard square in millimetres (OpenPose's flag)")
    size.add_argument("--grid_square_size", type=float, metavar="SIZE",
                      help="side of one square in --units (e.g. 0.025 with --units m; 1 with --units squares when unknown)")
    parser.add_argument("--units", default="mm",
                        help="units of --grid_square_size: m, cm, mm, in, ft, or a label such as 'squares' (default mm)")
    parser.add_argument("--camera_parameter_folder", "-o", "--output", dest="output", type=Path, required=True,
                        metavar="FOLDER", help="where to write one OpenPose XML file per camera")
    parser.add_argument("--names", default=None, metavar="A,B,...",
                        help="camera names = XML file names, in view order (default cam0,cam1,...); their natural "
                             "order must be the view order")
    parser.add_argument("--toml", type=Path, default=None, metavar="FILE", help="also write a calibration TOML file")
    parser.add_argument("--toml_style", choices=("anipose", "pose2sim"), default="anipose",
                        help="anipose ([cam_0]..., board units; also freemocap) or pose2sim (named tables, metres)")
    parser.add_argument("--distortion_model", choices=("standard", "rational", "simple"), default="standard",
                        help="standard: k1 k2 p1 p2 k3 (default); rational: 8 coefficients (OpenPose's); "
                             "simple: k1 k2 p1 p2 (Pose2Sim's)")
    parser.add_argument("--corner_rule", choices=("openpose", "opencv"), default="openpose",
                        help="sub-pixel corner refinement: openpose (half-window = pitch/4, 1000 it / 1e-9; default) "
                             "or opencv (the OpenCV sample's: 11 px, 30 it / 0.01)")
    parser.add_argument("--intrinsics", type=Path, default=None, metavar="FOLDER",
                        help="OpenPose XML files (one per camera, natural order) whose intrinsics and distortion are "
                             "kept: only the extrinsics are calibrated")
    parser.add_argument("--frame_step", type=int, default=1, help="use every n-th frame (e.g. 15 for a 30 fps video)")
    parser.add_argument("--outlier_factor", type=float, default=3.0,
                        help="views with RMS > max(factor x median, --outlier_px) are dropped (default 3)")
    parser.add_argument("--outlier_px", type=float, default=1.0, help="see --outlier_factor (default 1 px)")
    parser.add_argument("--xml_units", default="m",
                        help="translation unit of the XML files (default m, what OpenPose expects)")
    return parser


def _check_sources(sources: list[str]) -> str | None:
    for source in sources:
        path = Path(source)
        if not path.exists() and not (any(ch in source for ch in "*?[") and glob.glob(source)):
            return f"--camera {source}: no such folder, image, video or matching files"
    return None


def _unquoted_glob(extra: list[str]) -> str | None:
    """The shell expanded an unquoted --camera pattern into many file names: say so."""
    if extra and all(Path(e).is_file() for e in extra):
        return (f"--camera takes one source per camera, but {len(extra) + 1} files followed it: quote a "
                "pattern so that the shell does not expand it (--camera \"calib/left*.jpg\"), give the "
                "folder, or repeat --camera once per camera")
    return None


def _nearest_folder(path: Path) -> Path:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def _check_destinations(args: argparse.Namespace, names: list[str]) -> str | None:
    """Before minutes of calibration: the XML folder and the TOML file can be written there."""
    folder = args.output
    if folder.exists():
        if not folder.is_dir():
            return f"--camera_parameter_folder {folder}: exists and is not a folder; pass a folder"
        wanted = {f"{name}.xml" for name in names}
        others = sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".xml" and p.name not in wanted)
        if others:
            return (f"--camera_parameter_folder {folder}: already holds other camera files {others[:5]}; OpenPose "
                    "would read them as extra views. Write into an empty folder or remove them")
    elif not _nearest_folder(folder).is_dir():
        return f"--camera_parameter_folder {folder}: {_nearest_folder(folder)} is not a folder; pass a writable folder"
    parent = folder if folder.is_dir() else _nearest_folder(folder)
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"--camera_parameter_folder {folder}: {parent} is not writable; pass a writable folder"
    if args.toml is not None:
        toml = args.toml
        if toml.is_dir():
            return f"--toml {toml}: is a folder; pass a file path"
        parent = _nearest_folder(toml)
        if not parent.is_dir():
            return f"--toml {toml}: {parent} is not a folder; pass a path inside a writable folder"
        if not os.access(parent, os.W_OK | os.X_OK) or (toml.exists() and not os.access(toml, os.W_OK)):
            return f"--toml {toml}: not writable; pass a path inside a writable folder"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        hint = _unquoted_glob(extra)
        if hint is not None:
            print(f"{PROG}: error: {hint}", file=sys.stderr)
            return EXIT_USAGE
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse printed usage and the reason
        return int(exc.code or 0)
    problem = _check_sources(args.camera)
    if problem is None and args.frame_step < 1:
        problem = f"--frame_step must be >= 1 (got {args.frame_step})"
    names = args.names.split(",") if args.names else None
    if problem is None and names is not None and len(names) != len(args.camera):
        problem = f"--names gives {len(names)} names for {len(args.camera)} cameras"
    if problem is None and args.intrinsics is not None and not args.intrinsics.exists():
        problem = f"--intrinsics {args.intrinsics}: no such folder or file"
    if problem is None:
        problem = _check_destinations(args, names or [f"cam{i}" for i in range(len(args.camera))])
    if problem is not None:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    square, units = ((args.grid_square_size_mm, "mm") if args.grid_square_size_mm is not None
                     else (args.grid_square_size, args.units))
    try:
        from jaxpose.calibration import Chessboard, calibrate
        from jaxpose.cameras import CameraGroup
        from jaxpose.cameras.toml_format import toml_text
        from jaxpose.cameras.units import is_length

        board = Chessboard.parse(args.grid_number_inner_corners, square, units)
    except JaxposeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        intrinsics = CameraGroup.from_openpose_xml(args.intrinsics) if args.intrinsics is not None else None
        group, report = calibrate(
            args.camera, board, names=names, model=args.distortion_model, corner_rule=args.corner_rule,
            intrinsics=intrinsics, frame_step=args.frame_step, outlier_factor=args.outlier_factor,
            outlier_px=args.outlier_px, log=lambda line: print(line, file=sys.stderr),
        )
        xml_units = args.xml_units if is_length(group.units) else None
        if args.toml is not None:
            toml_text(group, args.toml_style)  # refuse before anything is written
        paths = group.to_openpose_xml(args.output, units=xml_units)
        if args.toml is not None:
            rms = report.extrinsics_rms if report.extrinsics_rms is not None else report.intrinsics_rms[0]
            paths.append(group.to_toml(args.toml, style=args.toml_style, error=rms))
    except JaxposeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"{PROG}: error: cannot write {exc.filename or args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    print(report.summary())
    if xml_units is None:
        print(f"warning: the square size is in {group.units!r}, not a length: the XML translations are in "
              f"{group.units}, while OpenPose's --3d assumes metres")
    for path in paths:
        print(f"wrote {path}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
