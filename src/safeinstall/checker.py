"""The check: resolve what pip would install, date every selected artifact, apply the policy.

This is the library entry point behind ``safe-install``.  It never prints and never exits; the
target, the indexes, the policy and "now" are all parameters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from safeinstall.artifacts import (
    ArtifactStore,
    CoreMetadata,
    parse_metadata,
    read_wheel_metadata,
    static_sdist_metadata,
)
from safeinstall.errors import PolicyRefusal, RequirementError, SafeInstallError, UsageError
from safeinstall.finder import Finder, IndexFile
from safeinstall.pipoptions import PipSettings, environ_without_pip
from safeinstall.policy import Finding, Policy, is_refused, severity_for
from safeinstall.reqfile import ParsedRequirements, RequirementLine
from safeinstall.resolver import (
    Candidate,
    Constraint,
    DirectCandidate,
    ExplicitRequirement,
    IndexCandidate,
    InstalledCandidate,
    InstalledDist,
    Provider,
    Req,
    ResolvedPackage,
    ResolverOptions,
    named_requirements,
    resolve,
)
from safeinstall.selection import FormatControl, SelectionRules, order_candidates
from safeinstall.target import TargetPython
from safeinstall.timeline import ReleaseTimeline, likely_reason, timeline_for

Decision = Literal["install", "refuse", "already-satisfied"]
VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")


@dataclass(frozen=True)
class PackageResult:
    """Everything the report says about one package that would be installed."""

    name: str
    version: str
    kind: Literal["index", "installed", "local", "url", "vcs", "editable"]
    filename: str | None
    url: str | None
    index: str | None
    sha256: str | None
    upload_time: datetime | None
    release_start: datetime | None
    lateness: timedelta | None
    findings: tuple[Finding, ...]
    decision: Decision
    required_by: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    selection_reasons: tuple[str, ...] = ()
    release_files: int = 0
    metadata_source: str | None = None
    notes: tuple[str, ...] = ()
    trusted_hashes: tuple[str, ...] = ()  # sha256 values the user vouched for (--hash)
    passed_over: tuple[tuple[str, str], ...] = ()  # (filename, why pip did not take it)


@dataclass(frozen=True)
class CheckResult:
    target: TargetPython
    packages: tuple[PackageResult, ...]
    notes: tuple[str, ...]
    relaxations: tuple[str, ...]
    hash_mode: bool
    generated_at: datetime
    # for the installer: what exactly to install, by package name
    plan: Mapping[str, Candidate] = field(default_factory=dict, compare=False)
    metadata: Mapping[str, CoreMetadata] = field(default_factory=dict, compare=False)

    @property
    def refused(self) -> bool:
        return any(p.decision == "refuse" for p in self.packages)

    @property
    def findings(self) -> list[tuple[PackageResult, Finding]]:
        return [(p, f) for p in self.packages for f in p.findings]


class CheckRefused(PolicyRefusal):
    """Raised during resolution when an sdist fails its checks before it may be built."""

    def __init__(self, result: PackageResult) -> None:
        errors = [f.message for f in result.findings if f.severity == "error"]
        super().__init__(
            f"{result.name} {result.version} ({result.filename}) is refused before it is "
            f"built: {'; '.join(errors)}"
        )
        self.result = result


@dataclass(frozen=True)
class UserRequirement:
    text: str
    source: str
    hashes: tuple[str, ...] = ()
    editable: bool = False
    base_dir: str = ""


@dataclass
class CheckContext:
    settings: PipSettings
    policy: Policy
    target: TargetPython
    finder: Finder
    store: ArtifactStore
    environ: Mapping[str, str]
    now: datetime
    cwd: str
    progress: Callable[[str], None] = lambda _msg: None
    _metadata: dict[Candidate, CoreMetadata] = field(default_factory=dict)
    trusted: dict[NormalizedName, set[str]] = field(default_factory=dict)
    hash_mode: bool = False
    rules: SelectionRules | None = None
    notes: list[str] = field(default_factory=list)


# -- requirements --------------------------------------------------------------------------------


def _hash_map(hashes: Sequence[str]) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for h in hashes:
        algo, _, value = h.partition(":")
        out.setdefault(algo.lower(), set()).add(value.lower())
    return {k: frozenset(v) for k, v in out.items()}


def _looks_like_path(text: str) -> bool:
    return (text.startswith((".", "/", "~")) or os.sep in text or
            text.endswith((".whl", ".tar.gz", ".zip", ".tgz")))


def build_requirements(ctx: CheckContext, user_reqs: Sequence[UserRequirement],
                       constraint_lines: Sequence[RequirementLine]) -> tuple[
                           list[Req], dict[NormalizedName, Constraint], dict[NormalizedName, int]]:
    env = dict(ctx.target.environment)
    reqs: list[Req] = []
    order: dict[NormalizedName, int] = {}
    for i, ur in enumerate(user_reqs):
        where = f"the user ({ur.source})" if ur.source != "command line" else "the user"
        if ur.editable:
            cand = direct_candidate(ctx, ur, None, editable=True)
            order.setdefault(cand.name, i)
            reqs.append(ExplicitRequirement(cand, where, i))
            continue
        try:
            req = Requirement(ur.text)
        except InvalidRequirement as exc:
            if _looks_like_path(ur.text) or "://" in ur.text or ur.text.startswith(VCS_PREFIXES):
                cand = direct_candidate(ctx, ur, None)
                order.setdefault(cand.name, i)
                reqs.append(ExplicitRequirement(cand, where, i))
                continue
            raise RequirementError(
                f"invalid requirement {ur.text!r} ({ur.source}): {exc}",
                hint="write a PEP 508 requirement such as 'name>=1.0', a path, or a URL",
            ) from None
        if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
            ctx.notes.append(f"ignoring {ur.text!r} ({ur.source}): its markers do not match "
                             "the target")
            continue
        name = canonicalize_name(req.name)
        order.setdefault(name, i)
        if ur.hashes:
            ctx.trusted.setdefault(name, set()).update(
                h.split(":", 1)[1].lower() for h in ur.hashes if h.lower().startswith("sha256:"))
        if req.url:
            cand = direct_candidate(ctx, ur, req)
            reqs.append(ExplicitRequirement(cand, where, i))
            continue
        reqs.extend(named_requirements(req, where, user_order=i, hashes=_hash_map(ur.hashes)))
    constraints: dict[NormalizedName, Constraint] = {}
    for line in constraint_lines:
        try:
            creq = Requirement(line.text)
        except InvalidRequirement as exc:
            raise RequirementError(f"invalid constraint {line.text!r} ({line.source}): {exc}",
                                   hint="constraints are named requirements like 'name<2'") \
                from None
        if creq.url or creq.extras:
            raise RequirementError(
                f"constraint {line.text!r} ({line.source}) has a URL or extras; pip forbids that",
                hint="constraints must be plain 'name<spec>' lines")
        if creq.marker is not None and not creq.marker.evaluate({**env, "extra": ""}):
            continue
        cname = canonicalize_name(creq.name)
        prev = constraints.get(cname)
        spec = creq.specifier & prev.specifier if prev else creq.specifier
        hashes = dict(prev.hashes) if prev else {}
        for algo, values in _hash_map(line.hashes).items():
            hashes[algo] = hashes.get(algo, frozenset()) | values
        if line.hashes:
            ctx.trusted.setdefault(cname, set()).update(
                h.split(":", 1)[1].lower() for h in line.hashes
                if h.lower().startswith("sha256:"))
        constraints[cname] = Constraint(spec, hashes, line.source)
    return reqs, constraints, order


def pip_metadata_report(ctx: CheckContext, spec: str, *,
                        editable: bool = False) -> dict[str, object]:
    """Have pip prepare metadata for ``spec`` (builds it: only for checked or own code)."""
    s = ctx.settings
    cmd = [sys.executable, "-m", "pip"]
    if s.python:
        cmd += ["--python", ctx.target.executable]
    cmd += ["install", "--dry-run", "--no-deps", "--ignore-installed", "--quiet", "--report", "-"]
    cmd += index_args(s)
    cmd += ["-e", spec] if editable else [spec]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ctx.cwd,
                          env=environ_without_pip(ctx.environ), timeout=3600)
    if proc.returncode != 0:
        raise UsageError(
            f"pip could not prepare the metadata of {spec!r}:\n{proc.stderr.strip()[-1500:]}",
            hint="fix the project so that it builds, or install it with pip yourself",
        )
    try:
        report = json.loads(proc.stdout)
        item = report["install"][0]
    except (ValueError, KeyError, IndexError):
        raise UsageError(f"pip gave no metadata for {spec!r}") from None
    assert isinstance(item, dict)
    return item


def _metadata_from_report(item: Mapping[str, object], source: str) -> CoreMetadata:
    meta = item.get("metadata")
    if not isinstance(meta, dict):
        raise UsageError(f"pip gave no metadata for {source}")
    return CoreMetadata(
        name=str(meta["name"]),
        version=str(meta["version"]),
        requires_dist=tuple(meta.get("requires_dist", []) or []),
        requires_python=meta.get("requires_python"),
        provides_extra=tuple(meta.get("provides_extra", []) or []),
        source="build",
    )


def index_args(s: PipSettings) -> list[str]:
    args: list[str] = []
    if s.no_index:
        args.append("--no-index")
    else:
        args += ["--index-url", s.index_url]
        for url in s.extra_index_urls:
            args += ["--extra-index-url", url]
    for fl in s.find_links:
        args += ["--find-links", fl]
    for host in s.trusted_hosts:
        args += ["--trusted-host", host]
    if s.cert:
        args += ["--cert", s.cert]
    if s.client_cert:
        args += ["--client-cert", s.client_cert]
    if s.proxy:
        args += ["--proxy", s.proxy]
    if s.uploaded_prior_to is not None:
        args += ["--uploaded-prior-to", s.uploaded_prior_to.isoformat()]
    return args


def direct_candidate(ctx: CheckContext, ur: UserRequirement, req: Requirement | None, *,
                     editable: bool = False) -> DirectCandidate:
    """A URL, VCS or path requirement.  Remote sources are refused before anything is fetched
    or built unless the policy says otherwise; local paths are the user's own code."""
    url = req.url if req is not None and req.url else ur.text
    extras = frozenset(canonicalize_name(e) for e in req.extras) if req is not None else frozenset()
    if not url.startswith(VCS_PREFIXES) and "[" in url and not os.path.exists(url):
        base, _, rest = url.partition("[")
        if rest.endswith("]"):
            url, extras = base, frozenset(canonicalize_name(e) for e in rest[:-1].split(","))
    scheme = urlsplit(url).scheme
    if url.startswith(VCS_PREFIXES):
        kind = "vcs"
    elif scheme in ("http", "https"):
        kind = "url"
    else:
        kind = "editable" if editable else "local"
    if kind in ("vcs", "url") and ctx.policy.on_unverifiable == "refuse" and not ur.hashes:
        raise PolicyRefusal(
            f"{url!r} ({ur.source}) is a {'VCS' if kind == 'vcs' else 'direct URL'} requirement: "
            "its files have no index, no upload time and no trusted hash, so they cannot be "
            "checked, and building it would run its code",
            hint="install it from an index, add --hash to the requirement, or accept the risk "
            "with --on-unverifiable warn",
        )
    path: str | None = None
    if kind in ("local", "editable") and not url.startswith(VCS_PREFIXES):
        path = url[len("file://"):] if url.startswith("file://") else url
        if not os.path.isabs(path):
            path = os.path.join(ur.base_dir or ctx.cwd, path)
        if not os.path.exists(path):
            raise RequirementError(
                f"{ur.text!r} ({ur.source}) is neither a valid requirement nor an existing path",
                hint="check the spelling; names need no path separators, paths must exist",
            )
    if path is not None and path.endswith(".whl") and os.path.isfile(path):
        meta = parse_metadata(read_wheel_metadata(Path(path), os.path.basename(path)
                                                  .split("-")[0]), path)[0]
    else:
        ctx.progress(f"preparing metadata of {url}")
        item = pip_metadata_report(ctx, path or url, editable=editable)
        meta = _metadata_from_report(item, url)
    name = canonicalize_name(meta.name)
    if req is not None and canonicalize_name(req.name) != name:
        raise RequirementError(f"{ur.text!r} ({ur.source}) names {req.name!r}, but the project "
                               f"at that location is {meta.name!r}")
    try:
        version = Version(meta.version)
    except InvalidVersion:
        raise RequirementError(f"{url!r} has an invalid version {meta.version!r}") from None
    return DirectCandidate(name, version, url, kind, meta, extras, path,
                           frozenset(h.split(":", 1)[1] for h in ur.hashes))


# -- metadata with check-before-build -------------------------------------------------------------


def metadata_function(ctx: CheckContext) -> Callable[[Candidate], CoreMetadata]:
    def metadata(c: Candidate) -> CoreMetadata:
        if c in ctx._metadata:
            return ctx._metadata[c]
        if isinstance(c, DirectCandidate):
            meta = c.metadata
        elif isinstance(c, IndexCandidate):
            f = c.file
            ctx.progress(f"reading metadata of {f.filename}")
            if f.is_wheel:
                meta = ctx.store.wheel_metadata(f)
            else:
                # Nothing from an sdist runs before it has passed its checks.
                pre = evaluate_index_candidate(ctx, c, (), ())
                if pre.decision == "refuse":
                    raise CheckRefused(pre)
                path = ctx.store.fetch(f, expected=frozenset(ctx.trusted.get(c.name, set())))
                static = static_sdist_metadata(path)
                if static is not None:
                    meta = static
                else:
                    ctx.progress(f"building metadata of {f.filename} (it passed its checks)")
                    meta = _metadata_from_report(pip_metadata_report(ctx, str(path)),
                                                 f.filename)
        else:
            raise AssertionError(f"no metadata for {c!r}")
        ctx._metadata[c] = meta
        return meta

    return metadata


# -- evaluation -----------------------------------------------------------------------------------


def _hint_for_late(ctx: CheckContext, c: IndexCandidate, tl: ReleaseTimeline,
                   lateness: timedelta) -> str:
    assert ctx.rules is not None
    on_time = [f for f in tl.files if (tl.lateness(f) or timedelta(0)) <= ctx.policy.late_after]
    alt = order_candidates(on_time, SpecifierSet(f"=={c.version}"), ctx.rules)
    parts = []
    if alt:
        parts.append(f"on-time alternative for this target: {alt[0].file.filename} "
                     f"(uploaded {_fmt(alt[0].file.upload_time)})")
    else:
        parts.append("no on-time file of this release fits this target")
    reason = likely_reason(c.file, tl.release_start)
    if reason:
        parts.append(f"likely reason: {reason}")
    parts.append(f"to accept this release after review: --allow-late '{c.name}=={c.version}' "
                 f"(or this file only: --allow-late sha256:{c.file.sha256}); to keep it, add to "
                 f"safe-install.toml: [[allow-late]] release = \"{c.name}=={c.version}\" "
                 "reason = \"...\"")
    return "\n".join(parts)


def _fmt(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ") if t else "unknown"


def evaluate_index_candidate(ctx: CheckContext, c: IndexCandidate, required_by: Sequence[str],
                             extras: Sequence[str]) -> PackageResult:
    from safeinstall.durations import format_duration

    f = c.file
    listing = ctx.finder.project(c.name)
    tl, borrowed = timeline_for(listing, f)
    findings: list[Finding] = []
    notes: list[str] = [borrowed] if borrowed else []
    dated = next((g for g in tl.files if g.filename == f.filename), f)
    start = tl.release_start
    upload = dated.upload_time
    lateness = tl.lateness(dated)
    policy = ctx.policy
    if upload is None or start is None:
        findings.append(Finding(
            "unknown-upload-time", severity_for(policy.on_unknown_upload_time),
            f"{f.source.url} gives no upload time for {f.filename}, so whether it was added "
            "late to its release cannot be checked",
            f.filename, f.sha256,
            hint="use an index that serves PEP 691 JSON with upload-time (e.g. PyPI), list "
            "that index too so the identical file can be dated, or accept the risk with "
            "--on-unknown-upload-time warn",
        ))
    else:
        if not tl.has_upload_times:
            notes.append("some files of this release have no upload time; the release start "
                         "is the earliest known upload")
        if lateness is not None and lateness > policy.late_after:
            exc = policy.exception_for(c.name, c.version, f.sha256)
            message = (f"{f.filename} was uploaded {format_duration(lateness)} after its release "
                       f"began ({_fmt(start)}), more than the {format_duration(policy.late_after)}"
                       " threshold")
            if exc is not None:
                findings.append(Finding(
                    "late", "info",
                    f"{message}; allowed by exception {exc} ({exc.origin}"
                    + (f": {exc.reason}" if exc.reason else "") + ")",
                    f.filename, f.sha256))
            else:
                findings.append(Finding("late", severity_for(policy.on_late), message,
                                        f.filename, f.sha256,
                                        hint=_hint_for_late(ctx, c, tl, lateness)))
        for other in tl.late_files(policy.late_after):
            if other.filename == f.filename:
                continue
            late = tl.lateness(other)
            assert late is not None
            findings.append(Finding(
                "late-unselected", "info",
                f"{other.filename} was added {format_duration(late)} after the release began; "
                "it is not selected for this target",
                other.filename, other.sha256))
    # trust
    trusted = ctx.trusted.get(c.name)
    if trusted:
        if f.sha256 and f.sha256 not in trusted:
            findings.append(Finding(
                "hash-mismatch", "error",
                f"{f.filename} (sha256 {f.sha256}) is not among the {len(trusted)} trusted "
                f"hash(es) given for {c.name}",
                f.filename, f.sha256,
                hint="a file you did not pin would be installed: if this is a new file added to "
                "the release, find out why before trusting it",
            ))
    else:
        refuse = ctx.hash_mode or policy.on_untrusted_hash == "refuse"
        findings.append(Finding(
            "untrusted-hash", "error" if refuse else "warning",
            f"no trusted hash for {c.name} {c.version}: the index's sha256 proves integrity, "
            "not that this is the file you reviewed",
            f.filename, f.sha256,
            hint=("hash-checking mode requires a --hash for every package, including "
                  "dependencies" if ctx.hash_mode else
                  "pin it with --hash in a requirements file (a lock of checked files)"),
        ))
    if not f.sha256:
        notes.append("the index publishes no sha256 for this file; it is hashed on download")
    decision: Decision = "refuse" if is_refused(findings) else "install"
    reasons = tuple(c.ranked.reasons(ctx.rules, ctx.hash_mode)) if c.ranked and ctx.rules else ()
    passed_over = _passed_over(ctx, c, listing.release(c.version, f.source))
    return PackageResult(
        name=c.name, version=str(c.version), kind="index", filename=f.filename, url=f.url,
        index=f.source.url, sha256=f.sha256, upload_time=upload, release_start=start,
        lateness=lateness, findings=tuple(findings), decision=decision,
        required_by=tuple(required_by), extras=tuple(sorted(extras)),
        selection_reasons=reasons, release_files=len(tl.files), notes=tuple(notes),
        trusted_hashes=tuple(sorted(trusted or ())),
        passed_over=passed_over,
    )


def _passed_over(ctx: CheckContext, c: IndexCandidate,
                 files: Sequence[IndexFile]) -> tuple[tuple[str, str], ...]:
    """Why each other file of the selected release was not the one pip takes."""
    from safeinstall.selection import evaluate_file, rank

    assert ctx.rules is not None
    hashes = {"sha256": frozenset(ctx.trusted.get(c.name, set()))} \
        if ctx.trusted.get(c.name) else {}
    chosen = rank(c.file, ctx.rules, hashes)
    out: list[tuple[str, str]] = []
    for g in files:
        if g.filename == c.file.filename:
            continue
        why = evaluate_file(g, ctx.rules)
        if why is None:
            other = rank(g, ctx.rules, hashes)
            if hashes and not other.key[0]:
                why = "its hash is not among the trusted hashes (hash-checking mode)"
            elif g.is_yanked:
                why = "yanked"
            elif not g.is_wheel:
                why = "an sdist ranks below a compatible wheel of the same version"
            elif other.tag_rank is not None and chosen.tag_rank is not None \
                    and other.tag_rank > chosen.tag_rank:
                why = (f"its best tag {ctx.rules.target.tags[other.tag_rank]} ranks "
                       f"#{other.tag_rank + 1}, below the selected file's "
                       f"#{chosen.tag_rank + 1}")
            elif other.key <= chosen.key:
                why = "ranks lower by pip's order (build tag or an equal copy pip met earlier)"
            else:
                why = "ranks higher, but pip never reached it (should not happen)"
        out.append((g.filename, why))
    return tuple(out)


def evaluate(ctx: CheckContext, pkg: ResolvedPackage) -> PackageResult:
    c = pkg.candidate
    if isinstance(c, IndexCandidate):
        result = evaluate_index_candidate(ctx, c, pkg.required_by, sorted(pkg.extras))
        meta = ctx._metadata.get(c)
        if meta is not None:
            from dataclasses import replace

            result = replace(result, metadata_source=meta.source)
        return result
    if isinstance(c, InstalledCandidate):
        return PackageResult(
            name=c.name, version=str(c.version), kind="installed", filename=None, url=None,
            index=None, sha256=None, upload_time=None, release_start=None, lateness=None,
            findings=(), decision="already-satisfied", required_by=pkg.required_by,
            extras=tuple(sorted(pkg.extras)),
            notes=("already installed in the target and satisfies the requirements; pip "
                   "leaves it alone",),
        )
    assert isinstance(c, DirectCandidate)
    if c.kind in ("local", "editable"):
        finding = Finding("unverifiable-source", "info",
                          f"{c.url} is a local {'editable ' if c.kind == 'editable' else ''}"
                          "path: your own code, not checked", None, None)
    else:
        severity = "info" if c.hashes else severity_for(ctx.policy.on_unverifiable)
        finding = Finding("unverifiable-source", severity,
                          f"{c.url} is a {'VCS' if c.kind == 'vcs' else 'direct URL'} "
                          "requirement with no index, upload time or timeline"
                          + ("; pinned by the --hash you gave" if c.hashes else ""),
                          None, None)
    return PackageResult(
        name=c.name, version=str(c.version), kind=c.kind,  # type: ignore[arg-type]
        filename=os.path.basename(c.local_path) if c.local_path else None, url=c.url,
        index=None, sha256=None, upload_time=None, release_start=None, lateness=None,
        findings=(finding,), decision="refuse" if finding.severity == "error" else "install",
        required_by=pkg.required_by, extras=tuple(sorted(pkg.extras)),
        metadata_source=c.metadata.source,
    )


def installed_dists(target: TargetPython, settings: PipSettings,
                    environ: Mapping[str, str]) -> dict[NormalizedName, InstalledDist]:
    """What is installed in the target (via ``pip inspect``), unless pip would ignore it."""
    if settings.ignore_installed or settings.target_dir:
        return {}
    cmd = [sys.executable, "-m", "pip", "--python", target.executable, "inspect"]
    if settings.user:
        cmd.append("--user")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300,
                          env=environ_without_pip(environ))
    if proc.returncode != 0:
        raise UsageError(f"cannot list what is installed in {target.executable}: "
                         f"{proc.stderr.strip()[-500:]}")
    data = json.loads(proc.stdout)
    out: dict[NormalizedName, InstalledDist] = {}
    for item in data.get("installed", []):
        meta = item.get("metadata", {})
        try:
            name = canonicalize_name(meta["name"])
            version = Version(meta["version"])
        except (KeyError, InvalidVersion):
            continue
        out[name] = InstalledDist(name, version, tuple(meta.get("requires_dist", []) or []),
                                  meta.get("requires_python"))
    return out


def run_check(
    *,
    settings: PipSettings,
    policy: Policy,
    target: TargetPython,
    user_requirements: Sequence[UserRequirement],
    parsed: ParsedRequirements,
    finder: Finder,
    store: ArtifactStore,
    environ: Mapping[str, str],
    now: datetime,
    cwd: str,
    installed: Mapping[NormalizedName, InstalledDist],
    progress: Callable[[str], None] = lambda _m: None,
    notes: Sequence[str] = (),
) -> CheckResult:
    hash_mode = settings.require_hashes or any(u.hashes for u in user_requirements)
    rules = SelectionRules(
        target=target,
        format_control=FormatControl.from_options(settings.only_binary, settings.no_binary),
        prefer_binary=settings.prefer_binary,
        allow_all_prereleases=settings.pre,
        ignore_requires_python=settings.ignore_requires_python,
        uploaded_prior_to=settings.uploaded_prior_to,
    )
    ctx = CheckContext(settings=settings, policy=policy, target=target, finder=finder,
                       store=store, environ=environ, now=now, cwd=cwd, progress=progress,
                       hash_mode=hash_mode, rules=rules, notes=list(notes))
    if not user_requirements:
        raise UsageError("no requirements given",
                         hint="name packages, or use -r FILE, as with `pip install`")
    reqs, constraints, order = build_requirements(ctx, user_requirements, parsed.constraints)
    finder.prefetch([r.identifier.split("[")[0] for r in reqs
                     if not isinstance(r, ExplicitRequirement)])
    provider = Provider(
        finder=finder, rules=rules, target=target, metadata=metadata_function(ctx),
        constraints=constraints, installed=installed,
        options=ResolverOptions(
            no_deps=settings.no_deps, upgrade=settings.upgrade,
            upgrade_strategy=settings.upgrade_strategy,
            force_reinstall=settings.force_reinstall,
            ignore_installed=settings.ignore_installed or bool(settings.target_dir),
            ignore_requires_python=settings.ignore_requires_python,
        ),
        user_requested=order,
    )
    resolved = resolve(provider, reqs, on_pin=lambda s: progress(f"resolved {s}"))
    for listing_name in {p.name for p in resolved}:
        for note in finder.project(listing_name).notes:
            if note not in ctx.notes:
                ctx.notes.append(note)
    packages = tuple(evaluate(ctx, p) for p in resolved)
    plan: dict[str, Candidate] = {p.name: p.candidate for p in resolved}
    metadata: dict[str, CoreMetadata] = {p.name: ctx._metadata[p.candidate] for p in resolved
                if p.candidate in ctx._metadata}
    return CheckResult(
        target=target, packages=packages, notes=tuple(ctx.notes),
        relaxations=tuple(policy.relaxations()), hash_mode=hash_mode, generated_at=now,
        plan=plan, metadata=metadata,
    )


__all__ = ["run_check", "CheckResult", "PackageResult", "UserRequirement", "CheckRefused",
           "installed_dists", "index_args", "SafeInstallError"]
