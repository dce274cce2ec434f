"""Release snapshots: the files of each release as this store first saw them.

One code path for trust on first use (:mod:`safeinstall.trust`, every checked run) and for
``safe-install-tool watch`` (:mod:`safeinstall.watcher`). A snapshot is kept per **canonical
index URL** (:func:`safeinstall.urls.canonical_index_url`), project (canonical name) and version
(canonical), in the state store (:mod:`safeinstall.store`, tables ``release_snapshots`` and
``release_files``, migration 3). Each file row holds the filename, sha256 (``''`` when the
index gives none), size, upload time, yanked status, when the store first and last saw it, and
``baseline``: whether it was in the release when the store first saw the release.

Every run that lists a release *observes* it (:func:`observe`): a release seen for the first
time is recorded whole, as its baseline; a file that was not in the snapshot is added with
``baseline = 0`` and stays marked so (a later run must not take it for part of the release as
first seen just because an earlier run recorded it). Because of that, recording is safe in any
run (dry runs, refused runs): what it adds is never trusted more for having been recorded.

:func:`compare` says what changed since the first sighting: files added later, and known file
names whose sha256 changed (an index serving another file under a name it already served).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version

from safeinstall.store import (
    StoreLocation,
    StoreRowError,
    Transaction,
    format_time,
    text_of,
    time_of,
)
from safeinstall.urls import canonical_index_url

#: The critical section of every transaction that writes snapshots (PostgreSQL advisory lock;
#: SQLite transactions hold the database's write lock anyway).
LOCK = "safe-install:snapshots"
SNAPSHOTS = "release_snapshots"
FILES = "release_files"

Key = tuple[str, str, str]  # (canonical index URL, canonical project, canonical version)


def norm_version(version: str) -> str:
    """PEP 440's canonical form (``1.0.0`` and ``1.0`` are one version: ``1``)."""
    try:
        return canonicalize_version(Version(version), strip_trailing_zero=True)
    except InvalidVersion:
        return version.strip()


def snapshot_key(index_url: str, project: str, version: str) -> Key:
    """The key of a release's snapshot: one spelling of the index, project and version."""
    return (canonical_index_url(index_url), str(canonicalize_name(project)),
            norm_version(version))


@dataclass(frozen=True)
class SeenFile:
    """One file of a release as a run saw it on the index."""

    filename: str
    sha256: str  # '' when the index gives none
    size: int | None = None
    upload_time: datetime | None = None
    yanked: str | None = None  # None: not yanked; text (maybe empty): the yank reason


@dataclass(frozen=True)
class SnapshotFile:
    filename: str
    sha256: str
    size: int | None
    upload_time: datetime | None
    yanked: str | None
    first_seen: datetime
    last_seen: datetime
    baseline: bool  # in the release when the store first saw it


@dataclass(frozen=True)
class Snapshot:
    index_url: str
    project: str
    version: str
    first_seen: datetime
    last_seen: datetime
    complete: bool  # False: made from one trust record by migration 3 (not every file known)
    files: tuple[SnapshotFile, ...]

    @property
    def key(self) -> Key:
        return (self.index_url, self.project, self.version)

    def named(self, filename: str) -> list[SnapshotFile]:
        """Rows of this file name, earliest first."""
        return list(self._by_name.get(filename, ()))

    @functools.cached_property
    def _by_name(self) -> dict[str, list[SnapshotFile]]:
        """File name -> its rows, earliest first (a release is compared file by file)."""
        out: dict[str, list[SnapshotFile]] = {}
        for f in self.files:
            out.setdefault(f.filename, []).append(f)
        for rows in out.values():
            rows.sort(key=lambda f: f.first_seen)
        return out

    def match(self, f: SeenFile) -> SnapshotFile | None:
        """The row of ``f``: same name and sha256 (a missing sha256 matches the name)."""
        for row in self.named(f.filename):
            if row.sha256 == f.sha256 or not row.sha256 or not f.sha256:
                return row
        return None


@dataclass(frozen=True)
class Replaced:
    filename: str
    old_sha256: str
    new_sha256: str
    old_first_seen: datetime


@dataclass(frozen=True)
class Change:
    """What a run saw that differs from the release as first seen."""

    added: tuple[SnapshotFile | SeenFile, ...]  # listed now, not in the first sighting
    replaced: tuple[Replaced, ...]  # a known file name with another sha256

    def __bool__(self) -> bool:
        return bool(self.added or self.replaced)


@dataclass(frozen=True)
class Observation:
    before: Snapshot | None  # None: the release is seen for the first time
    after: Snapshot | None  # None: not read back (``observe(..., reread=False)``)
    inserted: frozenset[tuple[str, str]]  # (filename, sha256) rows added by this run

    def change(self, seen: Sequence[SeenFile]) -> Change:
        return compare(self.before, seen)


def compare(before: Snapshot | None, seen: Sequence[SeenFile]) -> Change:
    """Files of ``seen`` that were not in the release when ``before`` first saw it, and known
    file names whose sha256 changed. A first sighting changes nothing."""
    if before is None:
        return Change((), ())
    added: list[SnapshotFile | SeenFile] = []
    replaced: list[Replaced] = []
    for f in seen:
        rows = before.named(f.filename)
        first = rows[0] if rows else None
        if first is not None and first.sha256 and f.sha256 and first.sha256 != f.sha256:
            replaced.append(Replaced(f.filename, first.sha256, f.sha256, first.first_seen))
            continue
        row = before.match(f)
        if row is None:
            if before.complete:
                added.append(f)
        elif not row.baseline:
            added.append(row)
    return Change(tuple(added), tuple(replaced))


# -- reading ---------------------------------------------------------------------------------------


def _int(value: Any, location: StoreLocation, table: str, *, optional: bool = False
         ) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoreRowError(
            f"the state store {location.display} has a row in {table} with a value of "
            f"unexpected type {type(value).__name__} ({str(value)[:40]!r}) where a number "
            "belongs",
            hint="the store was changed by something other than safe-install; forget the "
            "release (safe-install-tool trust forget NAME==VERSION), or use another store")
    return value


def _text(value: Any, location: StoreLocation, table: str) -> str:
    text = text_of(value, location=location, table=table)
    assert text is not None
    return text


def _time(value: Any, location: StoreLocation, table: str) -> datetime:
    moment = time_of(value, location=location, table=table)
    if moment is None:
        raise StoreRowError(f"the state store {location.display} has a row in {table} "
                            "without a time where one is required",
                            hint="the store was changed by something other than safe-install; "
                            "use another store, or forget the release")
    return moment


_SNAP_COLUMNS = "index_url, project, version, first_seen, last_seen, complete"
_FILE_COLUMNS = ("index_url, project, version, filename, sha256, size, upload_time, yanked, "
                 "first_seen, last_seen, baseline")


def _file(row: tuple[Any, ...], loc: StoreLocation) -> SnapshotFile:
    return SnapshotFile(
        _text(row[3], loc, FILES), _text(row[4], loc, FILES), _int(row[5], loc, FILES,
                                                                   optional=True),
        time_of(row[6], location=loc, table=FILES),
        text_of(row[7], location=loc, table=FILES, optional=True),
        _time(row[8], loc, FILES), _time(row[9], loc, FILES), bool(_int(row[10], loc, FILES)))


def _snapshots(snap_rows: Iterable[tuple[Any, ...]], file_rows: Iterable[tuple[Any, ...]],
               loc: StoreLocation) -> list[Snapshot]:
    files: dict[Key, list[SnapshotFile]] = {}
    for row in file_rows:
        key = (_text(row[0], loc, FILES), _text(row[1], loc, FILES), _text(row[2], loc, FILES))
        files.setdefault(key, []).append(_file(row, loc))
    out = []
    for row in snap_rows:
        key = (_text(row[0], loc, SNAPSHOTS), _text(row[1], loc, SNAPSHOTS),
               _text(row[2], loc, SNAPSHOTS))
        out.append(Snapshot(*key, _time(row[3], loc, SNAPSHOTS), _time(row[4], loc, SNAPSHOTS),
                            bool(_int(row[5], loc, SNAPSHOTS)),
                            tuple(sorted(files.get(key, ()),
                                         key=lambda f: (f.first_seen, f.filename)))))
    return out


def read(tx: Transaction, key: Key, loc: StoreLocation) -> Snapshot | None:
    snap = tx.query(f"SELECT {_SNAP_COLUMNS} FROM {SNAPSHOTS} WHERE index_url = ? AND "
                    "project = ? AND version = ?", key)
    if not snap:
        return None
    rows = tx.query(f"SELECT {_FILE_COLUMNS} FROM {FILES} WHERE index_url = ? AND project = ? "
                    "AND version = ?", key)
    return _snapshots(snap, rows, loc)[0]


def _where(project: str | None, version: str | None, index_url: str | None
           ) -> tuple[str, list[str]]:
    where: list[str] = []
    params: list[str] = []
    for column, value in (("project", str(canonicalize_name(project)) if project else None),
                          ("version", norm_version(version) if version else None),
                          ("index_url", canonical_index_url(index_url) if index_url else None)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def list_snapshots(tx: Transaction, loc: StoreLocation, *, project: str | None = None,
                   version: str | None = None, index_url: str | None = None) -> list[Snapshot]:
    where, params = _where(project, version, index_url)
    snaps = tx.query(f"SELECT {_SNAP_COLUMNS} FROM {SNAPSHOTS}{where} "
                     "ORDER BY project, version, index_url", params)
    rows = tx.query(f"SELECT {_FILE_COLUMNS} FROM {FILES}{where}", params)
    return _snapshots(snaps, rows, loc)


def forget(tx: Transaction, *, project: str | None = None, version: str | None = None,
           index_url: str | None = None) -> int:
    """Delete snapshots (and their files); returns how many releases were forgotten."""
    where, params = _where(project, version, index_url)
    count = tx.execute(f"DELETE FROM {SNAPSHOTS}{where}", params)
    tx.execute(f"DELETE FROM {FILES}{where}", params)
    return max(count, 0)


# -- writing ---------------------------------------------------------------------------------------


def observe(tx: Transaction, key: Key, seen: Sequence[SeenFile], now: datetime,
            loc: StoreLocation, *, reread: bool = True) -> Observation:
    """Record what a run saw of one release (call inside a transaction with :data:`LOCK`).

    A first sighting records every file as the baseline; later, files not in the snapshot
    are added as not-baseline, known files get ``last_seen`` and their yanked status updated.
    A snapshot made from one trust record (migration 3) is completed: files it did not know
    are taken as baseline, since whether they were there first cannot be told.
    ``reread=False``: the release as it is now is not read back (``after`` is None; only
    what it was before is wanted, issue 21: one query less per release of a large lock).
    """
    when = format_time(now)
    before = read(tx, key, loc)
    if before is None:
        tx.execute(f"INSERT INTO {SNAPSHOTS} ({_SNAP_COLUMNS}) VALUES (?, ?, ?, ?, ?, 1) "
                   "ON CONFLICT DO NOTHING", (*key, when, when))
    else:
        tx.execute(f"UPDATE {SNAPSHOTS} SET last_seen = ?, complete = 1 WHERE index_url = ? "
                   "AND project = ? AND version = ?", (when, *key))
    baseline = before is None or not before.complete
    inserted: set[tuple[str, str]] = set()
    still: list[tuple[str, str]] = []  # known rows seen again
    for f in seen:
        row = before.match(f) if before is not None else None
        if row is not None and (row.sha256 == f.sha256 or not f.sha256):
            still.append((row.filename, row.sha256))
            if row.yanked != f.yanked:
                tx.execute(f"UPDATE {FILES} SET yanked = ? WHERE index_url = ? AND "
                           "project = ? AND version = ? AND filename = ? AND sha256 = ?",
                           (f.yanked, *key, row.filename, row.sha256))
            continue
        if row is not None and not row.sha256:  # the index now gives the sha256 it lacked
            tx.execute(f"UPDATE {FILES} SET sha256 = ?, last_seen = ?, yanked = ? WHERE "
                       "index_url = ? AND project = ? AND version = ? AND filename = ? AND "
                       "sha256 = ''", (f.sha256, when, f.yanked, *key, row.filename))
            continue
        if (f.filename, f.sha256) in inserted:
            continue  # listed twice on the page
        tx.execute(
            f"INSERT INTO {FILES} ({_FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (*key, f.filename, f.sha256, f.size,
             format_time(f.upload_time) if f.upload_time else None, f.yanked, when, when,
             int(baseline)))
        inserted.add((f.filename, f.sha256))
    if still:  # one statement for the whole release (a shared PostgreSQL store is remote)
        tx.execute(f"UPDATE {FILES} SET last_seen = ? WHERE index_url = ? AND project = ? AND "
                   "version = ? AND last_seen < ? AND filename IN ("
                   + ", ".join("?" for _ in still) + ")",
                   (when, *key, when, *dict.fromkeys(name for name, _ in still)))
    after = read(tx, key, loc) if reread else None
    assert after is not None or not reread
    return Observation(before, after, frozenset(inserted))


__all__ = ["Change", "FILES", "Key", "LOCK", "Observation", "Replaced", "SNAPSHOTS", "SeenFile",
           "Snapshot", "SnapshotFile", "compare", "forget", "list_snapshots", "norm_version",
           "observe", "read", "snapshot_key"]
