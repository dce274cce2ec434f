"""Watch pinned releases for files added to them later (``safe-install-tool watch``).

Every run lists the files of each pinned release on the configured indexes and records them in
the state store (:mod:`safeinstall.store`, tables ``watch_releases`` and ``watch_files``, per
*watch set* so one shared database can serve several projects). A file the store had not seen
in a release it already watched is *news*: a finding with its lateness relative to the release
and the targets that pip would now select it for. The first record of a release is its
*baseline* and is not news (``report_existing`` reports its late files once).

Findings are delivered at least once and, between concurrent runs, by one run only: a run
*claims* the news it reports (a lease of :data:`LEASE`) inside the same locked transaction that
records it, and marks it delivered afterwards (:func:`mark_delivered`); news whose delivery
failed is released (:func:`release_claims`) and reported again by the next run.

Severity: ``error`` when a watched target would now select the file and it is late (or it
replaced a file of the same name); ``warning`` when it is late but selected for no watched
target, or selected but on time; ``info`` otherwise, and for files covered by an
``--allow-late`` exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from packaging.utils import NormalizedName
from packaging.version import Version

from safeinstall.durations import format_duration
from safeinstall.finder import Finder, IndexFile, ProjectListing
from safeinstall.policy import Policy, Severity
from safeinstall.releaseview import NamedTarget, RulesFor, selections
from safeinstall.store import Store, Transaction, format_time, parse_time
from safeinstall.timeline import timeline_for

#: How long a run's claim on the news it delivers keeps other runs from delivering it too.
LEASE = timedelta(minutes=15)

Kind = Literal["new-file", "replaced-file", "existing-late-file"]


@dataclass(frozen=True)
class Pin:
    """One pinned release to watch."""

    project: NormalizedName
    version: Version
    origin: str  # "requirements.txt:3", "pylock.toml", "command line"
    hashes: frozenset[str] = frozenset()  # sha256 values the lock trusts (empty: none)


@dataclass(frozen=True)
class WatchFinding:
    kind: Kind
    severity: Severity
    pin: Pin
    index: str
    file: IndexFile
    first_seen: datetime  # when the store first recorded the file
    release_start: datetime | None
    lateness: timedelta | None
    late: bool | None  # None: the index gives no upload time
    selected_by: tuple[str, ...]  # watched targets that would now select the file
    selected_elsewhere: tuple[str, ...]  # other (common) targets that would
    message: str
    replaces: str | None = None  # sha256 of the file of the same name it replaced
    allowed_by: str | None = None  # the --allow-late exception that covers it
    repeat: bool = False  # reported before (inside --since, or a failed delivery)
    claimed: bool = False  # this run claimed it: mark it delivered, or release it

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.index, self.file.project, str(self.file.version), self.file.filename,
                self.file.sha256 or "")

    def to_json(self, *, late_after: timedelta, watch_set: str) -> dict[str, Any]:
        f = self.file
        return {
            "kind": self.kind,
            "severity": self.severity,
            "project": f.project,
            "version": str(f.version),
            "index": self.index,
            "filename": f.filename,
            "sha256": f.sha256,
            "size": f.size,
            "tags": sorted(str(t) for t in f.tags),
            "upload_time": _iso(f.upload_time),
            "first_seen": _iso(self.first_seen),
            "release_start": _iso(self.release_start),
            "lateness_seconds": self.lateness.total_seconds() if self.lateness is not None
            else None,
            "late": self.late,
            "late_after_seconds": late_after.total_seconds(),
            "selected_by": list(self.selected_by),
            "selected_by_unwatched": list(self.selected_elsewhere),
            "replaces_sha256": self.replaces,
            "allowed_by": self.allowed_by,
            "pinned_by": self.pin.origin,
            "lock_hashes": len(self.pin.hashes),
            "in_lock": (f.sha256 in self.pin.hashes) if f.sha256 and self.pin.hashes else False,
            "repeat": self.repeat,
            "watch_set": watch_set,
            "message": self.message,
        }


@dataclass(frozen=True)
class WatchRun:
    findings: tuple[WatchFinding, ...]
    releases: int  # (index, release) pairs checked
    baselined: tuple[str, ...]  # "name version on index" recorded for the first time now
    missing: tuple[Pin, ...]  # pins with no file on any configured source
    notes: tuple[str, ...] = ()

    @property
    def alerts(self) -> tuple[WatchFinding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def merge_pins(pins: Sequence[Pin]) -> tuple[Pin, ...]:
    """One pin per release (the first origin; hashes of all)."""
    out: dict[tuple[str, Version], Pin] = {}
    for p in pins:
        key = (p.project, p.version)
        prev = out.get(key)
        out[key] = p if prev is None else Pin(prev.project, prev.version, prev.origin,
                                               prev.hashes | p.hashes)
    return tuple(out.values())


def severity(*, late: bool | None, selected: bool, replaced: bool,
             allowed: bool) -> Severity:
    if allowed:
        return "info"
    late_or_unknown = late is None or late
    if selected and (late_or_unknown or replaced):
        return "error"
    if late_or_unknown or selected or replaced:
        return "warning"
    return "info"


def _message(kind: Kind, f: IndexFile, index: str, lateness: timedelta | None,
             late: bool | None, late_after: timedelta, selected_by: Sequence[str],
             elsewhere: Sequence[str], replaces: str | None, allowed_by: str | None,
             pin: Pin, problem: str | None = None) -> str:
    what = {"new-file": "was added to", "replaced-file": "was replaced in",
            "existing-late-file": "is in"}[kind]
    parts = [f"{f.filename} {what} {f.project} {f.version} on {index}"]
    if lateness is None:
        parts.append(f"its lateness is unknown: {problem}" if problem else
                     "the index gives no upload time, so its lateness is unknown")
    else:
        parts.append(f"uploaded {format_duration(lateness)} after the release began"
                     + (f" (later than the {format_duration(late_after)} threshold)" if late
                        else f" (within the {format_duration(late_after)} threshold)"))
    if replaces:
        parts.append(f"a file of the same name had sha256 {replaces}")
    if selected_by:
        parts.append("pip would now select it for " + ", ".join(selected_by))
    else:
        parts.append("no watched target selects it"
                     + (f" (it is selected for {', '.join(elsewhere)})" if elsewhere else ""))
    if pin.hashes and f.sha256 not in pin.hashes:
        parts.append(f"{pin.origin} pins other hashes: pip --require-hashes would not install "
                     "it, but a refreshed lock would trust it")
    if allowed_by:
        parts.append(f"allowed by exception {allowed_by}")
    return "; ".join(parts)


def watch_releases(
    store: Store,
    finder: Finder,
    pins: Sequence[Pin],
    *,
    watch_set: str,
    watched: Sequence[NamedTarget],
    others: Sequence[NamedTarget],
    rules_for: RulesFor,
    policy: Policy,
    now: datetime,
    since: timedelta | None = None,
    report_existing: bool = False,
) -> WatchRun:
    """Record the pinned releases' files and return what is news (see the module docs)."""
    pins = merge_pins(pins)
    finder.prefetch(p.project for p in pins)
    watched_names = {t.name for t in watched}
    targets = [*watched, *(t for t in others if t.name not in watched_names)]
    # gather everything from the indexes before touching the store: the transaction stays short
    groups: list[tuple[Pin, str, list[IndexFile], Any]] = []
    missing: list[Pin] = []
    notes: list[str] = []
    for pin in pins:
        listing = finder.project(pin.project)
        notes.extend(n for n in listing.notes if n not in notes)
        files = [f for f in listing.files if f.version == pin.version]
        if not files:
            missing.append(pin)
            continue
        chosen = selections(listing, pin.version, targets, rules_for)
        by_source: dict[str, list[IndexFile]] = {}
        for f in files:
            by_source.setdefault(f.source.url, []).append(f)
        for index, group in by_source.items():
            groups.append((pin, index, sorted(group, key=lambda f: f.filename),
                           (listing, chosen)))
    groups.sort(key=lambda g: (g[1], g[0].project, str(g[0].version)))
    now_text = format_time(now)
    expired = format_time(now - LEASE)
    findings: list[WatchFinding] = []
    baselined: list[str] = []
    with store.transaction(lock=f"safe-install:watch:{watch_set}") as tx:
        for pin, index, files, (listing, chosen) in groups:
            version = str(pin.version)
            key = (watch_set, index, pin.project, version)
            new_release = tx.execute(
                "INSERT INTO watch_releases (watch_set, index_url, project, version, "
                "first_seen, last_checked) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*key, now_text, now_text)) == 1
            if new_release:
                baselined.append(f"{pin.project} {version} on {index}")
            else:
                tx.execute("UPDATE watch_releases SET last_checked = ? WHERE watch_set = ? AND "
                           "index_url = ? AND project = ? AND version = ?", (now_text, *key))
            rows = _file_rows(tx, key)
            for f in files:
                fkey = (f.filename, f.sha256 or "")
                if fkey not in rows:
                    tx.execute(
                        "INSERT INTO watch_files (watch_set, index_url, project, version, "
                        "filename, sha256, size, upload_time, first_seen, baseline) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        (*key, *fkey, f.size, format_time(f.upload_time)
                         if f.upload_time else None, now_text, int(new_release)))
                    rows[fkey] = (int(new_release), None, None, now_text)
            for f in files:
                fkey = (f.filename, f.sha256 or "")
                baseline, alerted, claimed_at, first_seen_text = rows[fkey]
                first_seen = parse_time(first_seen_text) or now
                appeared = f.upload_time or first_seen
                older = [sha for (name, sha), row in rows.items()
                         if name == f.filename and sha != fkey[1]
                         and str(row[3]) < str(first_seen_text)]
                kind: Kind = "replaced-file" if older else "new-file"
                claim = repeat = False
                if not baseline and alerted is None and (claimed_at is None
                                                          or claimed_at < expired):
                    tx.execute("UPDATE watch_files SET claimed_at = ? WHERE watch_set = ? AND "
                               "index_url = ? AND project = ? AND version = ? AND "
                               "filename = ? AND sha256 = ?", (now_text, *key, *fkey))
                    claim, repeat = True, first_seen_text != now_text
                elif since is not None and appeared >= now - since:
                    repeat = alerted is not None or claimed_at is not None
                elif new_release and report_existing:
                    kind = "existing-late-file"
                else:
                    continue
                finding = _finding(kind, pin, index, f, listing, chosen, watched_names,
                                   policy, first_seen, older[0] if older else None,
                                   repeat=repeat, claimed=claim)
                if kind == "existing-late-file" and not finding.late:
                    continue
                findings.append(finding)
    return WatchRun(tuple(findings), len(groups), tuple(baselined), tuple(missing),
                    tuple(notes))


def _file_rows(tx: Transaction, key: tuple[str, str, str, str]
               ) -> dict[tuple[str, str], tuple[int, str | None, str | None, str]]:
    rows = tx.query("SELECT filename, sha256, baseline, alerted_at, claimed_at, first_seen "
                    "FROM watch_files WHERE watch_set = ? AND index_url = ? AND project = ? "
                    "AND version = ?", key)
    return {(str(r[0]), str(r[1])): (int(r[2]), r[3], r[4], str(r[5])) for r in rows}


def _finding(kind: Kind, pin: Pin, index: str, f: IndexFile, listing: ProjectListing,
             chosen: dict[str, IndexFile | None], watched: set[str], policy: Policy,
             first_seen: datetime, replaces: str | None, *, repeat: bool,
             claimed: bool) -> WatchFinding:
    tl, _borrowed = timeline_for(listing, f)
    judgment = policy.judge(f.project, f.version, tl.date(f))
    lateness = judgment.dated.lateness
    late = None if judgment.verdict == "unknown" else judgment.is_late
    selected_by = tuple(n for n, g in chosen.items()
                        if n in watched and g is not None and g.url == f.url)
    elsewhere = tuple(n for n, g in chosen.items()
                      if n not in watched and g is not None and g.url == f.url)
    # an exception covers lateness, never a timeline whose start is unknown
    exc = None if judgment.verdict == "unknown" else \
        judgment.exception or policy.exception_for(f.project, f.version, f.sha256)
    allowed = str(exc) if exc is not None else None
    sev = severity(late=late, selected=bool(selected_by), replaced=replaces is not None,
                   allowed=allowed is not None)
    message = _message(kind, f, index, lateness, late, policy.late_after, selected_by,
                       elsewhere, replaces, allowed, pin, judgment.dated.problem)
    return WatchFinding(kind, sev, pin, index, f, first_seen, judgment.dated.release_start,
                        lateness, late,
                        selected_by, elsewhere, message, replaces, allowed, repeat, claimed)


def _update_claimed(store: Store, watch_set: str, findings: Sequence[WatchFinding],
                    sql: str, params: Sequence[Any]) -> None:
    claimed = [f for f in findings if f.claimed]
    if not claimed:
        return
    with store.transaction(lock=f"safe-install:watch:{watch_set}") as tx:
        for f in claimed:
            tx.execute(sql + " WHERE watch_set = ? AND index_url = ? AND project = ? AND "
                       "version = ? AND filename = ? AND sha256 = ?",
                       (*params, watch_set, *f.key))


def mark_delivered(store: Store, watch_set: str, findings: Sequence[WatchFinding],
                   now: datetime) -> None:
    """The news in ``findings`` reached its readers: never report it again (outside --since)."""
    _update_claimed(store, watch_set, findings,
                    "UPDATE watch_files SET alerted_at = ?, claimed_at = NULL", (format_time(now),))


def release_claims(store: Store, watch_set: str, findings: Sequence[WatchFinding]) -> None:
    """Delivery failed: let the next run report this news again."""
    _update_claimed(store, watch_set, findings, "UPDATE watch_files SET claimed_at = NULL", ())


__all__ = ["LEASE", "Pin", "WatchFinding", "WatchRun", "mark_delivered", "merge_pins",
           "release_claims", "severity", "watch_releases"]
