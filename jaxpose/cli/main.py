"""Entry point of the `jaxpose` command.

`jaxpose [OpenPose flags]` runs the pose pipeline (jaxpose.cli.run); the first word selects a
sub-command instead: `jaxpose convert ...` (Caffe -> jaxpose model file), `jaxpose fetch-models`,
`jaxpose calibrate ...` (chessboard frames -> camera files), `jaxpose batch MANIFEST --out DIR`
(many inputs, resumable, local or on Ray), `jaxpose eval` (COCO keypoint AP) and `jaxpose train`
(training and fine-tuning).
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "batch": "jaxpose.cli.batch",
    "convert": "jaxpose.cli.convert",
    "fetch-models": "jaxpose.cli.fetch",
    "calibrate": "jaxpose.cli.calibrate",
    "eval": "jaxpose.cli.eval",
    "train": "jaxpose.cli.train",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        module = importlib.import_module(SUBCOMMANDS[argv[0]])
        return module.main(argv[1:])
    from jaxpose.cli import run

    return run.main(argv)


if __name__ == "__main__":
    sys.exit(main())
