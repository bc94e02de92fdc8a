"""`train(config)`: the imperative shell around the pure pieces (data, targets, step, optimiser).

    result = train(TrainConfig(model="mobilenet_thin", annotations="ann.json", images="imgs/",
                               out="run/", steps=1000))
    jaxpose.load_model(result.model_path)      # a normal jaxpose model file

Run folder `out/`: `train_config.json`, `checkpoints/` (orbax, every `checkpoint_every` steps
and at the end), `metrics.csv` (+ `tensorboard/`), `model.jaxpose` (at the end). `resume=True`
continues from the newest checkpoint with the same settings; the batches, augmentations and
updates are those the uninterrupted run would have made (bit for bit on CPU).

A non-finite loss or gradient stops the run with `TrainingError` naming the step and the image
ids of its batch; the state before that step is checkpointed (the last good one) and nothing
later is written. Ctrl-C checkpoints the current step, then re-raises `KeyboardInterrupt`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose.errors import InputError, JaxposeError

CONFIG_NAME = "train_config.json"
MODEL_NAME = "model.jaxpose"
# Settings that must not change between a run and its resumption.
_RESUME_KEYS = ("model", "annotations", "images", "batch_size", "input_size", "lr", "schedule",
                "freeze", "from_scratch", "seed", "mixed_precision", "clip_norm", "weight_decay",
                "max_people", "steps", "model_folder")


class TrainingError(JaxposeError):
    """Training cannot go on (a non-finite loss); the message names the step and the batch."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run. `model`: "mobilenet_thin", a jaxpose model file, or an OpenPose body
    model name (BODY_25, COCO, MPI, MPI_4_layers) with `model_folder` (or `from_scratch`)."""

    annotations: str
    images: str
    out: str
    steps: int
    model: str = "mobilenet_thin"
    model_folder: str = ""
    batch_size: int = 8
    input_size: tuple[int, int] | None = None  # (W, H); None = the recipe's crop
    lr: float | None = None  # None = the recipe's (fine-tuning or from-scratch) rate
    schedule: str | None = None  # None = the recipe's
    freeze: tuple[str, ...] = ()
    from_scratch: bool = False
    seed: int = 0
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    mixed_precision: bool = False  # bfloat16 compute, float32 parameters and loss
    clip_norm: float | None = None
    weight_decay: float | None = None  # None = the recipe's
    max_people: int = 32
    workers: int = 4
    tensorboard: bool = False
    resume: bool = False

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["input_size"] = list(self.input_size) if self.input_size else None
        data["freeze"] = list(self.freeze)
        return data


@dataclasses.dataclass(frozen=True)
class TrainResult:
    steps: int  # the step the run ended at
    start_step: int
    final_loss: float
    model_path: Path
    metrics_path: Path
    seconds: float
    images_per_s: float


def initial_model(config: TrainConfig):
    """(Model, fine_tuning): the weights training starts from."""
    import jaxpose
    from jaxpose.hub import NAMED_MODELS
    from jaxpose.model import make_model
    from jaxpose.specs import get_spec

    name = config.model
    if config.from_scratch:
        try:
            spec = get_spec("MOBILENET_THIN" if name.lower() in NAMED_MODELS else name)
        except KeyError:
            raise InputError(f"--from_scratch needs a model name (mobilenet_thin, BODY_25, COCO, "
                             f"MPI, MPI_4_layers), got {name!r}.") from None
        return make_model(spec.name, init_params(spec.name, config.seed)), False
    if name.lower() in NAMED_MODELS or Path(name).is_file():
        return jaxpose.load_model(name), True
    try:
        spec = get_spec(name)
    except KeyError:
        raise InputError(f"--model {name!r}: not a file, a built-in model or a body model name "
                         "(BODY_25, COCO, MPI, MPI_4_layers).") from None
    if not config.model_folder:
        raise InputError(f"fine-tuning {spec.name} needs OpenPose's Caffe weights: pass "
                         "--model_folder (OpenPose's models/ folder) or --from_scratch.")
    from jaxpose.convert.caffe import load_model_folder

    return load_model_folder(config.model_folder, spec.name), True


def init_params(model_name: str, seed: int) -> Any:
    """From-scratch parameters: the recipe's initialiser for kernels (Caffe "gaussian" std 0.01 for
    CMU-2017; Caffe "xavier", U[-sqrt(3 / fan_in), +sqrt(3 / fan_in)], for OP-train and tf-pose,
    §8), zero biases, PReLU slopes 0.25. Drawn with NumPy: shapes come from `jax.eval_shape`, so
    nothing is compiled (jitting Flax's `init` of these nets takes minutes on CPU)."""
    from jaxpose.nets import build_net
    from jaxpose.train.recipes import recipe_for

    net = build_net(model_name)
    shapes = jax.eval_shape(net.init, jax.random.key(0), jnp.zeros((1, 64, 64, 3), jnp.float32))["params"]
    gaussian = recipe_for(model_name).name == "CMU-2017"
    rng = np.random.default_rng(seed)

    def leaf(path, shape) -> np.ndarray:
        name = path[-1].key
        if name == "kernel":
            if gaussian:
                return rng.normal(0.0, 0.01, shape.shape).astype(np.float32)
            fan_in = int(np.prod(shape.shape[:-1]))
            bound = np.sqrt(3.0 / fan_in)
            return rng.uniform(-bound, bound, shape.shape).astype(np.float32)
        if name == "slope":
            return np.full(shape.shape, 0.25, np.float32)
        return np.zeros(shape.shape, np.float32)

    return jax.tree_util.tree_map_with_path(leaf, shapes)


def check_config(config: TrainConfig) -> None:
    """The settings' own values (no file is read): InputError naming the setting."""
    if config.steps < 1:
        raise InputError(f"--steps must be >= 1, got {config.steps}")
    if config.batch_size < 1:
        raise InputError(f"--batch_size must be >= 1, got {config.batch_size}")
    if config.checkpoint_every < 1:
        raise InputError(f"--checkpoint_every must be >= 1, got {config.checkpoint_every}")
    if config.lr is not None and not (np.isfinite(config.lr) and config.lr > 0):
        raise InputError(f"--lr must be a positive number, got {config.lr}")


def _check_run_dir(config: TrainConfig) -> Path:
    """InputError unless `out` fits: a run to resume with the same settings (--resume), or no run
    yet. Reads only the run's config file, so it runs before the data and the model."""
    out = Path(config.out)
    saved = out / CONFIG_NAME
    if config.resume:
        if not saved.is_file():
            raise InputError(f"--resume: {out} holds no run ({CONFIG_NAME} missing); start it "
                             "without --resume.")
        before = json.loads(saved.read_text())
        now = config.to_json()
        changed = [k for k in _RESUME_KEYS if before.get(k) != now.get(k)]
        if changed:
            diffs = ", ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
            raise InputError(f"--resume with other settings than the run in {out} ({diffs}); "
                             "resume with the same settings or use another --out.")
        return out
    if saved.exists() or (out / "checkpoints").exists():
        raise InputError(f"{out} already holds a training run; pass --resume to continue it or "
                         "choose another --out.")
    return out


def _prepare_run_dir(config: TrainConfig) -> Path:
    out = _check_run_dir(config)
    if config.resume:
        return out
    saved = out / CONFIG_NAME
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--out {out}: cannot create the run folder there "
                         f"({error.strerror or error}); pass a writable folder.") from None
    from jaxpose.io.atomic import atomic_write_text

    atomic_write_text(saved, json.dumps(config.to_json(), indent=2) + "\n")
    return out


def _save_if_alive(ckpt, state: Any) -> None:
    """Checkpoint `state` unless an interrupted step already consumed (donated) its buffers."""
    if any(getattr(leaf, "is_deleted", lambda: False)() for leaf in jax.tree.leaves(state)):
        return
    ckpt.save(int(jax.device_get(state["step"])), state)


def _host_metrics(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in jax.device_get(metrics).items() if k != "finite"}


def train(config: TrainConfig, on_step: Callable[[int, dict], None] | None = None,
          batches: Callable | None = None) -> TrainResult:
    """Run (or resume) training; see the module docstring. `on_step(step, row)` after each step.

    `batches(stream, start_step)` may wrap the batch iterator (tests use it to plant bad data).
    """
    from jaxpose.jax_backend import default_backend
    from jaxpose.model import make_model, save_model
    from jaxpose.train.checkpoint import Checkpoints
    from jaxpose.train.coco_data import CocoKeypoints
    from jaxpose.train.layouts import coco_layout
    from jaxpose.train.loader import BatchStream
    from jaxpose.train.metrics import MetricsLog
    from jaxpose.train.optim import make_optimizer
    from jaxpose.train.recipes import recipe_for
    from jaxpose.train.step import TrainStep, init_state

    check_config(config)
    _check_run_dir(config)
    data = CocoKeypoints(config.annotations, config.images)
    default_backend()  # a BackendError line, not a traceback, when JAX cannot start its backend
    model, fine_tuning = initial_model(config)
    recipe = recipe_for(model.name)
    layout = coco_layout(model.name)
    crop_wh = tuple(config.input_size or recipe.crop_wh)
    lr = config.lr if config.lr is not None else (recipe.optim.finetune_lr if fine_tuning else recipe.optim.lr)
    tx, schedule = make_optimizer(model.params, recipe.optim, lr=lr, total_steps=config.steps,
                                  freeze=config.freeze, clip_norm=config.clip_norm,
                                  schedule=config.schedule, weight_decay=config.weight_decay)
    step_fn = TrainStep(model, layout, recipe, tx,
                        compute_dtype=jnp.bfloat16 if config.mixed_precision else None)
    step_fn.check_batch_size(config.batch_size)
    out = _prepare_run_dir(config)

    ckpt = Checkpoints(out / "checkpoints", keep=config.keep_checkpoints)
    state = step_fn.put_state(init_state(model.params, tx))
    start = 0
    if config.resume and ckpt.latest_step() is not None:
        start = int(ckpt.latest_step())
        state = ckpt.restore(start, like=state)
    stream = BatchStream(data, layout, recipe, batch_size=config.batch_size, crop_wh=crop_wh,
                         seed=config.seed, max_people=config.max_people, workers=config.workers,
                         coordinate_shift=recipe.coordinate_shift if fine_tuning else 0.0)
    iterator = stream.batches(start) if batches is None else batches(stream, start)
    from jaxpose.nets import stage_output_layers

    stage_names = [f"{kind}{stage}" for kind, stage, _ in stage_output_layers(model.name)]
    log = MetricsLog(out, ["loss", *stage_names, "grad_norm", "lr", "images_per_s", "seconds"],
                     resume_step=start, tensorboard=config.tensorboard)
    step, loss, images, started = start, float("nan"), 0, time.perf_counter()
    try:
        for step in range(start, config.steps):
            t0 = time.perf_counter()
            batch = next(iterator)
            state, metrics = step_fn(state, step_fn.put(batch))
            finite = bool(metrics["finite"])
            row = _host_metrics(metrics)
            if not finite:
                ckpt.save(step, state)
                raise TrainingError(
                    f"the loss is {row['loss']:g} (gradient norm {row['grad_norm']:g}) at step "
                    f"{step + 1}, on the batch of images {', '.join(str(i) for i in batch.image_ids)}; "
                    f"stopped. The last good state (step {step}) is checkpointed in {ckpt.directory}. "
                    "Lower --lr, add --clip_norm, or check those images' annotations.")
            seconds = time.perf_counter() - t0
            loss = row["loss"]
            images += config.batch_size
            row.update(lr=float(schedule(step)), images_per_s=config.batch_size / seconds, seconds=seconds)
            log.write(step + 1, row)
            if (step + 1) % config.checkpoint_every == 0:
                ckpt.save(step + 1, state)
            if on_step is not None:
                on_step(step + 1, row)
        ckpt.save(config.steps, state)
        step = config.steps
    except KeyboardInterrupt:
        _save_if_alive(ckpt, state)
        raise
    finally:
        stream.close()
        log.close()
        ckpt.close()
    params = jax.device_get(state["params"])
    model_path = save_model(make_model(model.name, params), out / MODEL_NAME)
    elapsed = time.perf_counter() - started
    return TrainResult(steps=step, start_step=start, final_loss=loss, model_path=model_path,
                       metrics_path=log.path, seconds=elapsed,
                       images_per_s=images / elapsed if elapsed > 0 else 0.0)
