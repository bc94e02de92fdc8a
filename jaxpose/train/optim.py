"""optax optimisers of the recipes (openpose-training.md §8): schedule, coupled L2 weight decay,
per-layer learning-rate multipliers via `optax.multi_transform`, frozen layers, clipping.

    tx, schedule = make_optimizer(params, recipe.optim, lr=1e-4, total_steps=1000,
                                  freeze=("^Conv2d_",), clip_norm=None)

Each parameter leaf gets a label "lr{m}_wd{d}" from the first `lr_mult_rules` pattern matching
its path "layer/param" (weights take the rule's weight multiplier and decay 1, biases the bias
multiplier and decay 0), or "frozen" when a `freeze` pattern matches (its updates are zero).
Per label: add_decayed_weights(weight_decay * d) (Caffe's L2 added to the gradient, not AdamW),
then Adam (b1, b2, eps) or SGD momentum, then - lr(t) * m. Caffe accumulates momentum on
lr * g where optax accumulates g and scales afterwards: the same at constant lr (§8 notes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import optax
from flax import traverse_util

from jaxpose.errors import InputError
from jaxpose.train.recipes import OptimConfig

FROZEN = "frozen"
BIAS_NAMES = ("bias",)


def make_schedule(config: OptimConfig, lr: float, total_steps: int,
                  schedule: str | None = None) -> Callable[[Any], Any]:
    """lr(step) of the recipe (or of `schedule`: constant, cosine, step, multistep)."""
    kind = schedule or config.schedule
    if kind == "constant":
        return optax.constant_schedule(lr)
    if kind == "cosine":
        return optax.cosine_decay_schedule(lr, decay_steps=max(1, total_steps))
    if kind == "step":
        return optax.exponential_decay(lr, transition_steps=config.step_size,
                                       decay_rate=config.gamma, staircase=True)
    if kind == "multistep":
        return optax.piecewise_constant_schedule(lr, {b: config.gamma for b in config.boundaries})
    raise InputError(f"unknown schedule {kind!r}; choose constant, cosine, step or multistep.")


def param_labels(params: Any, config: OptimConfig, freeze: Sequence[str] = ()) -> Any:
    """The label of every leaf of `params` (same tree structure)."""
    compiled_freeze = [re.compile(p) for p in freeze]
    rules = [(re.compile(p), w, b) for p, w, b in config.lr_mult_rules]
    flat = traverse_util.flatten_dict(params, sep="/")
    labels = {}
    for path in flat:
        if any(p.search(path) for p in compiled_freeze):
            labels[path] = FROZEN
            continue
        is_bias = path.rsplit("/", 1)[-1] in BIAS_NAMES
        for pattern, weight_mult, bias_mult in rules:
            if pattern.search(path):
                mult = bias_mult if is_bias else weight_mult
                break
        else:
            mult = 1.0
        labels[path] = f"lr{mult:g}_wd{0 if is_bias else 1}"
    return traverse_util.unflatten_dict(labels, sep="/")


def check_freeze_patterns(params: Any, freeze: Sequence[str]) -> None:
    """InputError for a pattern that is not a regex or matches no parameter (a typo)."""
    flat = traverse_util.flatten_dict(params, sep="/")
    for pattern in freeze:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise InputError(f"--freeze {pattern!r} is not a regular expression ({exc}).") from None
        if not any(compiled.search(path) for path in flat):
            example = next(iter(flat))
            raise InputError(f"--freeze {pattern!r} matches no parameter; paths look like "
                             f"{example!r} (layer/param).")


def _base(config: OptimConfig) -> optax.GradientTransformation:
    if config.optimizer == "adam":
        return optax.scale_by_adam(b1=config.b1, b2=config.b2, eps=config.eps)
    if config.optimizer == "sgd":
        return optax.trace(decay=config.momentum)
    raise InputError(f"unknown optimizer {config.optimizer!r}")


def make_optimizer(params: Any, config: OptimConfig, *, lr: float, total_steps: int,
                   freeze: Sequence[str] = (), clip_norm: float | None = None,
                   schedule: str | None = None, weight_decay: float | None = None):
    """(optax transformation, lr schedule with multiplier 1)."""
    check_freeze_patterns(params, freeze)
    sched = make_schedule(config, lr, total_steps, schedule)
    decay = config.weight_decay if weight_decay is None else weight_decay
    labels = param_labels(params, config, freeze)
    used = set(traverse_util.flatten_dict(labels).values())
    transforms = {}
    for label in used:
        if label == FROZEN:
            transforms[label] = optax.set_to_zero()
            continue
        mult = float(label[2:].split("_")[0])
        decays = label.endswith("wd1") and decay > 0
        chain = ([optax.add_decayed_weights(decay)] if decays else []) + [
            _base(config), optax.scale_by_schedule(lambda step, m=mult: -m * sched(step))]
        transforms[label] = optax.chain(*chain)
    tx = optax.multi_transform(transforms, labels)
    if clip_norm:
        tx = optax.chain(optax.clip_by_global_norm(clip_norm), tx)
    return tx, sched
