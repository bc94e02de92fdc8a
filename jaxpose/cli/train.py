"""`jaxpose train --coco ANN.json --images DIR --steps N --out RUN/ [--resume]`: train or fine-tune.

    jaxpose train --model mobilenet_thin --coco person_keypoints_train2017.json \\
        --images train2017/ --steps 10000 --out run/
    jaxpose train ... --resume                    # continue run/ from its newest checkpoint
    jaxpose eval --model run/model.jaxpose --coco ann_val.json --images val/

Shows a progress bar (loss, images/s) on a terminal and ends with a summary. Writes
run/model.jaxpose (a normal jaxpose model file), run/metrics.csv, run/checkpoints/.

Exit status: 0 trained, 1 the data, the model or the loss failed (a non-finite loss names the
step and its images), 2 bad usage, 130 interrupted (checkpointed: rerun with --resume).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from jaxpose.errors import JaxposeError

PROG = "jaxpose train"
EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 432x368, got {text!r}") from None
    if w <= 0 or h <= 0 or w % 8 or h % 8:
        raise argparse.ArgumentTypeError(f"{text}: both sides must be positive multiples of 8 (the stride)")
    return w, h


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=(
        "Train or fine-tune a body network on a COCO person-keypoints file with the recipe of the "
        "source that trained it (tf-pose for mobilenet_thin, CMU-2017 for COCO/MPI, OP-train for "
        "BODY_25): targets, augmentation, loss and optimiser as in openpose-training.md."))
    p.add_argument("--coco", required=True, help="COCO person-keypoints annotation file")
    p.add_argument("--images", required=True, help="folder holding its images")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics.csv, model.jaxpose)")
    p.add_argument("--steps", required=True, type=int, help="train until this many updates")
    p.add_argument("--model", default="mobilenet_thin",
                   help="start from: mobilenet_thin (default), a jaxpose model file, or BODY_25/COCO/MPI/MPI_4_layers with --model_folder or --from_scratch")
    p.add_argument("--model_folder", default="", help="OpenPose's models/ folder (Caffe weights to fine-tune)")
    p.add_argument("--from_scratch", action="store_true", help="random initial weights (the recipe's initialiser)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    p.add_argument("--batch_size", type=int, default=8, help="global batch, split over all local devices (default 8)")
    p.add_argument("--input_size", type=_size, default=None, help="crop WxH, multiples of 8 (default: the recipe's, 432x368 or 368x368)")
    p.add_argument("--lr", type=float, default=None, help="base learning rate (default: the recipe's)")
    p.add_argument("--schedule", choices=("recipe", "constant", "cosine", "step", "multistep"), default="recipe")
    p.add_argument("--freeze", action="append", default=[], metavar="REGEX",
                   help="freeze the parameters whose path 'layer/param' matches (repeatable), e.g. '^Conv2d_'")
    p.add_argument("--weight_decay", type=float, default=None, help="coupled L2 decay (default: the recipe's)")
    p.add_argument("--clip_norm", type=float, default=None, help="clip gradients to this global norm")
    p.add_argument("--mixed_precision", action="store_true", help="compute in bfloat16 (parameters and loss stay float32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint_every", type=int, default=100)
    p.add_argument("--max_people", type=int, default=32, help="people per image kept (the most annotated first)")
    p.add_argument("--workers", type=int, default=4, help="data-loading threads")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard scalars (needs jaxpose[tensorboard])")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    return p


def config_from_args(args: argparse.Namespace):
    from jaxpose.train import TrainConfig

    return TrainConfig(
        annotations=args.coco, images=args.images, out=args.out, steps=args.steps,
        model=args.model, model_folder=args.model_folder, batch_size=args.batch_size,
        input_size=args.input_size, lr=args.lr,
        schedule=None if args.schedule == "recipe" else args.schedule, freeze=tuple(args.freeze),
        from_scratch=args.from_scratch, seed=args.seed, checkpoint_every=args.checkpoint_every,
        mixed_precision=args.mixed_precision, clip_norm=args.clip_norm,
        weight_decay=args.weight_decay, max_people=args.max_people, workers=args.workers,
        tensorboard=args.tensorboard, resume=args.resume)


class _Bar:
    """tqdm on a terminal (loss, images/s); nothing otherwise."""

    def __init__(self, total: int, quiet: bool, stream: TextIO):
        self._bar = None
        if not quiet and getattr(stream, "isatty", lambda: False)():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="step", file=stream, dynamic_ncols=True)

    def __call__(self, step: int, row: dict) -> None:
        if self._bar is None:
            return
        if self._bar.n == 0 and step > 1:
            self._bar.update(step - 1)
        self._bar.set_postfix(loss=f"{row['loss']:.4g}", img_s=f"{row['images_per_s']:.2f}", refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and EXIT_USAGE
    from jaxpose.errors import InputError, UsageError
    from jaxpose.stream.outputs import check_writable_folder
    from jaxpose.train import train
    from jaxpose.train.loop import check_config

    try:
        config = config_from_args(args)
        check_config(config)
        check_writable_folder("out", args.out)
    except (InputError, UsageError) as error:
        print(f"{PROG}: error: {error}", file=stderr)
        return EXIT_USAGE
    bar = _Bar(args.steps, args.quiet, stderr)
    try:
        result = train(config, on_step=bar)
    except JaxposeError as error:
        bar.close()
        print(f"{PROG}: error: {error}", file=stderr)
        return EXIT_FAILURES
    except KeyboardInterrupt:
        bar.close()
        print(f"{PROG}: interrupted; the run is checkpointed in {args.out}. Continue with the same "
              "command and --resume.", file=stderr)
        return EXIT_INTERRUPTED
    bar.close()
    if not args.quiet:
        print(f"{PROG}: steps {result.start_step}->{result.steps}, final loss {result.final_loss:.5g}, "
              f"{result.images_per_s:.2f} images/s, {result.seconds:.1f} s; model {result.model_path}, "
              f"metrics {result.metrics_path}", file=stdout)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
