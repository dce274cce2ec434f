"""The resolution loop: resolvelib's, with its pin check cached (issue 21), and on resolvelib
1.2 a restatement of its ``Resolution.resolve`` that re-checks, each round, only the names the
last round changed, the next name taken from a heap of preferences (:class:`_Picker`): the same
rounds and choices as resolvelib's loop (``tests/test_resolver_loop.py`` compares them on
random graphs), without the work growing with the number of pins every round.

The provider (:class:`safeinstall.resolver.Provider`) is passed in; this module reads its
``_preference`` and ``cause_ids`` and does not import it (no import cycle).
"""

from __future__ import annotations

import collections
import heapq
import operator
from collections.abc import Iterable
from typing import Any

import resolvelib
from resolvelib import Resolver
from resolvelib.resolvers import RequirementsConflicted, ResolutionImpossible, ResolutionTooDeep
from resolvelib.resolvers.abstract import Result
from resolvelib.resolvers.resolution import Resolution, _build_result
from resolvelib.structs import IteratorMapping, State

from safeinstall.candidates import PYTHON_ID, Candidate, Req

#: resolvelib's pin check is cached by subclassing its resolution loop (issue 21); were the
#: method renamed, the plain loop is used (the override would be dead code, not wrong).
_CACHED_PIN_CHECKS = hasattr(Resolution, "_is_current_pin_satisfying")
#: The incremental resolution loop (:meth:`_Resolution.resolve`) restates resolvelib 1.2's
#: ``Resolution.resolve``; with another resolvelib, resolvelib's own loop runs (with the cached
#: pin checks: slower on thousands of pins, never different).
_INCREMENTAL_LOOP = _CACHED_PIN_CHECKS and resolvelib.__version__.split(".")[:2] == ["1", "2"] \
    and all(hasattr(Resolution, m) for m in (
        "_rollback_states", "_backjump", "_attempt_to_pin_criterion", "_push_new_state",
        "_remove_information_from_criteria", "_add_to_criteria"))

class _Resolution(Resolution[Req, Candidate, str]):
    """resolvelib's resolution with its pin check cached (issue 21).

    Every round, resolvelib checks every pinned name's pin against all the requirements on
    that name: quadratic in the number of pins, and cubic-ish for ``<python>``, which collects
    one requirement per pinned candidate. The check is a pure function of the criterion (an
    immutable object: resolvelib makes a new one for every change) and of the pin, so the last
    answer per name is kept with both, and reused while both are the same objects. A new
    criterion whose requirements extend those of the last satisfied one (``<python>`` gaining
    one Requires-Python per pin) only has its new requirements checked.
    """

    def __init__(self, provider: Any, reporter: Any) -> None:
        super().__init__(provider, reporter)
        self._pin_checks: dict[Any, tuple[Any, Any, bool]] = {}
        self._provider: Any = provider
        #: identifiers whose criterion may have changed since the round began (None: any may
        #: have, after a backjump or a removal of information; see :meth:`resolve`)
        self._touched: set[str] | None = None

    def _add_to_criteria(self, criteria: Any, requirement: Any, parent: Any) -> None:
        super()._add_to_criteria(criteria, requirement, parent)
        if self._touched is not None:  # (also for a candidate then rejected: a spare check)
            self._touched.add(self._p.identify(requirement_or_candidate=requirement))

    def _remove_information_from_criteria(self, criteria: Any, parents: Any) -> None:
        super()._remove_information_from_criteria(criteria, parents)
        if parents:  # (every criterion is made anew)
            self._touched = None

    def resolve(self, requirements: Iterable[Req], max_rounds: int) -> Any:
        """resolvelib 1.2's resolution loop, made incremental (issue 21).

        resolvelib checks the pin of every name in every round, and asks the preference of
        every unpinned name: quadratic in the number of pins. Here the same rounds run, with
        the same choices, but a round only looks at what the previous one changed: the names
        whose criterion was replaced (each replacement goes through
        :meth:`_add_to_criteria`) and the name just pinned; any other change (a backjump, a
        rollback, information removed from the criteria) makes the next round look at every
        name, as resolvelib does. The name to pin is resolvelib's (``narrow_requirement_selection``
        then ``min`` by preference, both the provider's): ``<python>`` first, then the
        backtrack causes, else the least preference, kept in a heap whose entries are renewed
        when a criterion changes (a preference is a function of the criterion only).
        """
        if not _INCREMENTAL_LOOP:
            return super().resolve(requirements, max_rounds=max_rounds)
        if self._states:
            raise RuntimeError("already resolved")
        self._r.starting()
        self._states = [State(mapping=collections.OrderedDict(), criteria={},
                              backtrack_causes=[])]
        for r in requirements:
            try:
                self._add_to_criteria(self.state.criteria, r, parent=None)
            except RequirementsConflicted as e:
                raise ResolutionImpossible(e.criterion.information) from e
        self._push_new_state()

        optimistic_rounds_cutoff: int | None = None
        optimistic_backjumping_start_round: int | None = None
        unsatisfied: set[str] = set()
        picker = _Picker(self._provider)
        self._touched = None
        for round_index in range(max_rounds):
            self._r.starting_round(index=round_index)

            if self._optimistic_backjumping_ratio and self._save_states is not None:
                if optimistic_backjumping_start_round is None:
                    optimistic_backjumping_start_round = round_index
                    optimistic_rounds_cutoff = int(
                        (max_rounds - round_index) * self._optimistic_backjumping_ratio)
                    if optimistic_rounds_cutoff <= 0:
                        self._rollback_states()
                        self._touched = None
                        continue
                elif optimistic_rounds_cutoff is not None and round_index \
                        - optimistic_backjumping_start_round >= optimistic_rounds_cutoff:
                    self._rollback_states()
                    self._touched = None
                    continue

            state = self.state
            criteria = state.criteria
            information = IteratorMapping(criteria, operator.attrgetter("information"))
            touched = self._touched
            if touched is None:
                unsatisfied = {key for key, criterion in criteria.items()
                               if not self._is_current_pin_satisfying(key, criterion)}
                picker.reset(unsatisfied, information)
            else:
                for key in touched:
                    criterion = criteria.get(key)
                    if criterion is not None \
                            and not self._is_current_pin_satisfying(key, criterion):
                        unsatisfied.add(key)
                        picker.update(key, information)
                    else:
                        unsatisfied.discard(key)

            if not unsatisfied:
                self._r.ending(state=state)
                return state

            if len(unsatisfied) == 1:
                (name,) = unsatisfied
            elif PYTHON_ID in unsatisfied:
                name = PYTHON_ID
            else:
                causes = [i for i in self._provider.cause_ids(state.backtrack_causes)
                          if i in unsatisfied]
                if len(causes) == 1:
                    name = causes[0]
                elif causes:
                    name = min(causes, key=lambda i: self._provider._preference(i, information))
                else:
                    name = picker.least(unsatisfied, information)

            self._touched = set()
            failure_criterion = self._attempt_to_pin_criterion(name)

            if failure_criterion:
                self._touched = None
                causes_info = self._extract_causes(failure_criterion)
                self._r.resolving_conflicts(causes=causes_info)
                try:
                    success = self._backjump(causes_info)
                except ResolutionImpossible:
                    if self._optimistic_backjumping_ratio and self._save_states:
                        failed_optimistic_backjumping = True
                    else:
                        raise
                else:
                    failed_optimistic_backjumping = bool(
                        not success and self._optimistic_backjumping_ratio
                        and self._save_states)
                self._touched = None
                if failed_optimistic_backjumping and self._save_states:
                    self._rollback_states()
                else:
                    self.state.backtrack_causes[:] = causes_info
                    if not success:
                        raise ResolutionImpossible(self.state.backtrack_causes)
            else:
                touched = self._touched
                touched.add(name)
                # resolvelib's "newly unsatisfied": names satisfied when the round began
                # (pinned, and not unsatisfied) whose pin the new requirements reject; only a
                # name whose criterion was replaced can be one
                mapping = state.mapping
                newly_unsatisfied = {
                    key for key in touched
                    if key != name and key in mapping and key not in unsatisfied
                    and not self._is_current_pin_satisfying(key, criteria[key])}
                self._remove_information_from_criteria(criteria, newly_unsatisfied)
                self._push_new_state()

            self._r.ending_round(index=round_index, state=self.state)

        raise ResolutionTooDeep(max_rounds)

    def _is_current_pin_satisfying(self, name: Any, criterion: Any) -> bool:
        # (called for every name in every round: kept to a few dictionary look-ups)
        pin = self._states[-1].mapping.get(name)  # (self.state; a candidate is never None)
        if pin is None:
            return False
        checks = self._pin_checks
        last = checks.get(name)
        if last is not None and last[1] is pin:
            if last[0] is criterion:
                return last[2]
            satisfied = self._p.is_satisfied_by
            old, new = last[0].information, criterion.information
            n = len(old)
            if last[2] and type(old) is list and type(new) is list and len(new) > n \
                    and new[:n] == old:
                ok = all(satisfied(requirement=i.requirement, candidate=pin) for i in new[n:])
                checks[name] = (criterion, pin, ok)
                return ok
        satisfied = self._p.is_satisfied_by
        ok = all(satisfied(requirement=r, candidate=pin) for r in criterion.iter_requirement())
        checks[name] = (criterion, pin, ok)
        return ok


class _Picker:
    """The unpinned name of least preference, without asking every name in every round: a heap
    of (preference, identifier), an entry renewed when a name's criterion changes and stale
    ones dropped when met (a preference ends with its identifier: no two are equal)."""

    def __init__(self, provider: Any) -> None:
        self._p = provider
        self._heap: list[tuple[Any, str]] = []
        self._current: dict[str, Any] = {}

    def reset(self, names: Iterable[str], information: Any) -> None:
        self._current = {n: self._p._preference(n, information) for n in names}
        self._heap = [(p, n) for n, p in self._current.items()]
        heapq.heapify(self._heap)

    def update(self, name: str, information: Any) -> None:
        preference = self._p._preference(name, information)
        if self._current.get(name) != preference:
            self._current[name] = preference
            heapq.heappush(self._heap, (preference, name))

    def least(self, unsatisfied: set[str], information: Any) -> str:
        heap, current = self._heap, self._current
        while heap:
            preference, name = heap[0]
            if name in unsatisfied and current.get(name) == preference:
                return name
            heapq.heappop(heap)
            if current.get(name) == preference:  # (pinned: asked again if unpinned later)
                del current[name]
        # (not reached: every unsatisfied name has its entry; were one missing, the heap is
        # rebuilt from the names themselves rather than a name chosen otherwise)
        self.reset(unsatisfied, information)
        return min(self._heap)[1]


class _Resolver(Resolver[Req, Candidate, str]):
    def resolve(self, requirements: Iterable[Req],  # type: ignore[override]
                max_rounds: int = 100) -> Result[Req, Candidate, str]:
        resolution = _Resolution(self.provider, self.reporter)
        state = resolution.resolve(requirements, max_rounds=max_rounds)
        return _build_result(state)
