"""Let XLA:CPU reuse freed host memory instead of mapping fresh pages on every call.

    from jaxpose import host_memory
    host_memory.keep_freed_memory()   # make_pose_fn, the command, the batch job and PoseEstimator do this

On CPU, every call of a compiled XLA program allocates its temporary buffers in one block (36 MiB
for MobileNet-thin at 432x368) and frees it when the call returns. glibc's malloc serves blocks
above its mmap threshold (at most 32 MiB) with a fresh `mmap` and gives them back with `munmap`,
so each call starts on untouched pages and the kernel zero-fills ~9,000 of them on first touch.
Keeping them, the network takes 0.82 of its former time at 432x368 and 0.86 at 656x368 on the
project's 2-core machine (README, "Host memory on CPU").

`keep_freed_memory` sets glibc's `M_MMAP_MAX` to 0 (every block comes from the heap) and raises
`M_TRIM_THRESHOLD`, so freed blocks stay in the process and the next call reuses warm pages. The
cost: the process keeps its peak heap (for the default model, a few tens of MiB above what it
would hold between calls) until it exits. Outputs are unchanged (only where memory comes from).

Applied only where it is known to help: Linux with glibc, JAX's default backend the CPU (on an
accelerator the per-call buffers live in device memory). Off: `JAXPOSE_KEEP_HOST_MEMORY=0` (also
false/no/off). Calling again is harmless.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

ENV = "JAXPOSE_KEEP_HOST_MEMORY"
_OFF = {"0", "false", "no", "off"}
# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 1 << 30  # heap tops below 1 GiB are never handed back while running

_applied = False


def disabled_by_environment() -> bool:
    """True when `$JAXPOSE_KEEP_HOST_MEMORY` is 0 / false / no / off."""
    return os.environ.get(ENV, "").strip().lower() in _OFF


def supported() -> bool:
    """Linux with glibc (where `mallopt` has these parameters)."""
    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def keep_freed_memory() -> bool:
    """Keep freed host memory in the process (see the module docstring); True when it is in effect.

    False (nothing changed) when turned off by `$JAXPOSE_KEEP_HOST_MEMORY`, off Linux/glibc, or
    when JAX's default backend is not the CPU; BackendError when JAX cannot start a backend.
    """
    global _applied
    if _applied:
        return True
    if disabled_by_environment() or not supported():
        return False
    from jaxpose.jax_backend import default_backend

    if default_backend() != "cpu":
        return False
    libc = ctypes.CDLL(None)
    if not (libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)):
        return False
    _applied = True
    return True
