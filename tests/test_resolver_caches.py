"""The resolver's caches (issue 21): each answer is reused only while its inputs are the same.

The caches make the resolver's per-round work independent of the number of pins; a cache that
outlived a change (a new constraint on a pinned name, another pin, a narrower criterion) would
let a conflicting requirement through, so each test changes one input and expects a new answer.
"""

from __future__ import annotations

from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version
from resolvelib import BaseReporter
from resolvelib.resolvers.criterion import Criterion
from resolvelib.structs import RequirementInformation, State

from safeinstall.candidates import (
    PYTHON_ID,
    InstalledCandidate,
    NamedRequirement,
    PythonCandidate,
    PythonRequirement,
    ResolverOptions,
)
from safeinstall.resolution import _Resolution
from safeinstall.resolver import Provider


def provider(user_requested: dict[str, int] | None = None) -> Provider:
    # only the parts the cached methods read are real: no index is consulted
    return Provider(finder=None, rules=None, target=_Target(), metadata=lambda c: None,  # type: ignore[arg-type]
                    constraints={}, installed={}, options=ResolverOptions(),
                    user_requested={canonicalize_name(k): v
                                    for k, v in (user_requested or {}).items()})


class _Target:
    version_string = "3.11.7"
    environment: dict[str, str] = {}


def req(name: str, spec: str) -> NamedRequirement:
    return NamedRequirement(canonicalize_name(name), frozenset(), SpecifierSet(spec))


def cand(name: str, version: str) -> InstalledCandidate:
    return InstalledCandidate(canonicalize_name(name), Version(version), ())


class Counting(Provider):
    def __init__(self) -> None:
        super().__init__(finder=None, rules=None, target=_Target(),  # type: ignore[arg-type]
                         metadata=lambda c: None,  # type: ignore[arg-type,return-value]
                         constraints={}, installed={}, options=ResolverOptions(),
                         user_requested={})
        self.computed = 0

    def _satisfies(self, requirement: Any, candidate: Any) -> bool:
        self.computed += 1
        return super()._satisfies(requirement, candidate)


def test_is_satisfied_by_is_cached_per_requirement_and_candidate() -> None:
    p = Counting()
    one = cand("foo", "1.0")
    pinned = req("foo", "==1.0")
    assert p.is_satisfied_by(pinned, one)
    assert p.is_satisfied_by(pinned, one)
    assert p.computed == 1
    # a new constraint on the same name is another requirement: computed, and refused
    narrower = req("foo", ">=2")
    assert not p.is_satisfied_by(narrower, one)
    # another candidate of the same requirement: computed
    assert p.is_satisfied_by(narrower, cand("foo", "2.0"))
    assert p.computed == 3


def test_python_requirement_cached_and_correct() -> None:
    p = Counting()
    py = p.python_candidate
    assert p.is_satisfied_by(PythonRequirement(SpecifierSet(">=3.8")), py)
    assert not p.is_satisfied_by(PythonRequirement(SpecifierSet("<3.10")), py)
    assert p.computed == 2


def _resolution(p: Provider, mapping: dict[str, Any]) -> _Resolution:
    r = _Resolution(p, BaseReporter())
    r._states = [State(mapping=dict(mapping), criteria={}, backtrack_causes=[])]
    return r


def _criterion(*reqs: Any, base: Criterion[Any, Any] | None = None) -> Criterion[Any, Any]:
    info = list(base.information) if base is not None else []
    info.extend(RequirementInformation(r, None) for r in reqs)
    return Criterion([], info, [])


def test_pin_check_cached_until_the_criterion_changes() -> None:
    p = Counting()
    one = cand("foo", "1.0")
    r = _resolution(p, {"foo": one})
    first = _criterion(req("foo", ">=1"))
    assert r._is_current_pin_satisfying("foo", first)
    assert r._is_current_pin_satisfying("foo", first)
    assert p.computed == 1
    # a new requirement on the pinned name (the criterion is a new object): only it is checked,
    # and a conflicting one is seen
    second = _criterion(req("foo", "!=1.0"), base=first)
    assert not r._is_current_pin_satisfying("foo", second)
    assert p.computed == 2
    # and a criterion that lost requirements is checked whole again
    assert r._is_current_pin_satisfying("foo", _criterion(req("foo", "<2")))
    assert p.computed == 3


def test_pin_check_redone_for_another_pin() -> None:
    p = Counting()
    crit = _criterion(req("foo", "<2"))
    r = _resolution(p, {"foo": cand("foo", "1.0")})
    assert r._is_current_pin_satisfying("foo", crit)
    r.state.mapping["foo"] = cand("foo", "2.0")  # equal name, another pin object
    assert not r._is_current_pin_satisfying("foo", crit)
    del r.state.mapping["foo"]
    assert not r._is_current_pin_satisfying("foo", crit)  # nothing pinned


def test_python_pin_checked_incrementally() -> None:
    p = Counting()
    r = _resolution(p, {PYTHON_ID: p.python_candidate})
    crit = _criterion(PythonRequirement(SpecifierSet(">=3.8")))
    assert r._is_current_pin_satisfying(PYTHON_ID, crit)
    for i in range(50):  # one Requires-Python per pinned candidate
        crit = _criterion(PythonRequirement(SpecifierSet(f">=3.{i % 9}")), base=crit)
        assert r._is_current_pin_satisfying(PYTHON_ID, crit)
    assert p.computed == 51  # each requirement checked once, not once per round
    crit = _criterion(PythonRequirement(SpecifierSet(">=3.12")), base=crit)
    assert not r._is_current_pin_satisfying(PYTHON_ID, crit)
    assert isinstance(p.python_candidate, PythonCandidate)


def test_narrow_returns_resolvelibs_choice_and_preference_follows_changes() -> None:
    p = provider({"zeta": 0, "alpha": 1})
    criteria = {
        "alpha": [RequirementInformation(req("alpha", ">=1"), None)],
        "beta": [RequirementInformation(req("beta", "==1.0"), None)],
        "zeta": [RequirementInformation(req("zeta", ">=1"), None)],
    }

    def choose() -> str:
        (chosen,) = p.narrow_requirement_selection(list(criteria), {}, {}, criteria, [])
        if PYTHON_ID not in criteria:  # (<python> always goes first, as before)
            expected = min(criteria, key=lambda i: p.get_preference(i, {}, {}, criteria, []))
            assert chosen == expected
        return str(chosen)

    assert choose() == "beta"  # pinned first
    del criteria["beta"]
    assert choose() == "zeta"  # then the user's order
    # alpha gains a pin: its cached preference must not be reused
    criteria["alpha"] = [*criteria["alpha"], RequirementInformation(req("alpha", "==2.0"), None)]
    assert choose() == "alpha"
    criteria[PYTHON_ID] = [RequirementInformation(PythonRequirement(SpecifierSet(">=3")), None)]
    assert choose() == PYTHON_ID


def test_preference_keyed_on_resolvelibs_criteria_follows_a_new_criterion() -> None:
    import operator

    from resolvelib.structs import IteratorMapping

    p = provider({"alpha": 1, "zeta": 0})
    criteria = {
        "alpha": _criterion(req("alpha", ">=1")),
        "zeta": _criterion(req("zeta", ">=1")),
    }

    def choose() -> str:
        view = IteratorMapping(criteria, operator.attrgetter("information"))
        (chosen,) = p.narrow_requirement_selection(list(criteria), {}, {}, view, [])
        return str(chosen)

    assert choose() == "zeta"  # the user's order
    assert choose() == "zeta"
    # resolvelib replaces alpha's criterion when a pin is required of it
    criteria["alpha"] = _criterion(req("alpha", "==2.0"), base=criteria["alpha"])
    assert choose() == "alpha"


def test_dependency_lines_cached_per_extras_asked_for() -> None:
    p = provider()
    lines = ["bar>=1", "baz; extra == 'x'", "qux; extra == 'y' or extra == 'x'"]
    names = lambda reqs: sorted(f"{r.identifier}{r.specifier}" for r in reqs)  # noqa: E731
    assert names(p.dependencies_from(lines, frozenset(), "foo 1")) == ["bar>=1"]
    # the same lines for the extra x: its dependencies, not the cached answer for no extras
    assert names(p.dependencies_from(lines, frozenset({"x"}), "foo 1")) == ["baz", "qux"]
    assert names(p.dependencies_from(lines, frozenset({"y"}), "foo 1")) == ["qux"]
    assert names(p.dependencies_from(lines, frozenset(), "foo 1")) == ["bar>=1"]


def test_an_invalid_dependency_line_is_an_error_every_time() -> None:
    import pytest

    from safeinstall.errors import ResolutionError

    p = provider()
    for _ in range(2):  # (not cached away)
        with pytest.raises(ResolutionError, match="declares an invalid dependency"):
            p.dependencies_from(["bar >= >= 1"], frozenset(), "foo 1")


def test_python_requirements_checked_incrementally_as_resolvelib_adds_them() -> None:
    import operator

    from resolvelib.structs import IteratorMapping

    p = Counting()

    def matches(crit: Criterion[Any, Any] | None, new: Any) -> list[Any]:
        criteria = {PYTHON_ID: crit} if crit is not None else {}
        view = IteratorMapping(criteria, operator.methodcaller("iter_requirement"),
                               {PYTHON_ID: [new]})
        none = IteratorMapping({}, operator.attrgetter("incompatibilities"), {PYTHON_ID: []})
        return list(p.find_matches(PYTHON_ID, view, none))  # type: ignore[arg-type]

    crit: Criterion[Any, Any] | None = None
    for i in range(40):  # one Requires-Python per pinned candidate, as resolvelib adds them
        new = PythonRequirement(SpecifierSet(f">=3.{i % 9}"))
        assert matches(crit, new) == [p.python_candidate]
        crit = _criterion(new, base=crit)
    assert p.computed == 40  # each checked once, not once per pin
    # a requirement the target does not meet is seen, new or already in the criterion
    assert matches(crit, PythonRequirement(SpecifierSet("<3"))) == []
    bad = _criterion(PythonRequirement(SpecifierSet("<3.10")), base=crit)
    assert matches(bad, PythonRequirement(SpecifierSet(">=3"))) == []
    # a criterion that is not an extension of the last one that fit is checked whole
    fresh = _criterion(PythonRequirement(SpecifierSet("<3.10")))
    assert matches(fresh, PythonRequirement(SpecifierSet(">=3"))) == []
    assert matches(crit, PythonRequirement(SpecifierSet(">=3"))) == [p.python_candidate]
