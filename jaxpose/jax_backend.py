"""JAX's default backend, or one line saying why JAX could not start it.

JAX starts its backends on first use. When `JAX_PLATFORMS` (or `jax.config.jax_platforms`) names
a platform that is not installed (`cuda` without the CUDA plugin, `tpu` without libtpu, a typo),
JAX raises a RuntimeError, or a bare AssertionError for `cuda` in some versions, from deep inside.
`default_backend` turns that into a `BackendError` naming the setting and the fix; every entry
point reaches JAX's devices through it first (`make_pose_fn`, `select_devices`).

`use_cpu_devices` splits the CPU into several JAX devices (one per core), so that a batch split
over them (`jaxpose.sharding`) runs frames side by side instead of every layer on all cores.
"""

from __future__ import annotations

import os

from jaxpose.errors import BackendError, InputError


def default_backend() -> str:
    """`jax.default_backend()` ("cpu", "gpu", "tpu"); BackendError when no backend can start."""
    import jax

    try:
        return jax.default_backend()
    except (RuntimeError, AssertionError) as error:
        platforms = os.environ.get("JAX_PLATFORMS") or jax.config.jax_platforms or ""
        detail = str(error).split(" (set JAX_PLATFORMS", 1)[0].strip().rstrip(".") or "no such platform is installed"
        raise BackendError(
            f"JAX could not start its device backend (JAX_PLATFORMS={platforms!r}): {detail}. Unset "
            "JAX_PLATFORMS (or set it to 'cpu'), or install the jax plugin for that platform "
            "(e.g. pip install 'jax[cuda12]')."
        ) from None


def usable_cores() -> list[int]:
    """The CPU cores this process may run on (its affinity, e.g. under `taskset`), sorted; every
    core where the system has no affinity (not Linux)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def use_cpu_devices(count: int) -> int:
    """Make JAX's CPU backend `count` devices (-1: one per usable core); returns the number.

    A batch split over them (`make_pose_fn(..., devices="all")`, the command's `--num_gpu -1`)
    then runs its frames side by side, one device per core, instead of each layer on all cores:
    on the 2-core machine 1.1-1.2x the frames/s at `--batch 8` (README, "CPU: one device per
    core"). Results equal one device's. Must come before JAX's first operation in the process
    (`jax_num_cpu_devices`); asking again for the count in effect is fine. No effect on the
    devices of a GPU or TPU backend. InputError for a count of 0 or below -1, or when JAX has
    already started with another number of CPU devices.
    """
    import jax

    if isinstance(count, bool) or not isinstance(count, int) or count == 0 or count < -1:
        raise InputError(f"cpu_devices={count!r}: use a count >= 1, or -1 for one device per core.")
    wanted = len(usable_cores()) if count == -1 else count
    try:
        jax.config.update("jax_num_cpu_devices", wanted)
    except RuntimeError:  # the backends have started
        have = len(jax.devices("cpu"))
        if have != wanted:
            raise InputError(
                f"cpu_devices={count}: JAX has already started with {have} CPU device(s); set the "
                "count before JAX's first operation (call jaxpose.use_cpu_devices right after "
                "import), or start a new process."
            ) from None
    return wanted
