"""Date the files a lock trusts: for guard (every hash a lock change adds) and audit (every
hash of a lock).

Each sha256 is looked up among the files the *configured* indexes list for the project (an
index named by the lock is data to compare, not an authority: see :func:`index_notes`); the
file is placed on its release's timeline (:meth:`safeinstall.timeline.ReleaseTimeline.date`,
borrowing upload times from ``--times-from`` indexes for identical files) and judged by
:meth:`safeinstall.policy.Policy.judge`. Two sources that give one file different upload times
fail. For each target, pip's choice among the files the lock allows is computed
(:mod:`safeinstall.selection`, in hash-checking mode as ``pip install --require-hashes`` would
run). Entries a lock holds that cannot be dated (pins without hashes, VCS, paths, no sha256)
are items of their own. The results render as text, JSON or SARIF 2.1.0 (code scanning).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from safeinstall.backfill import Outcome, Proof
from safeinstall.display import printable
from safeinstall.durations import format_duration
from safeinstall.finder import Finder
from safeinstall.locks.model import LockedRelease, ReadLock, UncheckedEntry
from safeinstall.locks.pylock import check_archive
from safeinstall.models import IndexFile
from safeinstall.policy import Policy
from safeinstall.releaseview import NamedTarget, RulesFor
from safeinstall.selection import order_candidates
from safeinstall.timeline import ReleaseTimeline, timeline_for
from safeinstall.urls import canonical_index_url, redact_text, redact_url

Status = Literal["on-time", "late", "allowed-late", "late-verified", "unknown-upload-time",
                 "not-found", "conflicting-times", "unchecked", "hash-checking-lost",
                 "bad-archive"]
#: ``--on-late verify``: proves a late file of a release a benign backfill (or says why not);
#: arguments: the late file, the timeline that dates it, the files of its release on its index
Prover = Callable[[IndexFile, ReleaseTimeline, Sequence[IndexFile]], tuple[Outcome, int]]
#: For guard: why a hash is new. ``added-file``: a file added to a release the old lock already
#: locked (the "new file in an old release" signal); ``new-release``: an upgrade or a new
#: dependency.
Change = Literal["added-file", "new-release"]

#: Two sources listing one file (same sha256) with upload times further apart than this
#: disagree (indexes may round to the second).
TIME_TOLERANCE = timedelta(seconds=1)


@dataclass(frozen=True)
class DatedHash:
    """One sha256 a lock trusts, placed in its release's timeline; or one entry of the lock
    that cannot be dated (``status`` ``unchecked`` / ``hash-checking-lost``, no sha256)."""

    name: str
    version: str | None
    sha256: str | None
    status: Status
    filename: str | None = None
    index: str | None = None
    upload_time: datetime | None = None
    release_start: datetime | None = None
    lateness: timedelta | None = None
    exception: str | None = None
    selected_by: tuple[str, ...] = ()  # names of the targets whose pip would install it
    line: int | None = None
    note: str | None = None
    source: str | None = None  # the lock file it is in, as named to the user
    change: Change | None = None
    previous: tuple[str, ...] = ()  # versions of the project in the old lock (an upgrade)
    blocking: bool = True  # unchecked entries: whether they fail the command
    kind: str | None = None  # unchecked entries: the locks.model.UncheckedKind
    proof: Proof | None = None  # late-verified: the content proof (--on-late verify)

    def fails(self, policy: Policy) -> bool:
        """Whether this item makes guard/audit exit 1 under ``policy``."""
        if self.status in ("late", "conflicting-times", "hash-checking-lost", "bad-archive"):
            return True
        if self.status == "unchecked":
            return self.blocking
        if self.status in ("unknown-upload-time", "not-found"):
            return policy.on_unknown_upload_time == "refuse"
        return False


def _matches(files: Iterable[IndexFile], sha256: str) -> list[IndexFile]:
    return [f for f in files if f.sha256 == sha256]


def _disagreement(matches: Sequence[IndexFile]) -> str | None:
    """Why the sources listing one file (same sha256) disagree on its upload time, or None."""
    dated = sorted(((m.upload_time, m.source.url) for m in matches
                    if m.upload_time is not None), key=lambda x: x[0])
    if not dated or dated[-1][0] - dated[0][0] <= TIME_TOLERANCE:
        return None
    (first, where_first), (last, where_last) = dated[0], dated[-1]
    return (f"the sources disagree on when it was uploaded: {redact_url(where_first)} says "
            f"{_short(first)}, {redact_url(where_last)} says {_short(last)}; one of them is "
            "wrong, so it cannot be dated")


def _marker(text: str | None) -> Marker | None:
    if not text:
        return None
    try:
        return Marker(text)
    except InvalidMarker:
        return None


def date_release(finder: Finder, release: LockedRelease, hashes: Iterable[str], *,
                 policy: Policy, targets: Sequence[NamedTarget], rules_for: RulesFor,
                 allowed: Iterable[str] | None = None, line_of: Mapping[str, int] | None = None,
                 source: str | None = None, change: Change | None = None,
                 previous: Sequence[str] = (), prover: Prover | None = None) -> list[DatedHash]:
    """Date each of ``hashes`` of ``release``. ``allowed``: every sha256 the lock accepts
    for this release (default: the release's own), which decides pip's choice per target.
    ``prover``: with ``--on-late verify``, a late file it proves is ``late-verified``; one it
    does not is ``late``, its note saying why."""
    extra: dict[str, Any] = {"source": source, "change": change, "previous": tuple(previous)}
    try:
        version = Version(release.version)
    except InvalidVersion:
        return [DatedHash(release.name, release.version, h, "not-found",
                          note=f"invalid version {release.version!r}", **extra)
                for h in hashes]
    listing = finder.project(release.name)
    reference = finder.reference(release.name) if finder.times_from else ()
    lock_hashes = frozenset(allowed if allowed is not None else release.hashes)
    files = [f for f in listing.files if f.version == version]
    chosen: dict[str, str | None] = {}
    marker = _marker(release.marker)
    for t in targets:
        if marker is not None and not marker.evaluate({**t.target.environment, "extra": ""}):
            chosen[t.name] = None  # the entry does not apply to this target
            continue
        ranked = order_candidates(files, SpecifierSet(f"=={version}"), rules_for(t.target),
                                  {"sha256": lock_hashes})
        top = ranked[0].file if ranked else None
        chosen[t.name] = top.sha256 if top is not None and top.sha256 in lock_hashes else None
    out: list[DatedHash] = []
    for sha in hashes:
        by_target = tuple(name for name, s in chosen.items() if s == sha)
        known = next((lf for lf in release.files if lf.sha256 == sha), None)
        line = (line_of or {}).get(sha, release.line)
        here = dict(extra, selected_by=by_target, line=line)
        own = _matches(listing.files, sha)
        if not own:
            out.append(DatedHash(
                release.name, release.version, sha, "not-found",
                filename=known.filename if known else None,
                note="no file with this sha256 is listed for the project on the configured "
                "indexes, so it cannot be dated", **here))
            continue
        own.sort(key=lambda f: f.version != version)
        f = own[0]
        note: str | None = None
        if f.version != version:
            note = f"the file belongs to {f.version}, not {release.version}"
        conflict = _disagreement([*own, *_matches(reference, sha)])
        if conflict is not None:
            out.append(DatedHash(release.name, str(f.version), sha, "conflicting-times",
                                 f.filename, f.source.url, note=conflict, **here))
            continue
        tl, borrowed = timeline_for(listing, f, reference)
        dated = tl.date(f)
        judgment = policy.judge(release.name, f.version, dated)
        note = note or borrowed
        if judgment.verdict == "late" and policy.on_late == "verify" and prover is not None \
                and f.invalid is None:
            from safeinstall.backfillcheck import unproven_hint

            outcome, tried = prover(f, tl, listing.release(f.version, f.source))
            if isinstance(outcome, Proof):
                judgment = policy.judge(release.name, f.version, dated, proof=outcome)
            else:
                note = "; ".join(x for x in (note, unproven_hint(outcome, tried)) if x)
        status: Status
        if judgment.verdict == "unknown":
            status = "unknown-upload-time"
            note = "; ".join(x for x in (note, dated.problem) if x) or None
        else:
            status = judgment.verdict
        exc = str(judgment.exception) if judgment.exception is not None else None
        out.append(DatedHash(release.name, str(f.version), sha, status, f.filename,
                             f.source.url, dated.upload_time, dated.release_start,
                             dated.lateness, exc, note=note, proof=judgment.proof, **here))
    return out


def unchecked_item(entry: UncheckedEntry, *, source: str, blocking: bool,
                   lost: str | None = None, lock_path: str | None = None) -> DatedHash:
    """An entry that cannot be dated; ``lost``: why it is a loss of hash checking (the old
    lock checked this project by hash). A local archive of a pylock.toml (``lock_path``) is
    checked against the lock's sha256 here: one that is not the locked file always fails."""
    if lock_path is not None and entry.archive is not None:
        problem = check_archive(entry, lock_path)
        if problem is not None:
            return DatedHash(entry.name or "?", entry.version, None, "bad-archive",
                             filename=entry.archive, line=entry.line,
                             note=redact_text(problem), source=source, kind=entry.kind)
    # the entry's own text may hold a URL with credentials (an archive, a VCS checkout)
    reason = redact_text(entry.reason)
    return DatedHash(entry.name or redact_text(entry.text or "") or "?", entry.version, None,
                     "hash-checking-lost" if lost else "unchecked", line=entry.line,
                     note=(f"{reason}; {lost}" if lost else reason), source=source,
                     blocking=blocking or lost is not None, kind=entry.kind)


def index_notes(lock: ReadLock, configured: Sequence[str], label: str) -> list[str]:
    """Notes on the indexes the lock names that are not among ``configured`` (the indexes
    and find-links locations the files were dated on)."""
    mine = {canonical_index_url(u) for u in configured}
    others = [u for u in dict.fromkeys((*lock.indexes, *(r.index for r in lock.releases
                                                          if r.index)))
              if canonical_index_url(u) not in mine]
    if not others:
        return []
    return [f"{label} names index {redact_url(u)}, which is not a configured index: its files "
            "were dated on " + (", ".join(redact_url(c) for c in configured) or "no index")
            + " (an index named by a lock is not trusted to date its files; pass -i/"
            "--extra-index-url to use it)" for u in others]


# -- rendering -------------------------------------------------------------------------------------


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def _short(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ") if t is not None else "unknown"


def describe(d: DatedHash, policy: Policy) -> str:
    if d.status in ("unchecked", "hash-checking-lost", "bad-archive"):
        return printable(d.note or "cannot be checked")
    who = f"{d.filename or 'sha256:' + (d.sha256 or '')[:16] + '...'}"
    if d.status in ("late", "allowed-late", "late-verified"):
        assert d.lateness is not None
        text = (f"{who} was uploaded {_short(d.upload_time)}, {format_duration(d.lateness)} "
                f"after the release began ({_short(d.release_start)}; threshold "
                f"{format_duration(policy.late_after)})")
        if d.exception:
            text += f"; allowed by exception {d.exception}"
        if d.proof is not None:
            text += (f"; late-verified against the on-time {d.proof.reference} "
                     f"(--on-late verify): {d.proof.describe()}")
    elif d.status == "on-time":
        assert d.lateness is not None
        text = (f"{who} was uploaded {_short(d.upload_time)}, "
                f"{format_duration(d.lateness)} after the release began: on time")
    elif d.status == "unknown-upload-time":
        text = f"{who}: its lateness cannot be checked"
    elif d.status == "conflicting-times":
        text = f"{who}"
    else:
        text = f"{who} (sha256 {d.sha256}): not found on the indexes searched"
    if d.note and d.status != "not-found":
        text += f" ({d.note})"
    sel = ", ".join(d.selected_by) if d.selected_by else "no target checked"
    return printable(f"{text}; installed by: {sel}")


_LABEL = {"late": "LATE", "allowed-late": "allowed", "late-verified": "verified",
          "on-time": "ok",
          "unknown-upload-time": "UNDATED", "not-found": "UNKNOWN",
          "conflicting-times": "CONFLICT", "unchecked": "UNCHECKED",
          "hash-checking-lost": "UNHASHED", "bad-archive": "MISMATCH"}


def _change(d: DatedHash) -> str:
    if d.change == "added-file":
        return " [new file in a locked release]"
    if d.change == "new-release":
        if d.previous:
            return f" [new release; upgrade from {', '.join(d.previous)}]"
        return " [new release; new dependency]"
    return ""


def render_text(title: str, items: Sequence[DatedHash], policy: Policy, *,
                show_ok: bool, summary: str, notes: Sequence[str] = (),
                quiet: bool = False) -> str:
    """``show_ok``: list on-time files too; ``quiet``: only what fails, and the summary when
    something does (nothing at all otherwise)."""
    failing = [d for d in items if d.fails(policy)]
    if quiet and not failing:
        return ""
    lines = [] if quiet else [printable(title)]
    for d in items:
        if d.status == "on-time" and not show_ok:
            continue
        if quiet and not d.fails(policy):
            continue
        label = _LABEL[d.status]
        if not d.fails(policy) and d.status not in ("on-time", "allowed-late", "late-verified"):
            label = label.lower()
        what = printable(f"{d.name} {d.version}" if d.version else d.name)
        lines.append(f"  {label:9} {what}{_change(d)}: {describe(d, policy)}")
    if not quiet:
        lines.extend(f"  note: {printable(n)}" for n in notes)
    lines.append(summary)
    return "\n".join(lines) + "\n"


def dated_json(d: DatedHash, policy: Policy) -> dict[str, Any]:
    from safeinstall.report import proof_json

    return {
        "name": d.name, "version": d.version, "sha256": d.sha256, "status": d.status,
        "fails": d.fails(policy), "filename": d.filename, "index": d.index,
        "upload_time": _iso(d.upload_time), "release_start": _iso(d.release_start),
        "lateness_seconds": d.lateness.total_seconds() if d.lateness is not None else None,
        "exception": d.exception, "selected_by": list(d.selected_by), "line": d.line,
        "note": d.note, "file": d.source, "change": d.change,
        "previous_versions": list(d.previous), "unchecked_kind": d.kind,
        "proof": proof_json(d.proof) if d.proof is not None else None,
    }


def render_json(command: str, items: Sequence[DatedHash], policy: Policy, *,
                targets: Sequence[NamedTarget], exit_code: int,
                extra: Mapping[str, Any]) -> str:
    from safeinstall import __version__

    data = {
        "schema_version": 1,
        "tool": {"name": "safe-install", "version": __version__, "command": command},
        "late_after_seconds": policy.late_after.total_seconds(),
        "targets": [{"name": t.name, "description": t.description} for t in targets],
        **extra,
        "hashes": [dated_json(d, policy) for d in items if d.sha256 is not None],
        "unchecked": [dated_json(d, policy) for d in items if d.sha256 is None],
        "exit_code": exit_code,
    }
    return json.dumps(data, indent=2) + "\n"


_RULES: dict[str, tuple[str, str, str]] = {
    "late": ("safe-install/late-artifact", "A locked file was added late to its release",
             "The file was uploaded more than the lateness threshold after its release began: "
             "the pattern of a malicious wheel added to an existing release."),
    "unknown-upload-time": ("safe-install/undated-artifact", "A locked file cannot be dated",
                            "The index gives no upload time for the file (or for another file "
                            "of its release), so whether it was added late cannot be checked."),
    "not-found": ("safe-install/unknown-hash", "A locked hash matches no file on the index",
                  "No file of the project on the configured indexes has this sha256."),
    "allowed-late": ("safe-install/allowed-late-artifact", "A late file allowed by exception",
                     "A late file covered by a reviewed --allow-late exception."),
    "late-verified": ("safe-install/late-verified-artifact",
                      "A late file proven a benign backfill",
                      "A late file whose content is proven to be that of an on-time file of "
                      "its release (--on-late verify)."),
    "conflicting-times": ("safe-install/conflicting-upload-times",
                          "Two sources disagree on when a locked file was uploaded",
                          "The same file (same sha256) has different upload times on two "
                          "indexes: one of them is wrong, so the file cannot be dated."),
    "unchecked": ("safe-install/unchecked-entry", "A lock entry cannot be checked",
                  "The entry has no sha256 hash, is not pinned to one version, or is a VCS, "
                  "URL or path requirement: its files cannot be dated."),
    "bad-archive": ("safe-install/archive-mismatch",
                    "A lock's local archive is not the locked file",
                    "The archive's sha256 differs from the lock's, it cannot be read, or its "
                    "path leaves the lock's directory."),
    "hash-checking-lost": ("safe-install/hash-checking-lost",
                           "A lock change removes hash checking for a project",
                           "The old lock pinned this project by hash; the new one does not, so "
                           "pip would install whatever the index serves."),
}


def sarif_location(path: str, cwd: str) -> tuple[str, str | None, str | None]:
    """(uri, uriBaseId, root) for a lock file as typed: relative to the root of the git
    repository holding it (``SRCROOT``), else to ``cwd`` when inside it, else an absolute
    ``file:`` URI."""
    import subprocess
    from pathlib import Path

    full = os.path.realpath(path if os.path.isabs(path) else os.path.join(cwd, path))
    root: str | None = None
    try:
        proc = subprocess.run(["git", "-C", os.path.dirname(full), "rev-parse",
                               "--show-toplevel"], capture_output=True, text=True,
                              check=False, timeout=30)
        if proc.returncode == 0 and proc.stdout.strip():
            root = os.path.realpath(proc.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        root = None
    if root is None:
        real_cwd = os.path.realpath(cwd)
        if os.path.commonpath([real_cwd, full]) == real_cwd:
            root = real_cwd
    if root is None or os.path.commonpath([root, full]) != root:
        return Path(full).as_uri(), None, None
    rel = os.path.relpath(full, root).replace(os.sep, "/")
    return quote(rel, safe="/"), "SRCROOT", Path(root).as_uri() + "/"


def render_sarif(command: str, items: Sequence[DatedHash], policy: Policy, *,
                 artifact: str, cwd: str | None = None) -> str:
    """SARIF 2.1.0: one result per item that is not on time; locations relative to the
    repository root (``uriBaseId`` ``SRCROOT``), whatever path was typed."""
    from safeinstall import __version__

    rules = [{"id": rid, "name": rid.split("/")[1], "shortDescription": {"text": short},
              "fullDescription": {"text": full}}
             for rid, short, full in _RULES.values()]
    index = {status: i for i, status in enumerate(_RULES)}
    results = []
    bases: dict[str, str] = {}
    located: dict[str, tuple[str, str | None, str | None]] = {}
    for d in items:
        if d.status == "on-time":
            continue
        rid = _RULES[d.status][0]
        level = "error" if d.fails(policy) else (
            "note" if d.status in ("allowed-late", "late-verified") else "warning")
        path = d.source or artifact
        if path not in located:
            located[path] = sarif_location(path, cwd or os.getcwd())
        uri, base, root = located[path]
        art: dict[str, Any] = {"uri": uri}
        if base is not None and root is not None:
            art["uriBaseId"] = base
            bases[base] = root
        location: dict[str, Any] = {"artifactLocation": art}
        if d.line:
            location["region"] = {"startLine": d.line}
        what = f"{d.name} {d.version}" if d.version else d.name
        results.append({
            "ruleId": rid, "ruleIndex": index[d.status], "level": level,
            "message": {"text": printable(f"{what}{_change(d)}: {describe(d, policy)}")},
            "locations": [{"physicalLocation": location}],
            "partialFingerprints": {"sha256": d.sha256 or f"{d.name}:{d.kind}"},
            "properties": dated_json(d, policy),
        })
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "safe-install", "version": __version__,
                            "rules": rules}},
        "automationDetails": {"id": f"safe-install-tool {command}/"},
        "results": results,
    }
    if bases:
        run["originalUriBaseIds"] = {k: {"uri": v} for k, v in bases.items()}
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }
    return json.dumps(sarif, indent=2) + "\n"


def line_numbers(text: str, hashes: Iterable[str]) -> dict[str, int]:
    """1-based line of the first occurrence of each sha256 in ``text``."""
    wanted = set(hashes)
    out: dict[str, int] = {}
    for i, line in enumerate(text.splitlines(), 1):
        low = line.lower()
        for h in list(wanted):
            if h in low:
                out[h] = i
                wanted.discard(h)
        if not wanted:
            break
    return out


__all__ = ["DatedHash", "date_release", "render_text", "render_json", "render_sarif",
           "line_numbers", "index_notes", "describe", "unchecked_item", "sarif_location"]
