"""Schema migrations of the state store (:mod:`safeinstall.store`), oldest first.

Rules, because stores outlive releases of safe-install and are shared by several machines:

* never edit or reorder a migration that has been released: append a new one with the next
  version number (the store records every applied version in ``safe_install_migrations``);
* write portable SQL (SQLite >= 3.24 and PostgreSQL >= 12): ``TEXT``, ``INTEGER``, ``BIGINT``,
  ``PRIMARY KEY``, ``CREATE INDEX``; when a dialect needs different text, give the statements
  per dialect with ``sqlite=`` / ``postgresql=``;
* times are stored as fixed-width UTC text (:func:`safeinstall.store.format_time`), so they
  compare correctly as strings in both databases;
* name tables after their feature (``watch_*`` for ``safe-install-tool watch``, ``trust_*`` for
  trust-on-first-use records, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Dialect = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class Migration:
    """One schema step: statements run in a single transaction, then the version is recorded."""

    version: int
    name: str
    statements: tuple[str, ...] = ()
    sqlite: tuple[str, ...] | None = None  # replaces ``statements`` on SQLite
    postgresql: tuple[str, ...] | None = None  # replaces ``statements`` on PostgreSQL

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
    ),
)
