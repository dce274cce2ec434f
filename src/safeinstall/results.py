"""The results of a check: one :class:`PackageResult` per package (its findings and
decision), the :class:`CheckResult` of the run, and :class:`CheckRefused`.

A leaf at run time (it imports only :mod:`safeinstall.errors`), so a report, the trust
store or a lock writer can read results without loading the HTTP stack, the resolver or pip.
The fields that hold other stages' objects (a finding, a proof, the target, the install plan)
are typed with imports made for the type checker only; none of those modules imports this
one, so the import graph has no cycle, even counting them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from safeinstall.errors import PolicyRefusal

if TYPE_CHECKING:
    from safeinstall.backfill import Proof
    from safeinstall.buildenv import BuildEnv
    from safeinstall.candidates import Candidate
    from safeinstall.distmeta import CoreMetadata
    from safeinstall.policy import Finding
    from safeinstall.target import TargetPython

Decision = Literal["install", "refuse", "already-satisfied"]


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
