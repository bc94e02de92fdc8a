"""Strict merge of converted weights into a module's parameter tree (shared by all converters).

A converter produces a *flat* dict `{path: array}` whose paths name the Flax parameter they are
meant for; `strict_merge` checks it against the tree the module expects (from
`jax.eval_shape(net.init, ...)` or any tree of arrays / shapes) and builds the nested params.
Nothing is silently dropped, added or broadcast: every missing path, every extra path and every
shape mismatch is listed in one `ConversionError`.

Paths are tuples of names, `("Mconv1_stage1_L1", "kernel")`, or the same joined with "/",
`"Mconv1_stage1_L1/kernel"`.

    expected = jax.eval_shape(net.init, jax.random.key(0), x)["params"]
    params = strict_merge(expected, {"conv1_1/kernel": k, "conv1_1/bias": b, ...}, source="x.caffemodel")
"""

from __future__ import annotations

from typing import Any, Collection, Mapping, Sequence

import numpy as np

from jaxpose.errors import ConversionError

Path = tuple[str, ...]

# How many entries of each kind an error message lists before summarising the rest.
_MAX_LISTED = 12


def as_path(key: str | Sequence[str]) -> Path:
    """`"a/b/kernel"` or `("a", "b", "kernel")` -> `("a", "b", "kernel")`."""
    return tuple(key.split("/")) if isinstance(key, str) else tuple(key)


def path_str(path: Path) -> str:
    return "/".join(path)


def flatten_tree(tree: Mapping[str, Any], prefix: Path = ()) -> dict[Path, Any]:
    """Nested dicts -> `{path tuple: leaf}` (leaves are anything that is not a mapping)."""
    flat: dict[Path, Any] = {}
    for name, value in tree.items():
        path = prefix + (str(name),)
        if isinstance(value, Mapping):
            flat.update(flatten_tree(value, path))
        else:
            flat[path] = value
    return flat


def unflatten_tree(flat: Mapping[Path, Any]) -> dict[str, Any]:
    """`{path tuple: leaf}` -> nested dicts (inverse of `flatten_tree`)."""
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        node = tree
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = value
    return tree


def _shape(leaf: Any) -> tuple[int, ...]:
    """Shape of an array, `jax.ShapeDtypeStruct` or a plain shape tuple."""
    if hasattr(leaf, "shape"):
        return tuple(int(d) for d in leaf.shape)
    return tuple(int(d) for d in leaf)


def _listing(title: str, items: list[str]) -> str:
    shown = items[:_MAX_LISTED]
    more = f"\n    ... and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
    return f"  {title} ({len(items)}):\n" + "\n".join(f"    {s}" for s in shown) + more


def strict_merge(
    expected: Mapping[str, Any],
    converted: Mapping[str | Sequence[str], Any],
    source: str = "the converted weights",
    target: str = "the network",
    hint: str = "",
    ignore_extra: Collection[str | Sequence[str]] = (),
) -> dict[str, Any]:
    """Nested params with the structure of `expected` and the arrays of `converted`.

    expected:  nested dict whose leaves are arrays, `jax.ShapeDtypeStruct`s or shape tuples.
    converted: flat `{path: array}`; paths as tuples or "/"-joined strings.
    source / target / hint: words for the error message (e.g. the file name, the model name, what
        to do about it).
    ignore_extra: paths that `converted` may hold beyond `expected` and that are dropped silently
        (e.g. the stages 5-6 of the MPI weights that MPI_4_layers does not use).

    Returns nested dicts of `np.ndarray` (float32 unless the converted array has another float
    dtype). Raises `ConversionError` listing every parameter missing from `converted`, every extra
    one, and every shape that differs (with both shapes), when there is any.
    """
    want = flatten_tree(expected)
    ignored = {as_path(k) for k in ignore_extra} - want.keys()
    got = {p: v for p, v in ((as_path(k), v) for k, v in converted.items()) if p not in ignored}
    missing = sorted(path_str(p) for p in want.keys() - got.keys())
    extra = sorted(f"{path_str(p)} {_shape(np.shape(got[p]))}" for p in got.keys() - want.keys())
    mismatched = sorted(
        f"{path_str(p)}: weights have shape {tuple(np.shape(got[p]))}, the network expects {_shape(want[p])}"
        for p in want.keys() & got.keys()
        if tuple(np.shape(got[p])) != _shape(want[p])
    )
    if missing or extra or mismatched:
        parts = [f"weights from {source} do not fit {target}:"]
        if missing:
            parts.append(_listing(f"missing from {source}", missing))
        if extra:
            parts.append(_listing(f"not used by {target} (extra)", extra))
        if mismatched:
            parts.append(_listing("shape mismatches", mismatched))
        if hint:
            parts.append(hint)
        raise ConversionError("\n".join(parts))
    return unflatten_tree({p: np.asarray(got[p]) for p in want})


def tree_shapes(tree: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """`{"a/b/kernel": shape}` of a nested params tree: handy for messages and tests."""
    return {path_str(p): _shape(v) for p, v in flatten_tree(tree).items()}
