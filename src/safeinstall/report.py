"""The JSON report (versioned schema, documented in docs/reference.md) and the human summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import IO, Any

from safeinstall import __version__
from safeinstall.backfill import Proof
from safeinstall.durations import format_duration
from safeinstall.errors import ReportError
from safeinstall.http import redact
from safeinstall.layout import Column, fit_table, middle_ellipsis, plain_record
from safeinstall.policy import Finding, Policy
from safeinstall.results import CheckResult, PackageResult
from safeinstall.urls import redact_text

SCHEMA_VERSION = 1
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t else None


def _secs(d: timedelta | None) -> float | None:
    return d.total_seconds() if d is not None else None


def finding_json(f: Finding) -> dict[str, Any]:
    # messages quote index URLs: never a password or token in a report (redact_text)
    out: dict[str, Any] = {"kind": f.kind, "severity": f.severity,
                           "message": redact_text(f.message)}
    if f.filename:
        out["filename"] = f.filename
    if f.sha256:
        out["sha256"] = f.sha256
    if f.hint:
        out["hint"] = redact_text(f.hint)
    return out


def package_json(p: PackageResult) -> dict[str, Any]:
    return {
        "name": p.name,
        "version": p.version,
        "kind": p.kind,
        "extras": list(p.extras),
        "filename": p.filename,
        "url": redact(p.url) if p.url else p.url,  # never a password from an index URL
        "index": redact(p.index) if p.index else p.index,
        "sha256": p.sha256,
        "upload_time": _iso(p.upload_time),
        "release_start": _iso(p.release_start),
        "lateness_seconds": _secs(p.lateness),
        "release_files": p.release_files,
        "findings": [finding_json(f) for f in p.findings],
        "decision": p.decision,
        "required_by": list(p.required_by),
        "selection_reasons": list(p.selection_reasons),
        "build_time": p.build_time,
        "passed_over": [{"filename": fn, "reason": why} for fn, why in p.passed_over],
        "metadata_source": p.metadata_source,
        "trusted_hashes": list(p.trusted_hashes),
        "notes": [redact_text(n) for n in p.notes],
        "proof": proof_json(p.proof) if p.proof is not None else None,
    }


def proof_json(proof: Proof) -> dict[str, Any]:
    """A late-verified file's content proof (``--on-late verify``), as documented."""
    return {
        "kind": proof.kind,
        "reference": proof.reference,
        "reference_sha256": proof.reference_sha256,
        "files_compared": proof.files_compared,
        "normalisations": list(proof.normalisations),
    }


def report_json(result: CheckResult | None, *, policy: Policy, dry_run: bool, exit_code: int,
                outcome: str, extra_packages: Sequence[PackageResult] = (),
                error: str | None = None) -> dict[str, Any]:
    packages = list(result.packages) if result else []
    packages += list(extra_packages)
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "safe-install", "version": __version__},
        "generated_at": _iso(result.generated_at) if result else None,
        "dry_run": dry_run,
        "outcome": outcome,
        "exit_code": exit_code,
        "policy": {
            "late_after_seconds": policy.late_after.total_seconds(),
            "on_late": policy.on_late,
            "on_unknown_upload_time": policy.on_unknown_upload_time,
            "on_untrusted_hash": policy.on_untrusted_hash,
            "on_unverifiable": policy.on_unverifiable,
            "on_multiple_indexes": policy.on_multiple_indexes,
            "allow_late": [{"exception": str(e), "reason": e.reason, "origin": e.origin}
                           for e in policy.allow_late],
            "relaxations": policy.relaxations(),
        },
        "packages": [package_json(p) for p in packages],
        "notes": [redact_text(n) for n in result.notes] if result else [],
    }
    if result is not None:
        t = result.target
        out["target"] = {
            "python_executable": t.executable,
            "python_version": t.version_string,
            "implementation": t.implementation,
            "platform_tags": list(dict.fromkeys(tag.platform for tag in t.tags)),
            "tags_count": len(t.tags),
            "most_specific_tag": str(t.tags[0]) if t.tags else None,
            "hash_checking_mode": result.hash_mode,
        }
    if error:
        out["error"] = redact_text(error)
    return out


def write_report(data: dict[str, Any], dest: str, stdout: IO[str]) -> None:
    """Write the report; :class:`~safeinstall.errors.ReportError` (exit 5) naming ``dest``
    when that fails (the caller says whether anything was installed)."""
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    try:
        if dest == "-":
            stdout.write(text)
            stdout.flush()
        else:  # whole or not at all: an interrupted run never leaves half a report
            from pathlib import Path

            from safeinstall.fileio import write_atomically

            write_atomically(Path(dest), text)
    except OSError as exc:
        where = "standard output" if dest == "-" else repr(dest)
        raise ReportError(f"cannot write the report to {where}: {exc.strerror or exc}",
                          hint="the outcome of the run is on the line below") from None


#: one line for several warnings of a kind (default output): "N packages ..."
_KIND_SUMMARY = {
    "untrusted-hash": "have no trusted hash (no --hash vouches for the file)",
    "late": "have a file added late to its release (allowed by --on-late warn)",
    "unknown-upload-time": "have a file whose upload time the index does not give",
    "unverifiable-source": "come from a direct URL or VCS reference that cannot be dated",
    "multiple-indexes": "are on several indexes with different files",
    "selection-changed": "now select another file than the one installed before",
    "weak-hash": "are vouched for only by a weak hash",
    "mirror-mismatch": "differ from the file the --times-from index lists",
}
#: the summary table's columns, dropped in this order when it does not fit (docs/reference.md)
SUMMARY_COLUMNS = ("package", "version", "selected file", "uploaded", "release start",
                   "lateness", "verdict")
SUMMARY_DROP_ORDER = ("release start", "uploaded", "version", "lateness")


def render_summary(result: CheckResult, *, dry_run: bool, console: Any, verbose: int = 0,
                   width: int | None = None) -> None:
    """What a run found, on ``console`` (a rich Console on stderr) laid out for ``width``
    columns (None: no terminal and no COLUMNS, one record per line).

    ``verbose`` < 0 (``-q``): refusals, warnings and policy relaxations only. 0: warnings
    of a kind summed up in one line when there are several, information, the table and the
    target. > 0 (``-v``): every warning with its hint, and the notes (only then)."""
    from rich.markup import escape

    def show(markup: str) -> None:
        console.print(markup)

    problems = [(p, f) for p, f in result.findings if f.severity in ("error", "warning")]
    problems.sort(key=lambda pf: (_SEVERITY_ORDER[pf[1].severity], pf[0].name))
    problems = list(dict.fromkeys(problems))
    for relax in dict.fromkeys(result.relaxations):
        show(f"[yellow]policy relaxed:[/] {escape(relax)}")
    by_kind: dict[str, list[tuple[PackageResult, Finding]]] = {}
    for p, f in problems:
        if f.severity == "warning" and verbose <= 0:
            by_kind.setdefault(f.kind, []).append((p, f))
    summed = {k for k, items in by_kind.items()
              if len(dict.fromkeys(p.name for p, _ in items)) > 1}
    done: set[str] = set()
    for p, f in problems:
        if f.severity == "warning" and f.kind in summed:
            if f.kind not in done:
                done.add(f.kind)
                names = list(dict.fromkeys(q.name for q, _ in by_kind[f.kind]))
                what = _KIND_SUMMARY.get(f.kind, f"have {f.kind} warnings")
                show(f"[yellow]warning[/] [dim]({f.kind})[/]: {len(names)} packages {what}; "
                     "see which with -v or --report FILE")
            continue
        style = "bold red" if f.severity == "error" else "yellow"
        label = "REFUSED" if f.severity == "error" else "warning"
        show(f"[{style}]{label}[/] [bold]{escape(p.name)} {escape(p.version)}[/] "
             f"[dim]({f.kind})[/]: {escape(f.message)}")
        if f.hint and (f.severity == "error" or verbose > 0 or f.kind == "late"):
            for line in f.hint.splitlines():
                show(f"    {escape(line)}")
    if verbose < 0:
        return
    info = [(p, f) for p, f in result.findings if f.severity == "info"]
    late_other = [x for x in info if x[1].kind == "late-unselected"]
    if late_other:
        names = sorted({p.name for p, _ in late_other})
        show(f"[cyan]info[/] {len(late_other)} late file(s) in the selected releases "
             f"of {escape(', '.join(names))} are not selected for this target "
             "(see --report for each)")
    for line in dict.fromkeys(f"{p.name} {p.version}: {f.message}" for p, f in info
                              if f.kind != "late-unselected"):
        show(f"[cyan]info[/] {escape(line)}")
    if verbose > 0:  # notes (ignored requirements, index changes, ...) are in --report too
        for note in dict.fromkeys(result.notes):
            show(f"[dim]note: {escape(note)}[/]")

    rows = [_summary_row(p, dry_run) for p in result.packages]
    if width is None:
        for p, row in zip(result.packages, rows, strict=True):
            text = plain_record([
                ("release", f"{p.name}=={p.version}"), ("file", row[2]),
                ("uploaded", _seconds_iso(p.upload_time)),
                ("release-start", _seconds_iso(p.release_start)), ("lateness", row[5]),
                ("verdict", row[6])])
            show(escape(text).replace("verdict=REFUSED", "verdict=[bold red]REFUSED[/]"))
    else:
        _summary_table(rows, console, width)
    target = result.target
    head = f"target: {target.describe()} (Python {target.version_string}, "
    where = target.executable if width is None else \
        middle_ellipsis(target.executable, max(width - len(head) - 1, 12))
    show(f"[dim]{escape(head + where)})[/]")
    if verbose > 0:
        room = (width or 10_000) - len("interpreter: ")
        show(f"[dim]interpreter: {escape(middle_ellipsis(target.executable, room))}[/]")


def _summary_row(p: PackageResult, dry_run: bool) -> tuple[str, ...]:
    verdict = {"install": "would install" if dry_run else "install",
               "refuse": "REFUSED",
               "already-satisfied": "already installed"}[p.decision]
    if p.decision == "install" and any(f.severity == "warning" and f.kind != "untrusted-hash"
                                       for f in p.findings):
        verdict += " (warnings)"
    return (p.name, p.version, p.filename or (redact(p.url) if p.url else "-"),
            _short(p.upload_time), _short(p.release_start),
            format_duration(p.lateness) if p.lateness is not None else "-", verdict)


def _summary_table(rows: Sequence[tuple[str, ...]], console: Any, width: int) -> None:
    from rich.table import Table
    from rich.text import Text

    columns = [Column(h, drop_rank=SUMMARY_DROP_ORDER.index(h) + 1
                      if h in SUMMARY_DROP_ORDER else None,
                      shrink=h in ("selected file", "package"),
                      min_width=20 if h == "package" else 30 if h == "selected file" else 12)
               for h in SUMMARY_COLUMNS]
    fitted = fit_table(columns, rows, width)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold",
                  padding=(0, 1))
    for pos, i in enumerate(fitted.keep):
        table.add_column(SUMMARY_COLUMNS[i], no_wrap=True, width=fitted.widths[pos])
    for row in rows:
        cells = []
        for pos, i in enumerate(fitted.keep):
            text = Text(fitted.cell(pos, row[i]))
            if SUMMARY_COLUMNS[i] == "verdict":
                if row[i] == "REFUSED":
                    text.stylize("bold red")
                elif row[i].endswith("(warnings)"):
                    text.stylize("yellow", len(row[i]) - len("(warnings)"))
            cells.append(text)
        table.add_row(*cells)
    console.print(table)


def _seconds_iso(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else "-"


def _short(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t else "-"
