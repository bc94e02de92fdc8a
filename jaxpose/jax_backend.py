"""JAX's default backend, or one line saying why JAX could not start it.

JAX starts its backends on first use. When `JAX_PLATFORMS` (or `jax.config.jax_platforms`) names
a platform that is not installed (`cuda` without the CUDA plugin, `tpu` without libtpu, a typo),
JAX raises a RuntimeError, or a bare AssertionError for `cuda` in some versions, from deep inside.
`default_backend` turns that into a `BackendError` naming the setting and the fix; every entry
point reaches JAX's devices through it first (`make_pose_fn`, `select_devices`).
"""

from __future__ import annotations

import os

from jaxpose.errors import BackendError


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
