"""``safe-install-tool trust list|forget``: the trust-on-first-use records.

``safe-install`` records, per (index, release, target), the file it installed; a later install
that would select another file for the same release and target is a ``selection-changed``
finding. ``list`` shows the records, ``forget`` deletes some (after you reviewed a changed
file, or to start over).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import IO

from safeinstall.errors import EXIT_OK, UsageError

HELP = "list or forget the trust-on-first-use records of installed files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("list", "forget"))
    parser.add_argument("release", nargs="?", metavar="NAME[==VERSION]",
                        help="only this project (and version)")
    parser.add_argument("--all", action="store_true", help="forget: every record")
    parser.add_argument("--target", metavar="TAG",
                        help="only records for this target (its most specific tag, as listed)")
    parser.add_argument("--index", metavar="URL", help="only records for this index")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--store", metavar="URL",
                        help="the store (default: SAFE_INSTALL_TRUST_STORE, else the state "
                        "store: SAFE_INSTALL_STORE or the user data directory)")


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
            if project is None and not args.all and not (args.target or args.index):
                raise UsageError("forget what?",
                                 hint="name NAME or NAME==VERSION, or pass --all")
            count = trust.forget(project, version, target=args.target, index_url=args.index)
            stderr.write(f"forgot {count} record(s) in {trust.display}\n")
            return EXIT_OK
        records = [r for r in trust.records(project, version)
                   if (args.target is None or r.target == args.target)
                   and (args.index is None or r.index_url == args.index)]
    if args.format == "json":
        stdout.write(json.dumps([{
            "index": r.index_url, "name": r.project, "version": r.version,
            "target": r.target, "filename": r.filename, "sha256": r.sha256,
            "first_seen": _iso(r.first_seen), "last_seen": _iso(r.last_seen),
            "replaced_filename": r.replaced_filename, "replaced_sha256": r.replaced_sha256,
        } for r in records], indent=2) + "\n")
        return EXIT_OK
    if not records:
        stderr.write(f"no trust records in {trust.display}\n")
        return EXIT_OK
    for r in records:
        line = (f"{r.project} {r.version}  {r.filename}  sha256:{r.sha256[:16]}...  "
                f"for {r.target}  from {r.index_url}  since {_iso(r.first_seen)}")
        if r.replaced_filename:
            line += f"  (replaced {r.replaced_filename})"
        stdout.write(line + "\n")
    return EXIT_OK


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None
