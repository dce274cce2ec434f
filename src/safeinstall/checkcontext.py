"""The state one check shares between its stages (:mod:`safeinstall.checker` runs them;
:mod:`safeinstall.builds` and :mod:`safeinstall.evaluate` read and fill it)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from packaging.utils import NormalizedName

from safeinstall.artifacts import ArtifactCache
from safeinstall.backfill import Outcome
from safeinstall.buildenv import BuildEnv
from safeinstall.candidates import Candidate, Constraint
from safeinstall.distmeta import CoreMetadata
from safeinstall.finder import Finder
from safeinstall.pipoptions import PipSettings
from safeinstall.policy import Policy
from safeinstall.prefetch import Memo
from safeinstall.results import PackageResult
from safeinstall.selection import SelectionRules
from safeinstall.target import TargetPython


@dataclass
class CheckContext:
    settings: PipSettings
    policy: Policy
    target: TargetPython
    finder: Finder
    store: ArtifactCache
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
