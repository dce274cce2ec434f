"""Concurrent look-ahead for the (sequential) resolver.

resolvelib asks for one thing at a time; most of that time is network round trips. As soon as
a requirement is known, its index page and the core metadata of the file pip would most likely
pick are fetched in the background (bounded pool), so the resolver usually finds them ready.
Errors are swallowed here: the resolver's own call raises them with full context.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

if TYPE_CHECKING:
    from safeinstall.candidates import Candidate, Constraint, Req
    from safeinstall.distmeta import CoreMetadata
    from safeinstall.finder import Finder
    from safeinstall.models import IndexFile
    from safeinstall.selection import Ranked, SelectionRules

T = TypeVar("T")


class Memo(Generic[T]):
    """Run a computation once per key, however many threads ask for it at the same time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[Hashable, Future[T]] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        fut, owner = self.claim(key)
        if owner:
            self.settle(key, fut, compute)
        return fut.result()

    def claim(self, key: Hashable) -> tuple[Future[T], bool]:
        """The key's future, and whether the caller now owns it (and must :meth:`settle` it)."""
        with self._lock:
            fut = self._futures.get(key)
            if fut is not None:
                return fut, False
            fut = Future()
            self._futures[key] = fut
            return fut, True

    def settle(self, key: Hashable, fut: Future[T], compute: Callable[[], T]) -> None:
        """Run ``compute`` for an owned key and hand its result or error to every caller, later
        ones too: a download that failed after its retries is not tried again in the same run
        (the background look-ahead must not double the retries the user allowed). Only an
        interrupt is forgotten."""
        try:
            fut.set_result(compute())
        except Exception as exc:
            fut.set_exception(exc)
        except BaseException as exc:
            fut.set_exception(exc)
            with self._lock:
                self._futures.pop(key, None)
            raise


def _await_all(barrier: threading.Barrier) -> None:
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=5)


class Warm(Protocol):
    """What the look-ahead does for one requirement (``hinted``: see
    :meth:`Prefetcher.requirements`)."""

    def __call__(self, name: str, specifier: SpecifierSet, *, hinted: bool = False) -> Any: ...


def start_workers(max_workers: int = 16) -> ThreadPoolExecutor:
    """A thread pool whose workers have all started. Start it while nothing else runs (before
    :class:`PageWarmer`): a thread started while others parse pages waits for the GIL before
    it reports that it started, and the thread that starts it waits with it (50-130 ms of a
    run's critical path, measured, issue 21). 16: reading the metadata of 918 wheels with
    Range requests is bound by the index's latency (3.6 s with 8 threads, 2.0 s with 16, 1.7
    s with 32)."""
    pool = ThreadPoolExecutor(max_workers=max_workers,
                              thread_name_prefix="safe-install-prefetch")
    # (each waits for all: an idle worker would be reused instead of a new one started)
    started = threading.Barrier(max_workers)
    for _ in range(max_workers):
        pool.submit(_await_all, started)
    return pool


class Prefetcher:
    """Warms index pages and likely metadata for requirement names, in the background."""

    def __init__(self, warm: Warm, max_workers: int = 16, *,
                 pool: ThreadPoolExecutor | None = None) -> None:
        self._warm = warm
        #: the workers (``pool``: started earlier by :func:`start_workers`; closed with this)
        self._pool = pool if pool is not None else start_workers(max_workers)
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False

    def requirements(self, items: Iterable[tuple[str, SpecifierSet]], *,
                     hinted: bool = False) -> None:
        """Warm these requirements. ``hinted``: guessed from an earlier run
        (:class:`DependencyHints`), not yet asked for by this one; ``warm`` is then called
        with ``hinted=True`` and should do only what is harmless if the guess is stale."""
        for name, specifier in items:
            key = f"{'~' if hinted else ''}{canonicalize_name(name)}{specifier}"
            with self._lock:
                if key in self._seen:
                    continue
                self._seen.add(key)
            self._pool.submit(self._quiet, name, specifier, hinted)

    def _quiet(self, name: str, specifier: SpecifierSet, hinted: bool) -> None:
        # errors are the resolver's to meet (and report) in the foreground
        if self.closed:
            return
        with contextlib.suppress(Exception):
            self._warm(name, specifier, hinted=hinted)

    @property
    def closed(self) -> bool:
        """True once the resolver is done: look-ahead work still running should stop at its
        next step (the process waits for these threads before it exits)."""
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)


class LookAhead:
    """The look-ahead of one check (:func:`safeinstall.checker.run_check`): for each
    requirement the resolver will meet, the page and the metadata of the file pip would most
    likely take, then *its* dependencies, so the tree is fetched in parallel waves rather than
    one round trip per level. Also records the dependencies the resolution used, as the next
    run's :class:`DependencyHints`.

    ``wheel_metadata`` and ``sdist_metadata`` are the check's own (memoised) readers: an sdist
    is checked first, then built if it must be, as the resolver would."""

    def __init__(self, *, finder: Finder, rules: SelectionRules, hints: DependencyHints,
                 marker_env: Mapping[str, str], no_deps: bool,
                 wheel_metadata: Callable[[IndexFile], CoreMetadata],
                 sdist_metadata: Callable[[Ranked], CoreMetadata],
                 pool: ThreadPoolExecutor | None = None) -> None:
        self.finder = finder
        self.rules = rules
        self.hints = hints
        self.marker_env = marker_env
        self.no_deps = no_deps
        self._wheel_metadata = wheel_metadata
        self._sdist_metadata = sdist_metadata
        #: the run's constraints (set once known): a constraint narrows the guess, as it
        #: narrows the resolver
        self.constraints: Mapping[NormalizedName, Constraint] = {}
        #: the user's own requirements on each name (intersected; from :meth:`ahead`): every
        #: candidate the resolver takes for that name satisfies them, so they narrow the guess
        #: too. Without them a dependency's ``dep>=1`` guesses a version the user did not pin,
        #: which the finder set aside (:meth:`~safeinstall.finder.Finder.expect`): its pages
        #: would be read and parsed again for a file nobody takes (issue 21).
        self.user_specifiers: dict[NormalizedName, SpecifierSet] = {}
        #: name -> (dependency, specifier) the resolution met, for :meth:`save`
        self.observed: dict[str, set[tuple[str, str]]] = {}
        self.prefetcher = Prefetcher(self.warm, pool=pool)

    def warm(self, name: str, specifier: SpecifierSet, *, hinted: bool = False) -> None:
        """Fetch the page and the metadata of the wheel pip would most likely take, then look
        ahead at *its* dependencies. The dependencies it had in an earlier run (``hints``) are
        warmed at once, before its page arrives; for such a guess (``hinted``) no sdist is
        built."""
        from safeinstall.selection import iter_ranked

        prefetcher = self.prefetcher
        if not self.no_deps:
            prefetcher.requirements(self.hints.get(name), hinted=True)
        key = canonicalize_name(name)
        constraint = self.constraints.get(key)
        if constraint is not None:
            specifier = specifier & constraint.specifier
        user = self.user_specifiers.get(key)
        if user is not None:
            specifier = specifier & user
        best = next(iter_ranked(self.finder.project(name), specifier, self.rules), None)
        if best is not None and not prefetcher.closed and best.file.invalid is None:
            f = best.file
            # the resolver reads the metadata even with --no-deps (Requires-Python), as pip's
            if f.is_wheel:
                meta = self._wheel_metadata(f)
            elif hinted:
                return
            else:  # checked first, then built if it must be, as the resolver would
                meta = self._sdist_metadata(best)
            if self.no_deps or prefetcher.closed or hinted:
                return  # a guess goes no further than its own hints
            ahead_items = []
            for text in meta.requires_dist:
                try:
                    req = Requirement(text)
                    if req.marker is None or req.marker.evaluate(self.marker_env):
                        ahead_items.append((req.name, req.specifier))
                except Exception:  # noqa: BLE001 - look-ahead only; the resolver reports it
                    continue
            prefetcher.requirements(ahead_items)

    def ahead(self, deps: Sequence[Req]) -> None:
        """Warm the named requirements among ``deps``. The user's own (``user_order`` set)
        are kept first, to narrow every later guess on their names (:attr:`user_specifiers`)."""
        from safeinstall.candidates import NamedRequirement

        for r in deps:
            if isinstance(r, NamedRequirement) and r.user_order is not None:
                known = self.user_specifiers.get(r.name)
                self.user_specifiers[r.name] = r.specifier if known is None \
                    else known & r.specifier
        self.prefetcher.requirements((r.name, r.specifier) for r in deps
                                     if isinstance(r, NamedRequirement))

    def dependencies_of(self, candidate: Candidate, deps: Sequence[Req]) -> None:
        """The resolver's ``on_dependencies``: record them, and warm them."""
        from safeinstall.candidates import NamedRequirement

        seen = self.observed.setdefault(candidate.name, set())
        seen.update((r.name, str(r.specifier)) for r in deps if isinstance(r, NamedRequirement)
                    and r.name != candidate.name)
        self.ahead(deps)

    def close(self) -> None:
        self.prefetcher.close()

    def save(self, names: Iterable[str]) -> None:
        """Keep the dependencies of the resolved ``names`` as the next run's hints."""
        self.hints.save({n: sorted(self.observed[n]) for n in names if n in self.observed})


class PageWarmer:
    """Index pages fetched before the check itself starts: those of the top-level requirements
    and, from :class:`DependencyHints`, of their probable dependencies (transitively). It is
    started as soon as the requirements and the finder are known, so the network overlaps with
    the rest of safe-install's start-up. Only pages are fetched: nothing is decided or built,
    errors are left for the resolver's own lookup (the finder keeps them), and the threads are
    daemons, so a run that ends early never waits for them."""

    def __init__(self, fetch: Callable[[str], Any], names: Iterable[str],
                 hints: DependencyHints | None = None, max_workers: int = 8) -> None:
        order: list[str] = []
        seen: set[str] = set()
        todo = [canonicalize_name(n) for n in names]
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.add(name)
            order.append(name)
            if hints is not None:
                todo.extend(canonicalize_name(dep) for dep, _spec in hints.get(name))
        self.names = tuple(order)
        self._fetch = fetch
        self._todo = list(reversed(order))
        self._lock = threading.Lock()
        self._closed = False
        for i in range(min(max_workers, len(order))):
            threading.Thread(target=self._work, name=f"safe-install-pages-{i}",
                             daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._lock:
                if self._closed or not self._todo:
                    return
                name = self._todo.pop()
            with contextlib.suppress(Exception):
                self._fetch(name)

    def close(self) -> None:
        """Start no further page (one being fetched is finished by its thread)."""
        with self._lock:
            self._closed = True
            self._todo.clear()


class DependencyHints:
    """Which dependencies each project had in an earlier run for the same target: names and
    specifiers after markers, one JSON file per target in the cache
    (``dependency-hints/<target key>.json``).

    Used for one thing only: to start fetching the index pages of a project's probable
    dependencies together with its own page, instead of one round trip per level of the tree.
    Nothing is decided from a hint; a stale one costs a page fetch nobody needed.
    """

    VERSION = 1
    MAX_PROJECTS = 20_000

    @classmethod
    def for_target(cls, cache_dir: Path | None, target: Any) -> DependencyHints:
        """The hints of ``target`` (a :class:`~safeinstall.target.TargetPython`) in the cache
        at ``cache_dir`` (none without a cache)."""
        from safeinstall.target import build_key

        return cls(None if cache_dir is None else
                   cache_dir / "dependency-hints" / f"{build_key(target)}.json")

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._known: dict[str, list[tuple[str, str]]] = {}
        self._raw: dict[str, Any] = {}
        if path is None:
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("version") == self.VERSION \
                    and isinstance(data.get("projects"), dict):
                self._raw = data["projects"]
        except (OSError, ValueError):
            pass  # none yet, or unreadable: no hints (rewritten at the end of the run)

    def get(self, name: str) -> list[tuple[str, SpecifierSet]]:
        """The dependencies ``name`` had last time, or none."""
        entry = self._raw.get(canonicalize_name(name))
        out: list[tuple[str, SpecifierSet]] = []
        if not isinstance(entry, list):
            return out
        for item in entry:
            try:
                dep, spec = item
                out.append((str(dep), SpecifierSet(str(spec))))
            except (TypeError, ValueError, InvalidSpecifier):
                continue
        return out

    def save(self, observed: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        """Remember the dependencies this run's resolution used (best effort)."""
        if self.path is None or not observed:
            return
        projects = dict(self._raw)
        changed = False
        for name, deps in observed.items():
            value = [[dep, spec] for dep, spec in sorted({(str(d), str(s)) for d, s in deps})]
            if projects.get(name) != value:
                projects[name] = value
                changed = True
        if not changed:
            return
        if len(projects) > self.MAX_PROJECTS:
            projects = {n: projects[n] for n in observed}
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.part")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"version": self.VERSION, "projects": projects}),
                           encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
