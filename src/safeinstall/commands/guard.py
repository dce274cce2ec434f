"""``safe-install-tool guard``: catch a lock change that trusts a late file.

Compares two versions of a lock (``guard OLD NEW``, or ``guard FILE...`` against a git
revision, ``HEAD`` by default) and reports every sha256 added for a (name, version) that the
old version already locked, with the new file's upload time, its lateness in its release and
the targets whose pip would now install it. Exit 1 when such a file is late (or cannot be
dated, unless ``--on-unknown-upload-time warn``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
from collections.abc import Mapping
from typing import IO

from safeinstall.commands import _common, _lockopts
from safeinstall.errors import EXIT_OK, EXIT_REFUSED, UsageError

HELP = "report hashes a lock change adds to already-locked releases; exit 1 if one is late"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="OLD NEW, or lock files to compare with a git revision")
    parser.add_argument("--rev", metavar="REV",
                        help="compare each FILE with its version at this git revision "
                        "(default HEAD when one FILE is given)")
    parser.add_argument("--lock-format", choices=("requirements", "pylock", "pipfile",
                                                  "poetry", "uv"),
                        help="the lock format (default: from the file name)")
    _lockopts.add_output_arguments(parser)
    _common.add_index_arguments(parser)
    _common.add_target_arguments(parser, default="current")
    _lockopts.add_policy_arguments(parser)


def git_show(path: str, rev: str, cwd: str) -> str | None:
    """The content of ``path`` at ``rev`` (None when the file did not exist there)."""
    full = path if os.path.isabs(path) else os.path.join(cwd, path)
    directory, name = os.path.split(os.path.abspath(full))
    try:
        proc = subprocess.run(["git", "-C", directory, "show", f"{rev}:./{name}"],
                              capture_output=True, text=True, check=False, timeout=60)
    except OSError as exc:
        raise UsageError(f"cannot run git to read {path} at {rev}: {exc.strerror}",
                         hint="install git, or give the old version as a file: guard OLD NEW") \
            from None
    if proc.returncode == 0:
        return proc.stdout
    message = proc.stderr.strip()
    if "exists on disk, but not in" in message or "does not exist in" in message:
        return None
    raise UsageError(f"git cannot read {path} at {rev}: {message[-400:]}",
                     hint="run inside a git work tree, or give two files: guard OLD NEW")


def run(args: argparse.Namespace, *, environ: Mapping[str, str], stdout: IO[str],
        stderr: IO[str], cwd: str) -> int:
    from safeinstall.lockcheck import (
        DatedHash,
        date_release,
        index_urls_for,
        line_numbers,
        render_json,
        render_sarif,
        render_text,
    )
    from safeinstall.lockfile import ReadLock, read_lock

    ours = _lockopts.load_settings(args, environ, cwd)
    policy = ours.policy
    pairs: list[tuple[str, str, str | None, str]] = []  # (label old, new path, old text, new)
    files = list(args.files)
    if args.rev is None and len(files) == 2:
        old_path, new_path = (_abs(f, cwd) for f in files)
        try:
            with open(old_path, encoding="utf-8") as fh:
                old_text: str | None = fh.read()
        except OSError as exc:
            raise UsageError(f"cannot read {files[0]}: {exc.strerror}") from None
        pairs.append((files[0], new_path, old_text, files[1]))
    elif args.rev is None and len(files) > 2:
        raise UsageError("give OLD NEW, or lock files with --rev REV",
                         hint="e.g. safe-install-tool guard --rev HEAD requirements.lock "
                         "pylock.toml")
    else:
        rev = args.rev or "HEAD"
        for f in files:
            pairs.append((f"{f}@{rev}", _abs(f, cwd), git_show(f, rev, cwd), f))

    settings = _common.pip_settings(args, environ, cwd)
    targets = _common.targets_of(args, settings, ["current"])
    rules_for = _common.rules_factory(settings)
    all_items: list[DatedHash] = []
    texts: list[str] = []
    new_releases = 0
    notes: list[str] = []
    for old_label, new_path, old_text, new_label in pairs:
        new = read_lock(new_path, fmt=args.lock_format, environ=environ)
        if old_text is None:
            old = ReadLock(old_label, new.format, ())
            notes.append(f"{new_label} did not exist in {old_label.rsplit('@', 1)[-1]}: "
                         "nothing was locked before")
        else:
            old = read_lock(new_path, text=old_text, fmt=args.lock_format or new.format,
                            environ=environ)
        old_by, new_by = old.by_release(), new.by_release()
        indexes = index_urls_for(new, _lockopts.explicit_indexes(args), settings.index_urls)
        scoped = settings.with_file_options(index_url=indexes[0] if indexes else
                                            settings.index_url,
                                            extra_index_urls=tuple(indexes[1:]),
                                            no_index=settings.no_index or not indexes)
        with open(new_path, encoding="utf-8") as fh:
            new_text = fh.read()
        items: list[DatedHash] = []
        session, finder = _lockopts.open_index(scoped)
        try:
            for key, release in sorted(new_by.items()):
                before = old_by.get(key)
                if before is None:
                    new_releases += 1
                    continue
                added = sorted(release.hashes - before.hashes)
                if not added:
                    continue
                items += date_release(finder, release, added, policy=policy, targets=targets,
                                      rules_for=rules_for, source=new_label,
                                      line_of=line_numbers(new_text, added))
        finally:
            session.close()
        all_items += items
        texts.append(new_label)
        notes.extend(new.notes)
    failing = [d for d in all_items if d.fails(policy)]
    code = EXIT_REFUSED if failing else EXIT_OK
    summary = (f"{len(all_items)} hash(es) added to already-locked releases, "
               f"{sum(d.status == 'late' for d in all_items)} late; "
               f"{new_releases} newly locked release(s) not compared"
               + ("; FAILED" if failing else "; ok"))
    if args.format == "json":
        text = render_json("guard", all_items, policy, targets=targets, exit_code=code,
                           extra={"files": [{"old": o, "new": n} for o, _, _, n in pairs],
                                  "new_releases": new_releases, "notes": notes})
    elif args.format == "sarif":
        text = render_sarif("guard", all_items, policy, artifact=texts[0] if texts else "")
    else:
        title = "safe-install-tool guard: " + "; ".join(f"{o} -> {n}" for o, _, _, n in pairs)
        text = render_text(title, all_items, policy, show_ok=True, summary=summary,
                           notes=notes)
    _lockopts.emit(text, args.output, stdout, cwd)
    if args.format != "text" or args.output:
        stderr.write(summary + "\n")
    return code


def _abs(path: str, cwd: str) -> str:
    return path if os.path.isabs(path) else os.path.join(cwd, path)
