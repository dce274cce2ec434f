"""Schema migrations of the state store (:mod:`safeinstall.store`), oldest first.

Rules, because stores outlive releases of safe-install and are shared by several machines:

* never edit or reorder a migration that has been released: append a new one with the next
  version number (the store records every applied version in ``safe_install_migrations``);
* write portable SQL (SQLite >= 3.24 and PostgreSQL >= 12): ``TEXT``, ``INTEGER``, ``BIGINT``,
  ``PRIMARY KEY``, ``CREATE INDEX``; when a dialect needs different text, give the statements
  per dialect with ``sqlite=`` / ``postgresql=``;
* times are stored as fixed-width UTC text (:func:`safeinstall.store.format_time`), so they
  compare correctly as strings in both databases;
* name tables after their feature (``watch_*`` for ``safe-install-tool watch``, ``release_*``
  for the release snapshots shared by trust on first use and ``watch``, ...);
* a step that SQL cannot express (e.g. canonicalising index URLs) is a ``python`` function run
  in the same transaction, after the statements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgresql"]


class Transaction(Protocol):
    """What a migration's ``python`` step is given: the open transaction of the migration
    (:class:`safeinstall.store.Transaction` is one). Declared here, so that this module
    imports nothing of the store that imports it."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class Migration:
    """One schema step: statements run in a single transaction, then the version is recorded."""

    version: int
    name: str
    statements: tuple[str, ...] = ()
    sqlite: tuple[str, ...] | None = None  # replaces ``statements`` on SQLite
    postgresql: tuple[str, ...] | None = None  # replaces ``statements`` on PostgreSQL
    python: Callable[[Transaction], None] | None = None  # runs after the statements

    def for_dialect(self, dialect: Dialect) -> tuple[str, ...]:
        specific = self.sqlite if dialect == "sqlite" else self.postgresql
        return self.statements if specific is None else specific


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "watch: watched releases and the files seen in them",
        (
            # One row per (watch set, index, release) that `watch` has recorded.
            """CREATE TABLE watch_releases (
                watch_set TEXT NOT NULL,
                index_url TEXT NOT NULL,
                project TEXT NOT NULL,
                version TEXT NOT NULL,
                first_seen TEXT NOT NULL,
                last_checked TEXT NOT NULL,
                PRIMARY KEY (watch_set, index_url, project, version)
            )""",
            # Every file seen in a watched release. sha256 is '' when the index gives none.
            # baseline = 1: recorded with its release's first record (history, not news).
            # alerted_at: when a finding about the file was delivered; claimed_at: a run is
            # delivering it now (a lease, so concurrent runs report each new file once).
            """CREATE TABLE watch_files (
                watch_set TEXT NOT NULL,
                index_url TEXT NOT NULL,
                project TEXT NOT NULL,
                version TEXT NOT NULL,
                filename TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                size BIGINT,
                upload_time TEXT,
                first_seen TEXT NOT NULL,
                baseline INTEGER NOT NULL,
                alerted_at TEXT,
                claimed_at TEXT,
                PRIMARY KEY (watch_set, index_url, project, version, filename, sha256)
            )""",
            "CREATE INDEX watch_files_first_seen ON watch_files (watch_set, first_seen)",
        ),
    ),
    Migration(
        2,
        "trust: the file installed per (index, release, target), trusted on first use",
        (
            # One row per release and target: the artifact safe-install installed first (or
            # the one a later run accepted under the policy; the one it replaced is kept).
            """CREATE TABLE trust_selections (
                index_url TEXT NOT NULL,
                project TEXT NOT NULL,
                version TEXT NOT NULL,
                target TEXT NOT NULL,
                filename TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                replaced_filename TEXT,
                replaced_sha256 TEXT,
                PRIMARY KEY (index_url, project, version, target)
            )""",
            "CREATE INDEX trust_selections_project ON trust_selections (project, version)",
        ),
    ),    Migration(
        3,
        "snapshots: release snapshots shared by trust on first use and watch, keyed by the "
        "canonical index URL; trust_selections and watch_files are folded into them",
        (
            # One row per (canonical index URL, project, release) that any run has seen.
            # complete = 0: made from a trust-on-first-use record of one file (migration 3);
            # the next run that sees the release completes it.
            """CREATE TABLE release_snapshots (
                index_url TEXT NOT NULL,
                project TEXT NOT NULL,
                version TEXT NOT NULL,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                complete INTEGER NOT NULL,
                PRIMARY KEY (index_url, project, version)
            )""",
            # Every file seen in a release. sha256 is '' when the index gives none. baseline =
            # 1: in the release when it was first seen; 0: added later (reported by installs
            # as release-changed, and by watch as news). yanked: NULL when not yanked.
            """CREATE TABLE release_files (
                index_url TEXT NOT NULL,
                project TEXT NOT NULL,
                version TEXT NOT NULL,
                filename TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                size BIGINT,
                upload_time TEXT,
                yanked TEXT,
                first_seen TEXT NOT NULL,
                last_seen TEXT NOT NULL,
                baseline INTEGER NOT NULL,
                PRIMARY KEY (index_url, project, version, filename, sha256)
            )""",
            "CREATE INDEX release_files_first_seen ON release_files (first_seen)",
            # Per watch set, the delivery of each file that is news to it (see watcher.py).
            """CREATE TABLE watch_news (
                watch_set TEXT NOT NULL,
                index_url TEXT NOT NULL,
                project TEXT NOT NULL,
                version TEXT NOT NULL,
                filename TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                alerted_at TEXT,
                claimed_at TEXT,
                PRIMARY KEY (watch_set, index_url, project, version, filename, sha256)
            )""",
        ),
        python=lambda tx: _fold_into_snapshots(tx),
    ),
)


def _fold_into_snapshots(tx: Transaction) -> None:
    """Migration 3: watch_files and trust_selections become release snapshots under canonical
    index URLs (spellings of one index are merged); watch_releases is re-keyed the same way."""
    from packaging.utils import canonicalize_name, canonicalize_version
    from packaging.version import InvalidVersion, Version

    from safeinstall.urls import canonical_index_url

    def version_of(text: Any) -> str:
        try:
            return canonicalize_version(Version(str(text)), strip_trailing_zero=True)
        except InvalidVersion:
            return str(text).strip()

    def key(index_url: Any, project: Any, version: Any) -> tuple[str, str, str]:
        return (canonical_index_url(str(index_url)), str(canonicalize_name(str(project))),
                version_of(version))

    # watch sets: one row per canonical key (earliest first_seen, latest last_checked)
    sets: dict[tuple[str, str, str, str], list[str]] = {}
    for ws, index, project, version, first, last in tx.query(
            "SELECT watch_set, index_url, project, version, first_seen, last_checked "
            "FROM watch_releases"):
        k = (str(ws), *key(index, project, version))
        prev = sets.get(k)
        sets[k] = [str(first), str(last)] if prev is None else \
            [min(prev[0], str(first)), max(prev[1], str(last))]
    snapshots: dict[tuple[str, str, str], list[Any]] = {}  # first, last, complete
    for (_ws, *rk), (first, last) in sets.items():
        k3 = (rk[0], rk[1], rk[2])
        prev = snapshots.get(k3)
        snapshots[k3] = [first, last, 1] if prev is None else \
            [min(prev[0], first), max(prev[1], last), 1]
    # files: (key, filename, sha256) -> [size, upload_time, first_seen, last_seen]
    files: dict[tuple[str, str, str, str, str], list[Any]] = {}
    news: dict[tuple[str, str, str, str, str, str], str | None] = {}
    for (ws, index, project, version, filename, sha, size, upload, first, baseline,
         alerted) in tx.query(
            "SELECT watch_set, index_url, project, version, filename, sha256, size, "
            "upload_time, first_seen, baseline, alerted_at FROM watch_files"):
        k3 = key(index, project, version)
        fk = (*k3, str(filename), str(sha or ""))
        prev = files.get(fk)
        if prev is None:
            files[fk] = [size, upload, str(first), str(first)]
        else:
            prev[2] = min(prev[2], str(first))
            prev[3] = max(prev[3], str(first))
        if k3 not in snapshots:
            snapshots[k3] = [str(first), str(first), 1]
        if not int(baseline):
            nk = (str(ws), *fk)
            news[nk] = news.get(nk) or (str(alerted) if alerted else None)
    for (index, project, version, _target, filename, sha, first, last, old_name,
         old_sha) in tx.query(
            "SELECT index_url, project, version, target, filename, sha256, first_seen, "
            "last_seen, replaced_filename, replaced_sha256 FROM trust_selections"):
        k3 = key(index, project, version)
        if k3 not in snapshots:
            snapshots[k3] = [str(first), str(last), 0]
        else:
            snap = snapshots[k3]
            snap[0], snap[1] = min(snap[0], str(first)), max(snap[1], str(last))
        for name, digest in ((filename, sha), (old_name, old_sha)):
            if name:
                fk = (*k3, str(name), str(digest or ""))
                prev = files.get(fk)
                if prev is None:
                    files[fk] = [None, None, str(first), str(last)]
                else:
                    prev[2], prev[3] = min(prev[2], str(first)), max(prev[3], str(last))
    tx.execute("DELETE FROM watch_releases")
    tx.executemany("INSERT INTO watch_releases (watch_set, index_url, project, version, "
                   "first_seen, last_checked) VALUES (?, ?, ?, ?, ?, ?)",
                   [(*k, first, last) for k, (first, last) in sets.items()])
    tx.executemany("INSERT INTO release_snapshots (index_url, project, version, first_seen, "
                   "last_seen, complete) VALUES (?, ?, ?, ?, ?, ?)",
                   [(*k, *v) for k, v in snapshots.items()])
    # a file is part of the release as first seen when the store saw it then
    tx.executemany(
        "INSERT INTO release_files (index_url, project, version, filename, sha256, size, "
        "upload_time, yanked, first_seen, last_seen, baseline) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
        [(*fk, size, upload, first, last, int(first <= snapshots[(fk[0], fk[1], fk[2])][0]))
         for fk, (size, upload, first, last) in files.items()])
    tx.executemany("INSERT INTO watch_news (watch_set, index_url, project, version, filename, "
                   "sha256, alerted_at, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                   [(*nk, alerted) for nk, alerted in news.items()])
    tx.execute("DROP TABLE watch_files")
    tx.execute("DROP TABLE trust_selections")
