"""The domain values the stages of the pipeline share: index files and their sources, the
user's requirements, and the results of a check.

A leaf: at run time it imports nothing of safeinstall but :mod:`safeinstall.errors`, so any
stage (the timeline, the policy, a report, a lock reader) can use these values without
loading the HTTP stack, the resolver or pip. The fields of :class:`CheckResult` and
:class:`PackageResult` that hold other stages' objects (a finding, a proof, the target, the
install plan) are typed with imports made for the type checker only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from packaging.tags import Tag
from packaging.utils import NormalizedName
from packaging.version import Version

from safeinstall.errors import PolicyRefusal

if TYPE_CHECKING:
    from safeinstall.artifacts import CoreMetadata
    from safeinstall.backfill import Proof
    from safeinstall.buildenv import BuildEnv
    from safeinstall.policy import Finding
    from safeinstall.resolver import Candidate
    from safeinstall.target import TargetPython

#: "times-from": an index read only to date files (``--times-from``), never a candidate source.
SourceKind = Literal["index", "find-links", "times-from"]
#: A wheel's build tag (``()`` when it has none).
BuildTag = tuple[()] | tuple[int, str]
Decision = Literal["install", "refuse", "already-satisfied"]


@dataclass(frozen=True)
class Source:
    url: str
    kind: SourceKind

    @property
    def is_origin(self) -> bool:
        """An index or a find-links page on a server: a place where others publish, which pip
        merges with the other sources. A name on more than one origin is where dependency
        confusion happens. An index or find-links directory or file on this machine
        (``file:``, a path) is the user's own, as a machine-wide pip configuration sets up:
        nobody else publishes there."""
        return self.kind in ("index", "find-links") and \
            self.url.split(":", 1)[0].lower() in ("http", "https")


@dataclass(frozen=True)
class IndexFile:
    """One distribution file as listed by one source."""

    project: NormalizedName
    filename: str
    url: str
    source: Source
    version: Version
    is_wheel: bool
    tags: frozenset[Tag]
    build_tag: BuildTag
    sha256: str | None
    hashes: tuple[tuple[str, str], ...]
    upload_time: datetime | None
    yanked: str | None  # None: not yanked; "" yanked without reason
    requires_python: str | None
    size: int | None
    metadata_url: str | None  # PEP 658/714 metadata file, when advertised
    metadata_sha256: str | None
    #: the index's ``upload-time`` value when it is there but cannot be read as a moment
    upload_time_error: str | None = None
    #: why this entry's index data is invalid (the field and the problem), or None. An invalid
    #: entry stays a candidate, so that the selection is pip's, but is never downloaded, cached
    #: or installed: selected, it is refused (``invalid-index-data``). Its hashes, size and
    #: metadata fields hold only the values that passed validation.
    invalid: str | None = None

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None

    def hash_allowed(self, allowed: dict[str, frozenset[str]]) -> bool:
        return any(value in allowed.get(name, frozenset()) for name, value in self.hashes)


@dataclass(frozen=True)
class LightFile:
    """What is known of a listed file without parsing it fully (cheap for whole pages)."""

    filename: str
    sha256: str | None
    version: Version | None
    source: Source


@dataclass(frozen=True)
class UserRequirement:
    text: str
    source: str
    hashes: tuple[str, ...] = ()
    editable: bool = False
    base_dir: str = ""


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
