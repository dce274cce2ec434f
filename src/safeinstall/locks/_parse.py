"""Parsing helpers shared by the lock readers: typed access to the values of a decoded lock
(:func:`_table`, :func:`_array`, :func:`_string`, :func:`_name`, :func:`_version`), sha256
digests, line numbers, and :class:`_Malformed`, which :func:`safeinstall.locks.reader.read_lock`
turns into a ``RequirementError`` naming the file and the entry."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from safeinstall.errors import RequirementError
from safeinstall.locks.model import LockedRelease, UncheckedEntry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PYPI_SIMPLE = "https://pypi.org/simple/"


_SHA256 = re.compile(r"[0-9a-f]{64}")


class _Malformed(Exception):
    """Raised inside a reader; :func:`read_lock` turns it into a RequirementError naming the
    file (the message names the entry)."""


def _bad(where: str, what: str) -> _Malformed:
    return _Malformed(f"{where}: {what}")


def _sha256_of(hashes: Iterable[Any], where: str = "") -> list[str]:
    """The sha256 digests among ``algo:hex`` strings (others, such as md5, are ignored); a
    value that is not a string, or a sha256 that is not 64 hex digits, is malformed."""
    out = []
    for h in hashes:
        if not isinstance(h, str):
            raise _bad(where, f"a hash must be a string like 'sha256:HEX', not "
                       f"{type(h).__name__}")
        algo, _, value = h.partition(":")
        if algo.strip().lower() == "sha256":
            digest = value.strip().lower()
            if not _SHA256.fullmatch(digest):
                raise _bad(where, f"{h[:80]!r} is not a sha256 digest (64 hex digits)")
            out.append(digest)
    return out


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str) and value:
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return None


def _line_finder(text: str) -> Any:
    lines = text.splitlines()

    def find(*needles: str, start: int = 0) -> int | None:
        for i in range(start, len(lines)):
            if all(n in lines[i] for n in needles):
                return i + 1
        return None

    return find


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(where, f"expected a table (object), found {type(value).__name__}")
    return value


def _array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(where, f"expected an array (list), found {type(value).__name__}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _bad(where, f"expected a string, found {type(value).__name__}")
    return value


def _name(value: Any, where: str) -> NormalizedName:
    text = _string(value, where)
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", text):
        raise _bad(where, f"{text[:80]!r} is not a valid project name")
    return canonicalize_name(text)


def _version(value: Any, where: str) -> str:
    text = _string(value, where) if not isinstance(value, (int, float)) or \
        isinstance(value, bool) else str(value)
    try:
        Version(text)
    except InvalidVersion:
        raise _bad(where, f"{text[:80]!r} is not a valid version") from None
    return text


def _text(value: Any) -> str:
    """An entry as text, to tell whether it changed between two versions of a lock."""
    return json.dumps(value, sort_keys=True, default=str)


def _load_toml(path: str, text: str) -> dict[str, Any]:
    """The TOML document of a lock (poetry.lock, uv.lock, pylock.toml)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RequirementError(f"lock file {path} is not valid TOML: {exc}") from None


def _add_release(release: LockedRelease, path: str, where: str,
                 releases: list[LockedRelease], indexes: list[str],
                 unchecked: list[UncheckedEntry]) -> None:
    """Record one locked release, or, when it lists no file with a sha256, an entry that
    cannot be checked (poetry and uv readers)."""
    if not release.files:
        unchecked.append(UncheckedEntry(release.name, release.version, "no-files",
                                        f"{path}: {where} lists no file with a sha256: "
                                        "nothing can be dated", release.line))
        return
    if release.index is not None and release.index not in indexes:
        indexes.append(release.index)
    releases.append(release)
