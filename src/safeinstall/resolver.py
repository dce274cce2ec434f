"""Resolve the full dependency tree with resolvelib, choosing files exactly as pip's resolver does.

The requirements, candidates and results are in :mod:`safeinstall.candidates`. Constraints
narrow what is found; they never become requirements.

The resolution loop itself (resolvelib's, with its pin checks cached and, on resolvelib 1.2,
re-checking only what a round changed) is :mod:`safeinstall.resolution`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from packaging.markers import InvalidMarker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import AbstractProvider, BaseReporter, Resolver
from resolvelib.resolvers import ResolutionImpossible, ResolutionTooDeep

from safeinstall.candidates import (
    PYTHON_ID,
    Candidate,
    Constraint,
    DirectCandidate,
    ExplicitRequirement,
    IndexCandidate,
    InstalledCandidate,
    InstalledDist,
    NamedRequirement,
    PinnedRequirement,
    PythonCandidate,
    PythonRequirement,
    Req,
    ResolvedPackage,
    ResolverOptions,
    base_of,
    named_requirements,
    with_extras,
)
from safeinstall.distmeta import CoreMetadata
from safeinstall.errors import ResolutionError
from safeinstall.finder import Finder
from safeinstall.resolution import _CACHED_PIN_CHECKS, _Resolver
from safeinstall.selection import SelectionRules, iter_ranked, order_candidates
from safeinstall.target import TargetPython

__all__ = ["MetadataFn", "Provider", "explain_impossible", "resolve"]

logger = logging.getLogger(__name__)

#: Entries of each of the resolver's caches before it is emptied (bounds memory on long
#: backtracking, where candidates are made anew; an emptied cache only costs recomputation).
_MAX_CACHED = 1_000_000


MetadataFn = Callable[[Candidate], CoreMetadata]


class Provider(AbstractProvider[Req, Candidate, str]):
    def __init__(
        self,
        *,
        finder: Finder,
        rules: SelectionRules,
        target: TargetPython,
        metadata: MetadataFn,
        constraints: Mapping[NormalizedName, Constraint],
        installed: Mapping[NormalizedName, InstalledDist],
        options: ResolverOptions,
        user_requested: Mapping[NormalizedName, int],
        on_dependencies: Callable[[Candidate, Sequence[Req]], None] | None = None,
    ) -> None:
        self.on_dependencies = on_dependencies
        self.finder = finder
        self.rules = rules
        self.target = target
        self.metadata = metadata
        self.constraints = constraints
        self.installed = installed
        self.options = options
        self.user_requested = user_requested
        self.python_candidate = PythonCandidate(Version(target.version_string))
        # Caches that keep the resolver linear-ish in the number of pins (issue 21). Keys hold
        # the objects themselves (ids stay unique while cached); each entry is a pure function
        # of its key, so no entry can go stale.
        self._satisfied: dict[tuple[int, int], tuple[Req, Candidate, bool]] = {}
        #: identifier -> (its criterion, or its requirements' information, and preference)
        self._preferences: dict[str, tuple[Any, Any]] = {}
        #: (Requires-Dist text, extras asked for) -> whether its marker admits it here
        self._marker_verdicts: dict[tuple[str, tuple[str, ...]], bool] = {}
        #: the last information list of ``<python>`` found to fit (:meth:`_python_fits`)
        self._python_verified: list[Any] = []

    # identifiers
    def identify(self, requirement_or_candidate: Any) -> str:
        return str(requirement_or_candidate.identifier)

    def narrow_requirement_selection(self, identifiers: Iterable[str], resolutions: Any,
                                     candidates: Any, information: Any,
                                     backtrack_causes: Any) -> Iterable[str]:
        """The single identifier resolvelib would pick next (``min`` by :meth:`get_preference`
        over the backtrack causes, or over all), so that it never asks the preference of every
        unpinned name again in every round (quadratic in the number of pins)."""
        ids = list(identifiers)
        if PYTHON_ID in ids:
            return [PYTHON_ID]
        causes = self.cause_ids(backtrack_causes)
        narrowed = [i for i in ids if i in causes] or ids
        if len(narrowed) == 1:
            return narrowed
        return [min(narrowed, key=lambda i: self._preference(i, information))]

    @staticmethod
    def cause_ids(backtrack_causes: Iterable[Any]) -> set[str]:
        """The identifiers named by resolvelib's backtrack causes (requirement and parent)."""
        causes = set()
        for info in backtrack_causes:
            causes.add(info.requirement.identifier)
            if info.parent is not None:
                causes.add(info.parent.identifier)
        return causes

    def get_preference(self, identifier: str, resolutions: Mapping[str, Candidate],
                       candidates: Mapping[str, Iterator[Candidate]],
                       information: Mapping[str, Iterable[Any]],
                       backtrack_causes: Sequence[Any]) -> Any:
        return self._preference(identifier, information)

    def _preference(self, identifier: str, information: Mapping[str, Iterable[Any]]) -> Any:
        """The preference of ``identifier``: a function of its requirements only, cached for
        as long as they are the same objects."""
        # resolvelib passes a view of its criteria (immutable objects, a new one for every
        # change): the criterion itself is the cheapest key, where it can be reached
        criteria = getattr(information, "_mapping", None)
        key: Any = None
        if isinstance(criteria, dict) and not getattr(information, "_appends", True):
            key = criteria.get(identifier)
        cached = self._preferences.get(identifier)
        if key is not None:
            if cached is not None and cached[0] is key:
                return cached[1]
            infos: tuple[Any, ...] = tuple(information[identifier])
        else:
            infos = tuple(information[identifier])
            if cached is not None and cached[0] == infos:
                return cached[1]
            key = infos
        preference = self._compute_preference(identifier, infos)
        self._preferences[identifier] = (key, preference)
        return preference

    def _compute_preference(self, identifier: str, infos: Sequence[Any]) -> Any:
        direct = any(isinstance(i.requirement, ExplicitRequirement) for i in infos)
        operators = [
            (sp.operator, sp.version)
            for i in infos if isinstance(i.requirement, NamedRequirement)
            for sp in i.requirement.specifier
        ]
        pinned = any(op[:2] == "==" and "*" not in ver for op, ver in operators)
        upper = any(op in ("<", "<=", "~=") or (op == "==" and "*" in ver)
                    for op, ver in operators)
        name = identifier.split("[")[0]
        order = self.user_requested.get(canonicalize_name(name), math.inf) \
            if identifier != PYTHON_ID else -1
        return (not direct, not pinned, not upper, order, not operators, identifier)

    # candidates
    def find_matches(self, identifier: str, requirements: Mapping[str, Iterator[Req]],
                     incompatibilities: Mapping[str, Iterator[Candidate]],
                     ) -> Sequence[Candidate] | Callable[[], Iterator[Candidate]]:
        bad = set(incompatibilities[identifier])
        if identifier == PYTHON_ID:
            c = self.python_candidate
            if c in bad:
                return []
            return [c] if self._python_fits(requirements) else []
        reqs = list(requirements[identifier])
        name = canonicalize_name(identifier.split("[")[0])
        extras = frozenset(identifier[len(name) + 1:-1].split(",")) if "[" in identifier \
            else frozenset()
        pins = [r.candidate for r in reqs if isinstance(r, PinnedRequirement)]
        explicit = [r.candidate for r in reqs if isinstance(r, ExplicitRequirement)]
        if pins or explicit:
            fixed = pins[0] if pins else explicit[0]
            cand = with_extras(fixed, extras)
            ok = cand not in bad and all(self.is_satisfied_by(r, cand) for r in reqs)
            return [cand] if ok else []
        specifier = SpecifierSet()
        hashes: dict[str, frozenset[str]] = {}
        for r in reqs:
            if isinstance(r, NamedRequirement):
                specifier &= r.specifier
                hashes = _and_hashes(hashes, r.hashes)
        constraint = self.constraints.get(name)
        if constraint is not None:
            specifier &= constraint.specifier
            if not hashes:
                hashes = dict(constraint.hashes)
        installed = self._installed_candidate(name, specifier, extras)
        listing = self.finder.project(name)
        rules = self.rules

        def index() -> Iterator[Candidate]:
            for r in iter_ranked(listing, specifier, rules, hashes, explain=True):
                yield IndexCandidate(name, r.file.version, r.file, extras, r)

        def matches() -> Iterator[Candidate]:
            # lazily, as pip's FoundCandidates: most lookups only ever take the first one
            if installed is None or installed in bad:
                yield from (c for c in index() if c not in bad)
                return
            if self._prefers_installed(name):
                yield installed
                yield from (c for c in index() if c.version != installed.version and c not in bad)
                return
            inserted = False
            for ic in index():
                if ic.version == installed.version:
                    if not inserted:
                        yield installed
                        inserted = True
                    continue
                if not inserted and ic.version < installed.version:
                    yield installed
                    inserted = True
                if ic not in bad:
                    yield ic
            if not inserted:
                yield installed

        return matches

    def _python_fits(self, requirements: Mapping[str, Iterator[Req]]) -> bool:
        """Whether the target Python satisfies every requirement on ``<python>``: one
        Requires-Python per pinned candidate, all asked again at every pin (quadratic in the
        pins). resolvelib passes its criteria and the requirement being added: when the
        criterion's information extends the list last found to fit (each pin makes a new list
        that copies the old one, then adds), only the new entries are checked."""
        c = self.python_candidate
        known, cid = self._satisfied, id(c)

        def fits(reqs: Iterable[Req]) -> bool:
            for r in reqs:
                hit = known.get((id(r), cid))
                if not (hit[2] if hit is not None else self.is_satisfied_by(r, c)):
                    return False
            return True

        criteria = getattr(requirements, "_mapping", None)
        appends = getattr(requirements, "_appends", None)
        if not (isinstance(criteria, dict) and isinstance(appends, dict)):
            return fits(requirements[PYTHON_ID])
        criterion = criteria.get(PYTHON_ID)
        info = criterion.information if criterion is not None else []
        if type(info) is not list:
            return fits(requirements[PYTHON_ID])
        verified = self._python_verified
        n = len(verified)
        fresh = info[n:] if n and len(info) >= n and info[:n] == verified else info
        if not fits(i.requirement for i in fresh):
            return False
        self._python_verified = list(info)  # (a copy: resolvelib never changes one, but)
        return fits(appends.get(PYTHON_ID, ()))

    def _prefers_installed(self, name: NormalizedName) -> bool:
        if not self.options.upgrade:
            return True
        if self.options.upgrade_strategy == "eager":
            return False
        return name not in self.user_requested

    def _installed_candidate(self, name: NormalizedName, specifier: SpecifierSet,
                             extras: frozenset[str]) -> InstalledCandidate | None:
        if self.options.force_reinstall or self.options.ignore_installed:
            return None
        dist = self.installed.get(name)
        if dist is None or not specifier.contains(dist.version, prereleases=True):
            return None
        return InstalledCandidate(name, dist.version, dist.requires_dist, dist.requires_python,
                                  extras)

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        """Cached: resolvelib asks again for every requirement of every pin in every round."""
        key = (id(requirement), id(candidate))
        hit = self._satisfied.get(key)
        if hit is not None:
            return hit[2]
        ok = self._satisfies(requirement, candidate)
        if len(self._satisfied) >= _MAX_CACHED:  # (a long backtrack makes new candidates)
            self._satisfied.clear()
        self._satisfied[key] = (requirement, candidate, ok)
        return ok

    def _satisfies(self, requirement: Req, candidate: Candidate) -> bool:
        if isinstance(requirement, PythonRequirement):
            return requirement.specifier.contains(candidate.version, prereleases=True)
        if isinstance(requirement, PinnedRequirement):
            return base_of(candidate) == requirement.candidate
        if isinstance(requirement, ExplicitRequirement):
            return base_of(candidate) == base_of(requirement.candidate)
        if isinstance(candidate, DirectCandidate):
            # a direct candidate satisfies a named requirement if its version fits
            return requirement.specifier.contains(candidate.version, prereleases=True)
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate: Candidate) -> list[Req]:
        if isinstance(candidate, PythonCandidate):
            return []
        deps: list[Req] = []
        parent = f"{candidate.name} {candidate.version}"
        if candidate.extras:
            deps.append(PinnedRequirement(base_of(candidate), parent))
        if isinstance(candidate, InstalledCandidate):
            requires_dist = candidate.requires_dist
            requires_python = candidate.requires_python
        else:
            meta = self.metadata(base_of(candidate))
            requires_dist = meta.requires_dist
            requires_python = meta.requires_python
            if canonicalize_name(meta.name) != candidate.name:
                raise ResolutionError(
                    f"{parent}: its metadata names the project {meta.name!r}",
                    hint="the artifact is inconsistent with its file name; pin another version",
                )
        if requires_python and not self.options.ignore_requires_python \
                and not isinstance(candidate, InstalledCandidate):
            with contextlib.suppress(InvalidSpecifier):  # pip ignores an invalid one
                deps.append(PythonRequirement(SpecifierSet(requires_python), parent))
        if self.options.no_deps:
            return deps
        deps.extend(self.dependencies_from(requires_dist, candidate.extras, parent))
        if self.on_dependencies is not None:
            self.on_dependencies(candidate, deps)
        return deps

    def dependencies_from(self, requires_dist: Iterable[str], extras: frozenset[str],
                          parent: str) -> list[Req]:
        out: list[Req] = []
        env = dict(self.target.environment)
        contexts = ("",) if not extras else tuple(sorted(extras))
        verdicts = self._marker_verdicts
        for text in requires_dist:
            req = _parsed_requirement(text)
            if req is None:
                raise ResolutionError(f"{parent} declares an invalid dependency {text!r}")
            if req.marker is not None:
                # (the same dependency text of many releases: its marker evaluated once per
                # set of extras; the target environment is the provider's, fixed)
                key = (text, contexts)
                wanted = verdicts.get(key)
                if wanted is None:
                    try:
                        wanted = any(req.marker.evaluate({**env, "extra": e}) for e in contexts)
                    except InvalidMarker:
                        wanted = False
                    verdicts[key] = wanted
                if not wanted:
                    continue
            elif extras:
                continue  # unconditional deps come with the base candidate
            out.extend(named_requirements(req, parent))
        return out


@functools.lru_cache(maxsize=16384)
def _parsed_requirement(text: str) -> Requirement | None:
    """A Requires-Dist line parsed, or None if it is invalid. Cached: releases of a project
    (and a resolution's backtracking) repeat the same lines, and parsing is most of the cost of
    a candidate's dependencies. (The object is shared: nothing here changes one.)"""
    try:
        return Requirement(text)
    except Exception:
        return None


def _and_hashes(a: Mapping[str, frozenset[str]],
                b: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    if not a:
        return dict(b)
    if not b:
        return dict(a)
    return {alg: a[alg] & b[alg] for alg in a if alg in b}


# -- running -----------------------------------------------------------------------------------


class _Reporter(BaseReporter[Req, Candidate, str]):
    def __init__(self, on_pin: Callable[[str], None] | None) -> None:
        self.on_pin = on_pin

    def pinning(self, candidate: Any) -> None:
        if isinstance(candidate, PythonCandidate):
            return
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Pinning %s %s (%s)", candidate.name, candidate.version,
                         _described(candidate))
        if self.on_pin is not None:
            self.on_pin(f"{candidate.name} {candidate.version}")

    def rejecting_candidate(self, criterion: Any, candidate: Any) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        causes = "; ".join(dict.fromkeys(
            f"{'the user' if i.parent is None else f'{i.parent.name} {i.parent.version}'} "
            f"requires {i.requirement}" for i in criterion.information))
        logger.debug("Will try a different candidate, due to conflict: %s %s (%s) does not "
                     "satisfy: %s", candidate.name, candidate.version, _described(candidate),
                     causes)


def _described(candidate: Candidate) -> str:
    """Where a candidate comes from, for a log line."""
    if isinstance(candidate, IndexCandidate):
        return candidate.file.filename
    if isinstance(candidate, InstalledCandidate):
        return "already installed"
    if isinstance(candidate, DirectCandidate):
        return candidate.url
    return "the target Python"


def resolve(provider: Provider, requirements: Sequence[Req], *,
            on_pin: Callable[[str], None] | None = None) -> list[ResolvedPackage]:
    resolver = _Resolver(provider, _Reporter(on_pin)) if _CACHED_PIN_CHECKS \
        else Resolver(provider, _Reporter(on_pin))
    try:
        result = resolver.resolve(requirements, max_rounds=200000)
    except ResolutionImpossible as exc:
        raise ResolutionError(explain_impossible(list(exc.causes), provider),
                              hint="loosen or change the requirements named above") from None
    except ResolutionTooDeep:
        raise ResolutionError("the resolver gave up after too many rounds of backtracking",
                              hint="pin some dependencies to narrow the search") from None
    required_by: dict[str, list[str]] = {}
    extras_of: dict[str, set[str]] = {}
    specifiers: dict[str, list[str]] = {}
    for identifier, criterion in result.criteria.items():
        base = identifier.split("[")[0]
        for info in criterion.information:
            parent = info.parent
            if isinstance(info.requirement, NamedRequirement):
                spec = str(info.requirement.specifier)
                if spec not in specifiers.setdefault(base, []):
                    specifiers[base].append(spec)
            if parent is None:
                label = info.requirement.comes_from or "the user"
            elif isinstance(parent, PythonCandidate):
                continue
            else:
                label = f"{parent.name} {parent.version}"
            if label.startswith(base + " "):
                continue
            required_by.setdefault(base, [])
            if label not in required_by[base]:
                required_by[base].append(label)
        if "[" in identifier:
            extras_of.setdefault(base, set()).update(identifier[len(base) + 1:-1].split(","))
    out: list[ResolvedPackage] = []
    for identifier, cand in result.mapping.items():
        if identifier == PYTHON_ID or "[" in identifier:
            continue
        out.append(ResolvedPackage(
            name=canonicalize_name(identifier),
            version=cand.version,
            candidate=base_of(cand),
            extras=frozenset(extras_of.get(identifier, set())),
            required_by=tuple(required_by.get(identifier, [])),
            specifiers=tuple(specifiers.get(identifier, [])),
        ))
    out.sort(key=lambda p: p.name)
    return out


def _available(provider: Provider | None, identifier: str) -> str:
    if provider is None:
        return ""
    name = canonicalize_name(identifier.split("[")[0])
    try:
        files = provider.finder.project(name).files
    except Exception:
        return ""
    if not files:
        return f"; {name} is not on any configured index or find-links location"
    versions = sorted({f.version for f in files})
    fits = sorted({r.file.version for r in
                   order_candidates(files, SpecifierSet(), provider.rules)})
    shown = ", ".join(str(v) for v in versions[-15:])
    text = f"; versions found: {shown}"
    if not fits:
        text += " (but no file of any version fits this target)"
    elif fits != versions:
        text += f"; versions with files for this target: {', '.join(str(v) for v in fits[-15:])}"
    return text


def explain_impossible(causes: Sequence[Any], provider: Provider | None = None) -> str:
    if not causes:
        return "the requirements cannot be satisfied"
    lines = []
    names = []
    for info in causes:
        req = info.requirement
        who = "the user" if info.parent is None else f"{info.parent.name} {info.parent.version}"
        if info.parent is None and getattr(req, "comes_from", None):
            who = str(req.comes_from)
        if isinstance(req, PythonRequirement):
            lines.append(f"    {who} requires Python{req.specifier}, but the target is a "
                         f"different Python")
            continue
        names.append(req.identifier)
        lines.append(f"    {who} requires {req}")
    unique = list(dict.fromkeys(names))
    if len(unique) == 1 and len(lines) == 1:
        return (f"no version of {unique[0]} matches {causes[0].requirement} "
                f"(required by {lines[0].split(' requires ')[0].strip()}): none found on the "
                f"configured indexes for this target{_available(provider, unique[0])}")
    head = f"cannot install {', '.join(unique) or 'the requirements'}: the requirements conflict"
    return head + "\n  The conflict is caused by:\n" + "\n".join(dict.fromkeys(lines))
