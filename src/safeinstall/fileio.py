"""Files written whole or not at all: reports, locks and timelines.

:func:`write_atomically` writes to a temporary file in the same directory and renames it over
the destination, so an interrupted run (Ctrl-C, a full disk, a killed CI job) never leaves a
truncated report or lock behind: readers see the old file or the new one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def _mode_for(path: Path) -> int:
    """The mode the file would get from ``open(path, "w")``: the existing file's, else 0o666
    less the umask (``mkstemp`` makes 0o600 files)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` through a temporary file and a
    rename; the directory is created if needed. A symlink at ``path`` is replaced, not
    followed. A destination that exists and is not a regular file (``/dev/null``, a FIFO,
    ``/dev/stdout``, a socket) is written in place: renaming over it would replace a device
    node with a file (as root, ``--report /dev/null`` deleted the null device)."""
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        special = False  # absent (or a dangling symlink): a new file
    if special:
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


__all__ = ["write_atomically"]
