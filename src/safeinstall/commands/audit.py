"""``safe-install-tool audit LOCKFILE...``: date every file an existing lock trusts.

For a lock without a history: every sha256 in a hashed requirements file, ``pylock.toml``,
``Pipfile.lock``, ``poetry.lock`` or ``uv.lock`` is looked up on the index, placed in its
release's timeline, and reported when it was late, with the targets whose pip would install
it. Exit 1 when a locked file is late (or cannot be dated, unless
``--on-unknown-upload-time warn``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import IO

from safeinstall.commands import _common, _lockopts
from safeinstall.errors import EXIT_OK, EXIT_REFUSED

HELP = "report the late files among every hash of a lock (requirements, pylock, Pipfile.lock, " \
    "poetry.lock, uv.lock)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="LOCKFILE", help="lock files to audit")
    parser.add_argument("--lock-format", choices=("requirements", "pylock", "pipfile",
                                                  "poetry", "uv"),
                        help="the lock format (default: from the file name)")
    parser.add_argument("--all", action="store_true",
                        help="list on-time files too (text output)")
    _lockopts.add_output_arguments(parser)
    _common.add_index_arguments(parser)
    _common.add_target_arguments(parser, default="current")
    _lockopts.add_policy_arguments(parser)


def run(args: argparse.Namespace, *, environ: Mapping[str, str], stdout: IO[str],
        stderr: IO[str], cwd: str) -> int:
    import os

    from safeinstall.lockcheck import (
        DatedHash,
        date_release,
        index_urls_for,
        line_numbers,
        render_json,
        render_sarif,
        render_text,
    )
    from safeinstall.lockfile import read_lock

    ours = _lockopts.load_settings(args, environ, cwd)
    policy = ours.policy
    settings = _common.pip_settings(args, environ, cwd)
    targets = _common.targets_of(args, settings, ["current"])
    rules_for = _common.rules_factory(settings)
    items: list[DatedHash] = []
    notes: list[str] = []
    counts: list[str] = []
    for name in args.files:
        path = name if os.path.isabs(name) else os.path.join(cwd, name)
        lock = read_lock(path, fmt=args.lock_format, environ=environ)
        notes.extend(lock.notes)
        indexes = index_urls_for(lock, _lockopts.explicit_indexes(args), settings.index_urls)
        scoped = settings.with_file_options(
            index_url=indexes[0] if indexes else settings.index_url,
            extra_index_urls=tuple(indexes[1:]), no_index=settings.no_index or not indexes)
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        session, finder = _lockopts.open_index(scoped)
        mine: list[DatedHash] = []
        try:
            finder.prefetch(r.name for r in lock.releases)
            for release in sorted(lock.by_release().values(), key=lambda r: (r.name,
                                                                              r.version)):
                mine += date_release(finder, release, sorted(release.hashes), policy=policy,
                                     targets=targets, rules_for=rules_for, source=name,
                                     line_of=line_numbers(text, release.hashes))
        finally:
            session.close()
        counts.append(f"{name} ({lock.format}): {len(lock.by_release())} release(s), "
                      f"{len(mine)} hash(es)")
        items += mine
    failing = [d for d in items if d.fails(policy)]
    late = [d for d in items if d.status == "late"]
    code = EXIT_REFUSED if failing else EXIT_OK
    summary = (f"{len(items)} hash(es) audited, {len(late)} late, "
               f"{sum(d.status in ('unknown-upload-time', 'not-found') for d in items)} "
               "undated" + ("; FAILED" if failing else "; ok"))
    if args.format == "json":
        text = render_json("audit", items, policy, targets=targets, exit_code=code,
                           extra={"files": list(args.files), "notes": notes})
    elif args.format == "sarif":
        text = render_sarif("audit", items, policy, artifact=args.files[0])
    else:
        text = render_text("safe-install-tool audit: " + "; ".join(counts), items, policy,
                           show_ok=args.all, summary=summary, notes=notes)
    _lockopts.emit(text, args.output, stdout, cwd)
    if args.format != "text" or args.output:
        stderr.write(summary + "\n")
    return code
