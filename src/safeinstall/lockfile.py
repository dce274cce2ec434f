"""Lock files: targets to lock for, locks to write, and the five lock formats to read.

* Targets are ``NamedTarget`` values of :mod:`safeinstall.releaseview` (``--targets
  current,3.12:win_amd64``, as for ``timeline``); :func:`target_label` names one in a lock.
* :class:`OnTimeFinder` is a :class:`~safeinstall.finder.Finder` that hides every late file
  (unless an ``--allow-late`` exception covers it), so a lock is resolved from on-time files
  only and says which files it left out and why. With ``--on-late verify`` it shows late
  wheels until the check fails to prove one a benign backfill (:meth:`OnTimeFinder.unprove`).
* :func:`build_lock` merges one checked resolution per target into a :class:`Lock`;
  :func:`requirements_text` and :func:`pylock_text` write it as a hashed requirements file
  (for plain ``pip install --require-hashes``) and as a PEP 751 ``pylock.toml``.
* :func:`read_lock` reads hashed requirements files, ``pylock.toml``, ``Pipfile.lock``,
  ``poetry.lock`` and ``uv.lock`` into :class:`LockedRelease` entries (name, version, the
  sha256 of every file the lock trusts).
* :func:`pylock_requirements` selects from a ``pylock.toml`` for one target, as pip 26 does for
  ``pip install -r pylock.toml``, so that the checked install can check what it would install.

Nothing here prints or exits; errors are ``SafeInstallError`` subclasses that name the file.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from safeinstall.backfill import Proof
from safeinstall.errors import RequirementError, ResolutionError, UsageError
from safeinstall.fileio import write_atomically  # re-exported: the lock writers use it
from safeinstall.finder import Finder
from safeinstall.listing import ProjectListing
from safeinstall.models import IndexFile
from safeinstall.policy import Policy
from safeinstall.target import TargetPython
from safeinstall.timeline import timeline_for

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from safeinstall.models import UserRequirement
    from safeinstall.releaseview import NamedTarget
    from safeinstall.results import CheckResult, PackageResult

PYPI_SIMPLE = "https://pypi.org/simple/"
LockFormat = Literal["requirements", "pylock", "pipfile", "poetry", "uv"]
LOCK_FORMATS: tuple[LockFormat, ...] = ("requirements", "pylock", "pipfile", "poetry", "uv")

# -- targets --------------------------------------------------------------------------------------


def target_label(target: TargetPython) -> str:
    """A short, stable name for a target: ``cp312-manylinux_2_28_x86_64``."""
    return f"{target.implementation}{target.version[0]}{target.version[1]}-{target.platform_tag}"


# -- resolving from on-time files -----------------------------------------------------------------


@dataclass(frozen=True)
class LeftOut:
    """A file of a locked release that the lock does not record, and why."""

    name: str
    version: str
    filename: str
    sha256: str | None
    kind: Literal["late", "not-selected", "yanked"]
    reason: str
    upload_time: datetime | None = None
    lateness: timedelta | None = None


class OnTimeFinder(Finder):
    """A finder that does not show late files to the resolver.

    Files the policy judges late are hidden (and remembered in :attr:`hidden`) unless an
    ``--allow-late`` exception covers them. Files whose lateness is unknown (an undated or
    inconsistent timeline) stay visible, so the check still refuses them.

    With ``--on-late verify`` a late wheel stays visible, so that the check can prove it a
    benign backfill (``late-verified``); one it could not prove is hidden from the next
    resolution (:meth:`unprove`), with the reason in its :class:`LeftOut`.
    """

    def __init__(self, *, policy: Policy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy
        self.hidden: dict[str, LeftOut] = {}  # by filename
        self.unproven: dict[str, str] = {}  # filename -> why it is not late-verified
        self._filtered: dict[NormalizedName, ProjectListing] = {}

    def unprove(self, why_by_filename: Mapping[str, str]) -> bool:
        """Hide these late files from now on (their proof failed); False when nothing is new."""
        new = {k: v for k, v in why_by_filename.items() if k not in self.unproven}
        if not new:
            return False
        self.unproven.update(new)
        self._filtered.clear()
        return True

    def project(self, name: str) -> ProjectListing:
        from safeinstall.durations import format_duration

        key = canonicalize_name(name)
        cached = self._filtered.get(key)
        if cached is not None:
            return cached
        listing = super().project(key)
        kept: list[IndexFile] = []
        for f in listing.files:
            tl, _ = timeline_for(listing, f)
            judgment = self.policy.judge(f.project, f.version, tl.date(f))
            if judgment.verdict == "late":
                if self.policy.on_late == "verify" and f.is_wheel and \
                        f.filename not in self.unproven:
                    kept.append(f)  # the check proves it (late-verified) or refuses it
                    continue
                late = judgment.dated.lateness
                assert late is not None
                why = self.unproven.get(f.filename)
                self.hidden[f.filename] = LeftOut(
                    str(f.project), str(f.version), f.filename, f.sha256, "late",
                    f"late: uploaded {format_duration(late)} after its release began "
                    f"(threshold {format_duration(self.policy.late_after)})"
                    + (f"; {why}" if why else ""),
                    judgment.dated.upload_time, late)
                continue
            kept.append(f)
        filtered = ProjectListing(listing.name, tuple(kept), listing.notes)
        self._filtered[key] = filtered
        return filtered

    def unfiltered(self, name: str) -> ProjectListing:
        return super().project(name)


# -- the lock, as written -------------------------------------------------------------------------


@dataclass(frozen=True)
class LockedArtifact:
    filename: str
    url: str
    index: str
    sha256: str
    size: int | None
    upload_time: datetime | None
    lateness: timedelta | None
    is_wheel: bool
    selected_by: tuple[str, ...]  # target labels
    allowed_late: str | None = None  # the exception that admitted a late file
    proof: Proof | None = None  # the content proof that admitted a late file (late-verified)


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    artifacts: tuple[LockedArtifact, ...]
    required_by: tuple[str, ...]
    release_start: datetime | None
    #: PEP 508 environment marker: the entry applies to some of the lock's targets only
    marker: str | None = None


@dataclass(frozen=True)
class Lock:
    packages: tuple[LockedPackage, ...]
    left_out: tuple[LeftOut, ...]
    targets: tuple[str, ...]
    generated_at: datetime
    late_after: timedelta
    notes: tuple[str, ...] = ()
    #: the checked files the builds of its sdists use (build dependencies), kept apart: they
    #: are written to a build-constraints file, never installed
    build_packages: tuple[LockedPackage, ...] = ()


#: The marker variables that tell the lock's targets apart, most readable first.
MARKER_KEYS = ("sys_platform", "python_version", "platform_machine", "implementation_name")


def marker_for(labels: Sequence[str], envs: Mapping[str, Mapping[str, str]], *,
               what: str, versions: Mapping[str, str] | None = None) -> str | None:
    """A PEP 508 marker true for the targets ``labels`` and false for the lock's other targets
    (``envs``: every target's marker environment), or None when ``labels`` are all of them.

    One variable whose values split the targets is used when there is one
    (``sys_platform == "win32"``); else a disjunction of each target's distinguishing values.
    Targets that no marker can tell apart (same platform, machine and Python, different tags)
    are an error saying so."""
    chosen = set(labels)
    others = [t for t in envs if t not in chosen]
    if not others:
        return None
    for key in MARKER_KEYS:
        mine = {envs[t].get(key, "") for t in chosen}
        theirs = {envs[t].get(key, "") for t in others}
        if not mine & theirs:
            if key == "python_version" and len(mine) > 1:
                ranged = _version_range(mine, theirs)
                if ranged is not None:
                    return ranged
            return " or ".join(f'{key} == "{v}"' for v in sorted(mine))
    varying = [k for k in MARKER_KEYS if len({envs[t].get(k, "") for t in envs}) > 1]

    def values(t: str) -> tuple[str, ...]:
        return tuple(envs[t].get(k, "") for k in varying)

    for t in chosen:
        twin = next((o for o in others if values(o) == values(t)), None)
        if twin is not None:
            described = ", ".join(f"{k}={envs[t].get(k, '')!r}" for k in MARKER_KEYS)
            found = "; ".join(f"{v} for {x}" for x, v in (versions or {}).items())
            raise ResolutionError(
                f"{what} is needed for target {t} but not for {twin}, and no environment "
                f"marker can tell these two apart (both have {described}); "
                + (f"the targets resolve to: {found}" if found else ""),
                hint="pin the versions so that these targets agree, or lock them into "
                "separate files")
    clauses = sorted({" and ".join(f'{k} == "{envs[t].get(k, "")}"' for k in varying)
                      for t in chosen})
    return " or ".join(f"({c})" if len(clauses) > 1 and " and " in c else c for c in clauses)


def _version_range(mine: set[str], theirs: set[str]) -> str | None:
    """``python_version >= "3.11"`` (or ``<``) when ``mine`` are all the lock's Python versions
    above (or below) ``theirs``."""
    try:
        lo, hi = min(map(Version, mine)), max(map(Version, mine))
        others = [Version(v) for v in theirs]
    except InvalidVersion:
        return None
    if all(v < lo for v in others):
        return f'python_version >= "{lo}"'
    if all(v > hi for v in others):
        return f'python_version <= "{hi}"'
    return None


_PLATFORM_ENV = (
    ("win", {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"}),
    ("macos", {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix"}),
    ("linux", {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}),
)
_MACHINES = (("amd64", "AMD64"), ("x86_64", "x86_64"), ("aarch64", "aarch64"),
             ("arm64", "arm64"), ("i686", "i686"), ("win32", "x86"), ("armv7l", "armv7l"),
             ("ppc64le", "ppc64le"), ("s390x", "s390x"), ("universal2", "arm64"))


def lock_environment(python: str, platform_tag: str,
                     base: Mapping[str, str]) -> dict[str, str]:
    """The marker environment of CPython ``python`` on a machine of ``platform_tag`` (a wheel
    platform tag such as ``win_amd64``, ``manylinux_2_28_x86_64``, ``macosx_14_0_arm64``):
    what its pip evaluates markers with. Values that cannot be known stay ``base``'s."""
    env = dict(base)
    tag = platform_tag.lower()
    for prefix, values in _PLATFORM_ENV:
        if tag.startswith(prefix) or (prefix == "linux" and "linux" in tag):
            env.update(values)
            break
    for suffix, machine in _MACHINES:
        if tag.endswith(suffix):
            env["platform_machine"] = machine
            break
    if python and python[0].isdigit():
        env["python_version"] = ".".join(python.split(".")[:2])
        env["python_full_version"] = python if python.count(".") >= 2 else f"{python}.0"
        env["implementation_name"] = "cpython"
        env["platform_python_implementation"] = "CPython"
        env["implementation_version"] = env["python_full_version"]
    return env


def for_lock(named: NamedTarget) -> NamedTarget:
    """``named`` with the marker environment of the machine it describes (``current`` is
    unchanged): a lock made on Linux for ``3.12:win_amd64`` evaluates ``sys_platform ==
    "win32"`` as true for that target."""
    from dataclasses import replace

    if named.platform == "current":
        return named
    from safeinstall.releaseview import PLATFORM_FAMILIES

    tags = PLATFORM_FAMILIES.get(named.platform) or tuple(named.platform.split("+"))
    env = lock_environment(named.python, tags[0] if tags else "", named.target.environment)
    return replace(named, target=replace(named.target, environment=env))


def build_lock(results: Sequence[tuple[str, CheckResult]], finder: OnTimeFinder, *,
               policy: Policy, now: datetime) -> Lock:
    """Merge one checked resolution per target (label, result) into a lock.

    Different files per target are all recorded. A release that only some targets install
    (a dependency behind an environment marker, or another version of the same project)
    carries an environment marker that selects exactly those of the lock's targets
    (:func:`marker_for`), so the lock is right on every target it names.
    """
    from safeinstall.resolver import IndexCandidate

    versions: dict[str, dict[str, str]] = {}
    chosen: dict[tuple[str, str], dict[str, tuple[IndexFile, list[str]]]] = {}
    required_by: dict[str, list[str]] = {}
    starts: dict[tuple[str, str], datetime | None] = {}
    allowed: dict[str, str] = {}
    proofs: dict[str, Proof] = {}
    build: dict[tuple[str, str], dict[str, tuple[PackageResult, list[str]]]] = {}
    for label, result in results:
        for pkg in result.packages:
            if pkg.build_time:  # a build dependency of an sdist: kept apart
                if pkg.filename and pkg.url and pkg.sha256:
                    entry_b = build.setdefault((pkg.name, pkg.version), {}).setdefault(
                        pkg.filename, (pkg, []))
                    entry_b[1].append(label)
                continue
            cand = result.plan.get(pkg.name)
            if not isinstance(cand, IndexCandidate):
                where = pkg.url or pkg.filename or pkg.name
                raise UsageError(
                    f"{pkg.name} {pkg.version} comes from {where}, not from an index: a lock "
                    "records checked index artifacts only",
                    hint="lock the project's dependencies (list them, or use -r), and install "
                    "the project itself separately")
            versions.setdefault(pkg.name, {})[label] = pkg.version
            files = chosen.setdefault((pkg.name, pkg.version), {})
            f = cand.file
            entry = files.setdefault(f.filename, (f, []))
            entry[1].append(label)
            for who in pkg.required_by:
                if who not in required_by.setdefault(pkg.name, []):
                    required_by[pkg.name].append(who)
            starts[(pkg.name, pkg.version)] = pkg.release_start
            for finding in pkg.findings:
                if finding.kind == "late" and finding.severity == "info" and \
                        finding.filename == f.filename:
                    allowed[f.filename] = finding.message
            if pkg.proof is not None and pkg.filename == f.filename:
                proofs[f.filename] = pkg.proof
    envs = {label: dict(result.target.environment) for label, result in results}
    markers: dict[tuple[str, str], str | None] = {}
    for name, by_label in versions.items():
        for version in set(by_label.values()):
            markers[(name, version)] = marker_for(
                [t for t, v in by_label.items() if v == version], envs,
                what=f"{name} {version}", versions=by_label)
    packages: list[LockedPackage] = []
    left_out: list[LeftOut] = []
    for key in sorted(chosen, key=lambda k: (k[0], Version(k[1]))):
        name, version = key
        arts: list[LockedArtifact] = []
        listing = finder.unfiltered(name)
        for filename, (f, labels) in sorted(chosen[key].items()):
            tl, _ = timeline_for(listing, f)
            dated = tl.date(f)
            arts.append(LockedArtifact(
                filename=f.filename, url=f.url, index=f.source.url, sha256=f.sha256 or "",
                size=f.size, upload_time=dated.upload_time, lateness=dated.lateness,
                is_wheel=f.is_wheel, selected_by=tuple(labels),
                allowed_late=allowed.get(filename), proof=proofs.get(filename)))
        packages.append(LockedPackage(name, version, tuple(arts),
                                      tuple(required_by.get(name, ())), starts.get(key),
                                      markers.get(key)))
        recorded = {a.filename for a in arts}
        sources = {f.source for f, _ in chosen[key].values()}
        for g in listing.files:
            if str(g.version) != version or g.source not in sources or \
                    g.filename in recorded:
                continue
            hidden = finder.hidden.get(g.filename)
            if hidden is not None:
                left_out.append(hidden)
            elif g.is_yanked:
                left_out.append(LeftOut(name, version, g.filename, g.sha256, "yanked",
                                        "yanked" + (f": {g.yanked}" if g.yanked else "")))
            else:
                left_out.append(LeftOut(name, version, g.filename, g.sha256, "not-selected",
                                        "no locked target selects it", g.upload_time))
        for fname in recorded:
            if not next(iter(a for a in arts if a.filename == fname)).sha256:
                raise ResolutionError(f"{fname}: the index publishes no sha256 for it, so it "
                                      "cannot be locked by hash")
    build_packages = []
    for (name, version), by_file in sorted(build.items()):
        first = next(iter(by_file.values()))[0]
        build_packages.append(LockedPackage(name, version, tuple(
            LockedArtifact(filename=fn, url=p.url or "", index=p.index or "",
                           sha256=p.sha256 or "", size=None, upload_time=p.upload_time,
                           lateness=p.lateness, is_wheel=fn.endswith(".whl"),
                           selected_by=tuple(labels))
            for fn, (p, labels) in sorted(by_file.items())), first.required_by,
            first.release_start))
    return Lock(tuple(packages), tuple(left_out), tuple(label for label, _ in results), now,
                policy.late_after, build_packages=tuple(build_packages))


def _iso(t: datetime | None) -> str:
    if t is None:
        return "unknown"
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _via(who: str, base_dir: str | None) -> str:
    """``the user (/abs/requirements.in:3)`` with the path relative to the lock's directory."""
    m = re.fullmatch(r"the user \((.+):(\d+)\)", who)
    if base_dir is None or m is None or not os.path.isabs(m.group(1)):
        return who
    try:
        rel = os.path.relpath(m.group(1), base_dir)
    except ValueError:  # another drive
        return who
    return f"the user ({rel}:{m.group(2)})"


def requirements_text(lock: Lock, *, command: str, base_dir: str | None = None,
                      build_constraints: str | None = None) -> str:
    """The lock as a pip requirements file with ``--hash`` options (``--require-hashes``);
    paths in comments are relative to ``base_dir`` (the lock's directory) when given."""
    from safeinstall import __version__
    from safeinstall.durations import format_duration

    out = [
        f"# This file was generated by safe-install-tool lock (safe-install {__version__}).",
        f"#    {command}",
        f"# Targets: {', '.join(lock.targets)}",
        "# It records only files that passed the checks: each was uploaded at most "
        f"{format_duration(lock.late_after)} after its release began"
        + (", or is late-verified (proven a benign backfill; its comment names the proof)."
           if any(a.proof is not None for p in lock.packages for a in p.artifacts) else "."),
        "# Install with: pip install --require-hashes -r THIS_FILE (or safe-install -r).",
    ]
    if build_constraints:
        out.append("# Its sdists build from checked files only with: --build-constraint "
                   f"{build_constraints}")
    out.append("")
    late: dict[tuple[str, str], list[LeftOut]] = {}
    for lo in lock.left_out:
        if lo.kind == "late":
            late.setdefault((lo.name, lo.version), []).append(lo)
    for pkg in lock.packages:
        hashes = sorted({a.sha256 for a in pkg.artifacts})
        marker = f" ; {pkg.marker}" if pkg.marker else ""
        out.append(f"{pkg.name}=={pkg.version}{marker} \\")
        cont = " \\"
        out.extend(f"    --hash=sha256:{h}{cont if i < len(hashes) - 1 else ''}"
                   for i, h in enumerate(hashes))
        for a in pkg.artifacts:
            extra = f" (allowed late: {a.allowed_late})" if a.allowed_late else ""
            if a.proof is not None:
                extra = (f" (late-verified, {format_duration(a.lateness)} late: "
                         if a.lateness is not None else " (late-verified: ") + \
                    (f"{a.proof.describe()}; {a.proof.reference} has sha256 "
                     f"{a.proof.reference_sha256})")
            out.append(f"    # {a.filename} uploaded {_iso(a.upload_time)}, for "
                       f"{', '.join(a.selected_by)}{extra}")
        for lo in late.get((pkg.name, pkg.version), []):
            out.append(f"    # left out {lo.filename}: {lo.reason}")
        if pkg.required_by:
            out.append(f"    # via {', '.join(_via(w, base_dir) for w in pkg.required_by)}")
    return "\n".join(out) + "\n"


def build_constraints_text(lock: Lock, *, command: str) -> str:
    """The lock's build dependencies as a pip constraints file for ``--build-constraint``
    (pip 26): each checked build file pinned by version and sha256, so that building the
    lock's sdists installs nothing else into their build environments."""
    from safeinstall import __version__
    from safeinstall.durations import format_duration

    out = [
        f"# This file was generated by safe-install-tool lock (safe-install {__version__}).",
        f"#    {command}",
        f"# Targets: {', '.join(lock.targets)}",
        "# The checked build dependencies of the locked sdists: each file was uploaded at most "
        f"{format_duration(lock.late_after)} after its release began.",
        "# Use with: pip install --require-hashes -r <the requirements lock> "
        "--build-constraint THIS_FILE",
        "",
    ]
    versions: dict[str, list[LockedPackage]] = {}
    for pkg in lock.build_packages:
        versions.setdefault(str(canonicalize_name(pkg.name)), []).append(pkg)
    for name, pkgs in sorted(versions.items()):
        hashes = sorted({a.sha256 for p in pkgs for a in p.artifacts})
        # one version: pinned; several (build environments that need different ones): the
        # hashes alone pin the files, and pip takes the best that matches each environment
        head = f"{name}=={pkgs[0].version}" if len(pkgs) == 1 else name
        if len(pkgs) > 1:
            out.append(f"# {name}: build environments need different versions ("
                       f"{', '.join(p.version for p in pkgs)}); pinned by hash only (pip "
                       "fails closed if it would take another file)")
        out.append(f"{head} \\")
        cont = " \\"
        out.extend(f"    --hash=sha256:{h}{cont if i < len(hashes) - 1 else ''}"
                   for i, h in enumerate(hashes))
        for p in pkgs:
            for a in p.artifacts:
                out.append(f"    # {a.filename} uploaded {_iso(a.upload_time)}, for "
                           f"{', '.join(a.selected_by)}")
            if p.required_by:
                out.append(f"    # via {', '.join(p.required_by)}")
    return "\n".join(out) + "\n"


def pylock_dict(lock: Lock) -> dict[str, Any]:
    """The lock as a PEP 751 document, built and validated with :mod:`packaging.pylock`."""
    from packaging.markers import Marker
    from packaging.pylock import Package, PackageSdist, PackageWheel, Pylock

    from safeinstall import __version__

    packages = []
    for pkg in lock.packages:
        wheels = [PackageWheel(name=a.filename, upload_time=_second(a.upload_time), url=a.url,
                               path=None, size=a.size, hashes={"sha256": a.sha256})
                  for a in pkg.artifacts if a.is_wheel]
        sdists = [a for a in pkg.artifacts if not a.is_wheel]
        sdist = None
        if sdists:
            a = sdists[0]
            sdist = PackageSdist(name=a.filename, upload_time=_second(a.upload_time), url=a.url,
                                 path=None, size=a.size, hashes={"sha256": a.sha256})
        indexes = sorted({a.index for a in pkg.artifacts})
        packages.append(Package(
            name=canonicalize_name(pkg.name), version=Version(pkg.version),
            marker=Marker(pkg.marker) if pkg.marker else None,
            index=indexes[0] if len(indexes) == 1 else None,
            wheels=wheels or None, sdist=sdist,
            tool={"safe-install": {
                "release-start": _iso(pkg.release_start),
                "selected-by": {a.filename: list(a.selected_by) for a in pkg.artifacts},
                **({"late-verified": {a.filename: proof_table(a.proof)
                                      for a in pkg.artifacts if a.proof is not None}}
                   if any(a.proof is not None for a in pkg.artifacts) else {}),
            }},
        ))
    tool = {"safe-install": {
        "version": __version__,
        "generated-at": _iso(lock.generated_at),
        "late-after-seconds": int(lock.late_after.total_seconds()),
        "targets": list(lock.targets),
        "left-out": [{"name": lo.name, "version": lo.version, "file": lo.filename,
                      "kind": lo.kind, "reason": lo.reason} for lo in lock.left_out],
        # the checked build dependencies of the sdists (pip --build-constraint material)
        "build-packages": [{
            "name": str(canonicalize_name(p.name)), "version": p.version,
            "required-by": list(p.required_by),
            "files": [{"name": a.filename, "url": a.url, "hashes": {"sha256": a.sha256},
                       **({"upload-time": _second(a.upload_time)} if a.upload_time else {})}
                      for a in p.artifacts],
        } for p in lock.build_packages],
    }}
    doc = Pylock(lock_version=Version("1.0"), created_by="safe-install", packages=packages,
                 tool=tool, environments=None, requires_python=None, extras=None,
                 dependency_groups=None, default_groups=None)
    doc.validate()
    return dict(doc.to_dict())


def proof_table(proof: Proof) -> dict[str, Any]:
    """A late-verified file's proof in a lock (pylock tool table, lock report)."""
    return {"kind": proof.kind, "reference": proof.reference,
            "reference-sha256": proof.reference_sha256 or "",
            "files-compared": proof.files_compared,
            "normalisations": list(proof.normalisations)}


def _second(t: datetime | None) -> datetime | None:
    return t.astimezone(timezone.utc) if t is not None else None


def pylock_text(lock: Lock) -> str:
    text = dumps_toml(pylock_dict(lock))
    from packaging.pylock import Pylock

    Pylock.from_dict(tomllib.loads(text))  # what we wrote reads back as a valid lock
    return text


# -- a minimal TOML writer (PEP 751 documents only need tables, arrays and scalars) ---------------


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and \
        all(isinstance(v, Mapping) for v in value)


def _is_table(value: Any) -> bool:
    """A mapping written as a ``[table]``: one holding tables or arrays of tables (small
    mappings of scalars, such as ``hashes``, are written inline)."""
    return isinstance(value, Mapping) and any(
        _is_table(v) or _is_table_array(v) or
        (isinstance(v, Mapping) and any(isinstance(x, Mapping) for x in v.values()))
        for v in value.values())


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Write ``data`` as TOML: mappings holding tables as ``[tables]``, lists of mappings as
    ``[[arrays of tables]]``, other mappings inline. Enough for lock files; what is written is
    read back and validated by the caller."""
    lines: list[str] = []

    def emit(table: Mapping[str, Any], path: list[str], header: str | None) -> None:
        scalars = [(k, v) for k, v in table.items()
                   if v is not None and not _is_table(v) and not _is_table_array(v)]
        if header is not None and (scalars or header.startswith("[[")):
            lines.extend(["", header])
        for k, v in scalars:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in table.items():
            if v is None:
                continue
            sub = [*path, _toml_key(k)]
            if _is_table(v):
                emit(v, sub, f"[{'.'.join(sub)}]")
            elif _is_table_array(v):
                for item in v:
                    emit(item, sub, f"[[{'.'.join(sub)}]]")

    emit(data, [], None)
    return "\n".join(lines).lstrip("\n") + "\n"


# -- reading locks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockedFile:
    sha256: str
    filename: str | None = None
    url: str | None = None
    upload_time: datetime | None = None


@dataclass(frozen=True)
class LockedRelease:
    name: NormalizedName
    version: str
    files: tuple[LockedFile, ...]
    index: str | None = None
    line: int | None = None  # where the entry starts in the lock file (1-based), if known
    marker: str | None = None  # the entry's environment marker, if any

    @property
    def hashes(self) -> frozenset[str]:
        return frozenset(f.sha256 for f in self.files)


UncheckedKind = Literal["no-hashes", "not-pinned", "no-sha256", "no-files", "direct-url", "vcs",
                        "path", "editable", "archive", "invalid-version"]


@dataclass(frozen=True)
class UncheckedEntry:
    """An entry of a lock whose files cannot be dated: what it is and why not."""

    name: NormalizedName | None
    version: str | None
    kind: UncheckedKind
    reason: str  # a sentence naming the entry
    line: int | None = None
    text: str = ""  # the entry as written (requirements) or its kind and location
    #: a local archive of a pylock.toml: its path (relative to the lock) and locked hashes
    archive: str | None = None
    archive_hashes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReadLock:
    path: str
    format: LockFormat
    releases: tuple[LockedRelease, ...]
    indexes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    unchecked: tuple[UncheckedEntry, ...] = ()

    def by_release(self) -> dict[tuple[NormalizedName, str], LockedRelease]:
        """The releases by canonical name and canonical version (``1.0`` and ``1.0.0`` are
        the same release)."""
        out: dict[tuple[NormalizedName, str], LockedRelease] = {}
        for r in self.releases:
            key = (r.name, release_key_version(r.version))
            prev = out.get(key)
            if prev is None:
                out[key] = r
            else:  # the same release twice (e.g. Pipfile.lock default and develop)
                files = {f.sha256: f for f in (*prev.files, *r.files)}
                out[key] = LockedRelease(r.name, r.version, tuple(files.values()),
                                         prev.index or r.index, prev.line,
                                         prev.marker if prev.marker == r.marker else None)
        return out

    def line_of(self, sha256: str) -> int | None:
        for r in self.releases:
            if sha256 in r.hashes:
                return r.line
        return None


def release_key_version(v: str) -> str:
    """The version as a key: PEP 440 canonical, trailing zeros stripped (``1.0.0`` -> ``1``)."""
    from packaging.utils import canonicalize_version

    try:
        return canonicalize_version(Version(v))
    except InvalidVersion:
        return v.strip().lower()


def detect_format(path: str) -> LockFormat:
    name = PurePath(path).name
    if is_pylock_name(name):
        return "pylock"
    if name == "Pipfile.lock":
        return "pipfile"
    if name == "poetry.lock":
        return "poetry"
    if name == "uv.lock":
        return "uv"
    return "requirements"


def is_pylock_name(name: str) -> bool:
    """``pylock.toml`` or ``pylock.NAME.toml`` (PEP 751), as pip recognises them."""
    from packaging.pylock import is_valid_pylock_path

    return is_valid_pylock_path(Path(PurePath(name).name))


def split_extras(location: str) -> tuple[str, frozenset[str]]:
    """``pylock.toml[a,b]`` -> (``pylock.toml``, {a, b}), as pip's ``strip_extras``."""
    m = re.match(r"^(.+?)\[([^\]]+)\]$", location.strip())
    if not m:
        return location, frozenset()
    return m.group(1), frozenset(canonicalize_name(e.strip()) for e in m.group(2).split(","))


_SHA256 = re.compile(r"[0-9a-f]{64}")


class _Malformed(Exception):
    """Raised inside a reader; :func:`read_lock` turns it into a RequirementError naming the
    file (the message names the entry)."""


def _bad(where: str, what: str) -> _Malformed:
    return _Malformed(f"{where}: {what}")


def _sha256_of(hashes: Iterable[Any], where: str = "") -> list[str]:
    """The sha256 digests among ``algo:hex`` strings (others, such as md5, are ignored); a
    value that is not a string, or a sha256 that is not 64 hex digits, is malformed."""
    out = []
    for h in hashes:
        if not isinstance(h, str):
            raise _bad(where, f"a hash must be a string like 'sha256:HEX', not "
                       f"{type(h).__name__}")
        algo, _, value = h.partition(":")
        if algo.strip().lower() == "sha256":
            digest = value.strip().lower()
            if not _SHA256.fullmatch(digest):
                raise _bad(where, f"{h[:80]!r} is not a sha256 digest (64 hex digits)")
            out.append(digest)
    return out


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str) and value:
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return None


def _line_finder(text: str) -> Any:
    lines = text.splitlines()

    def find(*needles: str, start: int = 0) -> int | None:
        for i in range(start, len(lines)):
            if all(n in lines[i] for n in needles):
                return i + 1
        return None

    return find


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(where, f"expected a table (object), found {type(value).__name__}")
    return value


def _array(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(where, f"expected an array (list), found {type(value).__name__}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _bad(where, f"expected a string, found {type(value).__name__}")
    return value


def _name(value: Any, where: str) -> NormalizedName:
    text = _string(value, where)
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", text):
        raise _bad(where, f"{text[:80]!r} is not a valid project name")
    return canonicalize_name(text)


def _version(value: Any, where: str) -> str:
    text = _string(value, where) if not isinstance(value, (int, float)) or \
        isinstance(value, bool) else str(value)
    try:
        Version(text)
    except InvalidVersion:
        raise _bad(where, f"{text[:80]!r} is not a valid version") from None
    return text


def _text(value: Any) -> str:
    """An entry as text, to tell whether it changed between two versions of a lock."""
    return json.dumps(value, sort_keys=True, default=str)


def read_lock(path: str, *, text: str | None = None, fmt: LockFormat | None = None,
              environ: Mapping[str, str] | None = None, label: str | None = None) -> ReadLock:
    """Read a lock file; ``label`` names it in errors instead of ``path`` (e.g. ``FILE@REV``
    when ``text`` is an older version from git)."""
    try:
        return _read_lock(path, text=text, fmt=fmt, environ=environ)
    except RequirementError as exc:
        if label is None or label == path:
            raise
        raise RequirementError(exc.message.replace(path, label), hint=exc.hint) from None


def _read_lock(path: str, *, text: str | None = None, fmt: LockFormat | None = None,
               environ: Mapping[str, str] | None = None) -> ReadLock:
    """Read a lock file (``text`` instead of the file's content when given, e.g. from git).

    A lock that is not what its format says (a table where an array belongs, a hash that is
    not a string, nesting too deep to read...) is a :class:`RequirementError` naming the file
    and the entry; entries that are well-formed but cannot be dated (no sha256, no files, VCS,
    paths, pins without hashes) are listed in :attr:`ReadLock.unchecked`."""
    fmt = fmt or detect_format(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RequirementError(f"cannot read lock file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise RequirementError(f"lock file {path} is not UTF-8 text") from None
    hint = "the lock is malformed: regenerate it with the tool that wrote it, and review " \
        "how it came to be like this"
    try:
        if fmt == "requirements":
            return _read_requirements(path, text, environ or {})
        if fmt == "pipfile":
            return _read_pipfile(path, text)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RequirementError(f"lock file {path} is not valid TOML: {exc}") from None
        if fmt == "pylock":
            return _read_pylock(path, data, text)
        if fmt == "poetry":
            return _read_poetry(path, data, text)
        return _read_uv(path, data, text)
    except _Malformed as exc:
        raise RequirementError(f"lock file {path} ({fmt}) is malformed: {exc}",
                               hint=hint) from None
    except RecursionError:
        raise RequirementError(f"lock file {path} ({fmt}) is nested too deeply to be read",
                               hint=hint) from None


def _read_requirements(path: str, text: str, environ: Mapping[str, str]) -> ReadLock:
    from packaging.requirements import InvalidRequirement, Requirement

    from safeinstall.reqfile import parse_requirement_files

    with tempfile.TemporaryDirectory(prefix="safe-install-lock-") as tmp:
        if os.path.exists(path) and Path(path).read_text(encoding="utf-8",
                                                         errors="replace") == text:
            target = path
        else:  # an old revision: parse the text next to nothing (includes cannot be followed)
            target = os.path.join(tmp, PurePath(path).name)
            Path(target).write_text(text, encoding="utf-8")
        parsed = parse_requirement_files([target], environ=environ)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    unchecked: list[UncheckedEntry] = []
    for line in parsed.requirements:
        lineno = int(line.source.rsplit(":", 1)[1]) if ":" in line.source and \
            line.source.rsplit(":", 1)[1].isdigit() else None
        where = f"{path}:{lineno}" if lineno else path
        if line.editable:
            unchecked.append(UncheckedEntry(None, None, "editable",
                                            f"{where}: editable requirement {line.text!r}: "
                                            "a path or VCS checkout, not checked", lineno,
                                            line.text))
            continue
        try:
            req = Requirement(line.text)
        except InvalidRequirement:
            unchecked.append(UncheckedEntry(None, None, "path",
                                            f"{where}: {line.text!r} is not a named requirement "
                                            "(a path or URL): not checked", lineno, line.text))
            continue
        name = canonicalize_name(req.name)
        if req.url:
            kind: UncheckedKind = "vcs" if "+" in req.url.split(":", 1)[0] else "direct-url"
            unchecked.append(UncheckedEntry(name, None, kind,
                                            f"{where}: {req.name} comes from {req.url!r}, not "
                                            "from an index: its files cannot be dated", lineno,
                                            line.text))
            continue
        pins = [s for s in req.specifier if s.operator in ("==", "===")
                and not s.version.endswith(".*")]
        if len(pins) != 1:
            unchecked.append(UncheckedEntry(name, None, "not-pinned",
                                            f"{where}: {line.text!r} is not pinned to one "
                                            "version: not checked", lineno, line.text))
            continue
        hashes = _sha256_of(line.hashes, where)
        if not hashes:
            kind = "no-sha256" if line.hashes else "no-hashes"
            unchecked.append(UncheckedEntry(
                name, pins[0].version, kind,
                f"{where}: {req.name}=={pins[0].version} has no sha256 --hash"
                + (" (only " + ", ".join(sorted({h.split(':')[0] for h in line.hashes}))
                   + ")" if line.hashes else "") + ": its files cannot be dated",
                lineno, line.text))
            continue
        releases.append(LockedRelease(name, pins[0].version,
                                      tuple(LockedFile(h) for h in hashes), None, lineno,
                                      str(req.marker) if req.marker else None))
    fo = parsed.options
    indexes = () if fo.no_index else tuple(
        _slash(u) for u in ([fo.index_url] if fo.index_url else []) + list(fo.extra_index_urls))
    return ReadLock(path, "requirements", tuple(releases), indexes, tuple(notes),
                    tuple(unchecked))


def _read_pylock(path: str, data: dict[str, Any], text: str) -> ReadLock:
    from packaging.pylock import PackageSdist, PackageWheel, Pylock

    try:
        lock = Pylock.from_dict(data)
    except Exception as exc:  # PylockValidationError and friends
        raise RequirementError(f"{path} is not a valid pylock.toml: {exc}") from None
    find = _line_finder(text)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    unchecked: list[UncheckedEntry] = []
    indexes: list[str] = []
    for pkg in lock.packages:
        line = find(f'name = "{pkg.name}"')
        where = f"{path}: package {pkg.name}" + (f" {pkg.version}" if pkg.version else "")
        name = canonicalize_name(pkg.name)
        version = str(pkg.version) if pkg.version is not None else None
        if pkg.wheels is None and pkg.sdist is None:
            if pkg.archive is not None:
                where_from = pkg.archive.path or pkg.archive.url or "?"
                local = pkg.archive.path if not pkg.archive.url else (
                    unquote(urlsplit(pkg.archive.url).path)
                    if pkg.archive.url.startswith("file:") else None)
                unchecked.append(UncheckedEntry(
                    name, version, "archive", f"{where}: an archive ({where_from}), not an "
                    "index file: it cannot be dated", line, f"archive {where_from}",
                    local, tuple(sorted(pkg.archive.hashes.items()))))
            elif pkg.vcs is not None:
                unchecked.append(UncheckedEntry(
                    name, version, "vcs", f"{where}: a VCS checkout "
                    f"({pkg.vcs.url or pkg.vcs.path}): not checked", line, "vcs"))
            elif pkg.directory is not None:
                unchecked.append(UncheckedEntry(
                    name, version, "path", f"{where}: a directory ({pkg.directory.path}): "
                    "not checked", line, "directory"))
            else:
                unchecked.append(UncheckedEntry(name, version, "no-files",
                                                f"{where}: lists no files", line, "no files"))
            continue
        if version is None:
            unchecked.append(UncheckedEntry(name, None, "not-pinned",
                                            f"{where}: has files but no version", line))
            continue
        files: list[LockedFile] = []
        dists: list[PackageWheel | PackageSdist] = [*(pkg.wheels or [])]
        if pkg.sdist is not None:
            dists.append(pkg.sdist)
        without: list[str] = []
        for dist in dists:
            shas = _sha256_of([f"{a}:{v}" for a, v in dist.hashes.items()],
                              f"{where}: {dist.filename}")
            if not shas:
                without.append(str(dist.filename))
                continue
            files.append(LockedFile(shas[0], dist.filename, dist.url, dist.upload_time))
        if without:
            unchecked.append(UncheckedEntry(name, version, "no-sha256",
                                            f"{where}: no sha256 for {', '.join(without)}",
                                            line))
        if not files:
            continue
        if pkg.index and _slash(pkg.index) not in indexes:
            indexes.append(_slash(pkg.index))
        releases.append(LockedRelease(name, version, tuple(files),
                                      _slash(pkg.index) if pkg.index else None, line,
                                      str(pkg.marker) if pkg.marker else None))
    return ReadLock(path, "pylock", tuple(releases), tuple(indexes), tuple(notes),
                    tuple(unchecked))


def _read_pipfile(path: str, text: str) -> ReadLock:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RequirementError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequirementError(f"{path} is not a Pipfile.lock (no JSON object)")
    meta = _table(data.get("_meta", {}), "_meta")
    sources: dict[str, str] = {}
    for i, s in enumerate(_array(meta.get("sources", []), "_meta.sources")):
        s = _table(s, f"_meta.sources[{i}]")
        sources[str(s.get("name"))] = _slash(_string(s.get("url"), f"_meta.sources[{i}].url"))
    default_index = next(iter(sources.values()), PYPI_SIMPLE)
    find = _line_finder(text)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    unchecked: list[UncheckedEntry] = []
    for section in ("default", "develop"):
        entries = _table(data.get(section, {}), section)
        for raw_name, raw in entries.items():
            where = f"{section}.{raw_name}"
            entry = _table(raw, where)
            name = _name(raw_name, where)
            line = find(f'"{raw_name}": {{')
            if any(k in entry for k in ("git", "hg", "svn", "bzr")):
                unchecked.append(UncheckedEntry(name, None, "vcs", f"{path}: {where} is a VCS "
                                                "checkout: not checked", line, _text(entry)))
                continue
            if "path" in entry or "file" in entry:
                unchecked.append(UncheckedEntry(name, None, "path", f"{path}: {where} is a "
                                                "path or URL: not checked", line, _text(entry)))
                continue
            version = _string(entry.get("version", ""), f"{where}.version")
            if not version.startswith("=="):
                unchecked.append(UncheckedEntry(name, None, "not-pinned",
                                                f"{path}: {where} is not pinned with ==: not "
                                                "checked", line, _text(entry)))
                continue
            version = _version(version[2:], f"{where}.version")
            hashes = _sha256_of(_array(entry.get("hashes", []), f"{where}.hashes"),
                                f"{where}.hashes")
            if not hashes:
                unchecked.append(UncheckedEntry(name, version, "no-sha256" if entry.get("hashes")
                                                else "no-hashes", f"{path}: {where} has no "
                                                "sha256 hash: its files cannot be dated", line,
                                                _text(entry)))
                continue
            index = sources.get(str(entry.get("index")), default_index)
            releases.append(LockedRelease(name, version, tuple(LockedFile(h) for h in hashes),
                                          index, line))
    return ReadLock(path, "pipfile", tuple(releases), tuple(dict.fromkeys(sources.values())),
                    tuple(notes), tuple(unchecked))


def _read_poetry(path: str, data: dict[str, Any], text: str) -> ReadLock:
    find = _line_finder(text)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    unchecked: list[UncheckedEntry] = []
    indexes: list[str] = []
    # poetry < 1.5 kept the files of every package under [metadata.files]
    legacy = _table(_table(data.get("metadata", {}), "metadata").get("files", {}),
                    "metadata.files")
    legacy_files = {canonicalize_name(str(k)): v for k, v in legacy.items()}
    for i, raw in enumerate(_array(data.get("package", []), "package")):
        pkg = _table(raw, f"package[{i}]")
        name = _name(pkg.get("name"), f"package[{i}].name")
        where = f"package {name}"
        version = _version(pkg.get("version"), f"{where}.version")
        start = find(f'name = "{pkg.get("name")}"')
        if "files" not in pkg and name in legacy_files:
            pkg = {**pkg, "files": legacy_files[name]}
        source = _table(pkg.get("source") or {}, f"{where}.source")
        stype = source.get("type")
        if stype not in (None, "legacy"):
            kind: UncheckedKind = "vcs" if stype == "git" else "path"
            unchecked.append(UncheckedEntry(name, version, kind, f"{path}: {where} comes from "
                                            f"a {stype} source: not checked", start,
                                            _text(source)))
            continue
        url = source.get("url")
        index = _slash(_string(url, f"{where}.source.url")) if stype == "legacy" and url \
            else PYPI_SIMPLE
        files = []
        for j, f in enumerate(_array(pkg.get("files", []), f"{where}.files")):
            f = _table(f, f"{where}.files[{j}]")
            for sha in _sha256_of([f.get("hash", "")], f"{where}.files[{j}].hash"):
                files.append(LockedFile(sha, f.get("file") if isinstance(f.get("file"), str)
                                        else None))
        _add_release(LockedRelease(name, version, tuple(files), index, start), path, where,
                     releases, indexes, unchecked)
    return ReadLock(path, "poetry", tuple(releases), tuple(indexes), tuple(notes),
                    tuple(unchecked))


def _add_release(release: LockedRelease, path: str, where: str,
                 releases: list[LockedRelease], indexes: list[str],
                 unchecked: list[UncheckedEntry]) -> None:
    """Record one locked release, or, when it lists no file with a sha256, an entry that
    cannot be checked (poetry and uv readers)."""
    if not release.files:
        unchecked.append(UncheckedEntry(release.name, release.version, "no-files",
                                        f"{path}: {where} lists no file with a sha256: "
                                        "nothing can be dated", release.line))
        return
    if release.index is not None and release.index not in indexes:
        indexes.append(release.index)
    releases.append(release)


def _read_uv(path: str, data: dict[str, Any], text: str) -> ReadLock:
    find = _line_finder(text)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    unchecked: list[UncheckedEntry] = []
    indexes: list[str] = []
    for i, raw in enumerate(_array(data.get("package", []), "package")):
        pkg = _table(raw, f"package[{i}]")
        name = _name(pkg.get("name"), f"package[{i}].name")
        where = f"package {name}"
        start = find(f'name = "{pkg.get("name")}"')
        source = _table(pkg.get("source") or {}, f"{where}.source")
        registry = source.get("registry")
        if not registry:
            if not source.get("virtual") and not source.get("editable"):
                kind: UncheckedKind = "vcs" if source.get("git") else \
                    "direct-url" if source.get("url") else "path"
                unchecked.append(UncheckedEntry(name, None, kind, f"{path}: {where} does not "
                                                "come from a registry: not checked", start,
                                                _text(source)))
            continue
        version = _version(pkg.get("version"), f"{where}.version")
        index = _slash(_string(registry, f"{where}.source.registry"))
        files = []
        dists: list[Any] = []
        if "sdist" in pkg:
            dists.append((f"{where}.sdist", _table(pkg["sdist"], f"{where}.sdist")))
        for j, w in enumerate(_array(pkg.get("wheels", []), f"{where}.wheels")):
            dists.append((f"{where}.wheels[{j}]", _table(w, f"{where}.wheels[{j}]")))
        for dwhere, dist in dists:
            for sha in _sha256_of([dist.get("hash", "")], f"{dwhere}.hash"):
                url = dist.get("url")
                url = url if isinstance(url, str) else None
                filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) if url else None
                files.append(LockedFile(sha, filename, url, _parse_time(dist.get("upload-time"))))
        _add_release(LockedRelease(name, version, tuple(files), index, start), path, where,
                     releases, indexes, unchecked)
    return ReadLock(path, "uv", tuple(releases), tuple(indexes), tuple(notes),
                    tuple(unchecked))


# -- installing from pylock.toml ------------------------------------------------------------------


@dataclass(frozen=True)
class PylockSelection:
    requirements: tuple[UserRequirement, ...]
    indexes: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())


ALLOW_OUTSIDE_ENV = "SAFE_INSTALL_ALLOW_LOCK_PATHS_OUTSIDE"


def _inside(base_dir: str, path: str, *, entry: str, lock: str, allow_outside: bool) -> str:
    """``path`` (relative to the lock's directory) resolved; outside that directory it is
    refused unless ``allow_outside``."""
    full = os.path.realpath(os.path.join(base_dir, path))
    base = os.path.realpath(base_dir)
    if not allow_outside and os.path.commonpath([base, full]) != base:
        raise RequirementError(
            f"{lock}: {entry} points outside the lock's directory ({path!r})",
            hint="a lock may only name files in its own directory tree; move the file there, "
            f"or set {ALLOW_OUTSIDE_ENV}=1 if you wrote this lock and mean it")
    return full


def check_archive(entry: UncheckedEntry, lock_path: str) -> str | None:
    """Why the local archive of a pylock entry is not the locked file (its path leaves the
    lock's directory, it cannot be read, or its sha256 differs), or None when it is."""
    if entry.archive is None:
        return None
    base_dir = os.path.dirname(os.path.abspath(lock_path))
    what = f"package {entry.name} (archive {entry.archive})"
    try:
        full = _inside(base_dir, entry.archive, entry=what, lock=lock_path,
                       allow_outside=False)
        verify_archive(full, dict(entry.archive_hashes), entry=what, lock=lock_path)
    except RequirementError as exc:
        return exc.message
    return None


def verify_archive(full: str, hashes: Mapping[str, str], *, entry: str, lock: str) -> None:
    """Check a local archive named by a lock against the lock's hashes, before anything
    reads, builds or installs it."""
    import hashlib

    wanted = {algo.lower(): value.lower() for algo, value in hashes.items()}
    if "sha256" not in wanted:
        raise RequirementError(f"{lock}: {entry} has no sha256 hash, so its bytes cannot be "
                               "verified", hint="add the archive's sha256 to the lock")
    digest = hashlib.sha256()
    try:
        with open(full, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise RequirementError(f"{lock}: cannot read {entry} ({full}): {exc.strerror}") \
            from None
    if digest.hexdigest() != wanted["sha256"]:
        raise RequirementError(
            f"{lock}: {entry}: the file's sha256 is {digest.hexdigest()}, the lock says "
            f"{wanted['sha256']}: it is not the file that was locked",
            hint="nothing was built or installed; find out how the file changed, then "
            "regenerate the lock")


def pylock_requirements(location: str, *, target: TargetPython, cwd: str,
                        sdist_only: Iterable[str] = (),
                        allow_outside: bool = False) -> PylockSelection:
    """What ``pip install -r pylock.toml[extras]`` installs for ``target``, as requirements.

    As pip 26: packages are selected by their markers and the target's tags
    (:meth:`packaging.pylock.Pylock.select`, default groups, the extras given in brackets), and
    each selected wheel or sdist becomes ``name==version`` pinned by its hashes. Directory,
    archive and VCS entries become path, URL and VCS requirements; their paths must stay in
    the lock's directory (unless ``allow_outside``), and a local archive's bytes are checked
    against the lock's sha256 here, before anything builds or installs it. The check then
    dates every file on the configured indexes; an index the lock names is only reported.
    """
    from packaging.pylock import PackageArchive, PackageDirectory, PackageVcs, Pylock

    from safeinstall.models import UserRequirement
    from safeinstall.urls import canonical_index_url

    path, extras = split_extras(location)
    full = path if os.path.isabs(path) else os.path.join(cwd, path)
    try:
        data = tomllib.loads(Path(full).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RequirementError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RequirementError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise RequirementError(f"{path} is nested too deeply to be read") from None
    try:
        lock = Pylock.from_dict(data)
    except Exception as exc:
        raise RequirementError(f"{path} is not a valid pylock.toml: {exc}") from None
    no_binary = {canonicalize_name(n) for n in sdist_only}
    try:
        selected = list(lock.select(
            environment=dict(target.environment),  # type: ignore[arg-type]
            tags=list(target.tags), extras=extras,
            prefer_sdist_predicate=lambda n: n in no_binary))
    except Exception as exc:
        raise RequirementError(f"cannot select from {path} for {target.describe()}: {exc}",
                               hint="the lock was made for other environments") from None
    base_dir = os.path.dirname(os.path.abspath(full))
    reqs: list[UserRequirement] = []
    indexes: list[str] = []
    notes: list[str] = [f"{path}: {len(selected)} package(s) selected for {target.describe()}"]
    for pkg, dist in selected:
        source = f"{path} ({pkg.name})"
        entry = f"package {pkg.name}"
        if isinstance(dist, PackageVcs):
            if dist.url:
                url = dist.url
            else:
                url = Path(_inside(base_dir, dist.path or "", entry=f"{entry} (vcs path)",
                                   lock=path, allow_outside=allow_outside)).as_uri()
            text = f"{pkg.name} @ {dist.type}+{url}@{dist.commit_id}"
            reqs.append(UserRequirement(text, source, base_dir=base_dir))
            continue
        if isinstance(dist, PackageDirectory):
            where = _inside(base_dir, dist.path, entry=f"{entry} (directory)", lock=path,
                            allow_outside=allow_outside)
            reqs.append(UserRequirement(where, source, editable=bool(dist.editable),
                                        base_dir=base_dir))
            continue
        hashes = tuple(f"{algo}:{value.lower()}" for algo, value in dist.hashes.items())
        if isinstance(dist, PackageArchive):
            local: str | None = None
            if dist.url and dist.url.startswith("file:"):
                local = unquote(urlsplit(dist.url).path)
            elif not dist.url:
                local = dist.path or ""
            if local is not None:
                what = f"{entry} (archive {local})"
                archive = _inside(base_dir, local, entry=what, lock=path,
                                  allow_outside=allow_outside)
                verify_archive(archive, dist.hashes, entry=what, lock=path)
                url = Path(archive).as_uri()
            else:
                url = str(dist.url)
            reqs.append(UserRequirement(f"{pkg.name} @ {url}", source, hashes,
                                        base_dir=base_dir))
            continue
        version = pkg.version
        if version is None:
            raise RequirementError(f"{path}: {pkg.name} has files but no version")
        reqs.append(UserRequirement(f"{pkg.name}=={version}", source, hashes, base_dir=base_dir))
        if pkg.index and canonical_index_url(pkg.index) not in \
                {canonical_index_url(u) for u in indexes}:
            indexes.append(_slash(pkg.index))
    return PylockSelection(tuple(reqs), tuple(indexes), tuple(notes))


__all__ = [
    "target_label", "OnTimeFinder", "LeftOut", "Lock",
    "LockedPackage", "LockedArtifact", "build_lock", "requirements_text", "pylock_text",
    "build_constraints_text",
    "pylock_dict", "dumps_toml", "read_lock", "ReadLock", "LockedRelease", "LockedFile",
    "detect_format", "is_pylock_name", "split_extras", "pylock_requirements",
    "PylockSelection", "write_atomically", "LOCK_FORMATS", "UncheckedEntry",
    "release_key_version", "verify_archive", "check_archive", "ALLOW_OUTSIDE_ENV", "marker_for",
    "lock_environment", "for_lock",
]
