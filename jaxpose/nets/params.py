"""Does a params tree fit a network? A clear `InputError` before running it, not a Flax error.

    shapes = param_shapes(net)                      # {"conv1_1/kernel": (3, 3, 3, 64), ...}
    check_params(params, shapes, "params")          # None, {}, another model's tree -> InputError

`param_shapes` traces `net.init` abstractly once per network (no weights are made).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose.errors import InputError
from jaxpose.nets.winograd import WINOGRAD_KERNEL

WINOGRAD_SUFFIX = f"/{WINOGRAD_KERNEL}"
_PROBE = (1, 16, 16, 3)  # every network maps it (stride 8 -> 2 x 2)
_LISTED = 3  # names listed per kind of difference
_SHAPES: "weakref.WeakKeyDictionary[Any, dict[str, tuple[int, ...]]]" = weakref.WeakKeyDictionary()


def param_shapes(net: Any) -> dict[str, tuple[int, ...]] | None:
    """{"layer/.../name": shape} of the params `net.init` makes (cached per network); None for a
    stand-in network with only `apply` (it cannot say what it expects: nothing is checked)."""
    if not hasattr(net, "init"):
        return None
    try:
        return _SHAPES[net]
    except (KeyError, TypeError):
        pass
    tree = jax.eval_shape(net.init, jax.random.key(0), jnp.zeros(_PROBE))["params"]
    shapes = {path: tuple(int(d) for d in leaf.shape) for path, leaf in flat_paths(tree).items()}
    try:
        _SHAPES[net] = shapes
    except TypeError:
        pass
    return shapes


def flat_paths(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """{'layer/kernel': leaf} of a nested params tree (paths joined with '/')."""
    flat: dict[str, Any] = {}
    for name, value in tree.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(flat_paths(value, path + "/"))
        else:
            flat[path] = value
    return flat


def params_problem(params: Any, expected: Mapping[str, tuple[int, ...]]) -> str | None:
    """What is wrong with `params` for a network with param shapes `expected`, or None."""
    if params is None:
        return "is None"
    if not isinstance(params, Mapping):
        return f"is a {type(params).__name__}, not the nested dict of arrays `model.params`"
    flat = flat_paths(params)
    if not flat:
        return "is empty"
    # a Winograd layer's kernel may come pre-transformed (`nets.winograd.winograd_params`)
    pretransformed = {k[: -len(WINOGRAD_SUFFIX)] + "/kernel" for k in flat if k.endswith(WINOGRAD_SUFFIX)}
    flat = {k: v for k, v in flat.items() if not k.endswith(WINOGRAD_SUFFIX)}
    missing = sorted(expected.keys() - flat.keys() - pretransformed)
    extra = sorted(flat.keys() - expected.keys())
    wrong = sorted(k for k in expected.keys() & flat.keys() if tuple(np.shape(flat[k])) != expected[k])
    if not (missing or extra or wrong):
        return None
    parts = []
    for title, names in (("missing", missing), ("unknown", extra), ("of the wrong shape", wrong)):
        if names:
            more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
            parts.append(f"{len(names)} {title} ({', '.join(names[:_LISTED])}{more})")
    return "does not fit the network's parameters: " + "; ".join(parts)


def check_params(params: Any, expected: Mapping[str, tuple[int, ...]] | None, what: str = "params",
                 model_name: str = "the model") -> None:
    """Raise `InputError` naming the problem when `params` do not fit (see `params_problem`).
    `expected` None (a stand-in network, see `param_shapes`): nothing to check."""
    if expected is None:
        return
    problem = params_problem(params, expected)
    if problem:
        raise InputError(
            f"{what} {problem}; pass the weights of {model_name} (`model.params` of the model "
            "given to make_pose_fn / make_wholebody_fn)."
        )
