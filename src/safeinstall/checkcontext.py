"""The state one check shares between its stages (:mod:`safeinstall.checker` runs them;
:mod:`safeinstall.builds` and :mod:`safeinstall.evaluate` read and fill it)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from packaging.utils import NormalizedName

from safeinstall.artifacts import ArtifactCache
from safeinstall.backfill import Outcome
from safeinstall.buildenv import BuildEnv, SiteTemplates
from safeinstall.candidates import Candidate, Constraint
from safeinstall.distmeta import CoreMetadata
from safeinstall.finder import Finder
from safeinstall.pipoptions import PipSettings
from safeinstall.policy import Policy
from safeinstall.prefetch import Memo
from safeinstall.results import PackageResult
from safeinstall.selection import SelectionRules
from safeinstall.target import TargetPython


class BuildLock:
    """The lock of the build bookkeeping (a re-entrant lock that knows how deep this thread
    holds it): held while an sdist and its build dependencies are checked, released
    (:meth:`released`, fully, however deep) while a subprocess runs or (:meth:`wait`) while
    this thread waits for another thread's sdist, so that sdists prepare and build in
    parallel and no thread waits for another while holding what that one needs."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._depth = threading.local()

    def _get(self) -> int:
        depth: int = getattr(self._depth, "n", 0)
        return depth

    def __enter__(self) -> BuildLock:
        self._lock.acquire()
        self._depth.n = self._get() + 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth.n = self._get() - 1
        self._lock.release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Release the lock fully for the block, then hold it again as deep as before."""
        depth = self._get()
        for _ in range(depth):
            self._lock.release()
        self._depth.n = 0
        try:
            yield
        finally:
            for _ in range(depth):
                self._lock.acquire()
            self._depth.n = depth

    def wait(self, fut: Future[Any]) -> None:
        """Wait until ``fut`` is done, with the lock released meanwhile (polled: the thread
        that settles ``fut`` never needs the lock to do so)."""
        with self._lock:
            while not fut.done():
                self._cond.wait(timeout=0.02)


@dataclass
class CheckContext:
    settings: PipSettings
    policy: Policy
    target: TargetPython
    finder: Finder
    cache: ArtifactCache
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
    build_lock: BuildLock = field(default_factory=BuildLock)
    #: the checked build files installed once per set of pins, copied for each build
    site_templates: SiteTemplates = field(default_factory=SiteTemplates)
    #: metadata builds (pip processes) running at once
    build_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(max(2, os.cpu_count() or 1)))
    #: (thread, package) whose build environment is being checked by that thread
    _building: set[tuple[int, str]] = field(default_factory=set)
    #: sdists (by URL) being checked, and the thread checking each: asked for again
    #: meanwhile by the same thread, or by a thread it (indirectly) waits for, they need
    #: themselves to build
    _checking_sdists: dict[str, int] = field(default_factory=dict)
    #: thread -> the sdist (URL) it waits for, while another thread checks it
    _waiting_for: dict[int, str] = field(default_factory=dict)
