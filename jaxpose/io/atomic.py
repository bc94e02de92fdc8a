"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A crash or Ctrl-C mid-write leaves either the old file or none, never a partial one.

Permissions are those of an ordinary new file: 0o666 minus the process umask (0644 under the
usual umask 022), or, when the target exists already, the target's current mode. (`mkstemp`
alone would leave every file 0600, readable by its owner only.)
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

_UMASK_LOCK = threading.Lock()
_MAKE_FOLDER_TRIES = 5


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        status = Path("/proc/self/status").read_text()
        match = re.search(r"^Umask:\s*([0-7]+)", status, re.MULTILINE)
        if match:
            return int(match.group(1), 8)
    except OSError:
        pass
    with _UMASK_LOCK:  # elsewhere the only way to read it is to set it and set it back
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def new_file_mode(path: str | os.PathLike | None = None) -> int:
    """Mode for (re)writing `path`: its current mode if it exists, else 0o666 & ~umask."""
    if path is not None:
        try:
            return os.stat(path).st_mode & 0o7777
        except OSError:
            pass
    return 0o666 & ~current_umask()


def temp_file_in(folder: str | os.PathLike, prefix: str, suffix: str = "") -> tuple[int, str]:
    """`tempfile.mkstemp` in `folder`, creating the folder (and its parents) first.

    Another process may remove the folder while it is still empty (a jaxpose run that probed it
    removes the folders it made for its probe; the batch job runs chunks of one input side by
    side): the folder is then made again, up to a few times, instead of failing. A path that
    stays a file still fails (FileExistsError). Returns mkstemp's (fd, path).
    """
    folder = Path(folder)
    tries_left = _MAKE_FOLDER_TRIES
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=True)  # EEXIST if it was removed mid-call
            return tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
        except (FileNotFoundError, FileExistsError):
            tries_left -= 1
            if not tries_left:
                raise


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically, with the permissions of a new file; returns `path`."""
    path = Path(path)
    mode = new_file_mode(path)
    fd, tmp = temp_file_in(path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        if hasattr(os, "fchmod"):  # POSIX; Windows has no modes to set
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns `path`."""
    return atomic_write_bytes(path, text.encode("utf-8"))
