"""Building, only after checking: the metadata of sdists (static, or prepared by pip once
the sdist and its build dependencies have passed their checks), the checked build
environments (resolved and judged with the same pipeline). Direct (URL, VCS, path)
requirements are :mod:`safeinstall.direct`. Nothing from an sdist runs before it has passed
its checks."""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from safeinstall.artifacts import sha256_file
from safeinstall.buildenv import BuildEnv, BuildPin, materialize, pip_build_args
from safeinstall.candidates import (
    Candidate,
    Constraint,
    DirectCandidate,
    IndexCandidate,
    NamedRequirement,
    Req,
    ResolverOptions,
    named_requirements,
)
from safeinstall.checkcontext import CheckContext
from safeinstall.distmeta import (
    CoreMetadata,
    parse_metadata,
    static_sdist_metadata,
)
from safeinstall.errors import (
    IntegrityError,
    PolicyRefusal,
    RequirementError,
    ResolutionError,
    UsageError,
)
from safeinstall.evaluate import evaluate, evaluate_index_candidate
from safeinstall.pipconfig import PIP_COMMAND
from safeinstall.pipoptions import PipSettings, environ_without_pip
from safeinstall.resolver import Provider, resolve
from safeinstall.results import CheckRefused
from safeinstall.target import build_key

#: numbers the checked build-environment directories of a run
_ENV_SEQ = itertools.count()


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


def metadata_from_report(item: Mapping[str, object], source: str) -> CoreMetadata:
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
    return _check_build_env(ctx, owner, source, editable=editable, sha256=sha256,
                            ask_backend=ask_backend)[0]


def _check_build_env(ctx: CheckContext, owner: str, source: Path, *, editable: bool = False,
                     sha256: str | None = None, ask_backend: bool = True,
                     want_metadata: bool = False) -> tuple[BuildEnv | None, bytes | None]:
    """:func:`check_build_env`, and with ``want_metadata`` (an sdist from an index): the
    METADATA its backend prepared in the environment made for asking it, when that
    environment needs nothing more (every requirement the backend added is among its checked
    files), else None (pip builds it, with the checked files)."""
    from safeinstall.buildenv import prepare_build
    from safeinstall.distmeta import build_requires

    if ctx.settings.no_build_isolation:
        return None, None
    known = ctx.build_envs.get(owner)
    if known is not None:
        return known, None
    requires = build_requires(source)
    env = _checked_env(ctx, owner, requires)
    key = build_key(ctx.target) + ("-editable" if editable else "")
    dynamic = ctx.cache.built_requires(sha256, key) if ask_backend else ()
    built: bytes | None = None
    if dynamic is None:
        ctx.progress(f"asking the build backend of {owner} for its build requirements")
        workdir = ctx.cache.scratch("build-requires")
        workdir.mkdir(parents=True, exist_ok=True)
        # the subprocesses (install of the checked files, the backend's hook) run without the
        # lock, a bounded few at a time, each in a directory of its own: other sdists are
        # checked and prepared meanwhile
        static_env, markers = env, dict(ctx.target.environment)
        with ctx.build_lock.released(), ctx.build_slots:
            dynamic, built = prepare_build(
                owner=owner, source=source, env=env, python=ctx.target.executable,
                pip_python=ctx.target.executable if ctx.settings.python else None,
                environ=ctx.environ, workdir=workdir, editable=editable,
                metadata_if=(lambda reqs: all(static_env.satisfies(r, markers) for r in reqs))
                if want_metadata else None, templates=ctx.site_templates,
                progress=ctx.progress)
        ctx.cache.save_built_requires(sha256, key, dynamic)
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
    return env, built if not missing else None


def _with(required_by: tuple[str, ...], label: str) -> tuple[str, ...]:
    """``required_by`` with ``label`` added, sorted: builds finish in any order, a report
    lists the builds that need a package the same way in every run."""
    return tuple(sorted({*required_by, label}))


def _checked_env(ctx: CheckContext, owner: str, requires: Sequence[str]) -> BuildEnv:
    """The checked build environment for ``requires`` (one per set of requirements)."""
    key = tuple(sorted(requires))
    label = f"build of {owner}"
    if key in ctx._envs_by_requires:
        env = ctx._envs_by_requires[key]
        for res_key in ctx._build_members.get(env.constraints, []):
            res = ctx.build_results[res_key]
            if label not in res.required_by:
                ctx.build_results[res_key] = replace(res, required_by=_with(res.required_by,
                                                                            label))
        return env
    me = (threading.get_ident(), owner)
    if me in ctx._building:
        raise ResolutionError(f"{owner} needs itself to build (a build-dependency cycle)",
                              hint="install a wheel of it, or use --only-binary for it")
    ctx._building.add(me)
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
                result = replace(prev, required_by=_with(prev.required_by, label))
            ctx.build_results[res_key] = result
            members.append(res_key)
        # every file passed its checks: their downloads run together (one after the other
        # they were most of the check of a backend with many requirements, issue 21); each
        # is then taken, verified, in the resolution's order
        for pkg in resolved:
            if isinstance(pkg.candidate, IndexCandidate):
                ctx.cache.prefetch(pkg.candidate.file)
        for pkg in resolved:
            c = pkg.candidate
            if isinstance(c, IndexCandidate):
                path = ctx.cache.fetch(c.file, expected=frozenset(
                    ctx.build_trusted.get(c.name, set())))
                pins.append(BuildPin(str(c.name), str(c.version), sha256_file(path),
                                     c.file.filename, str(path)))
                if not c.file.is_wheel:  # pip builds it with the same options: its own env
                    sub = check_build_env(ctx, c.name, path, sha256=c.file.sha256)
                    if sub is not None:
                        nested += [*sub.pins, *sub.nested]
        # a directory of its own (another thread may check the same requirements meanwhile)
        env = materialize(ctx.cache.scratch(f"build-env-{next(_ENV_SEQ)}"), pins, nested)
        ctx._build_members[env.constraints] = members
        ctx._envs_by_requires[key] = env
        return env
    finally:
        ctx._building.discard(me)


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
    the sdist; the subprocesses (preparing the build environment and asking the backend, in
    :func:`check_build_env`, and the build itself) run outside it, a bounded few at a time,
    each in directories of its own. A thread waits for another's sdist with the lock released;
    a wait that would close a loop (the sdist is being checked by this thread, or by one that
    waits, however indirectly, for this thread) is a build-dependency cycle, an error."""
    f = c.file
    me = threading.get_ident()
    with ctx.build_lock:
        fut, owner = ctx.sdist_meta.claim(f.url)
        if not owner and not fut.done():
            _wait_for_sdist(ctx, c, fut, me)
        if owner:
            ctx._checking_sdists[f.url] = me
            try:
                ready, build_env, path = _checked_sdist(ctx, c, build_time=build_time)
            except BaseException as exc:
                failed = _with_left_out(ctx, c, exc)
                ctx.sdist_meta.settle(f.url, fut, _raiser(failed))
                raise failed from None
            finally:
                del ctx._checking_sdists[f.url]
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
                meta = metadata_from_report(item, f.filename)
            _check_built_identity(c, meta)
            ctx.cache.save_built_metadata(f.sha256, build_key(ctx.target), meta)
            return meta

        ctx.sdist_meta.settle(f.url, fut, build)
    return fut.result()


def _wait_for_sdist(ctx: CheckContext, c: IndexCandidate, fut: Future[CoreMetadata],
                    me: int) -> None:
    """Wait (lock released) for the metadata of an sdist another thread prepares; an error if
    the wait closes a loop of threads each waiting for an sdist the next one checks. Called
    and returns with ``ctx.build_lock`` held."""
    url = c.file.url
    thread: int | None = ctx._checking_sdists.get(url)
    seen: set[int] = set()
    while thread is not None and thread not in seen:
        if thread == me:
            # its own build requirements lead back to it: waiting for it would never end
            raise ResolutionError(
                f"{c.name} {c.version} needs itself to build ({c.file.filename} is among the "
                "build requirements of its own build dependencies: a build-dependency cycle)",
                hint=f"install a wheel of {c.name} (--only-binary {c.name}), or pin a version "
                     "that has one")
        seen.add(thread)
        waited = ctx._waiting_for.get(thread)
        thread = ctx._checking_sdists.get(waited) if waited is not None else None
    ctx._waiting_for[me] = url
    try:
        ctx.build_lock.wait(fut)
    finally:
        del ctx._waiting_for[me]


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
    """Check the sdist, fetch it, and return its metadata if that needs no build (or was
    prepared in the checked environment made to ask its backend); otherwise check its build
    dependencies and return the build environment to build it in.
    ``build_time``: a build dependency (runtime hash pins do not apply to it)."""
    f = c.file
    pre = evaluate_index_candidate(ctx, c, (), (), build_time=build_time)
    if pre.decision == "refuse":
        raise CheckRefused(pre)
    trusted = ctx.build_trusted if build_time else ctx.trusted
    path = ctx.cache.fetch(f, expected=frozenset(trusted.get(c.name, set())))
    static = static_sdist_metadata(path)
    if static is not None:
        return static, None, path
    cached = ctx.cache.built_metadata(f.sha256, build_key(ctx.target))
    if cached is not None:
        _check_built_identity(c, cached)
        return cached, None, path
    env, built = _check_build_env(ctx, c.name, path, sha256=f.sha256, want_metadata=True)
    if built is None:
        return None, env, path
    meta = replace(parse_metadata(built, f.filename)[0], source="build")
    _check_built_identity(c, meta)
    ctx.cache.save_built_metadata(f.sha256, build_key(ctx.target), meta)
    return meta, env, path


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
                meta = ctx.wheel_meta.get(f.url, lambda: ctx.cache.wheel_metadata(f))
                if not ctx.settings.dry_run:
                    # the resolver is taking it: its bytes download while the check goes on
                    ctx.cache.prefetch(f)
            else:
                meta = sdist_metadata(ctx, c, build_time=build_time)
        else:
            raise AssertionError(f"no metadata for {c!r}")
        ctx._metadata[c] = meta
        return meta

    return metadata
