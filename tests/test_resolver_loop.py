"""The incremental resolution loop (issue 21): resolvelib's rounds and choices, without looking
at every pin in every round.

``_Resolution.resolve`` restates resolvelib's loop so that a round only re-checks the names the
previous round changed. Each test runs the same dependency graph through resolvelib's own
loop and through ours, with the real provider (preference, narrowing, ``is_satisfied_by``,
``get_dependencies``); only where candidates come from is in memory (installed-style
candidates, so that no index is consulted). The pins, their order, the rejections and the
outcome must be the same; and the work per round must not grow with the number of pins.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version
from resolvelib import BaseReporter, Resolver
from resolvelib.resolvers import ResolutionImpossible, ResolutionTooDeep

from safeinstall import resolution as resolver_module
from safeinstall.candidates import InstalledCandidate, NamedRequirement, ResolverOptions
from safeinstall.resolution import _Resolution, _Resolver
from safeinstall.resolver import Provider

#: name -> version -> Requires-Dist
Universe = dict[str, dict[str, list[str]]]


class _Target:
    version_string = "3.11.7"
    environment: dict[str, str] = {"python_version": "3.11", "sys_platform": "linux"}


class MemoryProvider(Provider):
    """The real provider; its candidates are those of ``universe``, highest version first."""

    def __init__(self, universe: Universe, user_requested: Mapping[str, int]) -> None:
        super().__init__(finder=None, rules=None, target=_Target(),  # type: ignore[arg-type]
                         metadata=lambda c: None,  # type: ignore[arg-type,return-value]
                         constraints={}, installed={}, options=ResolverOptions(),
                         user_requested={canonicalize_name(k): v
                                         for k, v in user_requested.items()})
        self.universe = universe
        self.pin_checks = 0
        self.preferences = 0
        self._made: dict[tuple[str, str], InstalledCandidate] = {}

    def _candidate(self, name: str, version: str) -> InstalledCandidate:
        key = (name, version)
        if key not in self._made:  # (one object per candidate, as the finder's listings give)
            self._made[key] = InstalledCandidate(
                canonicalize_name(name), Version(version), tuple(self.universe[name][version]))
        return self._made[key]

    def find_matches(self, identifier: str, requirements: Mapping[str, Iterator[Any]],
                     incompatibilities: Mapping[str, Iterator[Any]]) -> Sequence[Any]:
        reqs = list(requirements[identifier])
        bad = set(incompatibilities[identifier])
        versions = sorted(self.universe.get(identifier, {}), key=Version, reverse=True)
        out = []
        for v in versions:
            c = self._candidate(identifier, v)
            if c not in bad and all(self.is_satisfied_by(r, c) for r in reqs):
                out.append(c)
        return out

    def _compute_preference(self, identifier: str, infos: Sequence[Any]) -> Any:
        self.preferences += 1
        return super()._compute_preference(identifier, infos)


class Recorder(BaseReporter[Any, Any, Any]):
    def __init__(self) -> None:
        self.events: list[str] = []

    def pinning(self, candidate: Any) -> None:
        self.events.append(f"pin {candidate.name} {candidate.version}")

    def rejecting_candidate(self, criterion: Any, candidate: Any) -> None:
        self.events.append(f"reject {candidate.name} {candidate.version}")

    def resolving_conflicts(self, causes: Any) -> None:
        self.events.append("conflict " + ", ".join(sorted(str(c.requirement) for c in causes)))


class CountingResolution(_Resolution):
    def _is_current_pin_satisfying(self, name: Any, criterion: Any) -> bool:
        self._provider.pin_checks += 1  # type: ignore[attr-defined]
        return super()._is_current_pin_satisfying(name, criterion)


def requirement(text: str) -> NamedRequirement:
    name, _, spec = text.partition(" ")
    return NamedRequirement(canonicalize_name(name), frozenset(), SpecifierSet(spec))


def run(universe: Universe, roots: list[str], *, incremental: bool) -> tuple[list[str], str]:
    """The reporter's events and the outcome (the pins, or the failure) of one resolution."""
    provider = MemoryProvider(universe, {r.split(" ")[0]: i for i, r in enumerate(roots)})
    recorder = Recorder()
    reqs = [requirement(r) for r in roots]
    try:
        chosen = _Resolver if incremental else Resolver
        mapping = chosen(provider, recorder).resolve(reqs, max_rounds=2000).mapping
    except ResolutionImpossible as exc:
        return recorder.events, "impossible: " + ", ".join(
            sorted(str(c.requirement) for c in exc.causes))
    except ResolutionTooDeep:
        return recorder.events, "too deep"
    return recorder.events, " ".join(f"{k}=={v.version}" for k, v in sorted(mapping.items()))


def random_universe(rng: random.Random, size: int) -> tuple[Universe, list[str]]:
    names = [f"p{i}" for i in range(size)]
    universe: Universe = {}
    for i, name in enumerate(names):
        universe[name] = {}
        for major in range(1, rng.randint(2, 5)):
            deps = []
            for other in rng.sample(names[i + 1:], min(len(names) - i - 1, rng.randint(0, 3))):
                op = rng.choice([">=", "<", "==", "!=", "~="])
                bound = f"{rng.randint(1, 4)}.0"
                marker = rng.choice(["", "", "", "; python_version < '3'"])
                deps.append(f"{other}{op}{bound}{marker}")
            universe[name][f"{major}.0"] = deps
    roots = [f"{n} >={rng.randint(1, 2)}.0"
             for n in rng.sample(names, rng.randint(2, min(6, len(names))))]
    return universe, roots


def test_random_graphs_resolve_as_resolvelibs_own_loop() -> None:
    assert resolver_module._INCREMENTAL_LOOP, "the incremental loop must run with this resolvelib"
    rng = random.Random(21)
    conflicts = impossible = 0
    for _ in range(300):
        universe, roots = random_universe(rng, rng.randint(4, 14))
        events, outcome = run(universe, roots, incremental=False)
        ours = run(universe, roots, incremental=True)
        assert ours == (events, outcome), (universe, roots)
        conflicts += any(e.startswith("conflict") for e in events)
        impossible += outcome.startswith("impossible")
    # the graphs exercise backjumping and failures, not only the straight path
    assert conflicts > 20
    assert impossible > 5


def test_a_pin_broken_by_a_later_requirement_is_redone() -> None:
    # b is pinned at 2.0 first (the user's order), then a 1.0 requires b<2: resolvelib marks b
    # newly unsatisfied and pins it again; the incremental loop must see that too
    universe: Universe = {
        "a": {"1.0": ["b<2"]},
        "b": {"1.0": [], "2.0": []},
    }
    roots = ["b >=1", "a >=1"]
    expected = run(universe, roots, incremental=False)
    assert run(universe, roots, incremental=True) == expected
    assert expected[1] == "a==1.0 b==1.0"


@pytest.mark.parametrize("pins", [100, 400])
def test_work_per_round_does_not_grow_with_the_pins(pins: int) -> None:
    universe: Universe = {f"p{i}": {"1.0": [], "2.0": []} for i in range(pins)}
    provider = MemoryProvider(universe, {f"p{i}": i for i in range(pins)})
    resolution = CountingResolution(provider, BaseReporter())
    state = resolution.resolve([requirement(f"p{i} ==1.0") for i in range(pins)],
                               max_rounds=10 * pins)
    assert len(state.mapping) == pins
    # resolvelib's loop: a pin check of every name and the preference of every unpinned name
    # in every round (n^2 / 2 each); here a few per round
    assert provider.pin_checks <= 3 * pins
    assert provider.preferences <= 2 * pins


def test_the_resolver_uses_the_incremental_loop() -> None:
    universe: Universe = {"a": {"1.0": []}}
    provider = MemoryProvider(universe, {"a": 0})
    result = _Resolver(provider, BaseReporter()).resolve([requirement("a >=1")])
    assert [str(c.version) for c in result.mapping.values()] == ["1.0"]


def test_the_picker_answers_resolvelibs_choice_even_without_its_heap() -> None:
    from resolvelib.structs import RequirementInformation

    from safeinstall.resolution import _Picker

    provider_ = MemoryProvider({}, {"zeta": 0, "alpha": 1})
    information = {n: [RequirementInformation(requirement(f"{n} >=1"), None)]
                   for n in ("alpha", "beta", "zeta")}
    picker = _Picker(provider_)
    picker.reset(information, information)
    assert picker.least({"alpha", "beta", "zeta"}, information) == "zeta"  # the user's order
    assert picker.least({"alpha", "beta"}, information) == "alpha"
    picker._heap.clear()  # (an entry lost: the heap is rebuilt, the choice is the same)
    assert picker.least({"alpha", "beta"}, information) == "alpha"
