"""Trust on first use: remember the files of each release as first seen, and report changes.

For people without a lock. Every checked run (install or dry run) records the files of each
release it selects from, per canonical index URL, project and version, in the state store's
release snapshots (:mod:`safeinstall.snapshots`, shared with ``safe-install-tool watch``). A
later run that sees a file that was not in the release when the store first saw it gets a
``release-changed`` finding naming the new files:

* when a new file is the one selected for this target: under the late-file policy (refused by
  default, a warning with ``--on-late warn``, information when an ``--allow-late`` exception
  covers the release or the file), whatever its upload time says: this catches a file added
  within the ``--late-after`` threshold, after this store had already seen the release;
* otherwise: information.

A known file name whose sha256 changed is ``replaced-file``, always an error. A selection that
differs only because of options (``--no-binary``, ``--only-binary``, hashes, another target)
is never a finding: the snapshot is of the release, not of one run's choice.

Dry runs read *and* record snapshots: the earliest sighting is the most useful one (a CI dry
run before any install makes the later install checkable), and recording is safe in any run,
because a file added to a snapshot after its first sighting stays marked as added.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from packaging.version import InvalidVersion, Version

from safeinstall import snapshots
from safeinstall.display import printable
from safeinstall.policy import DatedFile, Finding, Policy, is_refused
from safeinstall.snapshots import SeenFile, Snapshot, SnapshotFile
from safeinstall.urls import redact_url

if TYPE_CHECKING:
    from safeinstall.listing import ProjectListing
    from safeinstall.models import IndexFile
    from safeinstall.results import CheckResult, PackageResult
    from safeinstall.store import Store

MIN_SCHEMA = 3  # store_migrations: the migration that creates the snapshot tables


class Listings(Protocol):
    """Where the files of a release are looked up (a :class:`~safeinstall.finder.Finder`; for
    ``lock``, one that shows the late files its resolver does not see)."""

    def project(self, name: str) -> ProjectListing: ...


def seen_file(f: IndexFile) -> SeenFile:
    return SeenFile(f.filename, f.sha256 or "", f.size, f.upload_time, f.yanked)


class TrustStore:
    """Release snapshots on an open state store (``store`` None: nothing recorded yet)."""

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

    @property
    def store(self) -> Store | None:
        return self._store

    def list_snapshots(self, project: str | None = None, version: str | None = None, *,
                  index_url: str | None = None) -> list[Snapshot]:
        if self._store is None:
            return []
        with self._store.transaction() as tx:
            return snapshots.list_snapshots(tx, self._store.location, project=project,
                                            version=version, index_url=index_url)

    def forget(self, project: str | None, version: str | None = None, *,
               index_url: str | None = None) -> int:
        """Delete snapshots (all of them when nothing is named); returns how many."""
        if self._store is None:
            return 0
        with self._store.transaction(lock=snapshots.LOCK) as tx:
            return snapshots.forget(tx, project=project, version=version, index_url=index_url)

    def observe(self, releases: Mapping[snapshots.Key, list[SeenFile]], *, now: datetime
                ) -> dict[snapshots.Key, snapshots.Observation]:
        """Record what a run saw of each release (one transaction); without a store or
        ``write``, only read what is recorded."""
        out: dict[snapshots.Key, snapshots.Observation] = {}
        if self._store is None or not releases:
            return out
        loc = self._store.location
        with self._store.transaction(lock=snapshots.LOCK if self.write else None) as tx:
            for key in sorted(releases):
                if self.write:
                    out[key] = snapshots.observe(tx, key, releases[key], now, loc,
                                                 reread=False)
                else:
                    before = snapshots.read(tx, key, loc)
                    if before is not None:
                        out[key] = snapshots.Observation(before, before, frozenset())
        return out


def open_trust(url: str | None, *, environ: Mapping[str, str], cwd: str, now: datetime,
               write: bool) -> TrustStore | None:
    """The trust store at ``url`` (``""``: the default state store; ``None``: off).

    Without ``write`` (``trust list``) a SQLite store that does not exist yet is not created,
    and reads as empty. A store migrated by a newer safe-install is refused either way.
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
        store = open_store(url, cwd=cwd, now=now, migrate=True)  # an older store: bring it up
    return TrustStore(store, write=write, display=location.display)


def _files_text(files: list[SnapshotFile | SeenFile]) -> str:
    return ", ".join(printable(f.filename) for f in files)


def _release_files(finder: Listings, p: PackageResult) -> list[IndexFile] | None:
    from safeinstall.errors import SafeInstallError

    try:
        listing = finder.project(p.name)
        version = Version(p.version)
    except (SafeInstallError, InvalidVersion):
        return None
    return [f for f in listing.files_of(version) if f.source.url == p.index]


def apply_trust(result: CheckResult, trust: TrustStore, policy: Policy, finder: Listings, *,
                now: datetime) -> CheckResult:
    """Record the releases the check selected from, and add ``release-changed`` and
    ``replaced-file`` findings where a release differs from its first sighting."""
    from safeinstall.durations import format_duration
    from safeinstall.store import format_time

    wanted: dict[snapshots.Key, list[SeenFile]] = {}
    keys: dict[int, snapshots.Key] = {}
    for i, p in enumerate(result.packages):
        if p.kind != "index" or p.decision == "already-satisfied" or not p.index:
            continue
        files = _release_files(finder, p)
        if not files:
            continue
        key = snapshots.snapshot_key(p.index, p.name, p.version)
        keys[i] = key
        seen = [seen_file(f) for f in files]
        if p.sha256:  # the selected file's sha256, computed on download if the index gave none
            seen = [replace(s, sha256=p.sha256) if s.filename == p.filename and not s.sha256
                    else s for s in seen]
        wanted[key] = seen
    observed = trust.observe(wanted, now=now)
    changed = False
    packages = []
    for i, p in enumerate(result.packages):
        pkey = keys.get(i)
        obs = observed.get(pkey) if pkey is not None else None
        change = obs.change(wanted[pkey]) if obs is not None and pkey is not None else None
        if not change or obs is None or obs.before is None:
            packages.append(p)
            continue
        since = format_time(obs.before.first_seen)
        index = redact_url(p.index or "")
        where = f"{p.name} {p.version} on {index}"
        findings = list(p.findings)
        for r in change.replaced:
            findings.append(Finding(
                "replaced-file", "error",
                f"{printable(r.filename)} on {index} now has sha256 {r.new_sha256}, but "
                f"{trust.display} recorded it with sha256 {r.old_sha256} (first seen "
                f"{format_time(r.old_first_seen)}): a file of {p.name} {p.version} was "
                "replaced under the same name",
                r.filename, r.new_sha256,
                hint="an index that serves other bytes under a file name it already served "
                "was altered (PyPI never reuses a file name): find out why before installing "
                "anything of this release. After review: safe-install-tool trust forget "
                f"'{p.name}=={p.version}'"))
        if change.added:
            added = list(change.added)
            selected = next((f for f in added if f.filename == p.filename), None)
            names = _files_text(added)
            message = (f"{where} gained {len(added)} file(s) since this store first saw the "
                       f"release ({since}): {names}")
            if selected is None:
                findings.append(Finding(
                    "release-changed", "info",
                    f"{message}; none of them is selected for this target", None, None))
            else:
                late = ""
                if p.lateness is not None:
                    late = (f"; the index says it was uploaded {format_duration(p.lateness)} "
                            "after the release began")
                message = (f"{message}; {printable(p.filename or '')} (sha256 {p.sha256}), the "
                           f"file selected for this target, is one of them{late}")
                # judged as a late file: the exceptions and --on-late apply as to one (a
                # proof counts only against a file this store saw with the release)
                proof = p.proof if p.proof is not None and all(
                    f.filename != p.proof.reference for f in added) else None
                try:
                    judgment = policy.judge_late(
                        p.name, Version(p.version),
                        DatedFile(p.filename or "", p.sha256, p.upload_time, p.release_start,
                                  p.lateness), proof=proof)
                except InvalidVersion:
                    judgment = None
                exc = judgment.exception if judgment is not None else None
                if exc is not None:
                    findings.append(Finding(
                        "release-changed", "info",
                        f"{message}; allowed by exception {exc} ({exc.origin}"
                        + (f": {exc.reason}" if exc.reason else "") + ")",
                        p.filename, p.sha256))
                elif judgment is not None and judgment.verdict == "late-verified":
                    assert proof is not None  # proven identical to a file seen with the release
                    findings.append(Finding(
                        "release-changed", "info",
                        f"{message}; late-verified against the on-time {proof.reference}, "
                        "which was in the release when this store first saw it "
                        "(--on-late verify)", p.filename, p.sha256))
                else:
                    findings.append(Finding(
                        "release-changed", judgment.severity if judgment is not None
                        and judgment.severity is not None else "error", message, p.filename,
                        p.sha256,
                        hint=(f"a file was added to {p.name} {p.version} after this store "
                              "(or your team's shared store) had seen the release, which is "
                              "how a late file gets under the upload-time threshold; compare "
                              "it with the release's other files. To accept it after review: "
                              f"--allow-late '{p.name}=={p.version}' (or --allow-late "
                              f"sha256:{p.sha256}), or forget the snapshot: "
                              f"safe-install-tool trust forget '{p.name}=={p.version}'")))
        packages.append(replace(p, findings=tuple(findings),
                                decision="refuse" if is_refused(findings) else p.decision))
        changed = True
    if not changed:
        return result
    return replace(result, packages=tuple(packages))


__all__ = ["MIN_SCHEMA", "TrustStore", "apply_trust", "open_trust", "seen_file"]
