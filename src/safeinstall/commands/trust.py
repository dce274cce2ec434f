"""``safe-install-tool trust list|forget``: the release snapshots of trust on first use.

Every checked run records, per (canonical index URL, project, version), the files of the
release as first seen (shared with ``safe-install-tool watch``); a later run that sees a file
added since is a ``release-changed`` finding. ``list`` shows the snapshots, ``forget`` deletes
some (after you reviewed a changed release, or to start over).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import IO, Any

from safeinstall.cmdline import declare_options, tool_option
from safeinstall.display import printable
from safeinstall.errors import EXIT_OK, UsageError
from safeinstall.urls import redact_url

HELP = "list or forget the release snapshots of trust on first use (shared with watch)"


OPTIONS = (
    tool_option("--all", help="forget: every snapshot"),
    tool_option("--index", kind="value", metavar="URL",
                help="only snapshots of this index (any spelling of its URL)"),
    tool_option("--format", kind="value", choices=("text", "json"), default="text"),
    tool_option("--store", kind="value", metavar="URL",
                help="the store (default: SAFE_INSTALL_TRUST_STORE, else the state "
                "store: SAFE_INSTALL_STORE or the user data directory)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("list", "forget"))
    parser.add_argument("release", nargs="?", metavar="NAME[==VERSION]",
                        help="only this project (and version)")
    declare_options(parser, OPTIONS)


def _release(text: str | None) -> tuple[str | None, str | None]:
    if not text:
        return None, None
    name, eq, version = text.partition("==")
    if not name.strip() or (eq and not version.strip()):
        raise UsageError(f"invalid release {text!r}", hint="write NAME or NAME==VERSION")
    return name.strip(), version.strip() or None


def run(args: argparse.Namespace, *, environ: Mapping[str, str], stdout: IO[str],
        stderr: IO[str], cwd: str) -> int:
    from safeinstall.trust import open_trust

    url = args.store if args.store is not None else environ.get("SAFE_INSTALL_TRUST_STORE", "")
    if url.strip().lower() == "off":
        raise UsageError("the trust store is turned off (SAFE_INSTALL_TRUST_STORE=off)",
                         hint="pass --store URL to name the store to read")
    project, version = _release(args.release)
    now = datetime.now(timezone.utc)
    trust = open_trust(url, environ=environ, cwd=cwd, now=now, write=args.action == "forget")
    assert trust is not None
    with trust:
        if args.action == "forget":
            if project is None and not args.all and not args.index:
                raise UsageError("forget what?",
                                 hint="name NAME or NAME==VERSION, or pass --all")
            count = trust.forget(project, version, index_url=args.index)
            stderr.write(f"forgot {count} release snapshot(s) in {trust.display}\n")
            return EXIT_OK
        snaps = trust.list_snapshots(project, version, index_url=args.index)
    if args.format == "json":
        stdout.write(json.dumps([{
            "index": redact_url(s.index_url), "name": s.project, "version": s.version,
            "first_seen": _iso(s.first_seen), "last_seen": _iso(s.last_seen),
            "complete": s.complete,
            "files": [_file_json(f) for f in s.files],
        } for s in snaps], indent=2) + "\n")
        return EXIT_OK
    if not snaps:
        stderr.write(f"no release snapshots in {trust.display}\n")
        return EXIT_OK
    for s in snaps:
        added = [f for f in s.files if not f.baseline]
        line = (f"{printable(s.project)} {printable(s.version)}  {len(s.files)} file(s)  "
                f"from {printable(redact_url(s.index_url))}  first seen {_iso(s.first_seen)}")
        if not s.complete:
            line += "  (from a trust record of one file; completed by the next run)"
        stdout.write(line + "\n")
        for f in added:
            stdout.write(f"  added {_iso(f.first_seen)}: {printable(f.filename)}  "
                         f"sha256:{printable(f.sha256[:16])}...\n")
    return EXIT_OK


def _file_json(f: Any) -> dict[str, Any]:
    return {"filename": f.filename, "sha256": f.sha256, "size": f.size,
            "upload_time": _iso(f.upload_time), "yanked": f.yanked is not None,
            "yanked_reason": f.yanked, "first_seen": _iso(f.first_seen),
            "last_seen": _iso(f.last_seen), "added": not f.baseline}


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None
