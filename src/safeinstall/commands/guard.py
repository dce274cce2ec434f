"""``safe-install-tool guard``: catch a lock change that trusts a late file.

Compares two versions of a lock (``guard OLD NEW``, or ``guard FILE...`` against a git
revision, ``HEAD`` by default) and dates every sha256 the new version adds: files added to a
release the old version already locked (the "new file in an old release" signal) and the files
of releases new to the lock (upgrades, new dependencies); releases are compared by canonical
name and version. Each is reported with its upload time, its lateness in its release and the
targets whose pip would now install it. Exit 1 when such a file is late (or cannot be dated,
unless ``--on-unknown-upload-time warn``), when two indexes disagree on its upload time, when
the change drops hash checking for a project the old lock pinned by hash, or when it adds an
entry that cannot be checked (no sha256, unpinned, VCS, URL or path).
"""

from __future__ import annotations

import argparse
import os
import subprocess
from collections.abc import Mapping
from typing import IO, Any, Literal

from safeinstall.cmdline import declare_options, tool_option
from safeinstall.commands import _common, _lockopts
from safeinstall.errors import EXIT_OK, EXIT_REFUSED, UsageError

HELP = "date every hash a lock change adds (new files of locked releases, upgrades, new " \
    "dependencies); exit 1 if one is late"


OPTIONS = (
    tool_option("--rev", kind="value", metavar="REV",
                help="compare each FILE with its version at this git revision "
                "(default HEAD when one FILE is given)"),
    _lockopts.LOCK_FORMAT,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="OLD NEW, or lock files to compare with a git revision")
    declare_options(parser, OPTIONS)
    _lockopts.add_output_arguments(parser)
    _common.add_index_arguments(parser)
    _lockopts.add_times_from_argument(parser)
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
        index_notes,
        line_numbers,
        render_json,
        render_sarif,
        render_text,
        unchecked_item,
    )
    from safeinstall.locks.model import ReadLock
    from safeinstall.locks.reader import read_lock

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
        except UnicodeDecodeError:
            raise UsageError(f"{files[0]} is not UTF-8 text") from None
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
    targets = _lockopts.lock_targets(args, settings)
    rules_for = _common.rules_factory(settings)
    configured = settings.index_urls
    all_items: list[DatedHash] = []
    texts: list[str] = []
    notes: list[str] = []
    for old_label, new_path, old_text, new_label in pairs:
        new = read_lock(new_path, fmt=args.lock_format, environ=environ)
        if old_text is None:
            old = ReadLock(old_label, new.format, ())
            notes.append(f"{new_label} did not exist in {old_label.rsplit('@', 1)[-1]}: "
                         "nothing was locked before, so every hash in it is new")
        else:
            old = read_lock(new_path, text=old_text, fmt=args.lock_format or new.format,
                            environ=environ, label=old_label)
        old_by, new_by = old.by_release(), new.by_release()
        old_versions: dict[str, list[str]] = {}
        for r in old.releases:
            old_versions.setdefault(r.name, []).append(r.version)
        notes.extend(index_notes(new, (*configured, *settings.find_links), new_label))
        with open(new_path, encoding="utf-8", errors="replace") as fh:
            new_text = fh.read()
        items: list[DatedHash] = []
        # entries that cannot be dated: a failure when they lose hash checking for a project
        # the old lock checked, or are new; unchanged ones are reported
        old_unchecked = {(u.name, u.kind, u.text) for u in old.unchecked}
        for entry in new.unchecked:
            if entry.name is not None and entry.name in old_versions:
                items.append(unchecked_item(entry, source=new_label, blocking=True,
                                            lost=_lost(entry, old_label,
                                                       old_versions[entry.name]),
                                            lock_path=new_path))
            else:
                unchanged = (entry.name, entry.kind, entry.text) in old_unchecked
                items.append(unchecked_item(entry, source=new_label, blocking=not unchanged,
                                            lock_path=new_path))
        session, finder = _lockopts.open_index(settings, times_from=ours.times_from)
        store, prove = _lockopts.prover(policy, session, ours.cache_dir, environ)
        try:
            finder.prefetch(r.name for r in new.releases)
            for key, release in sorted(new_by.items()):
                before = old_by.get(key)
                if before is not None:
                    added = sorted(release.hashes - before.hashes)
                    change: Literal["added-file", "new-release"] = "added-file"
                    previous: list[str] = []
                else:
                    added = sorted(release.hashes)
                    change = "new-release"
                    previous = old_versions.get(release.name, [])
                if not added:
                    continue
                items += date_release(finder, release, added, policy=policy, targets=targets,
                                      rules_for=rules_for, source=new_label,
                                      line_of=line_numbers(new_text, added), change=change,
                                      previous=previous, prover=prove)
        finally:
            if store is not None:
                store.close()
            session.close()
        all_items += items
        texts.append(new_label)
        notes.extend(new.notes)
    failing = [d for d in all_items if d.fails(policy)]
    code = EXIT_REFUSED if failing else EXIT_OK
    summary = _summary(all_items, policy, failing=bool(failing))
    if args.format == "json":
        text = render_json("guard", all_items, policy, targets=targets, exit_code=code,
                           extra={"files": [{"old": o, "new": n} for o, _, _, n in pairs],
                                  "summary": _counts(all_items, policy), "notes": notes})
    elif args.format == "sarif":
        text = render_sarif("guard", all_items, policy, artifact=texts[0] if texts else "",
                            cwd=cwd)
    else:
        title = "safe-install-tool guard: " + "; ".join(f"{o} -> {n}" for o, _, _, n in pairs)
        text = render_text(title, all_items, policy, show_ok=args.all, summary=summary,
                           notes=notes, quiet=args.quiet)
    _lockopts.emit(text, args.output, stdout, cwd)
    if (args.format != "text" or args.output) and not (args.quiet and not failing):
        stderr.write(summary + "\n")
    return code


def _lost(entry: Any, old_label: str, versions: list[str]) -> str:
    """Why an entry that cannot be checked loses what the old lock had."""
    before = f"{old_label} pinned {entry.name} {', '.join(versions)} by hash"
    if entry.kind in ("archive", "path", "vcs", "editable", "direct-url"):
        return f"{before} to index files: this change replaces them with a source that " \
            "cannot be dated"
    return f"{before}: this change turns hash checking off for it"


def _counts(items: list[Any], policy: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for change in ("added-file", "new-release"):
        mine = [d for d in items if d.change == change]
        out[change] = {"hashes": len(mine),
                       "late": sum(d.status == "late" for d in mine),
                       "late_verified": sum(d.status == "late-verified" for d in mine),
                       "failing": sum(d.fails(policy) for d in mine),
                       "releases": len({(d.name, d.version) for d in mine})}
    rest = [d for d in items if d.change is None]
    out["unchecked"] = {"entries": len(rest), "failing": sum(d.fails(policy) for d in rest)}
    return out


def _summary(items: list[Any], policy: Any, *, failing: bool) -> str:
    c = _counts(items, policy)
    added, new = c["added-file"], c["new-release"]
    text = (f"{added['hashes']} hash(es) added to already-locked releases, {added['late']} late"
            + (f" ({added['late_verified']} more late-verified)" if added["late_verified"]
               else "") +
            f"; {new['hashes']} hash(es) of {new['releases']} newly locked release(s) "
            f"(upgrades, new dependencies), {new['late']} late"
            + (f" ({new['late_verified']} more late-verified)" if new["late_verified"]
               else ""))
    other = added["failing"] - added["late"] + new["failing"] - new["late"]
    if other:
        text += f"; {other} hash(es) that cannot be dated"
    if c["unchecked"]["entries"]:
        text += (f"; {c['unchecked']['entries']} entr(y/ies) that cannot be checked, "
                 f"{c['unchecked']['failing']} failing")
    return text + ("; FAILED" if failing else "; ok")


def _abs(path: str, cwd: str) -> str:
    return path if os.path.isabs(path) else os.path.join(cwd, path)
