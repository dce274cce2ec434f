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
from safeinstall.finder import Finder, IndexFile, ProjectListing
from safeinstall.policy import Policy
from safeinstall.target import TargetPython
from safeinstall.timeline import timeline_for

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from safeinstall.checker import CheckResult, UserRequirement

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


@dataclass(frozen=True)
class Lock:
    packages: tuple[LockedPackage, ...]
    left_out: tuple[LeftOut, ...]
    targets: tuple[str, ...]
    generated_at: datetime
    late_after: timedelta
    notes: tuple[str, ...] = ()


def build_lock(results: Sequence[tuple[str, CheckResult]], finder: OnTimeFinder, *,
               policy: Policy, now: datetime) -> Lock:
    """Merge one checked resolution per target (label, result) into a lock.

    Every target must resolve to the same versions (a requirements file has one version per
    name); different files per target are fine and are all recorded.
    """
    from safeinstall.resolver import IndexCandidate

    versions: dict[str, dict[str, str]] = {}
    chosen: dict[str, dict[str, tuple[IndexFile, list[str]]]] = {}
    required_by: dict[str, list[str]] = {}
    starts: dict[str, datetime | None] = {}
    allowed: dict[str, str] = {}
    proofs: dict[str, Proof] = {}
    for label, result in results:
        for pkg in result.packages:
            cand = result.plan.get(pkg.name)
            if not isinstance(cand, IndexCandidate):
                where = pkg.url or pkg.filename or pkg.name
                raise UsageError(
                    f"{pkg.name} {pkg.version} comes from {where}, not from an index: a lock "
                    "records checked index artifacts only",
                    hint="lock the project's dependencies (list them, or use -r), and install "
                    "the project itself separately")
            versions.setdefault(pkg.name, {})[label] = pkg.version
            files = chosen.setdefault(pkg.name, {})
            f = cand.file
            entry = files.setdefault(f.filename, (f, []))
            entry[1].append(label)
            for who in pkg.required_by:
                if who not in required_by.setdefault(pkg.name, []):
                    required_by[pkg.name].append(who)
            starts[pkg.name] = pkg.release_start
            for finding in pkg.findings:
                if finding.kind == "late" and finding.severity == "info" and \
                        finding.filename == f.filename:
                    allowed[f.filename] = finding.message
            if pkg.proof is not None and pkg.filename == f.filename:
                proofs[f.filename] = pkg.proof
    conflicts = {n: v for n, v in versions.items() if len(set(v.values())) > 1}
    if conflicts:
        lines = [f"{n}: " + ", ".join(f"{ver} for {t}" for t, ver in v.items())
                 for n, v in sorted(conflicts.items())]
        raise ResolutionError(
            "the targets resolve to different versions, which one requirements file cannot "
            "hold:\n  " + "\n  ".join(lines),
            hint="pin the versions so that every target agrees, or lock each target into its "
            "own files")
    packages: list[LockedPackage] = []
    left_out: list[LeftOut] = []
    for name in sorted(chosen):
        version = next(iter(versions[name].values()))
        arts: list[LockedArtifact] = []
        listing = finder.unfiltered(name)
        for filename, (f, labels) in sorted(chosen[name].items()):
            tl, _ = timeline_for(listing, f)
            dated = tl.date(f)
            arts.append(LockedArtifact(
                filename=f.filename, url=f.url, index=f.source.url, sha256=f.sha256 or "",
                size=f.size, upload_time=dated.upload_time, lateness=dated.lateness,
                is_wheel=f.is_wheel, selected_by=tuple(labels),
                allowed_late=allowed.get(filename), proof=proofs.get(filename)))
        packages.append(LockedPackage(name, version, tuple(arts),
                                      tuple(required_by.get(name, ())), starts.get(name)))
        recorded = {a.filename for a in arts}
        sources = {f.source for f, _ in chosen[name].values()}
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
    return Lock(tuple(packages), tuple(left_out), tuple(label for label, _ in results), now,
                policy.late_after)


def _iso(t: datetime | None) -> str:
    if t is None:
        return "unknown"
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def requirements_text(lock: Lock, *, command: str) -> str:
    """The lock as a pip requirements file with ``--hash`` options (``--require-hashes``)."""
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
        "",
    ]
    late: dict[tuple[str, str], list[LeftOut]] = {}
    for lo in lock.left_out:
        if lo.kind == "late":
            late.setdefault((lo.name, lo.version), []).append(lo)
    for pkg in lock.packages:
        hashes = sorted({a.sha256 for a in pkg.artifacts})
        out.append(f"{pkg.name}=={pkg.version} \\")
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
            out.append(f"    # via {', '.join(pkg.required_by)}")
    return "\n".join(out) + "\n"


def pylock_dict(lock: Lock) -> dict[str, Any]:
    """The lock as a PEP 751 document, built and validated with :mod:`packaging.pylock`."""
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

    @property
    def hashes(self) -> frozenset[str]:
        return frozenset(f.sha256 for f in self.files)


@dataclass(frozen=True)
class ReadLock:
    path: str
    format: LockFormat
    releases: tuple[LockedRelease, ...]
    indexes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def by_release(self) -> dict[tuple[NormalizedName, str], LockedRelease]:
        out: dict[tuple[NormalizedName, str], LockedRelease] = {}
        for r in self.releases:
            key = (r.name, _norm_version(r.version))
            prev = out.get(key)
            if prev is None:
                out[key] = r
            else:  # the same release twice (e.g. Pipfile.lock default and develop)
                files = {f.sha256: f for f in (*prev.files, *r.files)}
                out[key] = LockedRelease(r.name, r.version, tuple(files.values()),
                                         prev.index or r.index, prev.line)
        return out

    def line_of(self, sha256: str) -> int | None:
        for r in self.releases:
            if sha256 in r.hashes:
                return r.line
        return None


def _norm_version(v: str) -> str:
    try:
        return str(Version(v))
    except InvalidVersion:
        return v


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


def _sha256_of(hashes: Iterable[str]) -> list[str]:
    out = []
    for h in hashes:
        algo, _, value = str(h).partition(":")
        if algo.lower() == "sha256" and value:
            out.append(value.lower())
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


def read_lock(path: str, *, text: str | None = None, fmt: LockFormat | None = None,
              environ: Mapping[str, str] | None = None) -> ReadLock:
    """Read a lock file (``text`` instead of the file's content when given, e.g. from git)."""
    fmt = fmt or detect_format(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RequirementError(f"cannot read lock file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise RequirementError(f"lock file {path} is not UTF-8 text") from None
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
    for line in parsed.requirements:
        if line.editable:
            notes.append(f"{line.source}: editable requirement, nothing to check")
            continue
        try:
            req = Requirement(line.text)
        except InvalidRequirement:
            notes.append(f"{line.source}: {line.text!r} is not a named requirement; skipped")
            continue
        pins = [s for s in req.specifier if s.operator in ("==", "===")
                and not s.version.endswith(".*")]
        if req.url or len(pins) != 1:
            notes.append(f"{line.source}: {line.text!r} is not pinned to one version; skipped")
            continue
        hashes = _sha256_of(line.hashes)
        if not hashes:
            notes.append(f"{line.source}: {req.name} has no sha256 --hash; nothing to check")
            continue
        lineno = int(line.source.rsplit(":", 1)[1]) if ":" in line.source else None
        releases.append(LockedRelease(canonicalize_name(req.name), pins[0].version,
                                      tuple(LockedFile(h) for h in hashes), None, lineno))
    fo = parsed.options
    indexes = () if fo.no_index else tuple(
        _slash(u) for u in ([fo.index_url] if fo.index_url else []) + list(fo.extra_index_urls))
    return ReadLock(path, "requirements", tuple(releases), indexes, tuple(notes))


def _read_pylock(path: str, data: dict[str, Any], text: str) -> ReadLock:
    from packaging.pylock import PackageSdist, PackageWheel, Pylock

    try:
        lock = Pylock.from_dict(data)
    except Exception as exc:  # PylockValidationError and friends
        raise RequirementError(f"{path} is not a valid pylock.toml: {exc}") from None
    find = _line_finder(text)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    indexes: list[str] = []
    for pkg in lock.packages:
        if pkg.version is None or (pkg.wheels is None and pkg.sdist is None):
            notes.append(f"{path}: {pkg.name} is not an index package (VCS, directory or "
                         "archive); nothing to date")
            continue
        files: list[LockedFile] = []
        dists: list[PackageWheel | PackageSdist] = [*(pkg.wheels or [])]
        if pkg.sdist is not None:
            dists.append(pkg.sdist)
        for dist in dists:
            sha = dist.hashes.get("sha256")
            if not sha:
                notes.append(f"{path}: {dist.filename} of {pkg.name} has no sha256")
                continue
            files.append(LockedFile(sha.lower(), dist.filename, dist.url, dist.upload_time))
        if pkg.index and _slash(pkg.index) not in indexes:
            indexes.append(_slash(pkg.index))
        releases.append(LockedRelease(pkg.name, str(pkg.version), tuple(files),
                                      _slash(pkg.index) if pkg.index else None,
                                      find(f'name = "{pkg.name}"')))
    return ReadLock(path, "pylock", tuple(releases), tuple(indexes), tuple(notes))


def _read_pipfile(path: str, text: str) -> ReadLock:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RequirementError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequirementError(f"{path} is not a Pipfile.lock (no JSON object)")
    sources = {s.get("name"): _slash(str(s.get("url")))
               for s in data.get("_meta", {}).get("sources", []) if isinstance(s, dict)}
    default_index = next(iter(sources.values()), PYPI_SIMPLE)
    find = _line_finder(text)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    for section in ("default", "develop"):
        entries = data.get(section, {})
        if not isinstance(entries, dict):
            continue
        for name, entry in entries.items():
            if not isinstance(entry, dict):
                continue
            version = str(entry.get("version", ""))
            if not version.startswith("=="):
                notes.append(f"{path}: {name} ({section}) is not an index package pinned "
                             "with ==; skipped")
                continue
            hashes = _sha256_of(entry.get("hashes", []))
            index = sources.get(entry.get("index"), default_index)
            releases.append(LockedRelease(canonicalize_name(name), version[2:],
                                          tuple(LockedFile(h) for h in hashes), index,
                                          find(f'"{name}": {{')))
    return ReadLock(path, "pipfile", tuple(releases), tuple(dict.fromkeys(sources.values())),
                    tuple(notes))


def _read_poetry(path: str, data: dict[str, Any], text: str) -> ReadLock:
    find = _line_finder(text)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    indexes: list[str] = []
    for pkg in data.get("package", []):
        name, version = pkg.get("name"), pkg.get("version")
        if not name or not version:
            continue
        source = pkg.get("source") or {}
        stype = source.get("type")
        if stype not in (None, "legacy"):
            notes.append(f"{path}: {name} comes from a {stype} source; nothing to date")
            continue
        index = _slash(source["url"]) if stype == "legacy" and source.get("url") else PYPI_SIMPLE
        if index not in indexes:
            indexes.append(index)
        files = []
        for f in pkg.get("files", []):
            for sha in _sha256_of([f.get("hash", "")]):
                files.append(LockedFile(sha, f.get("file")))
        start = find(f'name = "{name}"')
        releases.append(LockedRelease(canonicalize_name(name), str(version), tuple(files), index,
                                      start))
    return ReadLock(path, "poetry", tuple(releases), tuple(indexes), tuple(notes))


def _read_uv(path: str, data: dict[str, Any], text: str) -> ReadLock:
    find = _line_finder(text)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    indexes: list[str] = []
    for pkg in data.get("package", []):
        name, version = pkg.get("name"), pkg.get("version")
        source = pkg.get("source") or {}
        registry = source.get("registry")
        if not name or not version or not registry:
            if name and not source.get("virtual") and not source.get("editable"):
                notes.append(f"{path}: {name} does not come from a registry; nothing to date")
            continue
        index = _slash(str(registry))
        if index not in indexes:
            indexes.append(index)
        files = []
        dists = [*([pkg["sdist"]] if isinstance(pkg.get("sdist"), dict) else []),
                 *(pkg.get("wheels") or [])]
        for dist in dists:
            for sha in _sha256_of([dist.get("hash", "")]):
                url = dist.get("url")
                filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) if url else None
                files.append(LockedFile(sha, filename, url, _parse_time(dist.get("upload-time"))))
        releases.append(LockedRelease(canonicalize_name(name), str(version), tuple(files), index,
                                      find(f'name = "{name}"')))
    return ReadLock(path, "uv", tuple(releases), tuple(indexes), tuple(notes))


# -- installing from pylock.toml ------------------------------------------------------------------


@dataclass(frozen=True)
class PylockSelection:
    requirements: tuple[UserRequirement, ...]
    indexes: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())


def pylock_requirements(location: str, *, target: TargetPython, cwd: str,
                        sdist_only: Iterable[str] = ()) -> PylockSelection:
    """What ``pip install -r pylock.toml[extras]`` installs for ``target``, as requirements.

    As pip 26: packages are selected by their markers and the target's tags
    (:meth:`packaging.pylock.Pylock.select`, default groups, the extras given in brackets), and
    each selected wheel or sdist becomes ``name==version`` pinned by its hashes. Directory,
    archive and VCS entries become path, URL and VCS requirements. The check then dates every
    file on its index (the package's ``index`` is added to the indexes searched).
    """
    from packaging.pylock import PackageArchive, PackageDirectory, PackageVcs, Pylock

    from safeinstall.checker import UserRequirement

    path, extras = split_extras(location)
    full = path if os.path.isabs(path) else os.path.join(cwd, path)
    try:
        data = tomllib.loads(Path(full).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RequirementError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RequirementError(f"{path} is not valid TOML: {exc}") from None
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
        if isinstance(dist, PackageVcs):
            url = dist.url or (Path(base_dir, dist.path or "").as_uri())
            text = f"{pkg.name} @ {dist.type}+{url}@{dist.commit_id}"
            reqs.append(UserRequirement(text, source, base_dir=base_dir))
            continue
        if isinstance(dist, PackageDirectory):
            reqs.append(UserRequirement(os.path.join(base_dir, dist.path), source,
                                        editable=bool(dist.editable), base_dir=base_dir))
            continue
        hashes = tuple(f"{algo}:{value.lower()}" for algo, value in dist.hashes.items())
        if isinstance(dist, PackageArchive):
            url = dist.url or Path(base_dir, dist.path or "").as_uri()
            reqs.append(UserRequirement(f"{pkg.name} @ {url}", source, hashes,
                                        base_dir=base_dir))
            continue
        version = pkg.version
        if version is None:
            raise RequirementError(f"{path}: {pkg.name} has files but no version")
        reqs.append(UserRequirement(f"{pkg.name}=={version}", source, hashes, base_dir=base_dir))
        if pkg.index and _slash(pkg.index) not in indexes:
            indexes.append(_slash(pkg.index))
        elif not pkg.index and dist.url:
            notes.append(f"{path}: {pkg.name} names no index; its file is dated on the "
                         "configured indexes")
    return PylockSelection(tuple(reqs), tuple(indexes), tuple(notes))


__all__ = [
    "target_label", "OnTimeFinder", "LeftOut", "Lock",
    "LockedPackage", "LockedArtifact", "build_lock", "requirements_text", "pylock_text",
    "pylock_dict", "dumps_toml", "read_lock", "ReadLock", "LockedRelease", "LockedFile",
    "detect_format", "is_pylock_name", "split_extras", "pylock_requirements",
    "PylockSelection", "write_atomically", "LOCK_FORMATS",
]
