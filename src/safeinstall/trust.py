"""Trust on first use: remember which file was installed for each release and target.

For people without a lock. The first time safe-install installs a release for a target, it
records the artifact (filename and sha256) per ``(index, project, version, target)`` in the
state store (:mod:`safeinstall.store`, table ``trust_selections``). A later check that would
select a *different* file for the same release and target (because a file was added to the
release, or removed) gets a ``selection-changed`` finding naming both files, with the policy
of late files: refused by default, a warning with ``--on-late warn``, information when an
``--allow-late`` exception covers the release or the new file.

Only real installs write; dry runs read. A changed selection that the policy let through
replaces the record (the old file is kept as ``replaced_*``). Concurrent runs are safe: the
store serialises writers, and when two first uses race, the first record wins.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from safeinstall.policy import Finding, Policy, is_refused, severity_for

if TYPE_CHECKING:
    from safeinstall.checker import CheckResult
    from safeinstall.store import Store
    from safeinstall.target import TargetPython

TABLE = "trust_selections"
MIN_SCHEMA = 2  # store_migrations: the migration that creates the table


@dataclass(frozen=True)
class TrustRecord:
    index_url: str
    project: str
    version: str
    target: str
    filename: str
    sha256: str
    first_seen: datetime | None
    last_seen: datetime | None
    replaced_filename: str | None = None
    replaced_sha256: str | None = None


def target_key(target: TargetPython) -> str:
    """The target a record is for: its most specific tag (interpreter, ABI and platform)."""
    return str(target.tags[0]) if target.tags else target.describe()


_COLUMNS = ("index_url, project, version, target, filename, sha256, first_seen, last_seen, "
            "replaced_filename, replaced_sha256")


def _record(row: tuple[Any, ...]) -> TrustRecord:
    from safeinstall.store import parse_time

    return TrustRecord(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]),
                       str(row[5]), parse_time(row[6]), parse_time(row[7]),
                       row[8] if row[8] else None, row[9] if row[9] else None)


def _norm_version(version: str) -> str:
    try:
        return str(Version(version))
    except InvalidVersion:
        return version


class TrustStore:
    """Trust records on an open state store (``store`` None: nothing recorded yet)."""

    def __init__(self, store: Store | None, *, write: bool, display: str) -> None:
        self._store = store
        self.write = write
        self.display = display

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> TrustStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------------

    def lookup(self, index_url: str, project: str, version: str,
               target: str) -> TrustRecord | None:
        if self._store is None:
            return None
        with self._store.transaction() as tx:
            row = tx.query_one(
                f"SELECT {_COLUMNS} FROM {TABLE} WHERE index_url = ? AND project = ? AND "
                "version = ? AND target = ?",
                (index_url, canonicalize_name(project), _norm_version(version), target))
        return _record(row) if row else None

    def records(self, project: str | None = None,
                version: str | None = None) -> list[TrustRecord]:
        if self._store is None:
            return []
        sql = f"SELECT {_COLUMNS} FROM {TABLE}"
        params: list[str] = []
        if project is not None:
            sql += " WHERE project = ?"
            params.append(canonicalize_name(project))
            if version is not None:
                sql += " AND version = ?"
                params.append(_norm_version(version))
        sql += " ORDER BY project, version, target, index_url"
        with self._store.transaction() as tx:
            rows = tx.query(sql, params)
        return [_record(r) for r in rows]

    # -- writing ------------------------------------------------------------------------------

    def forget(self, project: str | None, version: str | None = None, *,
               target: str | None = None, index_url: str | None = None) -> int:
        """Delete records (all of them when ``project`` is None); returns how many."""
        if self._store is None:
            return 0
        where: list[str] = []
        params: list[str] = []
        for column, value in (("project", canonicalize_name(project) if project else None),
                              ("version", _norm_version(version) if version else None),
                              ("target", target), ("index_url", index_url)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = f"DELETE FROM {TABLE}" + (" WHERE " + " AND ".join(where) if where else "")
        with self._store.transaction(lock="safe-install:trust") as tx:
            return max(tx.execute(sql, params), 0)

    def put(self, rec: TrustRecord, *, now: datetime, accept_change: bool = False) -> str | None:
        """Record ``rec`` (first use) or refresh it. A different file for the same key
        replaces the record only with ``accept_change``; otherwise the existing record is
        kept and a note says so."""
        from safeinstall.store import format_time

        if self._store is None or not self.write:
            return None
        when = format_time(now)
        key = (rec.index_url, canonicalize_name(rec.project), _norm_version(rec.version),
               rec.target)
        with self._store.transaction(lock="safe-install:trust") as tx:
            row = tx.query_one(
                f"SELECT filename, sha256 FROM {TABLE} WHERE index_url = ? AND project = ? "
                "AND version = ? AND target = ?", key)
            if row is None:
                tx.execute(
                    f"INSERT INTO {TABLE} (index_url, project, version, target, filename, "
                    "sha256, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*key, rec.filename, rec.sha256, when, when))
                return None
            if str(row[1]) == rec.sha256:
                tx.execute(f"UPDATE {TABLE} SET last_seen = ? WHERE index_url = ? AND "
                           "project = ? AND version = ? AND target = ?", (when, *key))
                return None
            if accept_change:
                tx.execute(
                    f"UPDATE {TABLE} SET filename = ?, sha256 = ?, first_seen = ?, "
                    "last_seen = ?, replaced_filename = ?, replaced_sha256 = ? WHERE "
                    "index_url = ? AND project = ? AND version = ? AND target = ?",
                    (rec.filename, rec.sha256, when, when, row[0], row[1], *key))
                return None
        return (f"{rec.project} {rec.version}: the trust store {self.display} already records "
                f"{row[0]} for {rec.target}, not the installed {rec.filename} (another run "
                "recorded it meanwhile); the first record is kept")

    def record(self, result: CheckResult, *, now: datetime) -> list[str]:
        """Record every index artifact a successful install installed; returns notes."""
        notes: list[str] = []
        key = target_key(result.target)
        for p in result.packages:
            if p.decision != "install" or p.kind != "index" or not p.sha256 or not p.index \
                    or not p.filename:
                continue
            accepted = any(f.kind == "selection-changed" for f in p.findings)
            note = self.put(TrustRecord(p.index, p.name, p.version, key, p.filename, p.sha256,
                                        now, now), now=now, accept_change=accepted)
            if note:
                notes.append(note)
        return notes


def open_trust(url: str | None, *, environ: Mapping[str, str], cwd: str, now: datetime,
               write: bool) -> TrustStore | None:
    """The trust store at ``url`` (``""``: the default state store; ``None``: off).

    Without ``write`` (dry runs) nothing is created or migrated: a store that does not exist
    yet, or predates trust records, reads as empty.
    """
    if url is None:
        return None
    from safeinstall.store import default_store_url, open_store, parse_store_url

    url = url or default_store_url(environ)
    location = parse_store_url(url, cwd=cwd)
    if not write and location.dialect == "sqlite" and location.path is not None \
            and not os.path.exists(location.path):
        return TrustStore(None, write=False, display=location.display)
    store = open_store(url, cwd=cwd, now=now, migrate=write)
    if not write and store.schema_version() < MIN_SCHEMA:
        store.close()
        return TrustStore(None, write=False, display=location.display)
    return TrustStore(store, write=write, display=location.display)


def apply_trust(result: CheckResult, trust: TrustStore, policy: Policy) -> CheckResult:
    """Add ``selection-changed`` findings where the selected file differs from the recorded
    one for the same index, release and target; decisions follow the policy."""
    from safeinstall.store import format_time

    key = target_key(result.target)
    changed = False
    packages = []
    for p in result.packages:
        if p.kind != "index" or p.decision == "already-satisfied" or not p.index or \
                not p.sha256:
            packages.append(p)
            continue
        rec = trust.lookup(p.index, p.name, p.version, key)
        if rec is None or rec.sha256 == p.sha256:
            packages.append(p)
            continue
        try:
            exc = policy.exception_for(p.name, Version(p.version), p.sha256)
        except InvalidVersion:
            exc = None
        since = format_time(rec.first_seen) if rec.first_seen else "an earlier run"
        message = (f"{p.filename} (sha256 {p.sha256}) would be installed, but {rec.filename} "
                   f"(sha256 {rec.sha256}) was installed for this release and target "
                   f"({key}) from {p.index} since {since}: the file pip selects changed")
        if exc is not None:
            finding = Finding("selection-changed", "info",
                              f"{message}; allowed by exception {exc} ({exc.origin}"
                              + (f": {exc.reason}" if exc.reason else "") + ")",
                              p.filename, p.sha256)
        else:
            finding = Finding(
                "selection-changed", severity_for(policy.on_late), message, p.filename,
                p.sha256,
                hint=(f"a file was added to (or removed from) {p.name} {p.version} after you "
                      f"first installed it; compare {p.filename} with {rec.filename}. To accept "
                      f"it after review: --allow-late '{p.name}=={p.version}' (or "
                      f"--allow-late sha256:{p.sha256}), or forget the record: "
                      f"safe-install-tool trust forget '{p.name}=={p.version}'"))
        findings = (*p.findings, finding)
        packages.append(replace(p, findings=findings,
                                decision="refuse" if is_refused(findings) else p.decision))
        changed = True
    if not changed:
        return result
    return replace(result, packages=tuple(packages))


__all__ = ["TrustStore", "TrustRecord", "open_trust", "apply_trust", "target_key"]
