"""``safe-install-tool lock``: write a lock of checked artifacts.

Resolves like ``safe-install`` (same options, pip's configuration, requirement files), once
per target, from on-time files only, and writes a hashed requirements file (for plain
``pip install --require-hashes -r``) and a PEP 751 ``pylock.toml``. Files it leaves out (late,
or selected by no target) are listed, with the reason.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from safeinstall.cmdline import declare_options, shared_option, tool_option
from safeinstall.commands import _common, _lockopts
from safeinstall.errors import EXIT_OK, EXIT_REFUSED

HELP = "write a lock of checked artifacts (hashed requirements file and pylock.toml)"


OPTIONS = (
    shared_option("-r", "--requirement", dest="requirement_files", metavar="FILE",
                  help="requirements file (repeatable)"),
    shared_option("-c", "--constraint", dest="constraint_files", metavar="FILE",
                  help="constraints file (repeatable)"),
    shared_option("--pre", help="include pre-releases, as pip"),
    tool_option("--output-requirements", dest="requirements_out", kind="value",
                default="requirements.lock", metavar="FILE",
                help="the hashed requirements file to write (default requirements.lock;"
                " '' to skip)"),
    tool_option("--output-build-constraints", dest="build_constraints_out", kind="value",
                default="build-constraints.txt", metavar="FILE",
                help="the hashed build constraints to write when sdists are locked: "
                "their checked build dependencies, for pip's --build-constraint "
                "(default build-constraints.txt; '' to skip)"),
    tool_option("--output-pylock", dest="pylock_out", kind="value", default="pylock.toml",
                metavar="FILE", help="the PEP 751 lock to write (default pylock.toml; "
                "'' to skip)"),
    shared_option("--report", help="write a JSON report of the lock ('-' for stdout)"),
    shared_option("--no-cache-dir",
                  help="do not use safe-install's artifact and metadata cache"),
    tool_option("-q", "--quiet", help="print only problems"),
    shared_option("--trust-store",
                  help="trust on first use, as for safe-install: the store of release "
                  "snapshots (default: the state store; SAFE_INSTALL_TRUST_STORE)"),
    shared_option("--no-trust-store"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("requirements", nargs="*", metavar="REQUIREMENT",
                        help="requirements, as for pip install")
    declare_options(parser, OPTIONS)
    _common.add_index_arguments(parser)
    _common.add_target_arguments(parser, default="current")
    _lockopts.add_policy_arguments(parser)


def run(args: argparse.Namespace, *, environ: Mapping[str, str], stdout: IO[str],
        stderr: IO[str], cwd: str) -> int:
    from safeinstall.artifacts import ArtifactCache
    from safeinstall.checker import run_check
    from safeinstall.cmdline import CommandLine
    from safeinstall.errors import UsageError
    from safeinstall.fileio import write_atomically
    from safeinstall.locks.builder import OnTimeFinder, build_lock
    from safeinstall.locks.targets import target_label
    from safeinstall.locks.writer import build_constraints_text, pylock_text, requirements_text
    from safeinstall.settings import run_cache_dir
    from safeinstall.wiring import inputs_for_target, load_inputs

    now = _common.parse_now(args.now)
    ours = _lockopts.load_settings(args, environ, cwd)
    policy = ours.policy
    values = _common.pip_values(args, cwd)
    values["requirements"] = list(args.requirement_files)
    values["constraints"] = list(args.constraint_files)
    if args.pre:
        values["pre"] = True
    cmd = CommandLine(values, tuple(args.requirements), ())
    inputs = load_inputs(cmd, environ, cwd, now)
    settings = inputs.settings.with_file_options(ignore_installed=True, dry_run=True)
    inputs = replace(inputs, settings=settings)
    if not inputs.user_reqs and not inputs.pylock_files:
        raise UsageError("no requirements given", hint="name packages, or use -r FILE")
    targets = _lockopts.lock_targets(args, settings)
    per_target = [(t, inputs_for_target(inputs, t.target, cwd)) for t in targets]
    # [index-for] pins from safe-install.toml / SAFE_INSTALL_INDEX_FOR, as for install: the
    # one way to say where a name on several indexes comes from
    session, finder = _lockopts.open_index(per_target[0][1].settings, OnTimeFinder,
                                           policy=policy, index_for=ours.index_for)
    cache_dir = run_cache_dir(ours, environ, no_cache=bool(args.no_cache_dir))
    cache = ArtifactCache(session, cache_dir)
    trust = None
    try:
        trust, trust_store = _open_trust(args, environ, cwd, now, stderr)
        # with --on-late verify, late wheels stay visible to be proven; one the check could
        # not prove is hidden and the lock resolved again, from on-time files for it
        for _round in range(MAX_VERIFY_ROUNDS):
            results = []
            for t, tin in per_target:
                result = run_check(
                    settings=tin.settings, policy=policy, target=t.target,
                    user_requirements=tin.user_reqs, parsed=tin.parsed, finder=finder,
                    cache=cache, environ=environ, now=now, cwd=cwd, installed={},
                    notes=tin.notes, ask_backends=True)
                if trust is not None:
                    # as for an install: a file added to a release after the store first saw
                    # it is refused here too, or the lock would hand pip a file safe-install
                    # refuses
                    result = _apply_trust(result, trust, trust_store, policy, finder, now,
                                          stderr)
                label = target_label(t.target) if t.name == "current" else t.name
                results.append((label, result))
            if policy.on_late != "verify" or not finder.unprove(_unproven(results)):
                break
    finally:
        if trust is not None:
            trust.close()
        cache.close()
        session.close()

    problems = [(label, p, f) for label, r in results for p in r.packages for f in p.findings
                if f.severity == "error" and f.kind != "untrusted-hash"]
    if problems:
        for label, p, f in problems:
            stderr.write(f"REFUSED {p.name} {p.version} for {label} ({f.kind}): {f.message}\n")
            for line in (f.hint or "").splitlines():
                stderr.write(f"    {line}\n")
        stderr.write("safe-install-tool lock: refused by policy; no lock was written.\n")
        if args.report:
            _lockopts.emit(json.dumps(_report(None, results, policy, "refused", []), indent=2)
                           + "\n", args.report, stdout, cwd)
        return EXIT_REFUSED

    lock = build_lock(results, finder, policy=policy, now=now)
    command = "safe-install-tool lock " + " ".join(
        [*args.requirements, *(f"-r {f}" for f in args.requirement_files),
         *(f"--targets {t}" for t in args.targets)])
    written: list[str] = []
    build_out = args.build_constraints_out if lock.build_packages else ""
    if args.requirements_out:
        path = Path(cwd, args.requirements_out)
        write_atomically(path, requirements_text(lock, command=command.strip(),
                                                 base_dir=str(path.parent),
                                                 build_constraints=build_out or None))
        written.append(args.requirements_out)
    if build_out:
        write_atomically(Path(cwd, build_out),
                         build_constraints_text(lock, command=command.strip()))
        written.append(build_out)
    if args.pylock_out:
        from safeinstall.locks.model import is_pylock_name

        if not is_pylock_name(args.pylock_out):
            raise UsageError(f"--output-pylock {args.pylock_out!r} is not a PEP 751 name",
                             hint="name it pylock.toml or pylock.NAME.toml")
        write_atomically(Path(cwd, args.pylock_out), pylock_text(lock))
        written.append(args.pylock_out)
    _summary(lock, stderr, quiet=args.quiet)
    if not args.quiet:
        stderr.write(f"safe-install-tool lock: wrote {' and '.join(written) or 'nothing'}\n")
    if args.report:
        _lockopts.emit(json.dumps(_report(lock, results, policy, "locked", written), indent=2)
                       + "\n", args.report, stdout, cwd)
    return EXIT_OK


#: resolutions of one lock with --on-late verify (each hides the late files it failed to prove)
MAX_VERIFY_ROUNDS = 10


def _unproven(results: list[Any]) -> dict[str, str]:
    """Late selected files the check refused under ``--on-late verify``: filename -> the first
    line of the refusal's hint (why the proof failed)."""
    out: dict[str, str] = {}
    for _label, r in results:
        for p in r.packages:
            for f in p.findings:
                if f.kind == "late" and f.severity == "error" and f.filename == p.filename \
                        and p.filename:
                    out[p.filename] = (f.hint or "").splitlines()[0] if f.hint else \
                        "not proven a benign backfill"
    return out


def _open_trust(args: argparse.Namespace, environ: Mapping[str, str], cwd: str, now: Any,
                stderr: IO[str]) -> tuple[Any, str | None]:
    """The trust store (None: off, or the default store cannot be opened: a warning), and the
    store URL as chosen (``""``: the default), read as ``safe-install`` reads it."""
    from safeinstall.errors import SafeInstallError
    from safeinstall.store import StoreRowError, StoreSchemaError
    from safeinstall.trust import open_trust
    from safeinstall.wiring import take_trust_options

    argv = ["--no-trust-store"] if args.no_trust_store else \
        ["--trust-store", args.trust_store] if args.trust_store is not None else []
    _rest, chosen = take_trust_options(argv, environ)
    try:
        return open_trust(chosen, environ=environ, cwd=cwd, now=now, write=True), chosen
    except SafeInstallError as exc:
        # a store the user chose must work, and a newer or damaged store is refused
        if chosen or isinstance(exc, (StoreSchemaError, StoreRowError)):
            raise
        stderr.write(f"warning: trust on first use is off for this run: {exc}\n")
        return None, chosen


class _Unfiltered:
    """The lock's finder as trust on first use must see it: every file of a release, the late
    ones the lock leaves out included (a snapshot is of the release)."""

    def __init__(self, finder: Any) -> None:
        self._finder = finder

    def project(self, name: str) -> Any:
        return self._finder.unfiltered(name)


def _apply_trust(result: Any, trust: Any, chosen: str | None, policy: Any, finder: Any,
                 now: Any, stderr: IO[str]) -> Any:
    from safeinstall.errors import SafeInstallError
    from safeinstall.store import StoreRowError, StoreSchemaError
    from safeinstall.trust import apply_trust

    try:
        return apply_trust(result, trust, policy, _Unfiltered(finder), now=now)
    except SafeInstallError as exc:
        if chosen or isinstance(exc, (StoreSchemaError, StoreRowError)):
            raise
        stderr.write(f"warning: trust on first use is off for this run: {exc}\n")
        return result


def _summary(lock: Any, err: IO[str], *, quiet: bool) -> None:
    from safeinstall.durations import format_duration

    if not quiet:
        verified = sum(a.proof is not None for p in lock.packages for a in p.artifacts)
        err.write(f"locked {len(lock.packages)} package(s) for {', '.join(lock.targets)} "
                  f"(only files uploaded within {format_duration(lock.late_after)} of their "
                  "release's start"
                  + (f", and {verified} late-verified file(s)" if verified else "") + ")\n")
    if lock.build_packages and not quiet:
        err.write(f"and {len(lock.build_packages)} build dependenc(ies) of its sdists, kept "
                  "apart (pip --build-constraint):\n")
        for pkg in lock.build_packages:
            err.write(f"  {pkg.name} {pkg.version}: "
                      f"{'; '.join(a.filename for a in pkg.artifacts)} "
                      f"({', '.join(pkg.required_by)})\n")
    for pkg in lock.packages:
        if not quiet:
            files = "; ".join(f"{a.filename} ({', '.join(a.selected_by)}"
                              + (f"; late-verified against {a.proof.reference}"
                                 if a.proof is not None else "") + ")"
                              for a in pkg.artifacts)
            marker = f" ; {pkg.marker}" if pkg.marker else ""
            err.write(f"  {pkg.name} {pkg.version}{marker}: {files}\n")
        others = 0
        for lo in lock.left_out:
            if (lo.name, lo.version) != (pkg.name, pkg.version):
                continue
            if lo.kind == "late":
                err.write(f"  left out {lo.filename}: {lo.reason}\n")
            else:
                others += 1
        if others and not quiet:
            err.write(f"    ({others} other file(s) of this release: not selected for the "
                      "locked targets, or yanked)\n")


def _report(lock: Any, results: list[Any], policy: Any, outcome: str,
            written: list[str]) -> dict[str, Any]:
    from safeinstall import __version__
    from safeinstall.report import package_json, proof_json

    def iso(t: Any) -> str | None:
        return t.isoformat().replace("+00:00", "Z") if t is not None else None

    data: dict[str, Any] = {
        "schema_version": 1,
        "tool": {"name": "safe-install", "version": __version__, "command": "lock"},
        "outcome": outcome,
        "late_after_seconds": policy.late_after.total_seconds(),
        "targets": [label for label, _ in results],
        "written": written,
        "checks": {label: [package_json(p) for p in r.packages] for label, r in results},
    }
    if lock is not None:
        data["packages"] = [{
            "name": p.name, "version": p.version, "marker": p.marker,
            "required_by": list(p.required_by),
            "release_start": iso(p.release_start),
            "files": [{"filename": a.filename, "sha256": a.sha256, "url": a.url,
                       "index": a.index, "size": a.size, "upload_time": iso(a.upload_time),
                       "lateness_seconds": a.lateness.total_seconds()
                       if a.lateness is not None else None,
                       "selected_by": list(a.selected_by), "allowed_late": a.allowed_late,
                       "proof": proof_json(a.proof) if a.proof is not None else None}
                      for a in p.artifacts],
        } for p in lock.packages]
        data["left_out"] = [{"name": lo.name, "version": lo.version, "filename": lo.filename,
                             "sha256": lo.sha256, "kind": lo.kind, "reason": lo.reason,
                             "lateness_seconds": lo.lateness.total_seconds()
                             if lo.lateness is not None else None}
                            for lo in lock.left_out]
        data["build_packages"] = [{
            "name": p.name, "version": p.version, "required_by": list(p.required_by),
            "files": [{"filename": a.filename, "sha256": a.sha256, "url": a.url,
                       "upload_time": iso(a.upload_time)} for a in p.artifacts],
        } for p in lock.build_packages]
    return data
