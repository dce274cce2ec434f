"""Reading a lock in any of the five formats: :func:`read_lock` picks the format's reader
(:data:`READERS`, one module per format) and turns what is malformed into a ``RequirementError``
naming the file and the entry."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from safeinstall.errors import RequirementError
from safeinstall.locks import pipfile, poetry, pylock, requirements, uv
from safeinstall.locks._parse import _Malformed
from safeinstall.locks.model import LockFormat, ReadLock, detect_format


class LockReader(Protocol):
    """Reads one lock format: ``text`` is the content of the lock at ``path`` (which names it
    in messages); ``environ`` is the environment for ``${VAR}`` in requirements files. A
    reader raises :class:`~safeinstall.locks._parse._Malformed` (or a ``RequirementError``)
    for a lock that is not what its format says."""

    def __call__(self, path: str, text: str, environ: Mapping[str, str], /) -> ReadLock: ...


#: The reader of each lock format.
READERS: Mapping[LockFormat, LockReader] = {
    "requirements": requirements.read,
    "pylock": pylock.read,
    "pipfile": pipfile.read,
    "poetry": poetry.read,
    "uv": uv.read,
}


def read_lock(path: str, *, text: str | None = None, fmt: LockFormat | None = None,
              environ: Mapping[str, str] | None = None, label: str | None = None) -> ReadLock:
    """Read a lock file; ``label`` names it in errors instead of ``path`` (e.g. ``FILE@REV``
    when ``text`` is an older version from git)."""
    try:
        return _read_lock(path, text=text, fmt=fmt, environ=environ)
    except RequirementError as exc:
        if label is None or label == path:
            raise
        raise RequirementError(exc.message.replace(path, label), hint=exc.hint) from None


def _read_lock(path: str, *, text: str | None = None, fmt: LockFormat | None = None,
               environ: Mapping[str, str] | None = None) -> ReadLock:
    """Read a lock file (``text`` instead of the file's content when given, e.g. from git).

    A lock that is not what its format says (a table where an array belongs, a hash that is
    not a string, nesting too deep to read...) is a :class:`RequirementError` naming the file
    and the entry; entries that are well-formed but cannot be dated (no sha256, no files, VCS,
    paths, pins without hashes) are listed in :attr:`ReadLock.unchecked`."""
    fmt = fmt or detect_format(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RequirementError(f"cannot read lock file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise RequirementError(f"lock file {path} is not UTF-8 text") from None
    hint = "the lock is malformed: regenerate it with the tool that wrote it, and review " \
        "how it came to be like this"
    try:
        return READERS[fmt](path, text, environ or {})
    except _Malformed as exc:
        raise RequirementError(f"lock file {path} ({fmt}) is malformed: {exc}",
                               hint=hint) from None
    except RecursionError:
        raise RequirementError(f"lock file {path} ({fmt}) is nested too deeply to be read",
                               hint=hint) from None
