"""The check: resolve what pip would install, date every selected artifact, apply the policy.

This is the library entry point behind ``safe-install``.  It never prints and never exits; the
target, the indexes, the policy and "now" are all parameters.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from safeinstall.artifacts import ArtifactCache
from safeinstall.builds import check_build_env, metadata_function, sdist_metadata
from safeinstall.candidates import (
    Candidate,
    Constraint,
    ExplicitRequirement,
    IndexCandidate,
    InstalledDist,
    Req,
    ResolverOptions,
    named_requirements,
)
from safeinstall.checkcontext import CheckContext
from safeinstall.direct import VCS_PREFIXES, direct_candidate
from safeinstall.distmeta import CoreMetadata
from safeinstall.errors import RequirementError, UsageError
from safeinstall.evaluate import evaluate
from safeinstall.finder import Finder
from safeinstall.models import UserRequirement
from safeinstall.pipoptions import PipSettings
from safeinstall.policy import Policy
from safeinstall.prefetch import DependencyHints, LookAhead
from safeinstall.reqlines import ParsedRequirements, RequirementLine
from safeinstall.resolver import Provider, resolve
from safeinstall.results import CheckResult
from safeinstall.selection import FormatControl, SelectionRules
from safeinstall.target import TargetPython

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


def run_check(
    *,
    settings: PipSettings,
    policy: Policy,
    target: TargetPython,
    user_requirements: Sequence[UserRequirement],
    parsed: ParsedRequirements,
    finder: Finder,
    cache: ArtifactCache,
    environ: Mapping[str, str],
    now: datetime,
    cwd: str,
    installed: Mapping[NormalizedName, InstalledDist],
    progress: Callable[[str], None] = lambda _m: None,
    notes: Sequence[str] = (),
    ask_backends: bool | None = None,
    workers: ThreadPoolExecutor | None = None,
) -> CheckResult:
    """``ask_backends``: whether the build backend of every sdist to install is asked for the
    requirements it adds at build time, so that they are checked and reported (default: not
    in a dry run, where nothing is built; a lock asks). ``workers``: the look-ahead's threads,
    started early (:func:`safeinstall.prefetch.start_workers`), else started here."""
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
                       cache=cache, environ=environ, now=now, cwd=cwd, progress=progress,
                       hash_mode=hash_mode, rules=rules, notes=list(notes))
    if not user_requirements:
        raise UsageError("no requirements given",
                         hint="name packages, or use -r FILE, as with `pip install`")
    marker_env = {**target.environment, "extra": ""}
    look = LookAhead(
        finder=finder, rules=rules, hints=DependencyHints.for_target(cache.cache_dir, target),
        marker_env=marker_env, no_deps=settings.no_deps,
        wheel_metadata=lambda f: ctx.wheel_meta.get(f.url, lambda: cache.wheel_metadata(f)),
        sdist_metadata=lambda best: sdist_metadata(ctx, IndexCandidate(
            best.file.project, best.file.version, best.file, frozenset(), best)),
        pool=workers)
    if settings.build_constraint_files:
        from safeinstall.reqfile import parse_requirement_files

        build_lines = parse_requirement_files(
            [], [os.path.join(cwd, p) for p in settings.build_constraint_files],
            environ=environ).constraints
        ctx.build_constraint_pins = constraint_map(build_lines, marker_env, ctx.build_trusted)
        ctx.build_hash_mode = any(line.hashes for line in build_lines)
    reqs, constraints, order = build_requirements(ctx, user_requirements, parsed.constraints)
    look.constraints = constraints
    look.ahead(reqs)
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
        on_dependencies=look.dependencies_of,
    )
    try:
        resolved = resolve(provider, reqs, on_pin=lambda s: progress(f"resolved {s}"))
    finally:
        look.close()
    if not settings.no_deps:
        look.save(p.name for p in resolved)
    # (in the order of the resolution: the report and the output are the same every run)
    for listing_name in dict.fromkeys(p.name for p in resolved):
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
            path = ctx.cache.fetch(c.file, expected=frozenset(ctx.trusted.get(c.name, set())))
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


__all__ = ["run_check"]
