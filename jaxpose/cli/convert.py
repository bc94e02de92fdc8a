"""`jaxpose convert PROTOTXT CAFFEMODEL -o OUT`: an OpenPose Caffe model -> one jaxpose model file.

    jaxpose convert models/pose/body_25/pose_deploy.prototxt \\
        models/pose/body_25/pose_iter_584000.caffemodel -o body_25.jaxpose
    python -c "import jaxpose; m = jaxpose.load_model('body_25.jaxpose')"

Exit status 0 on success, 2 on bad input (missing or unreadable files, weights that do not fit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxpose.errors import JaxposeError

PROG = "jaxpose convert"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Convert an OpenPose Caffe model (BODY_25, COCO, MPI, MPI_4_layers, HAND or FACE; recognised "
            "from the prototxt) into one jaxpose model file, loadable with jaxpose.load_model(OUT). "
            "Caffe is not needed. OpenPose's weights stay under CMU's non-commercial licence after "
            "conversion."
        ),
    )
    parser.add_argument("prototxt", type=Path, help="the deploy .prototxt (e.g. pose/body_25/pose_deploy.prototxt)")
    parser.add_argument("caffemodel", type=Path, help="the trained weights (e.g. pose/body_25/pose_iter_584000.caffemodel)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the jaxpose model file to write")
    parser.add_argument(
        "--model", metavar="NAME", default=None,
        help="fail unless the prototxt is this model (BODY_25, COCO, MPI, MPI_4_layers, HAND, FACE)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed usage and the reason
        return int(exc.code or 0)
    try:
        from jaxpose.convert.caffe import from_caffe
        from jaxpose.model import save_model

        model = from_caffe(args.prototxt, args.caffemodel, expect=args.model)
        path = save_model(model, args.output)
    except JaxposeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"{model.name} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
