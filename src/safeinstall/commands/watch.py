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
import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import IO, Any
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from safeinstall import __version__
from safeinstall.cmdline import declare_options, shared_option, tool_option
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
from safeinstall.watcher import Pin, WatchFinding, mark_delivered, release_claims, watch_releases

HELP = ("record pinned releases' files in a state store and report files added to them "
        "since the last run (for cron/CI)")
WEBHOOK_TIMEOUT = 10.0


OPTIONS = (
    shared_option("-r", "--requirement", metavar="FILE",
                  help="a pip requirements file; its ==-pinned requirements are watched "
                  "(--hash values are read as the lock's trusted files)"),
    tool_option("-l", "--lock", kind="value", repeat=True, metavar="FILE",
                help="a lock file: hashed requirements, pylock.toml, Pipfile.lock, "
                "poetry.lock or uv.lock"),
    tool_option("--store", kind="value", metavar="URL",
                help="state store: sqlite:///PATH or postgresql://USER@HOST/DB "
                "(default: SAFE_INSTALL_STORE, else state.sqlite3 in the user data dir)"),
    tool_option("--watch-set", kind="value", default="default", metavar="NAME",
                help="name of this set of watched releases in the store, so that "
                "several projects can share one store (default 'default')"),
    tool_option("--since", kind="value", metavar="DURATION",
                help="also report files that appeared within DURATION (e.g. 7d), even "
                "if an earlier run reported them or they belong to a baseline"),
    tool_option("--report-existing",
                help="on a release's first run, report its files that were already "
                "late (default: record a silent baseline)"),
    tool_option("--webhook", kind="value", metavar="URL",
                help="POST the run's findings to URL, in one request per run (a "
                "failed delivery exits 3 and the findings are reported again next "
                "run, until a delivery succeeds); redirects to another origin are "
                "not followed"),
    tool_option("--webhook-format", kind="value", choices=("json", "slack"), default="json",
                help="json: {watch_set, findings: [...]} (default); slack: a "
                "{\"text\": ...} message for Slack-compatible incoming webhooks"),
    tool_option("--webhook-header", kind="value", repeat=True, metavar="'NAME: VALUE'",
                help="an HTTP header for the webhook (repeatable); ${VARIABLE} in "
                "VALUE is read from the environment, e.g. 'Authorization: Bearer "
                "${WATCH_TOKEN}' (single-quoted, so the secret is not on the "
                "command line)"),
    tool_option("-q", "--quiet", help="no summary on standard error"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("releases", nargs="*", metavar="NAME==VERSION",
                        help="releases to watch, besides those of -r/--lock files")
    declare_options(parser, OPTIONS)
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
        from safeinstall.locks.reader import read_lock

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


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RESERVED_HEADERS = frozenset({"content-length", "host", "transfer-encoding", "connection"})


def webhook_headers(values: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """``--webhook-header 'NAME: VALUE'`` values, with ``${VARIABLE}`` read from ``environ``."""
    headers: dict[str, str] = {}
    for text in values:
        name, colon, value = text.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not _TOKEN.fullmatch(name):
            raise UsageError(f"invalid --webhook-header {name or text!r}",
                             hint="write 'NAME: VALUE', e.g. 'Authorization: Bearer "
                             "${WATCH_TOKEN}'")
        if name.lower() in _RESERVED_HEADERS:
            raise UsageError(f"--webhook-header {name}: this header is set by the HTTP client")

        def expand(match: re.Match[str], header: str = name) -> str:
            variable = match.group(1)
            if not environ.get(variable):
                raise UsageError(f"--webhook-header {header}: the environment variable "
                                 f"{variable} is not set (or empty)",
                                 hint=f"export {variable}=... before running watch")
            return environ[variable]

        value = _VARIABLE.sub(expand, value)
        if any(c in value for c in "\r\n\0"):
            raise UsageError(f"--webhook-header {name}: the value contains a line break "
                             "or NUL character")  # never printed: it may be a secret
        headers[name] = value
    return headers


def webhook_display(url: str) -> str:
    """The webhook's origin only: the path of a chat webhook URL is its secret."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a bad host or port: nothing of it is shown
        return "<a URL that cannot be parsed>"
    return f"{parts.scheme}://{host}{port}/..." if parts.path.strip("/") or parts.query \
        else f"{parts.scheme}://{host}{port}"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows only a 307/308 to the same origin (the POST is repeated with its body); any
    other redirect is a failed delivery: urllib would turn the POST into a GET to wherever it
    points, and count that answer as delivered."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int,
                         msg: str, headers: Any, newurl: str) -> urllib.request.Request:
        if code in (307, 308) and _origin(newurl) == _origin(req.full_url):
            return urllib.request.Request(newurl, data=req.data, method=req.get_method(),
                                          headers=dict(req.headers))
        where = webhook_display(newurl) if _origin(newurl) != _origin(req.full_url) \
            else "the same host with another method"
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {where} not followed",
                                     headers, fp)


def post_webhook(url: str, payload: Mapping[str, object], *, timeout: float,
                 headers: Mapping[str, str] | None = None) -> str | None:
    """POST ``payload`` as JSON; None on success (2xx), else what went wrong."""
    data = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": f"safe-install/{__version__}",
        **(headers or {})})
    opener = urllib.request.build_opener(_SameOriginRedirects())
    try:
        with opener.open(request, timeout=timeout) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            return f"HTTP {exc.code}: {exc.reason}"
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{exc.__class__.__name__}: {reason}"
    return None if 200 <= status < 300 else f"HTTP {status}"


def _slack_escape(text: str) -> str:
    """Outside text (names, filenames, messages) for Slack mrkdwn: no links, mentions or
    control characters."""
    from safeinstall.display import printable

    return printable(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_payload(items: Sequence[dict[str, Any]], *, fmt: str,
                    watch_set: str) -> dict[str, object]:
    """One message for the run's findings (``items``: their JSON forms)."""
    if fmt == "slack":
        counts = {s: sum(1 for i in items if i["severity"] == s)
                  for s in ("error", "warning", "info")}
        head = (f"safe-install watch ({_slack_escape(watch_set)}): {len(items)} finding(s), "
                f"{counts['error']} error, {counts['warning']} warning, {counts['info']} info")
        lines = [f"• *{i['severity'].upper()}* {_slack_escape(i['project'])} "
                 f"{_slack_escape(i['version'])} `{_slack_escape(i['filename'])}`: "
                 f"{_slack_escape(i['message'])}" for i in items]
        return {"text": "\n".join([head, *lines])}
    return {"tool": {"name": "safe-install", "version": __version__}, "watch_set": watch_set,
            "findings": list(items)}


def run(args: argparse.Namespace, *, environ: Mapping[str, str], stdout: IO[str],
        stderr: IO[str], cwd: str) -> int:
    from safeinstall.store import default_store_url, open_store

    now = parse_now(args.now)
    policy = load_policy(args, environ, cwd)
    since = parse_duration(args.since) if args.since else None
    if args.webhook and not args.webhook.startswith(("http://", "https://")):
        raise UsageError(f"invalid --webhook {webhook_display(args.webhook)!r}",
                         hint="give an http(s) URL")
    if (args.webhook_header or args.webhook_format != "json") and not args.webhook:
        raise UsageError("--webhook-header and --webhook-format need --webhook URL")
    headers = webhook_headers(args.webhook_header, environ)
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
        items = []
        for finding in result.findings:
            payload = finding.to_json(late_after=policy.late_after, watch_set=args.watch_set)
            items.append(payload)
            try:
                stdout.write(json.dumps(payload, sort_keys=False) + "\n")
                stdout.flush()
            except OSError:  # nobody reads the news (| head closed, disk full): next run
                release_claims(store, args.watch_set, result.findings)
                raise
        if args.webhook and items:
            problem = post_webhook(args.webhook,
                                   webhook_payload(items, fmt=args.webhook_format,
                                                   watch_set=args.watch_set),
                                   timeout=WEBHOOK_TIMEOUT, headers=headers)
            if problem is not None:
                failed = list(result.findings)
                problems.append(f"{len(items)} finding(s): {problem}")
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
        stderr.write(f"safe-install-tool watch: webhook {webhook_display(args.webhook)} "
                     f"failed for {problem}; they will be reported again on the next run\n")
    if result.alerts:
        return EXIT_REFUSED
    if problems:
        return EXIT_INDEX
    return EXIT_OK


__all__ = ["HELP", "add_arguments", "collect_pins", "post_webhook", "run", "webhook_headers",
           "webhook_payload"]
