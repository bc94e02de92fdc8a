"""Where jaxpose keeps files it generates (fetched and converted weights)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "JAXPOSE_CACHE"


def cache_dir() -> Path:
    """The user cache directory: `$JAXPOSE_CACHE`, else `$XDG_CACHE_HOME/jaxpose`, else `~/.cache/jaxpose`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "jaxpose"
