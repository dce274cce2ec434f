"""What the resolver works with: requirements, candidates, and the packages it resolves to.

Identifiers follow pip: ``name`` for a project and ``name[extra,...]`` for a project with extras
(whose candidate depends on the base candidate, pinned to the same file), plus ``<python>`` for
Requires-Python from metadata. :mod:`safeinstall.resolver` resolves them with resolvelib.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from safeinstall.distmeta import CoreMetadata
from safeinstall.models import IndexFile
from safeinstall.selection import Ranked

PYTHON_ID = "<python>"


def make_identifier(name: str, extras: Iterable[str] = ()) -> str:
    cname = canonicalize_name(name)
    ex = sorted({canonicalize_name(e) for e in extras})
    return f"{cname}[{','.join(ex)}]" if ex else cname


# -- requirements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamedRequirement:
    name: NormalizedName
    extras: frozenset[str]
    specifier: SpecifierSet
    hashes: Mapping[str, frozenset[str]] = field(default_factory=dict, hash=False, compare=False)
    comes_from: str = ""  # "the user (requirements.txt:3)" or "app 1.0"
    user_order: int | None = None

    @property
    def identifier(self) -> str:
        return make_identifier(self.name, self.extras)

    def __str__(self) -> str:
        ex = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.name}{ex}{self.specifier}"


@dataclass(frozen=True)
class PinnedRequirement:
    """The base of an extras candidate: exactly the same artifact."""

    candidate: Candidate
    comes_from: str = ""

    @property
    def identifier(self) -> str:
        return self.candidate.name

    def __str__(self) -> str:
        return f"{self.candidate.name}=={self.candidate.version}"


@dataclass(frozen=True)
class ExplicitRequirement:
    """A direct URL, VCS or local path requirement: one fixed candidate."""

    candidate: DirectCandidate
    comes_from: str = ""
    user_order: int | None = None

    @property
    def identifier(self) -> str:
        return make_identifier(self.candidate.name, self.candidate.extras)

    def __str__(self) -> str:
        return f"{self.candidate.name} @ {self.candidate.url}"


@dataclass(frozen=True)
class PythonRequirement:
    specifier: SpecifierSet
    comes_from: str = ""

    @property
    def identifier(self) -> str:
        return PYTHON_ID

    def __str__(self) -> str:
        return f"Python{self.specifier}"


Req = NamedRequirement | PinnedRequirement | ExplicitRequirement | PythonRequirement

# -- candidates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexCandidate:
    name: NormalizedName
    version: Version
    file: IndexFile
    extras: frozenset[str] = frozenset()
    ranked: Ranked | None = field(default=None, compare=False, hash=False)

    @property
    def identifier(self) -> str:
        return make_identifier(self.name, self.extras)


@dataclass(frozen=True)
class InstalledCandidate:
    name: NormalizedName
    version: Version
    requires_dist: tuple[str, ...] = field(compare=False, hash=False)
    requires_python: str | None = field(default=None, compare=False, hash=False)
    extras: frozenset[str] = frozenset()

    @property
    def identifier(self) -> str:
        return make_identifier(self.name, self.extras)


@dataclass(frozen=True)
class DirectCandidate:
    name: NormalizedName
    version: Version
    url: str
    kind: str  # "local-path", "local-file", "url", "vcs", "editable"
    metadata: CoreMetadata = field(compare=False, hash=False)
    extras: frozenset[str] = frozenset()
    local_path: str | None = None  # the file or directory on disk
    hashes: frozenset[str] = frozenset()

    @property
    def identifier(self) -> str:
        return make_identifier(self.name, self.extras)


@dataclass(frozen=True)
class PythonCandidate:
    version: Version
    name: str = PYTHON_ID
    extras: frozenset[str] = frozenset()

    @property
    def identifier(self) -> str:
        return PYTHON_ID


Candidate = IndexCandidate | InstalledCandidate | DirectCandidate | PythonCandidate


def base_of(c: Candidate) -> Candidate:
    if not c.extras:
        return c
    if isinstance(c, IndexCandidate):
        return IndexCandidate(c.name, c.version, c.file, frozenset(), c.ranked)
    if isinstance(c, InstalledCandidate):
        return InstalledCandidate(c.name, c.version, c.requires_dist, c.requires_python)
    if isinstance(c, DirectCandidate):
        return DirectCandidate(c.name, c.version, c.url, c.kind, c.metadata, frozenset(),
                               c.local_path, c.hashes)
    return c


@dataclass(frozen=True)
class Constraint:
    specifier: SpecifierSet
    hashes: Mapping[str, frozenset[str]]
    comes_from: str


@dataclass(frozen=True)
class InstalledDist:
    name: NormalizedName
    version: Version
    requires_dist: tuple[str, ...]
    requires_python: str | None


@dataclass
class ResolverOptions:
    no_deps: bool = False
    upgrade: bool = False
    upgrade_strategy: str = "only-if-needed"
    force_reinstall: bool = False
    ignore_installed: bool = False
    ignore_requires_python: bool = False


def named_requirements(req: Requirement, comes_from: str, *, user_order: int | None = None,
                       hashes: Mapping[str, frozenset[str]] | None = None) -> list[Req]:
    """``foo[x]>=1`` yields requirements on both ``foo`` and ``foo[x]``, as pip does."""
    name = canonicalize_name(req.name)
    base = NamedRequirement(name, frozenset(), req.specifier, hashes or {}, comes_from,
                            user_order)
    if not req.extras:
        return [base]
    extras = frozenset(canonicalize_name(e) for e in req.extras)
    return [base, NamedRequirement(name, extras, req.specifier, hashes or {}, comes_from,
                                   user_order)]


def with_extras(c: Candidate, extras: frozenset[str]) -> Candidate:
    if isinstance(c, IndexCandidate):
        return IndexCandidate(c.name, c.version, c.file, extras, c.ranked)
    if isinstance(c, InstalledCandidate):
        return InstalledCandidate(c.name, c.version, c.requires_dist, c.requires_python, extras)
    if isinstance(c, DirectCandidate):
        return DirectCandidate(c.name, c.version, c.url, c.kind, c.metadata, extras,
                               c.local_path, c.hashes)
    return c


@dataclass(frozen=True)
class ResolvedPackage:
    name: NormalizedName
    version: Version
    candidate: Candidate  # base candidate (no extras)
    extras: frozenset[str]
    required_by: tuple[str, ...]  # "the user (file:line)" or "parent 1.0"
    #: the version specifiers of the named requirements on it (``==1.0``), as written
    specifiers: tuple[str, ...] = ()
