"""The JSON report (versioned schema, documented in docs/reference.md) and the human summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import IO, Any

from safeinstall import __version__
from safeinstall.checker import CheckResult, PackageResult
from safeinstall.durations import format_duration
from safeinstall.errors import ReportError
from safeinstall.http import redact
from safeinstall.policy import Finding, Policy
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
        else:
            with open(dest, "w", encoding="utf-8") as fh:
                fh.write(text)
    except OSError as exc:
        where = "standard output" if dest == "-" else repr(dest)
        raise ReportError(f"cannot write the report to {where}: {exc.strerror or exc}",
                          hint="the outcome of the run is on the line below") from None


def render_summary(result: CheckResult, *, dry_run: bool, console: Any, verbose: int = 0) -> None:
    """Findings first, then one line per package. ``console`` is a rich Console on stderr."""
    from rich.markup import escape
    from rich.table import Table

    problems = [(p, f) for p, f in result.findings if f.severity in ("error", "warning")]
    problems.sort(key=lambda pf: (_SEVERITY_ORDER[pf[1].severity], pf[0].name))
    untrusted = [p.name for p, f in problems
                 if f.kind == "untrusted-hash" and f.severity == "warning"]
    if len(untrusted) > 1 and verbose <= 0:
        problems = [(p, f) for p, f in problems
                    if not (f.kind == "untrusted-hash" and f.severity == "warning")]
    for relax in result.relaxations:
        console.print(f"[yellow]policy relaxed:[/] {escape(relax)}")
    for p, f in problems:
        style = "bold red" if f.severity == "error" else "yellow"
        label = "REFUSED" if f.severity == "error" else "warning"
        console.print(f"[{style}]{label}[/] [bold]{escape(p.name)} {escape(p.version)}[/] "
                      f"[dim]({f.kind})[/]: {escape(f.message)}")
        if f.hint and (f.severity == "error" or verbose > 0 or f.kind == "late"):
            for line in f.hint.splitlines():
                console.print(f"    {escape(line)}")
    if len(untrusted) > 1 and verbose <= 0:
        console.print(f"[yellow]warning[/] [dim](untrusted-hash)[/]: {len(untrusted)} packages "
                      "have no trusted hash (no --hash vouches for the file): "
                      f"{escape(', '.join(untrusted))}")
    info = [(p, f) for p, f in result.findings if f.severity == "info"]
    late_other = [x for x in info if x[1].kind == "late-unselected"]
    if late_other:
        names = sorted({p.name for p, _ in late_other})
        console.print(f"[cyan]info[/] {len(late_other)} late file(s) in the selected releases "
                      f"of {', '.join(names)} are not selected for this target "
                      "(see --report for each)")
    for p, f in info:
        if f.kind != "late-unselected":
            console.print(f"[cyan]info[/] {escape(p.name)} {escape(p.version)}: "
                          f"{escape(f.message)}")
    for note in result.notes:
        console.print(f"[dim]note: {escape(note)}[/]")

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for col in ("package", "version", "selected file", "uploaded", "release start", "lateness",
                "verdict"):
        table.add_column(col, overflow="fold")
    for p in result.packages:
        verdict = {"install": "would install" if dry_run else "install",
                   "refuse": "[bold red]REFUSED[/]",
                   "already-satisfied": "already installed"}[p.decision]
        if p.decision == "install" and any(f.severity == "warning" and f.kind != "untrusted-hash"
                                           for f in p.findings):
            verdict += " [yellow](warnings)[/]"
        table.add_row(
            escape(p.name), escape(p.version), escape(p.filename or p.url or "-"),
            _short(p.upload_time), _short(p.release_start),
            format_duration(p.lateness) if p.lateness is not None else "-", verdict,
        )
    console.print(table)
    console.print(f"[dim]target: {escape(result.target.describe())} "
                  f"(Python {result.target.version_string}, {escape(result.target.executable)})[/]")


def _short(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t else "-"
