"""``safe-install-tool watch``: tell me when a file is added to a release I depend on.

For cron or a scheduled CI job. Each run records the files of every pinned release (from
requirement files, lock files or ``NAME==VERSION`` arguments) in the state store and reports,
as JSON lines on standard output (and optionally to a webhook), the files that appeared since
the last run, with their lateness and the targets pip would now select them for. The first run
for a release records a baseline and reports nothing unless ``--report-existing``.

Exit codes: 0 nothing alarming (also when only warnings/info were reported), 1 a new file would
be selected for a watched target and is late (or replaced a file), 2 usage or requirement
error, 3 index, network, state-store or webhook failure.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import IO

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from safeinstall import __version__
from safeinstall.commands._common import (
    add_index_arguments,
    add_policy_arguments,
    add_target_arguments,
    current_target_of,
    load_policy,
    open_finder,
    parse_now,
    parse_pin,
    pip_settings,
    rules_factory,
)
from safeinstall.durations import parse_duration
from safeinstall.errors import EXIT_INDEX, EXIT_OK, EXIT_REFUSED, UsageError
from safeinstall.pipoptions import PipSettings, with_file_options
from safeinstall.releaseview import parse_targets
from safeinstall.urls import redact_url
from safeinstall.watcher import Pin, WatchFinding, mark_delivered, release_claims, watch_releases

HELP = ("record pinned releases' files in a state store and report files added to them "
        "since the last run (for cron/CI)")
WEBHOOK_TIMEOUT = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("releases", nargs="*", metavar="NAME==VERSION",
                        help="releases to watch, besides those of -r/--lock files")
    parser.add_argument("-r", "--requirement", action="append", default=[], metavar="FILE",
                        help="a pip requirements file; its ==-pinned requirements are watched "
                        "(--hash values are read as the lock's trusted files)")
    parser.add_argument("-l", "--lock", action="append", default=[], metavar="FILE",
                        help="a lock file: hashed requirements, pylock.toml, Pipfile.lock, "
                        "poetry.lock or uv.lock")
    parser.add_argument("--store", metavar="URL",
                        help="state store: sqlite:///PATH or postgresql://USER@HOST/DB "
                        "(default: SAFE_INSTALL_STORE, else state.sqlite3 in the user data dir)")
    parser.add_argument("--watch-set", default="default", metavar="NAME",
                        help="name of this set of watched releases in the store, so that "
                        "several projects can share one store (default 'default')")
    parser.add_argument("--since", metavar="DURATION",
                        help="also report files that appeared within DURATION (e.g. 7d), even "
                        "if an earlier run reported them or they belong to a baseline")
    parser.add_argument("--report-existing", action="store_true",
                        help="on a release's first run, report its files that were already "
                        "late (default: record a silent baseline)")
    parser.add_argument("--webhook", metavar="URL",
                        help="POST every finding as JSON to URL (a failed delivery exits 3 and "
                        "the finding is reported again next run)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no summary on standard error")
    add_policy_arguments(parser)
    add_target_arguments(parser, default="current")
    add_index_arguments(parser)


def _abs(path: str, cwd: str) -> str:
    return path if os.path.isabs(path) else os.path.join(cwd, path)


def collect_pins(args: argparse.Namespace, environ: Mapping[str, str], cwd: str,
                 settings: PipSettings) -> tuple[list[Pin], PipSettings, list[str]]:
    """Pins from the arguments, requirement files and lock files; the settings with the
    requirement files' index options applied (as pip applies them); notes on what is skipped."""
    pins: list[Pin] = []
    notes: list[str] = []
    for text in args.releases:
        name, version = parse_pin(text)
        pins.append(Pin(name, version, "command line"))
    if args.requirement:
        from safeinstall.reqfile import parse_requirement_files

        parsed = parse_requirement_files([_abs(p, cwd) for p in args.requirement],
                                         environ=environ)
        for line in parsed.requirements:
            pin = _pin_of(line.text, line.source, line.hashes, notes)
            if pin is not None:
                pins.append(pin)
        settings, file_notes = with_file_options(settings, parsed.options)
        notes.extend(file_notes)
    for path in args.lock:
        from safeinstall.lockfile import read_lock

        lock = read_lock(_abs(path, cwd), environ=environ)
        notes.extend(lock.notes)
        for release in lock.releases:
            try:
                version = Version(release.version)
            except InvalidVersion:
                notes.append(f"{path}: {release.name} {release.version!r} is not a valid "
                             "version; not watched")
                continue
            origin = f"{path}:{release.line}" if release.line else path
            pins.append(Pin(release.name, version, origin, release.hashes))
        extra = [u for u in lock.indexes if u not in settings.index_urls]
        if extra and not settings.no_index:
            notes.append(f"{path} names the index(es) {', '.join(extra)}; watching there too")
            settings = settings.with_file_options(
                extra_index_urls=settings.extra_index_urls + tuple(extra))
    return pins, settings, notes


def _pin_of(text: str, origin: str, hashes: Sequence[str], notes: list[str]) -> Pin | None:
    try:
        req = Requirement(text)
    except InvalidRequirement:
        notes.append(f"{origin}: {text!r} is not a named requirement; not watched")
        return None
    exact = [s for s in req.specifier
             if s.operator in ("==", "===") and not s.version.endswith(".*")]
    if req.url or len(exact) != 1:
        notes.append(f"{origin}: {text!r} is not pinned to one version (==); not watched")
        return None
    try:
        version = Version(exact[0].version)
    except InvalidVersion:
        notes.append(f"{origin}: {exact[0].version!r} is not a valid version; not watched")
        return None
    sha = frozenset(h.partition(":")[2] for h in hashes if h.startswith("sha256:"))
    return Pin(canonicalize_name(req.name), version, origin, sha)


def post_webhook(url: str, payload: dict[str, object], *, timeout: float) -> str | None:
    """POST ``payload`` as JSON; None on success (2xx), else what went wrong."""
    data = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": f"safe-install/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{exc.__class__.__name__}: {reason}"
    return None if 200 <= status < 300 else f"HTTP {status}"


def run(args: argparse.Namespace, *, environ: Mapping[str, str], stdout: IO[str],
        stderr: IO[str], cwd: str) -> int:
    from safeinstall.store import default_store_url, open_store

    now = parse_now(args.now)
    policy = load_policy(args, environ, cwd)
    since = parse_duration(args.since) if args.since else None
    if args.webhook and not args.webhook.startswith(("http://", "https://")):
        raise UsageError(f"invalid --webhook {redact_url(args.webhook)!r}",
                         hint="give an http(s) URL")
    settings = pip_settings(args, environ, cwd)
    pins, settings, notes = collect_pins(args, environ, cwd, settings)
    if not pins:
        raise UsageError("nothing to watch: no ==-pinned release was given",
                         hint="pass NAME==VERSION, -r requirements.txt or --lock FILE")
    current = current_target_of(settings)
    watched = parse_targets(args.targets or ["current"], current=current)
    others = parse_targets(["common"], current=current)
    store = open_store(args.store or default_store_url(environ), cwd=cwd, now=now)
    try:
        index = open_finder(settings)
        try:
            result = watch_releases(
                store, index.finder, pins, watch_set=args.watch_set, watched=watched,
                others=others, rules_for=rules_factory(settings), policy=policy, now=now,
                since=since, report_existing=args.report_existing)
        finally:
            index.close()
        failed: list[WatchFinding] = []
        problems: list[str] = []
        for finding in result.findings:
            payload = finding.to_json(late_after=policy.late_after, watch_set=args.watch_set)
            try:
                stdout.write(json.dumps(payload, sort_keys=False) + "\n")
                stdout.flush()
            except OSError:  # nobody reads the news (| head closed, disk full): next run
                release_claims(store, args.watch_set, result.findings)
                raise
            if args.webhook:
                problem = post_webhook(args.webhook, payload, timeout=WEBHOOK_TIMEOUT)
                if problem is not None:
                    failed.append(finding)
                    problems.append(f"{finding.file.filename}: {problem}")
        delivered = [f for f in result.findings if f not in failed]
        mark_delivered(store, args.watch_set, delivered, now)
        release_claims(store, args.watch_set, failed)
        store_display = store.location.display
    finally:
        store.close()
    if not args.quiet:
        for note in [*notes, *result.notes]:
            stderr.write(f"safe-install-tool watch: note: {note}\n")
        for pin in result.missing:
            stderr.write(f"safe-install-tool watch: warning: no file of {pin.project} "
                         f"{pin.version} ({pin.origin}) on the configured indexes\n")
        counts = {s: sum(1 for f in result.findings if f.severity == s)
                  for s in ("error", "warning", "info")}
        stderr.write(
            f"safe-install-tool watch: {result.releases} release(s) checked in "
            f"{store_display} (watch set {args.watch_set!r}); "
            f"{len(result.baselined)} recorded for the first time; {len(result.findings)} "
            f"finding(s): {counts['error']} error, {counts['warning']} warning, "
            f"{counts['info']} info\n")
    for problem in problems:
        stderr.write(f"safe-install-tool watch: webhook {redact_url(args.webhook)} failed for "
                     f"{problem}; "
                     "it will be reported again on the next run\n")
    if result.alerts:
        return EXIT_REFUSED
    if problems:
        return EXIT_INDEX
    return EXIT_OK


__all__ = ["HELP", "add_arguments", "collect_pins", "post_webhook", "run"]
