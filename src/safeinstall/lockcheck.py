"""Date the files a lock trusts: for guard (hashes added to already-locked releases) and audit
(every hash of a lock).

Each sha256 is looked up among the files the configured indexes list for the project; the file
is then placed on its release's timeline (:mod:`safeinstall.timeline`) and, for each target,
pip's choice among the files the lock allows is computed (:mod:`safeinstall.selection`, in
hash-checking mode as ``pip install --require-hashes`` would run). The results render as text,
JSON or SARIF 2.1.0 (for code-scanning UIs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from safeinstall.durations import format_duration
from safeinstall.finder import Finder, IndexFile
from safeinstall.lockfile import LockedRelease, ReadLock
from safeinstall.policy import Policy
from safeinstall.releaseview import NamedTarget, RulesFor
from safeinstall.selection import order_candidates
from safeinstall.timeline import timeline_for

Status = Literal["on-time", "late", "allowed-late", "unknown-upload-time", "not-found"]


@dataclass(frozen=True)
class DatedHash:
    """One sha256 a lock trusts, placed in its release's timeline."""

    name: str
    version: str
    sha256: str
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

    def fails(self, policy: Policy) -> bool:
        """Whether this hash makes guard/audit exit 1 under ``policy``."""
        if self.status == "late":
            return True
        if self.status in ("unknown-upload-time", "not-found"):
            return policy.on_unknown_upload_time == "refuse"
        return False


def _find(listing_files: Sequence[IndexFile], sha256: str, version: Version,
          index: str | None) -> IndexFile | None:
    matches = [f for f in listing_files if f.sha256 == sha256]
    if not matches:
        return None
    matches.sort(key=lambda f: (f.version != version,
                                index is not None and f.source.url.rstrip("/") !=
                                index.rstrip("/")))
    return matches[0]


def date_release(finder: Finder, release: LockedRelease, hashes: Iterable[str], *,
                 policy: Policy, targets: Sequence[NamedTarget], rules_for: RulesFor,
                 allowed: Iterable[str] | None = None, line_of: Mapping[str, int] | None = None,
                 source: str | None = None) -> list[DatedHash]:
    """Date each of ``hashes`` of ``release``. ``allowed``: every sha256 the lock accepts
    for this release (default: the release's own), which decides pip's choice per target."""
    listing = finder.project(release.name)
    try:
        version = Version(release.version)
    except InvalidVersion:
        return [DatedHash(release.name, release.version, h, "not-found",
                          note=f"invalid version {release.version!r}") for h in hashes]
    lock_hashes = frozenset(allowed if allowed is not None else release.hashes)
    files = [f for f in listing.files if f.version == version]
    chosen: dict[str, str | None] = {}
    for t in targets:
        ranked = order_candidates(files, SpecifierSet(f"=={version}"), rules_for(t.target),
                                  {"sha256": lock_hashes})
        top = ranked[0].file if ranked else None
        chosen[t.name] = top.sha256 if top is not None and top.sha256 in lock_hashes else None
    out: list[DatedHash] = []
    for sha in hashes:
        by_target = tuple(name for name, s in chosen.items() if s == sha)
        known = next((lf for lf in release.files if lf.sha256 == sha), None)
        f = _find(listing.files, sha, version, release.index)
        line = (line_of or {}).get(sha, release.line)
        if f is None:
            out.append(DatedHash(
                release.name, release.version, sha, "not-found",
                filename=known.filename if known else None, selected_by=by_target, line=line,
                source=source, note="no file with this sha256 is listed for the project on the "
                "indexes searched, so it cannot be dated"))
            continue
        if str(f.version) != str(version):
            note: str | None = f"the file belongs to {f.version}, not {release.version}"
        else:
            note = None
        tl, borrowed = timeline_for(listing, f)
        dated = next((g for g in tl.files if g.filename == f.filename), f)
        start, lateness = tl.release_start, tl.lateness(dated)
        note = note or borrowed
        status: Status
        exc = None
        if dated.upload_time is None or start is None or lateness is None:
            status = "unknown-upload-time"
            note = note or f"{f.source.url} gives no upload time for it"
        elif lateness > policy.late_after:
            found = policy.exception_for(release.name, version, sha)
            status = "allowed-late" if found is not None else "late"
            exc = str(found) if found is not None else None
        else:
            status = "on-time"
        out.append(DatedHash(release.name, str(version), sha, status, f.filename,
                             f.source.url, dated.upload_time, start, lateness, exc, by_target,
                             line, note, source))
    return out


# -- rendering -------------------------------------------------------------------------------------


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def _short(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ") if t is not None else "unknown"


def describe(d: DatedHash, policy: Policy) -> str:
    who = f"{d.filename or 'sha256:' + d.sha256[:16] + '...'}"
    if d.status in ("late", "allowed-late"):
        assert d.lateness is not None
        text = (f"{who} was uploaded {_short(d.upload_time)}, {format_duration(d.lateness)} "
                f"after the release began ({_short(d.release_start)}; threshold "
                f"{format_duration(policy.late_after)})")
        if d.exception:
            text += f"; allowed by exception {d.exception}"
    elif d.status == "on-time":
        assert d.lateness is not None
        text = (f"{who} was uploaded {_short(d.upload_time)}, "
                f"{format_duration(d.lateness)} after the release began: on time")
    elif d.status == "unknown-upload-time":
        text = f"{who}: no upload time, so its lateness cannot be checked"
    else:
        text = f"{who} (sha256 {d.sha256}): not found on the indexes searched"
    if d.note and d.status != "not-found":
        text += f" ({d.note})"
    sel = ", ".join(d.selected_by) if d.selected_by else "no target checked"
    return f"{text}; installed by: {sel}"


_LABEL = {"late": "LATE", "allowed-late": "allowed", "on-time": "ok",
          "unknown-upload-time": "UNDATED", "not-found": "UNKNOWN"}


def render_text(title: str, items: Sequence[DatedHash], policy: Policy, *,
                show_ok: bool, summary: str, notes: Sequence[str] = ()) -> str:
    lines = [title]
    for d in items:
        if d.status == "on-time" and not show_ok:
            continue
        label = _LABEL[d.status]
        if d.status in ("unknown-upload-time", "not-found") and not d.fails(policy):
            label = label.lower()
        lines.append(f"  {label:8} {d.name} {d.version}: {describe(d, policy)}")
    lines.extend(f"  note: {n}" for n in notes)
    lines.append(summary)
    return "\n".join(lines) + "\n"


def dated_json(d: DatedHash, policy: Policy) -> dict[str, Any]:
    return {
        "name": d.name, "version": d.version, "sha256": d.sha256, "status": d.status,
        "fails": d.fails(policy), "filename": d.filename, "index": d.index,
        "upload_time": _iso(d.upload_time), "release_start": _iso(d.release_start),
        "lateness_seconds": d.lateness.total_seconds() if d.lateness is not None else None,
        "exception": d.exception, "selected_by": list(d.selected_by), "line": d.line,
        "note": d.note, "file": d.source,
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
        "hashes": [dated_json(d, policy) for d in items],
        "exit_code": exit_code,
    }
    return json.dumps(data, indent=2) + "\n"


_RULES = {
    "late": ("safe-install/late-artifact", "A locked file was added late to its release",
             "The file was uploaded more than the lateness threshold after its release began: "
             "the pattern of a malicious wheel added to an existing release."),
    "unknown-upload-time": ("safe-install/undated-artifact", "A locked file cannot be dated",
                            "The index gives no upload time for the file, so whether it was "
                            "added late cannot be checked."),
    "not-found": ("safe-install/unknown-hash", "A locked hash matches no file on the index",
                  "No file of the project on the indexes searched has this sha256."),
    "allowed-late": ("safe-install/allowed-late-artifact", "A late file allowed by exception",
                     "A late file covered by a reviewed --allow-late exception."),
}


def render_sarif(command: str, items: Sequence[DatedHash], policy: Policy, *,
                 artifact: str) -> str:
    """SARIF 2.1.0: one result per late, undated or unknown hash (on-time ones are omitted)."""
    from safeinstall import __version__
    from safeinstall.display import printable

    rules = [{"id": rid, "name": rid.split("/")[1], "shortDescription": {"text": short},
              "fullDescription": {"text": full}}
             for rid, short, full in _RULES.values()]
    index = {status: i for i, status in enumerate(_RULES)}
    results = []
    for d in items:
        if d.status == "on-time":
            continue
        rid = _RULES[d.status][0]
        level = "error" if d.fails(policy) else ("note" if d.status == "allowed-late"
                                                  else "warning")
        location: dict[str, Any] = {"artifactLocation": {"uri": d.source or artifact}}
        if d.line:
            location["region"] = {"startLine": d.line}
        results.append({
            "ruleId": rid, "ruleIndex": index[d.status], "level": level,
            "message": {"text": printable(f"{d.name} {d.version}: {describe(d, policy)}")},
            "locations": [{"physicalLocation": location}],
            "partialFingerprints": {"sha256": d.sha256},
            "properties": dated_json(d, policy),
        })
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "safe-install", "version": __version__,
                                "rules": rules}},
            "automationDetails": {"id": f"safe-install-tool {command}/"},
            "results": results,
        }],
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


def index_urls_for(lock: ReadLock, explicit: bool, configured: Sequence[str]) -> list[str]:
    """The indexes to search: the configured ones when given explicitly on the command line;
    otherwise those the lock names, then pip's configured ones."""
    if explicit:
        return list(configured)
    out = list(lock.indexes)
    for url in configured:
        if url not in out:
            out.append(url)
    return out


__all__ = ["DatedHash", "date_release", "render_text", "render_json", "render_sarif",
           "line_numbers", "index_urls_for", "describe"]
