"""The check: resolve what pip would install, date every selected artifact, apply the policy.

This is the library entry point behind ``safe-install``.  It never prints and never exits; the
target, the indexes, the policy and "now" are all parameters.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
    sha256_file,
    static_sdist_metadata,
)
from safeinstall.backfill import Mismatch, Outcome, Proof
from safeinstall.buildenv import BuildEnv, BuildPin, materialize, pip_build_args
from safeinstall.errors import (
    IntegrityError,
    PolicyRefusal,
    RequirementError,
    ResolutionError,
    SafeInstallError,
    UsageError,
)
from safeinstall.finder import Finder, IndexFile, LightFile, ProjectListing
from safeinstall.pipconfig import PIP_COMMAND
from safeinstall.pipoptions import PipSettings, environ_without_pip
from safeinstall.policy import Finding, Policy, is_refused, severity_for
from safeinstall.prefetch import DependencyHints, Memo, Prefetcher
from safeinstall.reqfile import ParsedRequirements, RequirementLine
from safeinstall.resolver import (
    Candidate,
    Constraint,
    DirectCandidate,
    ExplicitRequirement,
    IndexCandidate,
    InstalledCandidate,
    InstalledDist,
    NamedRequirement,
    Provider,
    Req,
    ResolvedPackage,
    ResolverOptions,
    named_requirements,
    resolve,
)
from safeinstall.selection import FormatControl, SelectionRules, iter_ranked, order_candidates
from safeinstall.target import TargetPython, build_key
from safeinstall.timeline import (
    ReleaseTimeline,
    likely_reason,
    release_timeline,
    timeline_for,
)

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
    build_time: bool = False  # a build dependency of an sdist/local project, not installed
    #: why a late file is installed with ``--on-late verify``: its content proof
    proof: Proof | None = None


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
    #: the build environment of each sdist or local project to build (its checked files)
    build_envs: Mapping[str, BuildEnv] = field(default_factory=dict, compare=False)

    @property
    def refused(self) -> bool:
        return any(p.decision == "refuse" for p in self.packages)

    @property
    def findings(self) -> list[tuple[PackageResult, Finding]]:
        return [(p, f) for p in self.packages for f in p.findings]


class CheckRefused(PolicyRefusal):
    """Raised during resolution when an sdist fails its checks before it may be built, or when
    the file the resolver takes has invalid index data (nothing may be read from it)."""

    def __init__(self, result: PackageResult, stage: str = "it is built") -> None:
        errors = [f.message for f in result.findings if f.severity == "error"]
        what = f"{result.name} {result.version} ({result.filename})"
        if result.build_time:
            super().__init__(
                f"{what}, needed for the {' and the '.join(result.required_by)}, is refused "
                f"before anything is built: {'; '.join(errors)}")
        else:
            super().__init__(f"{what} is refused before {stage}: {'; '.join(errors)}")
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
    build_envs: dict[str, BuildEnv] = field(default_factory=dict)  # package -> its build env
    #: sha256 values the user vouched for build dependencies (--build-constraint files)
    build_trusted: dict[NormalizedName, set[str]] = field(default_factory=dict)
    #: the user's --build-constraint lines: they constrain every build-time resolution
    build_constraint_pins: dict[NormalizedName, Constraint] = field(default_factory=dict)
    build_hash_mode: bool = False  # a --build-constraint line has a --hash
    #: the user's exact pins (``name==version``, with their hashes), for --build-with-pins
    runtime_pins: dict[NormalizedName, Constraint] = field(default_factory=dict)
    build_results: dict[tuple[str, str], PackageResult] = field(default_factory=dict)
    _envs_by_requires: dict[tuple[str, ...], BuildEnv] = field(default_factory=dict)
    _build_members: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    wheel_meta: Memo[CoreMetadata] = field(default_factory=Memo)
    sdist_meta: Memo[CoreMetadata] = field(default_factory=Memo)
    #: content proofs of late files (--on-late verify), by URL and sha256
    proofs: Memo[tuple[Outcome, int]] = field(default_factory=Memo)
    build_lock: threading.RLock = field(default_factory=threading.RLock)
    #: metadata builds (pip processes) running at once
    build_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(max(2, os.cpu_count() or 1)))
    _building: set[str] = field(default_factory=set)
    #: sdists (by URL) being checked under ``build_lock``: asked for again meanwhile, by the
    #: same thread, they need themselves to build
    _checking_sdists: set[str] = field(default_factory=set)


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
        pinned = [s for s in req.specifier if s.operator in ("==", "===")
                  and "*" not in s.version]
        if len(pinned) == 1 and len(req.specifier) == 1:
            ctx.runtime_pins[name] = Constraint(req.specifier, _hash_map(ur.hashes),
                                                f"{ur.text.strip()} ({ur.source})")
    return reqs, constraint_map(constraint_lines, env, ctx.trusted), order


def constraint_map(constraint_lines: Sequence[RequirementLine], env: Mapping[str, str],
                   trusted: dict[NormalizedName, set[str]]) -> dict[NormalizedName, Constraint]:
    """Constraints by name (pip's rules); their sha256 hashes are added to ``trusted``."""
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
            trusted.setdefault(cname, set()).update(
                h.split(":", 1)[1].lower() for h in line.hashes
                if h.lower().startswith("sha256:"))
        constraints[cname] = Constraint(spec, hashes, line.source)
    return constraints


def pip_metadata_report(ctx: CheckContext, spec: str, *, editable: bool = False,
                        build_env: BuildEnv | None = None,
                        vcs: bool = False) -> dict[str, object]:
    """Have pip prepare metadata for ``spec`` (builds it: only for checked or own code, from
    its checked build dependencies in ``build_env``, with no index). A VCS requirement (the
    user accepted it as unverifiable) is cloned and built with the configured indexes."""
    s = ctx.settings
    cmd = list(PIP_COMMAND)
    if s.python:
        cmd += ["--python", ctx.target.executable]
    cmd += ["install", "--dry-run", "--no-deps", "--ignore-installed", "--quiet", "--report", "-"]
    if vcs:
        cmd += index_args(s)
    else:
        cmd += pip_build_args(build_env, no_build_isolation=s.no_build_isolation)
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
    # the hashes that vouch for a URL: --hash values and, as in pip, a #sha256= fragment; a
    # VCS checkout has no file to hash (pip refuses --hash on one), so nothing vouches for it
    hashes = (*ur.hashes, *_fragment_hashes(url, ur)) if kind == "url" else ()
    if kind in ("vcs", "url") and ctx.policy.on_unverifiable == "refuse" and not hashes:
        raise PolicyRefusal(
            f"{url!r} ({ur.source}) is a {'VCS' if kind == 'vcs' else 'direct URL'} requirement: "
            "its files have no index, no upload time and no trusted hash, so they cannot be "
            "checked, and building it would run its code",
            hint=("install it from an index; or pin it to a full commit (@<commit hash>), "
                  "review that commit, and accept the risk with --on-unverifiable warn (pip "
                  "cannot check a --hash of a VCS requirement)") if kind == "vcs" else
            ("install it from an index; or pin the file: a #sha256=<hex> fragment on the URL, "
             "or --hash=sha256:<hex> on its line in a requirements file; or accept the risk "
             "with --on-unverifiable warn"),
        )
    path: str | None = None
    if kind == "url":
        # fetch it ourselves and verify the user's hashes before reading or building it
        path = str(ctx.store.fetch_url(
            url, expected=frozenset(h.split(":", 1)[1].lower() for h in hashes
                                    if h.lower().startswith("sha256:"))))
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
        build_env = None
        if path is not None:
            build_env = check_build_env(ctx, os.path.basename(path.rstrip("/")), Path(path),
                                        editable=editable)
        ctx.progress(f"preparing metadata of {url}")
        item = pip_metadata_report(ctx, path or url, editable=editable, build_env=build_env,
                                   vcs=path is None)
        meta = _metadata_from_report(item, url)
    name = canonicalize_name(meta.name)
    if req is not None and canonicalize_name(req.name) != name:
        raise RequirementError(f"{ur.text!r} ({ur.source}) names {req.name!r}, but the project "
                               f"at that location is {meta.name!r}")
    try:
        version = Version(meta.version)
    except InvalidVersion:
        raise RequirementError(f"{url!r} has an invalid version {meta.version!r}") from None
    if path is not None and not path.endswith(".whl"):
        key = os.path.basename(path.rstrip("/"))
        if key in ctx.build_envs:
            ctx.build_envs[name] = ctx.build_envs.pop(key)
    return DirectCandidate(name, version, url, kind, meta, extras, path,
                           frozenset(h.split(":", 1)[1] for h in hashes))


def _fragment_hashes(url: str, ur: UserRequirement) -> tuple[str, ...]:
    """``sha256:HEX`` from a ``#sha256=HEX`` URL fragment (pip's link hash); other hash names
    are not trust, as for --hash."""
    import re

    found = re.findall(r"(?:^|&)sha256=([^&]*)", urlsplit(url).fragment)
    for value in found:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise RequirementError(f"{url!r} ({ur.source}) has a malformed #sha256= fragment",
                                   hint="a sha256 is 64 hexadecimal digits")
    return tuple(f"sha256:{v.lower()}" for v in found)


def check_build_env(ctx: CheckContext, owner: str, source: Path, *, editable: bool = False,
                    sha256: str | None = None, ask_backend: bool = True) -> BuildEnv | None:
    """Resolve and check the build dependencies of ``source`` (an sdist that passed its checks,
    or the user's own project) with the same pipeline, then the requirements its backend adds
    at build time (asked in an environment of those checked files only), and return the build
    environment: a directory of exactly the checked files and a constraints file pinning them
    by version and sha256. Refuses (CheckRefused) if any of them fails its checks, before
    anything is built. ``sha256``: the sdist's, to reuse an earlier run's answer of its
    backend. ``ask_backend=False`` (a dry run that builds nothing): static requirements only,
    no code of the sdist runs. None with --no-build-isolation: pip installs nothing for the
    build then."""
    from safeinstall.artifacts import build_requires
    from safeinstall.buildenv import dynamic_requirements

    if ctx.settings.no_build_isolation:
        return None
    known = ctx.build_envs.get(owner)
    if known is not None:
        return known
    requires = build_requires(source)
    env = _checked_env(ctx, owner, requires)
    key = build_key(ctx.target) + ("-editable" if editable else "")
    dynamic = ctx.store.built_requires(sha256, key) if ask_backend else ()
    if dynamic is None:
        ctx.progress(f"asking the build backend of {owner} for its build requirements")
        workdir = ctx.store.scratch("build-requires")
        workdir.mkdir(parents=True, exist_ok=True)
        dynamic = dynamic_requirements(
            owner=owner, source=source, env=env, python=ctx.target.executable,
            pip_python=ctx.target.executable if ctx.settings.python else None,
            environ=ctx.environ, workdir=workdir, editable=editable)
        ctx.store.save_built_requires(sha256, key, dynamic)
    missing = tuple(r for r in dynamic if not env.satisfies(r, ctx.target.environment))
    if not ask_backend:
        ctx.notes.append(f"{owner}: only its declared build requirements were checked; the "
                         "requirements its backend adds when building are checked when it is "
                         "built (not in a dry run)")
    elif missing:
        ctx.notes.append(f"the build backend of {owner} also needs {', '.join(missing)} to "
                         "build (get_requires_for_build_wheel); checked like the others")
        env = _checked_env(ctx, owner, (*requires, *missing))
    ctx.build_envs[owner] = env
    return env


def _checked_env(ctx: CheckContext, owner: str, requires: Sequence[str]) -> BuildEnv:
    """The checked build environment for ``requires`` (one per set of requirements)."""
    key = tuple(sorted(requires))
    label = f"build of {owner}"
    if key in ctx._envs_by_requires:
        env = ctx._envs_by_requires[key]
        for res_key in ctx._build_members.get(env.constraints, []):
            res = ctx.build_results[res_key]
            if label not in res.required_by:
                ctx.build_results[res_key] = replace(res, required_by=(*res.required_by, label))
        return env
    if owner in ctx._building:
        raise ResolutionError(f"{owner} needs itself to build (a build-dependency cycle)",
                              hint="install a wheel of it, or use --only-binary for it")
    ctx._building.add(owner)
    try:
        ctx.progress(f"checking the build dependencies of {owner}")
        env_markers = dict(ctx.target.environment)
        reqs: list[Req] = []
        order: dict[NormalizedName, int] = {}
        for i, text in enumerate(requires):
            try:
                req = Requirement(text)
            except InvalidRequirement as exc:
                raise RequirementError(f"{owner} declares an invalid build requirement "
                                       f"{text!r}: {exc}") from None
            if req.marker is not None and not req.marker.evaluate({**env_markers, "extra": ""}):
                continue
            if req.url:
                # pip would install what the URL names, not the index file checked by name
                raise PolicyRefusal(
                    f"{owner} needs {text!r} to build: a build requirement that names a URL "
                    "or a path has no index, no upload time and no trusted hash, so it cannot "
                    "be checked",
                    hint=f"install a wheel of {owner} (--only-binary), or build it yourself "
                         "from a reviewed source")
            order.setdefault(canonicalize_name(req.name), i)
            reqs.extend(named_requirements(req, label, user_order=i))
        constraints = dict(ctx.build_constraint_pins)
        if ctx.settings.build_with_pins:
            constraints.update(_usable_pins(ctx, reqs, constraints))
        assert ctx.rules is not None
        provider = Provider(
            finder=ctx.finder, rules=ctx.rules, target=ctx.target,
            metadata=metadata_function(ctx, build_time=True),
            constraints=constraints, installed={},
            options=ResolverOptions(ignore_installed=True,
                                    ignore_requires_python=ctx.settings.ignore_requires_python),
            user_requested=order,
        )
        resolved = resolve(provider, reqs) if reqs else []
        directory = ctx.store.scratch(f"build-env-{len(ctx._envs_by_requires)}")
        members: list[tuple[str, str]] = []
        pins: list[BuildPin] = []
        nested: list[BuildPin] = []
        for pkg in resolved:
            result = replace(evaluate(ctx, pkg, build_time=True), required_by=(label,))
            if result.decision == "refuse":
                raise CheckRefused(result)
            res_key = (result.name, result.version)
            if res_key in ctx.build_results:  # the same package in another build environment
                prev = ctx.build_results[res_key]
                result = replace(prev, required_by=(*prev.required_by, label))
            ctx.build_results[res_key] = result
            members.append(res_key)
            c = pkg.candidate
            if isinstance(c, IndexCandidate):
                path = ctx.store.fetch(c.file, expected=frozenset(
                    ctx.build_trusted.get(c.name, set())))
                pins.append(BuildPin(str(c.name), str(c.version), sha256_file(path),
                                     c.file.filename, str(path)))
                if not c.file.is_wheel:  # pip builds it with the same options: its own env
                    sub = check_build_env(ctx, c.name, path, sha256=c.file.sha256)
                    if sub is not None:
                        nested += [*sub.pins, *sub.nested]
        env = materialize(directory, pins, nested)
        ctx._build_members[env.constraints] = members
        ctx._envs_by_requires[key] = env
        return env
    finally:
        ctx._building.discard(owner)


def _usable_pins(ctx: CheckContext, reqs: Sequence[Req],
                 constraints: Mapping[NormalizedName, Constraint]
                 ) -> dict[NormalizedName, Constraint]:
    """--build-with-pins: the user's exact pins that satisfy every build requirement on their
    project (and every --build-constraint on it), as constraints of the build resolution."""
    out: dict[NormalizedName, Constraint] = {}
    for name, pin in ctx.runtime_pins.items():
        wanted = [r for r in reqs if isinstance(r, NamedRequirement) and r.name == name]
        version = next(iter(pin.specifier)).version
        specs = [r.specifier for r in wanted]
        if name in constraints:
            specs.append(constraints[name].specifier)
        if wanted and all(s.contains(version, prereleases=True) for s in specs):
            out[name] = Constraint(pin.specifier, pin.hashes,
                                   f"{pin.comes_from}, with --build-with-pins")
    return out


# -- metadata with check-before-build -------------------------------------------------------------


def sdist_metadata(ctx: CheckContext, c: IndexCandidate, *,
                   build_time: bool = False) -> CoreMetadata:
    """The core metadata of an sdist: its static PKG-INFO, or what pip prepares by building it,
    which happens only after the sdist has passed its checks (nothing from it runs before)
    and its build dependencies have passed theirs. A build's result is kept by the sdist's
    sha256 and the target, so a later run does not build the same bytes again.

    The look-ahead may prepare several sdists in the background. Checking (which shares the
    context's build-dependency bookkeeping) is done under one lock, together with claiming
    the sdist, and the build itself (a pip process) outside it, a bounded few at a time. So a
    thread that waits for another's sdist while holding the lock only ever waits for a build
    that no longer needs the lock: no deadlock, and builds run in parallel."""
    f = c.file
    with ctx.build_lock:
        fut, owner = ctx.sdist_meta.claim(f.url)
        if not owner and f.url in ctx._checking_sdists:
            # its own build requirements lead back to it: waiting for it would never end
            raise ResolutionError(
                f"{c.name} {c.version} needs itself to build ({f.filename} is among the "
                "build requirements of its own build dependencies: a build-dependency cycle)",
                hint=f"install a wheel of {c.name} (--only-binary {c.name}), or pin a version "
                     "that has one")
        if owner:
            ctx._checking_sdists.add(f.url)
            try:
                ready, build_env, path = _checked_sdist(ctx, c, build_time=build_time)
            except BaseException as exc:
                failed = _with_left_out(ctx, c, exc)
                ctx.sdist_meta.settle(f.url, fut, _raiser(failed))
                raise failed from None
            finally:
                ctx._checking_sdists.discard(f.url)
            if ready is not None:
                ctx.sdist_meta.settle(f.url, fut, lambda: ready)
    if owner and not fut.done():
        def build() -> CoreMetadata:
            with ctx.build_slots:
                ctx.progress(f"building metadata of {f.filename} (it passed its checks)")
                try:
                    item = pip_metadata_report(ctx, str(path), build_env=build_env)
                except UsageError as exc:
                    raise _with_left_out(ctx, c, exc) from None
                meta = _metadata_from_report(item, f.filename)
            _check_built_identity(c, meta)
            ctx.store.save_built_metadata(f.sha256, build_key(ctx.target), meta)
            return meta

        ctx.sdist_meta.settle(f.url, fut, build)
    return fut.result()


def _with_left_out(ctx: CheckContext, c: IndexCandidate, exc: BaseException) -> BaseException:
    """A failed build of an sdist that was taken because a late wheel of its release was left
    out (a lock resolves from on-time files only): the error names that wheel and says how
    to allow it."""
    hidden = getattr(ctx.finder, "hidden", None)
    if not isinstance(exc, UsageError) or not isinstance(hidden, dict):
        return exc
    left = [lo for lo in hidden.values()
            if canonicalize_name(str(getattr(lo, "name", ""))) == c.name
            and str(getattr(lo, "version", "")) == str(c.version)
            and str(getattr(lo, "filename", "")).endswith(".whl")]
    if not left:
        return exc
    lines = [f"{c.file.filename} was built because the wheel(s) of {c.name} {c.version} for "
             "this target were left out:"]
    for lo in left:
        lines.append(f"  {lo.filename}: {lo.reason}")
    only = (f" (or the file only: --allow-late sha256:{left[0].sha256})"
            if len(left) == 1 and left[0].sha256 else "")
    lines.append(f"after reviewing the late wheel, allow it with --allow-late "
                 f"'{c.name}=={c.version}'{only}, or pin a version with an on-time wheel")
    if exc.hint:
        lines.append(exc.hint)
    return type(exc)(exc.message, hint="\n".join(lines))


def _checked_sdist(ctx: CheckContext, c: IndexCandidate, *, build_time: bool = False) -> \
        tuple[CoreMetadata | None, BuildEnv | None, Path]:
    """Check the sdist, fetch it, and return its metadata if that needs no build; otherwise
    check its build dependencies and return the build environment to build it in.
    ``build_time``: a build dependency (runtime hash pins do not apply to it)."""
    f = c.file
    pre = evaluate_index_candidate(ctx, c, (), (), build_time=build_time)
    if pre.decision == "refuse":
        raise CheckRefused(pre)
    trusted = ctx.build_trusted if build_time else ctx.trusted
    path = ctx.store.fetch(f, expected=frozenset(trusted.get(c.name, set())))
    static = static_sdist_metadata(path)
    if static is not None:
        return static, None, path
    cached = ctx.store.built_metadata(f.sha256, build_key(ctx.target))
    if cached is not None:
        _check_built_identity(c, cached)
        return cached, None, path
    return None, check_build_env(ctx, c.name, path, sha256=f.sha256), path


def _raiser(exc: BaseException) -> Callable[[], CoreMetadata]:
    def again() -> CoreMetadata:
        raise exc
    return again


def _check_built_identity(c: IndexCandidate, meta: CoreMetadata) -> None:
    try:
        same = canonicalize_name(meta.name) == c.name and Version(meta.version) == c.version
    except InvalidVersion:
        same = False
    if not same:
        raise IntegrityError(
            f"{c.file.filename}: its metadata is for {meta.name} {meta.version}, not "
            f"{c.name} {c.version}",
            hint="the sdist is broken or hostile; pin another version",
        )


def metadata_function(ctx: CheckContext, *,
                      build_time: bool = False) -> Callable[[Candidate], CoreMetadata]:
    def metadata(c: Candidate) -> CoreMetadata:
        if c in ctx._metadata:
            return ctx._metadata[c]
        if isinstance(c, DirectCandidate):
            meta = c.metadata
        elif isinstance(c, IndexCandidate):
            f = c.file
            if f.invalid is not None:  # the resolver takes it: refused, nothing is read
                raise CheckRefused(evaluate_index_candidate(ctx, c, (), ()),
                                   "anything is downloaded or read from it")
            ctx.progress(f"reading metadata of {f.filename}")
            if f.is_wheel:
                meta = ctx.wheel_meta.get(f.url, lambda: ctx.store.wheel_metadata(f))
                if not ctx.settings.dry_run:
                    # the resolver is taking it: its bytes download while the check goes on
                    ctx.store.prefetch(f)
            else:
                meta = sdist_metadata(ctx, c, build_time=build_time)
        else:
            raise AssertionError(f"no metadata for {c!r}")
        ctx._metadata[c] = meta
        return meta

    return metadata


# -- evaluation -----------------------------------------------------------------------------------


def _hint_for_late(ctx: CheckContext, c: IndexCandidate, tl: ReleaseTimeline) -> str:
    assert ctx.rules is not None
    on_time = [f for f in tl.files
               if ctx.policy.judge(c.name, c.version, tl.date(f)).verdict == "on-time"]
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
    only_file = f" (or this file only: --allow-late sha256:{c.file.sha256})" \
        if c.file.sha256 else ""
    parts.append(f"to accept this release after review: --allow-late '{c.name}=={c.version}'"
                 f"{only_file}")
    parts.append("to keep it, add to safe-install.toml:")
    parts += allow_late_toml(f"{c.name}=={c.version}").splitlines()
    return "\n".join(parts)


def allow_late_toml(release: str) -> str:
    """A TOML block (valid as printed, indented or not) that keeps an exception for
    ``release`` in safe-install.toml."""
    import json

    return ("[[allow-late]]\n"
            f"release = {json.dumps(release)}\n"
            'reason = "reviewed: why this late file is acceptable"')


def _fmt(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%SZ") if t else "unknown"


def evaluate_index_candidate(ctx: CheckContext, c: IndexCandidate, required_by: Sequence[str],
                             extras: Sequence[str], *, build_time: bool = False,
                             specifiers: Sequence[str] = ()) -> PackageResult:
    """Judge one selected index file. ``specifiers``: the version specifiers of the
    requirements that selected it (to say when a local variant was taken for a requirement
    that names none)."""
    from safeinstall.durations import format_duration

    f = c.file
    listing = ctx.finder.project(c.name)
    # an entry with invalid index data is never downloaded, so not hashed to be dated either
    digest, reference = (f.sha256, None) if f.invalid is not None else \
        _dating_inputs(ctx, f, listing)
    tl, borrowed = timeline_for(listing, f, reference or (), digest)
    findings: list[Finding] = []
    if f.invalid is not None:
        findings.append(Finding(
            "invalid-index-data", "error",
            f"{f.source.url} lists {f.filename!r}, the file pip would select, with invalid "
            f"index data: {f.invalid}",
            f.filename, f.sha256,
            hint="the index is broken or hostile: nothing was downloaded from this entry. "
            "Pin another version, or report it to the index's operator",
        ))
    notes: list[str] = [borrowed] if borrowed else []
    findings += _source_findings(ctx, c, listing, reference, digest, notes)
    policy = ctx.policy
    dated = tl.date(f, digest)
    judgment = policy.judge(c.name, c.version, dated)
    unproven: tuple[Mismatch, int] | None = None
    if judgment.verdict == "late" and policy.on_late == "verify" and f.invalid is None:
        outcome, tried = _prove_backfill(ctx, c, tl, listing)
        if isinstance(outcome, Proof):
            judgment = policy.judge(c.name, c.version, dated, proof=outcome)
        else:
            unproven = outcome, tried
    start = dated.release_start
    upload = dated.upload_time
    lateness = dated.lateness
    family = (f" (a local variant: dated against the start of {c.version.public} and all "
              "its local variants)" if dated.local_variant else "")
    if judgment.kind == "inconsistent-timeline":
        findings.append(Finding(
            "inconsistent-timeline", "error",
            f"{dated.problem}; whether {f.filename} was added late to its release cannot "
            "be checked",
            f.filename, dated.sha256,
            hint="an index that lists one file name twice with different upload times or "
            "hashes is broken or hostile (PyPI never does): one of the entries is false. "
            "Report it to the index's operators; this is not overridden by any option",
        ))
    elif judgment.kind == "unknown-upload-time":
        why = dated.problem or f"{f.source.url} gives no upload time for {f.filename}"
        if reference is not None and ctx.finder.times_from:
            why += (f", and no --times-from index ({', '.join(ctx.finder.times_from)}) lists "
                    "the identical file (same name and sha256)")
        assert judgment.severity is not None
        findings.append(Finding(
            "unknown-upload-time", judgment.severity,
            f"{why}; whether {f.filename} was added late to its release cannot be checked"
            f"{family}",
            f.filename, f.sha256,
            hint="the start of a release is known only when every file of it is dated: a late "
            "file among undated ones would otherwise pass for the first. Use an index that "
            "serves PEP 691 JSON with upload-time for every file (e.g. PyPI); for a mirror "
            "without upload times, date its files by the index it mirrors with "
            "--times-from https://pypi.org/simple/ (the identical file, same name and sha256); "
            "or accept the risk with --on-unknown-upload-time warn",
        ))
    elif judgment.is_late:
        assert lateness is not None
        message = (f"{f.filename} was uploaded {format_duration(lateness)} after its release "
                   f"began ({_fmt(start)}), more than the {format_duration(policy.late_after)} "
                   f"threshold{family}")
        exc = judgment.exception
        if exc is not None:
            findings.append(Finding(
                "late", "info",
                f"{message}; allowed by exception {exc} ({exc.origin}"
                + (f": {exc.reason}" if exc.reason else "") + ")",
                f.filename, f.sha256))
        elif judgment.proof is not None:
            proof = judgment.proof
            findings.append(Finding(
                "late-verified", "info",
                f"{message}; proven a benign backfill of the on-time {proof.reference} "
                f"(--on-late verify): {proof.describe()}",
                f.filename, f.sha256))
        else:
            assert judgment.severity is not None
            hint = _hint_for_late(ctx, c, tl)
            if unproven is not None:
                from safeinstall.backfillcheck import unproven_hint

                hint = unproven_hint(*unproven) + "\n" + hint
            findings.append(Finding("late", judgment.severity, message, f.filename, f.sha256,
                                    hint=hint))
    if start is not None:
        for other in tl.files:
            if other.filename == f.filename:
                continue
            seen = policy.judge(c.name, c.version, tl.date(other))
            if not seen.is_late:
                continue
            late = seen.dated.lateness
            assert late is not None
            findings.append(Finding(
                "late-unselected", "info",
                f"{other.filename} was added {format_duration(late)} after the release began; "
                "it is not selected for this target",
                other.filename, other.sha256))
    if dated.local_variant:
        findings.append(_local_variant_finding(c, specifiers))
    # trust
    # runtime hash pins do not apply to a build-time resolution (as in pip); build files are
    # trusted by the user's --build-constraint hashes only
    trusted = (ctx.build_trusted if build_time else ctx.trusted).get(c.name)
    if build_time and not trusted and ctx.settings.build_with_pins:
        pin = ctx.runtime_pins.get(c.name)  # the build takes the pinned, hashed version
        if pin is not None and pin.specifier.contains(c.version, prereleases=True):
            trusted = set(pin.hashes.get("sha256", ())) or None
    if trusted:
        if digest and digest not in trusted:
            findings.append(Finding(
                "hash-mismatch", "error",
                f"{f.filename} (sha256 {digest}) is not among the {len(trusted)} trusted "
                f"hash(es) given for {c.name}",
                f.filename, digest,
                hint="a file you did not pin would be installed: if this is a new file added to "
                "the release, find out why before trusting it",
            ))
    else:
        # pip's hash-checking mode does not cover build dependencies either
        # (pip: a --hash in a --build-constraint file turns it on for build environments)
        refuse = (ctx.build_hash_mode if build_time else ctx.hash_mode) \
            or policy.on_untrusted_hash == "refuse"
        findings.append(Finding(
            "untrusted-hash", "error" if refuse else "warning",
            f"no trusted hash for {c.name} {c.version}"
            + (" (a build dependency)" if build_time else "")
            + ": the index's sha256 proves integrity, not that this is the file you reviewed",
            f.filename, f.sha256,
            hint=("pin build dependencies by hash in a --build-constraint file "
                  "('name==version --hash=sha256:...'), e.g. the one `safe-install-tool lock` "
                  "writes" if build_time else
                  "hash-checking mode requires a --hash for every package, including "
                  "dependencies" if ctx.hash_mode else
                  "pin it with --hash in a requirements file (a lock of checked files)"),
        ))
    strong = [a for a, _ in f.hashes if a in ("sha256", "sha384", "sha512", "sha224")]
    if not strong:
        weak = sorted(a for a, _ in f.hashes)
        findings.append(Finding(
            "weak-hash", "info" if trusted else "warning",
            f"{f.source.url} publishes "
            + (f"only {'/'.join(weak)} (broken algorithms)" if weak else "no hash")
            + f" for {f.filename}: a file altered on the mirror or on the way is not detected "
            "by the index's hash"
            + ("; your --hash pins it" if trusted else "")
            + (f" (its sha256, computed on download, is {digest})" if digest else ""),
            f.filename, digest,
            hint="use an index that publishes sha256 (PEP 503 #sha256= or PEP 691 hashes), or "
            "pin the file with --hash",
        ))
    decision: Decision = "refuse" if is_refused(findings) else "install"
    reasons = tuple(c.ranked.reasons(ctx.rules, ctx.hash_mode)) if c.ranked and ctx.rules else ()
    passed_over = _passed_over(ctx, c, listing.release(c.version, f.source))
    return PackageResult(
        name=c.name, version=str(c.version), kind="index", filename=f.filename, url=f.url,
        index=f.source.url, sha256=digest, upload_time=upload, release_start=start,
        lateness=lateness, findings=tuple(findings), decision=decision,
        required_by=tuple(required_by), extras=tuple(sorted(extras)),
        selection_reasons=reasons, release_files=len(tl.files), notes=tuple(notes),
        trusted_hashes=tuple(sorted(trusted or ())),
        passed_over=passed_over,
        build_time=build_time,
        proof=judgment.proof,
    )


def _prove_backfill(ctx: CheckContext, c: IndexCandidate, tl: ReleaseTimeline,
                    listing: ProjectListing) -> tuple[Outcome, int]:
    """``--on-late verify``: prove the late file a benign backfill of the on-time files of its
    release on its index (safeinstall.backfillcheck), on the downloaded, hash-checked bytes
    that the install will use. Once per file and run."""
    from safeinstall.backfillcheck import prove_dated

    f = c.file

    def compute() -> tuple[Outcome, int]:
        if f.is_wheel:
            ctx.progress(f"comparing {f.filename} with the on-time files of its release")
        return prove_dated(ctx.store, ctx.policy, f, tl, listing.release(c.version, f.source))

    return ctx.proofs.get((f.url, f.sha256), compute)


def _local_variant_finding(c: IndexCandidate, specifiers: Sequence[str]) -> Finding:
    """A local version (``1.0+evil``) was selected: say so, loudly when no requirement named a
    local label (``==1.0`` is satisfied by ``1.0+anything``, which anyone who can upload to the
    index can add to a release)."""
    named = [s for s in specifiers if "+" in s]
    public = c.version.public
    if named:
        return Finding("local-version", "info",
                       f"{c.file.filename} is a local variant ({c.version}) of {c.name} "
                       f"{public}, as the requirement names ({', '.join(named)})",
                       c.file.filename, c.file.sha256)
    asked = ", ".join(s for s in specifiers if s) or "any version"
    return Finding(
        "local-version", "warning",
        f"a local variant was chosen for a requirement that did not name one: "
        f"{c.file.filename} ({c.version}) satisfies {c.name} {asked} in place of {public}; "
        f"it was dated against the start of {public} and all its local variants",
        c.file.filename, c.file.sha256,
        hint=f"if you meant the public release, pin it: {c.name}==={public}; if you meant "
        f"this variant, name it: {c.name}=={c.version}",
    )


def _dating_inputs(ctx: CheckContext, f: IndexFile, listing: ProjectListing
                   ) -> tuple[str | None, tuple[IndexFile, ...] | None]:
    """The file's sha256 and the ``--times-from`` files of its project (looked up only when
    the file's own source cannot date it). A listing without a sha256 is downloaded (and
    verified against what the index does publish) and hashed: the digest is what the file is
    matched by, on other indexes and in the release snapshots, and what ``--allow-late
    sha256:`` and a lock name. (The download is this run's: the same bytes are installed.)
    Without it, an index could swap a file it had served under the same name and leave the
    sha256 out of its page, and trust on first use would compare names only."""
    from safeinstall.artifacts import sha256_file

    digest = f.sha256
    if digest is None:
        path = ctx.store.downloaded(f)  # already downloaded (for its metadata)?
        if path is None:
            ctx.progress(f"hashing {f.filename}: its index gives no sha256")
            path = ctx.store.fetch(f)
        digest = sha256_file(path)
    if release_timeline(listing, f.version, f.source).has_upload_times:
        return digest, None
    reference = ctx.finder.reference(f.project) if ctx.finder.times_from else ()
    return digest, reference


def _versions_text(files: Sequence[LightFile]) -> str:
    versions = sorted({g.version for g in files if g.version is not None})
    shown = ", ".join(str(v) for v in versions[-8:])
    return ("..., " if len(versions) > 8 else "") + shown


def _source_findings(ctx: CheckContext, c: IndexCandidate, listing: ProjectListing,
                     reference: Sequence[IndexFile] | None, digest: str | None,
                     notes: list[str]) -> list[Finding]:
    """``mirror-mismatch``: the selected file's name with another sha256 on another configured
    (or --times-from) index; ``multiple-indexes``: the name on several configured indexes."""
    f = c.file
    findings: list[Finding] = []
    seen: set[str] = set()
    for other in (*listing.named(f.filename), *(reference or ())):
        # the same name with another sha256, on another source or twice on the same page
        if other.filename != f.filename or other == f or not other.sha256 \
                or not digest or other.sha256 == digest or other.source.url in seen:
            continue
        seen.add(other.source.url)
        findings.append(Finding(
            "mirror-mismatch", "error",
            f"{f.filename} from {f.source.url} has sha256 {digest}, but "
            f"{other.source.url}{' (--times-from)' if other.source.kind == 'times-from' else ''}"
            f" lists a file of the same name with sha256 {other.sha256}",
            f.filename, digest,
            hint="two indexes serve different files under one name (PyPI never lets a file name "
            "be reused): one of them was altered. Find out which before installing anything "
            "of this release",
        ))
    if len(listing.index_urls()) > 1:  # (cheap: most projects are on one index)
        # Identical copies (same names and sha256) never tell which index is the origin: a
        # private index whose files an attacker re-hosts next to a 99.0 of his own looks like
        # a mirror of the attacker's. Only the user can say where a name comes from
        # ([index-for]); until then every index offering it is a source of its own.
        light = listing.light()
        indexes = list(dict.fromkeys(g.source.url for g in light if g.source.is_origin))
        per_index = "; ".join(
            f"{url} ({_versions_text([g for g in light if g.source.url == url])})"
            for url in indexes)
        contents = [{(g.filename, g.sha256) for g in light if g.source.url == url and g.sha256}
                    for url in indexes]
        copies = " (some of them identical copies, which do not show which index is the " \
            "origin)" if any(a & b for i, a in enumerate(contents) for b in contents[i + 1:]) \
            else ""
        findings.append(Finding(
            "multiple-indexes", severity_for(ctx.policy.on_multiple_indexes),
            f"{c.name} is on {len(indexes)} configured indexes{copies}: {per_index}"
            + (" (a find-links page on a server counts as an index)"
               if any(g.source.kind == "find-links" and g.source.url in indexes for g in light)
               else "")
            + ". pip merges "
            "them and takes the best version from any of them, which is how "
            "dependency-confusion attacks work",
            f.filename, f.sha256,
            hint=f"if {c.name} must come from one index, pin it there in safe-install.toml:"
            f"\n    [index-for]\n    {c.name} = \"<one of: {', '.join(indexes)}>\"\n"
            f"(or --index-for {c.name}=URL); to accept the merge after review: "
            "--on-multiple-indexes warn",
        ))
    return findings


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
        if g.invalid is not None:
            why += f"; its index data is invalid ({g.invalid}): it is never downloaded"
        out.append((g.filename, why))
    return tuple(out)


def evaluate(ctx: CheckContext, pkg: ResolvedPackage, *, build_time: bool = False) -> \
        PackageResult:
    c = pkg.candidate
    if isinstance(c, IndexCandidate):
        result = evaluate_index_candidate(ctx, c, pkg.required_by, sorted(pkg.extras),
                                          build_time=build_time, specifiers=pkg.specifiers)
        meta = ctx._metadata.get(c)
        if meta is not None:
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
                          + ("; pinned by the hash you gave" if c.hashes else ""),
                          None, None)
    return PackageResult(
        name=c.name, version=str(c.version), kind=c.kind,  # type: ignore[arg-type]
        filename=os.path.basename(c.local_path) if c.local_path else None, url=c.url,
        index=None, sha256=None, upload_time=None, release_start=None, lateness=None,
        findings=(finding,), decision="refuse" if finding.severity == "error" else "install",
        required_by=pkg.required_by, extras=tuple(sorted(pkg.extras)),
        metadata_source=c.metadata.source,
    )


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
    ask_backends: bool | None = None,
) -> CheckResult:
    """``ask_backends``: whether the build backend of every sdist to install is asked for the
    requirements it adds at build time, so that they are checked and reported (default: not
    in a dry run, where nothing is built; a lock asks)."""
    if ask_backends is None:
        ask_backends = not settings.dry_run
    # pip: any --hash, in a requirement or a constraint, turns on hash-checking mode
    hash_mode = settings.require_hashes or any(u.hashes for u in user_requirements) \
        or any(line.hashes for line in parsed.constraints)
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
    marker_env = {**target.environment, "extra": ""}

    def warm(name: str, specifier: SpecifierSet, *, hinted: bool = False) -> None:
        """Fetch the page and the metadata of the wheel pip would most likely take, then look
        ahead at *its* dependencies, so the tree is fetched in parallel waves rather than one
        round trip per level. A constraint narrows the guess, as it narrows the resolver.
        The dependencies it had in an earlier run (``hints``) are warmed at once, before its
        page arrives; for such a guess (``hinted``) no sdist is built."""
        if not settings.no_deps:
            prefetcher.requirements(hints.get(name), hinted=True)
        constraint = constraints.get(canonicalize_name(name))
        if constraint is not None:
            specifier = specifier & constraint.specifier
        best = next(iter_ranked(finder.project(name), specifier, rules), None)
        if best is not None and not prefetcher.closed and best.file.invalid is None:
            f = best.file
            # the resolver reads the metadata even with --no-deps (Requires-Python), as pip's
            if f.is_wheel:
                meta = ctx.wheel_meta.get(f.url, lambda: store.wheel_metadata(f))
            elif hinted:
                return
            else:  # checked first, then built if it must be, as the resolver would
                meta = sdist_metadata(ctx, IndexCandidate(f.project, f.version, f, frozenset(),
                                                          best))
            if settings.no_deps or prefetcher.closed or hinted:
                return  # a guess goes no further than its own hints
            ahead_items = []
            for text in meta.requires_dist:
                try:
                    req = Requirement(text)
                    if req.marker is None or req.marker.evaluate(marker_env):
                        ahead_items.append((req.name, req.specifier))
                except Exception:  # noqa: BLE001 - look-ahead only; the resolver reports it
                    continue
            prefetcher.requirements(ahead_items)

    constraints: dict[NormalizedName, Constraint] = {}
    prefetcher = Prefetcher(warm)
    hints = DependencyHints.for_target(store.cache_dir, target)
    observed: dict[str, set[tuple[str, str]]] = {}

    def ahead(deps: Sequence[Req]) -> None:
        prefetcher.requirements((r.name, r.specifier) for r in deps
                                if isinstance(r, NamedRequirement))

    def dependencies_of(candidate: Candidate, deps: Sequence[Req]) -> None:
        seen = observed.setdefault(candidate.name, set())
        seen.update((r.name, str(r.specifier)) for r in deps if isinstance(r, NamedRequirement)
                    and r.name != candidate.name)
        ahead(deps)

    if settings.build_constraint_files:
        from safeinstall.reqfile import parse_requirement_files

        build_lines = parse_requirement_files(
            [], [os.path.join(cwd, p) for p in settings.build_constraint_files],
            environ=environ).constraints
        ctx.build_constraint_pins = constraint_map(build_lines, marker_env, ctx.build_trusted)
        ctx.build_hash_mode = any(line.hashes for line in build_lines)
    reqs, constraints, order = build_requirements(ctx, user_requirements, parsed.constraints)
    ahead(reqs)
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
        on_dependencies=dependencies_of,
    )
    try:
        resolved = resolve(provider, reqs, on_pin=lambda s: progress(f"resolved {s}"))
    finally:
        prefetcher.close()
    if not settings.no_deps:
        hints.save({p.name: sorted(observed[p.name]) for p in resolved if p.name in observed})
    for listing_name in {p.name for p in resolved}:
        for note in finder.project(listing_name).notes:
            if note not in ctx.notes:
                ctx.notes.append(note)
    packages = tuple(evaluate(ctx, p) for p in resolved)
    for pkg, result in zip(resolved, packages, strict=True):
        c = pkg.candidate
        if result.decision != "install":
            continue
        if isinstance(c, IndexCandidate) and not c.file.is_wheel \
                and c.name not in ctx.build_envs:
            path = ctx.store.fetch(c.file, expected=frozenset(ctx.trusted.get(c.name, set())))
            check_build_env(ctx, c.name, path, sha256=c.file.sha256,
                            ask_backend=ask_backends)
    packages += tuple(ctx.build_results.values())
    plan: dict[str, Candidate] = {p.name: p.candidate for p in resolved}
    metadata: dict[str, CoreMetadata] = {p.name: ctx._metadata[p.candidate] for p in resolved
                if p.candidate in ctx._metadata}
    return CheckResult(
        target=target, packages=packages, notes=tuple(ctx.notes),
        relaxations=tuple(policy.relaxations()), hash_mode=hash_mode, generated_at=now,
        plan=plan, metadata=metadata, build_envs=dict(ctx.build_envs),
    )


__all__ = ["run_check", "CheckResult", "PackageResult", "UserRequirement", "CheckRefused",
           "index_args", "SafeInstallError"]
