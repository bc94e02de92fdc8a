"""JAX's persistent compilation cache, kept in the jaxpose cache folder.

    from jaxpose import compile_cache
    compile_cache.enable()          # before the first jit call; the CLI and the estimator do this

XLA compiles the pipeline once per net input size (2-4 s each for the default model on a CPU).
With the cache on, each compiled program is also written to
`<jaxpose cache>/jax_compilation_cache/` (`jaxpose.paths.cache_dir()`: `$JAXPOSE_CACHE`, else
`$XDG_CACHE_HOME/jaxpose`, else `~/.cache/jaxpose`), so a later process over images of the same
sizes loads it instead of compiling again.

JAX only stores programs whose compilation took at least `jax_persistent_cache_min_compile_time_secs`
(default 1 s) and whose entry is at least `jax_persistent_cache_min_entry_size_bytes`; `enable`
sets both thresholds to "everything" (0 s, no size limit), so the small post-processing programs
are cached too and a second run compiles nothing.

Off: `JAXPOSE_COMPILE_CACHE=0` (also false/no/off) makes `enable` do nothing; the command's
`--no_compile_cache` flag does not call it. A cache folder already chosen through JAX itself
(`JAX_COMPILATION_CACHE_DIR` or `jax.config`) is kept when `enable` is given no path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jaxpose.paths import cache_dir

ENV = "JAXPOSE_COMPILE_CACHE"
FOLDER = "jax_compilation_cache"
_OFF = {"0", "false", "no", "off"}


def default_path() -> Path:
    """`<jaxpose cache>/jax_compilation_cache`."""
    return cache_dir() / FOLDER


def disabled_by_environment() -> bool:
    """True when `$JAXPOSE_COMPILE_CACHE` is 0 / false / no / off."""
    return os.environ.get(ENV, "").strip().lower() in _OFF


def enable(path: str | os.PathLike | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache; returns its folder, or None when it stays off.

    path: the folder (created if needed); default: the folder JAX was already given, else
    `default_path()`. Call before the first compilation; calling again is harmless. Stays off
    (None) when `$JAXPOSE_COMPILE_CACHE=0`, or when the folder cannot be created (a one-line
    note on stderr; everything still works, only compiled again next time).
    """
    if disabled_by_environment():
        return None
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    configured = jax.config.jax_compilation_cache_dir
    folder = Path(path).expanduser() if path is not None else (
        Path(configured) if configured else default_path())
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"jaxpose: note: compilation cache off ({folder}: {error.strerror or error}).",
              file=sys.stderr)
        return None
    changed = (configured != str(folder)
               or jax.config.jax_persistent_cache_min_compile_time_secs != 0.0
               or not jax.config.jax_enable_compilation_cache)
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    if changed:
        compilation_cache.reset_cache()  # JAX decides once per process; make it look again
    return folder


def disable() -> None:
    """Turn JAX's persistent compilation cache off for this process."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_enable_compilation_cache", False)
    compilation_cache.reset_cache()
