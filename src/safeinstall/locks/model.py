"""What a lock holds: the lock this tool writes (:class:`Lock`, its packages, artifacts and the
files it left out) and a lock as read in any of the five formats (:class:`ReadLock`, its
:class:`LockedRelease` entries and the :class:`UncheckedEntry` ones whose files cannot be dated).

A leaf module: plain values and name helpers, no parsing and no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Literal

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from safeinstall.backfill import Proof

LockFormat = Literal["requirements", "pylock", "pipfile", "poetry", "uv"]
LOCK_FORMATS: tuple[LockFormat, ...] = ("requirements", "pylock", "pipfile", "poetry", "uv")

# -- the lock, as written -------------------------------------------------------------------------


@dataclass(frozen=True)
class LeftOut:
    """A file of a locked release that the lock does not record, and why."""

    name: str
    version: str
    filename: str
    sha256: str | None
    kind: Literal["late", "not-selected", "yanked"]
    reason: str
    upload_time: datetime | None = None
    lateness: timedelta | None = None


@dataclass(frozen=True)
class LockedArtifact:
    filename: str
    url: str
    index: str
    sha256: str
    size: int | None
    upload_time: datetime | None
    lateness: timedelta | None
    is_wheel: bool
    selected_by: tuple[str, ...]  # target labels
    allowed_late: str | None = None  # the exception that admitted a late file
    proof: Proof | None = None  # the content proof that admitted a late file (late-verified)


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    artifacts: tuple[LockedArtifact, ...]
    required_by: tuple[str, ...]
    release_start: datetime | None
    #: PEP 508 environment marker: the entry applies to some of the lock's targets only
    marker: str | None = None


@dataclass(frozen=True)
class Lock:
    packages: tuple[LockedPackage, ...]
    left_out: tuple[LeftOut, ...]
    targets: tuple[str, ...]
    generated_at: datetime
    late_after: timedelta
    notes: tuple[str, ...] = ()
    #: the checked files the builds of its sdists use (build dependencies), kept apart: they
    #: are written to a build-constraints file, never installed
    build_packages: tuple[LockedPackage, ...] = ()


# -- a lock, as read -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockedFile:
    sha256: str
    filename: str | None = None
    url: str | None = None
    upload_time: datetime | None = None


@dataclass(frozen=True)
class LockedRelease:
    name: NormalizedName
    version: str
    files: tuple[LockedFile, ...]
    index: str | None = None
    line: int | None = None  # where the entry starts in the lock file (1-based), if known
    marker: str | None = None  # the entry's environment marker, if any

    @property
    def hashes(self) -> frozenset[str]:
        return frozenset(f.sha256 for f in self.files)


UncheckedKind = Literal["no-hashes", "not-pinned", "no-sha256", "no-files", "direct-url", "vcs",
                        "path", "editable", "archive", "invalid-version"]


@dataclass(frozen=True)
class UncheckedEntry:
    """An entry of a lock whose files cannot be dated: what it is and why not."""

    name: NormalizedName | None
    version: str | None
    kind: UncheckedKind
    reason: str  # a sentence naming the entry
    line: int | None = None
    text: str = ""  # the entry as written (requirements) or its kind and location
    #: a local archive of a pylock.toml: its path (relative to the lock) and locked hashes
    archive: str | None = None
    archive_hashes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReadLock:
    path: str
    format: LockFormat
    releases: tuple[LockedRelease, ...]
    indexes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    unchecked: tuple[UncheckedEntry, ...] = ()

    def by_release(self) -> dict[tuple[NormalizedName, str], LockedRelease]:
        """The releases by canonical name and canonical version (``1.0`` and ``1.0.0`` are
        the same release)."""
        out: dict[tuple[NormalizedName, str], LockedRelease] = {}
        for r in self.releases:
            key = (r.name, release_key_version(r.version))
            prev = out.get(key)
            if prev is None:
                out[key] = r
            else:  # the same release twice (e.g. Pipfile.lock default and develop)
                files = {f.sha256: f for f in (*prev.files, *r.files)}
                out[key] = LockedRelease(r.name, r.version, tuple(files.values()),
                                         prev.index or r.index, prev.line,
                                         prev.marker if prev.marker == r.marker else None)
        return out

    def line_of(self, sha256: str) -> int | None:
        for r in self.releases:
            if sha256 in r.hashes:
                return r.line
        return None


def release_key_version(v: str) -> str:
    """The version as a key: PEP 440 canonical, trailing zeros stripped (``1.0.0`` -> ``1``)."""
    from packaging.utils import canonicalize_version

    try:
        return canonicalize_version(Version(v))
    except InvalidVersion:
        return v.strip().lower()


def detect_format(path: str) -> LockFormat:
    name = PurePath(path).name
    if is_pylock_name(name):
        return "pylock"
    if name == "Pipfile.lock":
        return "pipfile"
    if name == "poetry.lock":
        return "poetry"
    if name == "uv.lock":
        return "uv"
    return "requirements"


def is_pylock_name(name: str) -> bool:
    """``pylock.toml`` or ``pylock.NAME.toml`` (PEP 751), as pip recognises them."""
    from packaging.pylock import is_valid_pylock_path

    return is_valid_pylock_path(Path(PurePath(name).name))


def split_extras(location: str) -> tuple[str, frozenset[str]]:
    """``pylock.toml[a,b]`` -> (``pylock.toml``, {a, b}), as pip's ``strip_extras``."""
    m = re.match(r"^(.+?)\[([^\]]+)\]$", location.strip())
    if not m:
        return location, frozenset()
    return m.group(1), frozenset(canonicalize_name(e.strip()) for e in m.group(2).split(","))
