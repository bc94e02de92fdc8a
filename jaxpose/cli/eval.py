"""`jaxpose eval --coco ANNOTATIONS.json --images DIR [--model M] [model/net flags]`: COCO keypoint AP.

    jaxpose eval --coco person_keypoints_val2017.json --images val2017/
    jaxpose eval --model run/model.jaxpose --coco ann.json --images imgs/ --net_resolution -1x368

Runs the pipeline on every image of the annotation file (image ids from the file, by file name),
scores with pycocotools' COCOeval and prints AP, AP50, AP75, APm, APl, AR (and AR50, AR75, ARm,
ARl). `--model` is a jaxpose model file (e.g. from `jaxpose train`) or a model name; without it
the body model comes from --model_pose / --model_folder as in the main command. Also accepted:
--net_resolution, --net_resolution_dynamic, --scale_number, --scale_gap, --number_people_max,
--maximize_positives, --semantics; --write_coco_json FILE keeps the results file.

Exit status: 0 scored, 1 a file or image could not be used, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from jaxpose.cli import flags
from jaxpose.cli.flags import UsageError
from jaxpose.errors import JaxposeError

PROG = "jaxpose eval"
EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
MODEL_FLAGS = ("model_pose", "model_folder", "net_resolution", "net_resolution_dynamic",
               "scale_number", "scale_gap", "number_people_max", "maximize_positives", "semantics")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Score a body model on a COCO keypoint annotation file with "
        "pycocotools' COCOeval. Other accepted flags: " + ", ".join("--" + f for f in MODEL_FLAGS),
    )
    parser.add_argument("--coco", required=True, type=Path, help="COCO person-keypoints annotation file (ground truth)")
    parser.add_argument("--images", required=True, type=Path, help="folder holding its images")
    parser.add_argument("--model", default="", help="jaxpose model file or model name (default: --model_pose)")
    parser.add_argument("--write_coco_json", default="", help="also write the results file here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _options(rest: list[str]) -> flags.Options:
    options = flags.parse(rest)
    if options.inputs:
        raise UsageError(f"unexpected argument {options.inputs[0]!r}; images come from --coco and --images.")
    extra = sorted(options.given - set(MODEL_FLAGS))
    if extra:
        raise UsageError(f"--{extra[0]} is not used by {PROG}; accepted: --coco, --images, --model, "
                         f"--write_coco_json, --quiet, " + ", ".join("--" + f for f in MODEL_FLAGS) + ".")
    return options


def make_eval_pipeline(model: str, options: flags.Options):
    """(pose_fn, params) for `--model` (a file or a name) or, without it, the model flags."""
    from jaxpose.options.build import build_pipeline
    from jaxpose.hub import NAMED_MODELS

    if model and Path(model).is_file():
        import jaxpose

        body = jaxpose.load_model(model)
        pose_fn = jaxpose.make_pose_fn(
            body, net_resolution=flags.parse_resolution("net_resolution", options.net_resolution),
            scale_number=options.scale_number, scale_gap=options.scale_gap,
            semantics=options.semantics, number_people_max=options.number_people_max,
            maximize_positives=options.maximize_positives,
            net_resolution_dynamic=options.net_resolution_dynamic)
        return pose_fn, body.params
    values = vars(options)
    if model:
        values = dict(values, model_pose="MOBILENET_THIN" if model.lower() in NAMED_MODELS else model)
    pipeline = build_pipeline(values)
    return pipeline.pose_fn, pipeline.params


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    try:
        args, rest = parser.parse_known_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and EXIT_USAGE
    try:
        options = _options(rest)
        flags.parse_resolution("net_resolution", options.net_resolution)
        if args.write_coco_json:
            from jaxpose.stream.outputs import check_writable_file

            check_writable_file("write_coco_json", args.write_coco_json)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=stderr)
        return EXIT_USAGE
    from jaxpose.evaluate import format_table, predict_coco, score_coco
    from jaxpose.io.progress import Progress

    try:
        pose_fn, params = make_eval_pipeline(args.model, options)
        with Progress(quiet=args.quiet, stream=stderr) as progress:
            found = predict_coco(pose_fn, params, args.coco, args.images,
                                 on_image=lambda name, people: progress.update(1, people=people),
                                 on_start=progress.add_total)
        for name, reason in found.failures:
            print(f"{PROG}: error: {reason}", file=stderr)
        if args.write_coco_json:
            from jaxpose.io.atomic import atomic_write_text
            from jaxpose.io.writers.coco_json import coco_json_text

            atomic_write_text(Path(args.write_coco_json), coco_json_text(found.entries))
        stats = score_coco(args.coco, found.entries)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=stderr)
        return EXIT_USAGE
    except JaxposeError as error:
        print(f"{PROG}: error: {error}", file=stderr)
        return EXIT_FAILURES
    except OSError as error:
        print(f"{PROG}: error: {error}", file=stderr)
        return EXIT_FAILURES
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted.", file=stderr)
        return EXIT_INTERRUPTED
    print(f"COCO keypoints on {args.coco.name}: {found.images} images, {found.people} people found, "
          f"{len(found.entries)} results", file=stdout)
    print(format_table(stats), file=stdout)
    return EXIT_FAILURES if found.failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
