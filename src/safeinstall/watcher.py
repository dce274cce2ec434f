"""Watch pinned releases for files added to them later (``safe-install-tool watch``).

Every run lists the files of each pinned release on the configured indexes and records them in
the state store's release snapshots (:mod:`safeinstall.snapshots`, shared with trust on first
use: one snapshot per canonical index URL and release, whoever saw it first). Per *watch set*
(so one shared database can serve several projects) the store keeps the releases watched
(``watch_releases``) and the delivery of news (``watch_news``). A file is *news* to a watch set
when it was added to the release after the release's first sighting and after the set began
watching it: seen first by this run, or recorded since by an install or another watch set. It
is a finding with its lateness relative to the release and the targets that pip would now
select it for. The first run of a set is its *baseline* and reports nothing new
(``report_existing`` reports the release's late files: news like new files, kept in
``watch_news`` until a webhook accepts them).

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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from packaging.utils import NormalizedName
from packaging.version import Version

from safeinstall import snapshots
from safeinstall.durations import format_duration
from safeinstall.finder import Finder
from safeinstall.listing import ProjectListing
from safeinstall.models import IndexFile
from safeinstall.policy import Policy, Severity
from safeinstall.releaseview import NamedTarget, RulesFor, selections
from safeinstall.store import Store, StoreLocation, Transaction, format_time, text_of
from safeinstall.timeline import timeline_for
from safeinstall.trust import seen_file

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
    stored_sha256: str = ""  # the sha256 of its row in the store ('' when none is known)

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """The file's key in the store: canonical index, project, version, name, sha256."""
        return (*snapshots.snapshot_key(self.index, self.file.project, str(self.file.version)),
                self.file.filename, self.stored_sha256)

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
    loc = store.location
    with store.transaction(lock=snapshots.LOCK) as tx:
        for pin, index, files, (listing, chosen) in groups:
            key = snapshots.snapshot_key(index, pin.project, str(pin.version))
            set_key = (watch_set, *key)
            new_release = tx.execute(
                "INSERT INTO watch_releases (watch_set, index_url, project, version, "
                "first_seen, last_checked) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*set_key, now_text, now_text)) == 1
            if new_release:
                baselined.append(f"{pin.project} {pin.version} on {index}")
                set_since = now_text
            else:
                set_row = tx.query_one("SELECT first_seen FROM watch_releases WHERE "
                                       "watch_set = ? AND index_url = ? AND project = ? AND "
                                       "version = ?", set_key)
                set_since = text_of(set_row[0] if set_row else None, location=loc,
                                    table="watch_releases") or now_text
                tx.execute("UPDATE watch_releases SET last_checked = ? WHERE watch_set = ? AND "
                           "index_url = ? AND project = ? AND version = ?",
                           (now_text, *set_key))
            seen = [seen_file(f) for f in files]
            obs = snapshots.observe(tx, key, seen, now, loc)
            after = obs.after
            assert after is not None  # (read back: reread is the default)
            news = _news_rows(tx, set_key, loc)
            for f, sf in zip(files, seen, strict=True):
                row = after.match(sf)
                assert row is not None
                fkey = (row.filename, row.sha256)
                first_seen = row.first_seen
                first_seen_text = format_time(first_seen)
                # news to this watch set: added to the release after its first sighting, and
                # after this set began watching it (recorded by this run, or by an install or
                # another watch set since)
                is_news = not row.baseline and (fkey in obs.inserted
                                                or first_seen_text > set_since)
                appeared = f.upload_time or first_seen
                older = [r.sha256 for r in after.named(f.filename)
                         if r.sha256 != row.sha256 and r.first_seen < first_seen]
                kind: Kind = "replaced-file" if older else "new-file"
                state = news.get(fkey)
                alerted, claimed_at = state if state is not None else (None, None)
                claim = repeat = False
                # news, or an existing late file kept until delivered (--report-existing)
                if (is_news or state is not None) and alerted is None and (
                        claimed_at is None or claimed_at < expired):
                    if state is None:
                        tx.execute("INSERT INTO watch_news (watch_set, index_url, project, "
                                   "version, filename, sha256, alerted_at, claimed_at) VALUES "
                                   "(?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT DO NOTHING",
                                   (*set_key, *fkey, now_text))
                    else:
                        tx.execute("UPDATE watch_news SET claimed_at = ? WHERE watch_set = ? "
                                   "AND index_url = ? AND project = ? AND version = ? AND "
                                   "filename = ? AND sha256 = ?", (now_text, *set_key, *fkey))
                    claim, repeat = True, state is not None
                    if not is_news:
                        kind = "existing-late-file"  # kept by a --report-existing run
                elif since is not None and appeared >= now - since:
                    repeat = alerted is not None or claimed_at is not None
                elif new_release and report_existing:
                    kind = "existing-late-file"
                else:
                    continue
                finding = _finding(kind, pin, index, f, listing, chosen, watched_names,
                                   policy, first_seen, older[0] if older else None,
                                   repeat=repeat, claimed=claim)
                if kind == "existing-late-file" and not claim:
                    if not finding.late:
                        continue
                    # news like a new file: kept (claimed) until it is delivered
                    tx.execute("INSERT INTO watch_news (watch_set, index_url, project, "
                               "version, filename, sha256, alerted_at, claimed_at) VALUES "
                               "(?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT DO NOTHING",
                               (*set_key, *fkey, now_text))
                    finding = replace(finding, claimed=True)
                findings.append(replace(finding, stored_sha256=row.sha256))
    return WatchRun(tuple(findings), len(groups), tuple(baselined), tuple(missing),
                    tuple(notes))


def _news_rows(tx: Transaction, key: tuple[str, str, str, str], loc: StoreLocation
               ) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    rows = tx.query("SELECT filename, sha256, alerted_at, claimed_at FROM watch_news WHERE "
                    "watch_set = ? AND index_url = ? AND project = ? AND version = ?", key)
    out: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for r in rows:
        name, sha = (text_of(v, location=loc, table="watch_news") or "" for v in r[:2])
        alerted, claimed = (text_of(v, location=loc, table="watch_news", optional=True)
                            for v in r[2:])
        out[(name, sha)] = (alerted, claimed)
    return out


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
    with store.transaction(lock=snapshots.LOCK) as tx:
        for f in claimed:
            tx.execute(sql + " WHERE watch_set = ? AND index_url = ? AND project = ? AND "
                       "version = ? AND filename = ? AND sha256 = ?",
                       (*params, watch_set, *f.key))


def mark_delivered(store: Store, watch_set: str, findings: Sequence[WatchFinding],
                   now: datetime) -> None:
    """The news in ``findings`` reached its readers: never report it again (outside --since)."""
    _update_claimed(store, watch_set, findings,
                    "UPDATE watch_news SET alerted_at = ?, claimed_at = NULL", (format_time(now),))


def release_claims(store: Store, watch_set: str, findings: Sequence[WatchFinding]) -> None:
    """Delivery failed: let the next run report this news again."""
    _update_claimed(store, watch_set, findings, "UPDATE watch_news SET claimed_at = NULL", ())


__all__ = ["LEASE", "Pin", "WatchFinding", "WatchRun", "mark_delivered", "merge_pins",
           "release_claims", "severity", "watch_releases"]
