"""The domain values the stages of the pipeline share: index files and their sources, and the
user's requirements (the results of a check are in :mod:`safeinstall.results`).

A leaf: it imports nothing of safeinstall, so any stage (the finder, the timeline, the
selection, a lock reader) can use these values without loading the HTTP stack, the resolver
or pip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from packaging.tags import Tag
from packaging.utils import NormalizedName
from packaging.version import Version

#: "times-from": an index read only to date files (``--times-from``), never a candidate source.
SourceKind = Literal["index", "find-links", "times-from"]
#: A wheel's build tag (``()`` when it has none).
BuildTag = tuple[()] | tuple[int, str]


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
