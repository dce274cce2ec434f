"""``safe-install-tool audit LOCKFILE...``: date every file an existing lock trusts.

For a lock without a history: every sha256 in a hashed requirements file, ``pylock.toml``,
``Pipfile.lock``, ``poetry.lock`` or ``uv.lock`` is looked up on the index, placed in its
release's timeline, and reported when it was late, with the targets whose pip would install
it. Entries that cannot be checked (pins without a sha256, unpinned requirements, VCS, URLs,
paths, archives) are listed. Exit 1 when a locked file is late (or cannot be dated, unless
``--on-unknown-upload-time warn``), when two indexes disagree on its upload time, or, with
``--strict``, when an entry cannot be checked.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import IO

from safeinstall.cmdline import declare_options, tool_option
from safeinstall.commands import _common, _lockopts
from safeinstall.errors import EXIT_OK, EXIT_REFUSED

HELP = "report the late files among every hash of a lock (requirements, pylock, Pipfile.lock, " \
    "poetry.lock, uv.lock)"


OPTIONS = (
    _lockopts.LOCK_FORMAT,
    tool_option("--strict",
                help="exit 1 when an entry cannot be checked (a pin without a sha256 "
                "hash, an unpinned requirement, VCS, URL, path or archive)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="LOCKFILE", help="lock files to audit")
    declare_options(parser, OPTIONS)
    _lockopts.add_output_arguments(parser)
    _common.add_index_arguments(parser)
    _lockopts.add_times_from_argument(parser)
    _common.add_target_arguments(parser, default="current")
    _lockopts.add_policy_arguments(parser)


def run(args: argparse.Namespace, *, environ: Mapping[str, str], stdout: IO[str],
        stderr: IO[str], cwd: str) -> int:
    import os

    from safeinstall.lockcheck import (
        DatedHash,
        date_release,
        index_notes,
        line_numbers,
        render_json,
        render_sarif,
        render_text,
        unchecked_item,
    )
    from safeinstall.locks.reader import read_lock

    ours = _lockopts.load_settings(args, environ, cwd)
    policy = ours.policy
    settings = _common.pip_settings(args, environ, cwd)
    targets = _lockopts.lock_targets(args, settings)
    rules_for = _common.rules_factory(settings)
    items: list[DatedHash] = []
    notes: list[str] = []
    counts: list[str] = []
    for name in args.files:
        path = name if os.path.isabs(name) else os.path.join(cwd, name)
        lock = read_lock(path, fmt=args.lock_format, environ=environ)
        notes.extend(lock.notes)
        notes.extend(index_notes(lock, (*settings.index_urls, *settings.find_links), name))
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        mine: list[DatedHash] = [unchecked_item(u, source=name, blocking=args.strict,
                                                lock_path=path) for u in lock.unchecked]
        session, finder = _lockopts.open_index(settings, times_from=ours.times_from)
        store, prove = _lockopts.prover(policy, session, ours.cache_dir, environ)
        try:
            finder.prefetch(r.name for r in lock.releases)
            for release in sorted(lock.by_release().values(), key=lambda r: (r.name,
                                                                              r.version)):
                mine += date_release(finder, release, sorted(release.hashes), policy=policy,
                                     targets=targets, rules_for=rules_for, source=name,
                                     line_of=line_numbers(text, release.hashes),
                                     prover=prove)
        finally:
            if store is not None:
                store.close()
            session.close()
        dated = [d for d in mine if d.sha256 is not None]
        counts.append(f"{name} ({lock.format}): {len(lock.by_release())} release(s), "
                      f"{len(dated)} hash(es), {len(lock.unchecked)} entr(y/ies) that cannot "
                      "be checked")
        items += mine
    failing = [d for d in items if d.fails(policy)]
    dated = [d for d in items if d.sha256 is not None]
    unchecked = [d for d in items if d.sha256 is None]
    code = EXIT_REFUSED if failing else EXIT_OK
    undated = sum(d.status in ("unknown-upload-time", "not-found", "conflicting-times")
                  for d in dated)
    verified = sum(d.status == "late-verified" for d in dated)
    summary = (f"{len(dated)} hash(es) audited, {sum(d.status == 'late' for d in dated)} late, "
               + (f"{verified} late-verified, " if verified else "") + f"{undated} undated")
    if unchecked:
        summary += (f"; {len(unchecked)} entr(y/ies) NOT CHECKED"
                    + ("" if args.strict else " (--strict makes them fail)"))
    summary += "; FAILED" if failing else "; ok"
    if args.format == "json":
        text = render_json("audit", items, policy, targets=targets, exit_code=code,
                           extra={"files": list(args.files), "notes": notes,
                                  "strict": args.strict})
    elif args.format == "sarif":
        text = render_sarif("audit", items, policy, artifact=args.files[0], cwd=cwd)
    else:
        text = render_text("safe-install-tool audit: " + "; ".join(counts), items, policy,
                           show_ok=args.all, summary=summary, notes=notes, quiet=args.quiet)
    _lockopts.emit(text, args.output, stdout, cwd)
    if (args.format != "text" or args.output) and not (args.quiet and not failing):
        stderr.write(summary + "\n")
    return code
