"""Find every file of a project on the configured indexes and find-links, as pip would see them.

Pages are fetched with the run's HTTP client (HTML anchors parsed by unearth's parser); what
unearth would silently skip (an unreadable page, a server error) is an error here, because a
security check that quietly sees fewer files is a check that can be fooled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import unquote, urljoin, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from safeinstall.errors import IndexAccessError, SafeInstallError, UsageError
from safeinstall.http import as_client, redact
from safeinstall.urls import canonical_index_url, redact_url

logger = logging.getLogger(__name__)

#: "times-from": an index read only to date files (``--times-from``), never a candidate source.
SourceKind = Literal["index", "find-links", "times-from"]

ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
MAX_PAGE_BYTES = 64 * 1024 * 1024


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
    build_tag: tuple[()] | tuple[int, str]
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


#: A raw page entry as the finder keeps it: its source, the entry, its file name and the
#: version in that name (None: only the full parse can tell).
RawEntry = tuple["Source", dict[str, Any], str, "Version | None"]


class ProjectListing:
    """All files of one project across all sources, in pip's collection order.

    Pages of popular projects list thousands of files, and parsing each one (URL, tags,
    hashes, times) costs more than fetching the page; most of them are of versions nobody asks
    about. So a listing built by the finder keeps the raw entries, grouped by the version in
    their file name, and turns them into :class:`IndexFile` values only when a version is
    looked at (:meth:`candidates`, :meth:`release`). ``files`` parses everything (cached).

    Even raw, the entries of every version of every project of a large lock are most of the
    run's memory (issue 21). A listing whose finder was told which versions can be asked for
    (:meth:`Finder.expect`) keeps only theirs (:meth:`compact`); anything that touches another
    version reads the pages again (:meth:`_restore`), and refuses them unless they are the same
    bytes as the first time, so that one run never sees two versions of a page.
    """

    def __init__(self, name: NormalizedName, files: Sequence[IndexFile] | None = None,
                 notes: tuple[str, ...] = (), *,
                 raw: Sequence[tuple[Source, dict[str, Any], str, Version | None]] = ()) -> None:
        self.name = name
        self.notes = notes
        self._eager = tuple(files) if files is not None else None
        self._raw: Sequence[RawEntry | None] = tuple(raw)
        #: versions whose entries :meth:`compact` dropped; ``_reread`` gives them back
        self._dropped: frozenset[Version] = frozenset()
        self._reread: Callable[[], ProjectListing] | None = None
        #: what the pages read were (set by the finder): a re-read must be the same
        self.digest: str | None = None
        self._restore_lock = threading.Lock()
        self._parsed: dict[int, IndexFile | None] = {}
        self._all: tuple[IndexFile, ...] | None = self._eager
        self._by_version: dict[Version | None, list[int]] = {}
        self._version_groups: dict[Version, list[int]] | None = None
        self._index_urls: tuple[str, ...] | None = None
        self._by_name: dict[str, list[int]] | None = None
        for i, item in enumerate(self._raw):
            self._by_version.setdefault(item[3] if item is not None else None, []).append(i)

    def __repr__(self) -> str:
        return f"<ProjectListing {self.name}: {len(self._eager or self._raw)} file(s)>"

    def compact(self, keep: Callable[[Version], bool],
                reread: Callable[[], ProjectListing]) -> None:
        """Drop the raw entries of the versions ``keep`` rejects (entries whose version only
        the full parse tells are kept). ``reread`` must collect the same pages again."""
        if self._eager is not None or self._all is not None or self._reread is not None:
            return
        dropped = [v for v in self._by_version if v is not None and not keep(v)]
        if not dropped:
            return
        self.index_urls()  # (from every entry, before any is dropped)
        raw = list(self._raw)
        for version in dropped:
            for i in self._by_version[version]:
                raw[i] = None
        self._raw = raw
        self._dropped = frozenset(dropped)
        self._by_name = None
        self._reread = reread

    def _restore(self) -> None:
        """Every entry back, from the pages read again; they must be the same bytes."""
        with self._restore_lock:
            if self._reread is None:
                return
            fresh = self._reread()
            if fresh.digest != self.digest or len(fresh._raw) != len(self._raw):
                raise IndexAccessError(
                    f"the index pages of {self.name} changed during this run (read again for "
                    "versions set aside to save memory, they were not the same bytes)",
                    hint="run the command again; if it keeps happening, the index or something "
                    "between you and it serves a different page to every request",
                )
            self._raw = fresh._raw
            self._by_name = None
            self._dropped = frozenset()
            self._reread = None

    def _entry(self, i: int) -> RawEntry:
        item = self._raw[i]
        if item is None:
            self._restore()
            item = self._raw[i]
            assert item is not None  # (restored: every entry is there)
        return item

    def _file(self, i: int) -> IndexFile | None:
        if i not in self._parsed:
            source, entry, _fn, _v = self._entry(i)
            self._parsed[i] = Finder._to_file(self.name, source, entry)
        return self._parsed[i]

    def _files_at(self, indices: Iterable[int]) -> tuple[IndexFile, ...]:
        out = []
        for i in sorted(indices):
            f = self._file(i)
            if f is not None:
                out.append(f)
        return tuple(out)

    @property
    def files(self) -> tuple[IndexFile, ...]:
        if self._all is None:
            self._all = self._files_at(range(len(self._raw)))
        return self._all

    def candidates(self, specifier: SpecifierSet) -> tuple[IndexFile, ...]:
        """The files whose version the specifier admits (pre-releases included, so pip's own
        pre-release rule can still be applied by the caller), in collection order."""
        if self._eager is not None or self._all is not None:
            return tuple(f for f in self.files
                         if specifier.contains(f.version, prereleases=True))
        wanted: list[int] = list(self._by_version.get(None, ()))
        for version, indices in self._by_version.items():
            if version is not None and specifier.contains(version, prereleases=True):
                wanted.extend(indices)
        return tuple(f for f in self._files_at(wanted)
                     if specifier.contains(f.version, prereleases=True))

    def versions(self) -> tuple[Version, ...]:
        """Every version that has a listed file, highest first (files parsed only where their
        name does not show the version cheaply)."""
        return tuple(self._groups())

    def files_of(self, version: Version) -> tuple[IndexFile, ...]:
        """The files of one version, in collection order."""
        if self._eager is not None or self._all is not None:
            return tuple(f for f in self.files if f.version == version)
        return tuple(f for f in self._files_at(self._groups().get(version, ()))
                     if f.version == version)

    def _groups(self) -> dict[Version, list[int]]:
        """Version -> indices of its raw entries, highest version first (built once)."""
        groups = self._version_groups
        if groups is not None:
            return groups
        merged: dict[Version, list[int]] = {}
        if self._eager is not None or self._all is not None:
            for f in self.files:
                merged.setdefault(f.version, [])
        else:
            for version, indices in self._by_version.items():
                if version is not None:
                    merged.setdefault(version, []).extend(indices)
            for i in self._by_version.get(None, ()):
                parsed = self._file(i)
                if parsed is not None:
                    merged.setdefault(parsed.version, []).append(i)
        groups = {v: sorted(merged[v]) for v in sorted(merged, reverse=True)}
        self._version_groups = groups
        return groups

    def release(self, version: Version, source: Source) -> tuple[IndexFile, ...]:
        if self._eager is not None or self._all is not None:
            return tuple(f for f in self.files if f.version == version and f.source == source)
        indices = [*self._by_version.get(version, ()), *self._by_version.get(None, ())]
        return tuple(f for f in self._files_at(indices)
                     if f.version == version and f.source == source)

    def index_urls(self) -> tuple[str, ...]:
        """The origins (:attr:`Source.is_origin`: indexes and find-links pages on a server, not
        ``file:`` indexes or find-links directories) that list files of this project, in
        order."""
        if self._eager is not None or self._all is not None:
            return tuple(dict.fromkeys(f.source.url for f in self.files if f.source.is_origin))
        if self._index_urls is None:
            self._index_urls = tuple(dict.fromkeys(item[0].url for item in self._raw
                                                   if item is not None and item[0].is_origin))
        return self._index_urls

    def light(self) -> tuple[LightFile, ...]:
        """Every listed file's name, sha256, version and source, without full parsing."""
        if self._eager is not None or self._all is not None:
            return tuple(LightFile(f.filename, f.sha256, f.version, f.source) for f in self.files)
        if self._dropped:
            self._restore()
        return tuple(LightFile(fn, _entry_sha256(entry), version, source)
                     for source, entry, fn, version in map(self._entry, range(len(self._raw))))

    def named(self, filename: str) -> tuple[IndexFile, ...]:
        """Every listed file with this exact file name (on any source)."""
        if self._eager is not None or self._all is not None:
            return tuple(f for f in self.files if f.filename == filename)
        if self._dropped:
            plausible, version = _guess_version(self.name, filename)
            if not plausible:
                return ()  # (the finder keeps no entry of such a name)
            if version is None or version in self._dropped:
                self._restore()
        by_name_now = self._by_name
        if by_name_now is None:
            by_name: dict[str, list[int]] = {}
            for i, item in enumerate(self._raw):
                if item is not None:
                    by_name.setdefault(item[2], []).append(i)
            self._by_name = by_name_now = by_name
        return self._files_at(by_name_now.get(filename, ()))


def _entry_sha256(entry: Mapping[str, Any]) -> str | None:
    """The entry's sha256 when it is a valid one (64 hex digits), else None (the full parse,
    :meth:`Finder._to_file`, says what is wrong with it)."""
    hashes = entry.get("hashes")
    value: object = None
    if isinstance(hashes, dict) and "sha256" in hashes:
        value = hashes["sha256"]
    else:
        url = str(entry.get("url", ""))
        if "#sha256=" in url:
            value = url.rpartition("#sha256=")[2]
    if isinstance(value, str) and is_sha256(value.lower()):
        return value.lower()
    return None


# -- validation of index data: once, where a page entry is parsed --------------------------------

#: Hex digits of each hash algorithm's digest (PEP 691 names are hashlib's).
HASH_HEX_LENGTHS = {
    "md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128,
    "sha3_224": 56, "sha3_256": 64, "sha3_384": 96, "sha3_512": 128,
    "blake2b": 128, "blake2s": 64,
}
_HEX_DIGITS = frozenset("0123456789abcdef")
#: What a distribution file name may hold: the characters of project names, versions (with
#: epochs and local labels), build tags and wheel tags. Nothing that is a path separator,
#: whitespace, a control character or a requirements-file metacharacter.
_FILENAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "0123456789._+!~-")
_HASH_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def is_sha256(value: object) -> bool:
    """``value`` is a sha256 as safe-install keeps it: exactly 64 lower-case hex digits."""
    return isinstance(value, str) and len(value) == 64 and _HEX_DIGITS.issuperset(value)


def is_safe_filename(value: object) -> bool:
    """``value`` can be a file name in a path or a line of a requirements file: only the
    characters distribution file names are made of, not starting with a dot."""
    return isinstance(value, str) and bool(value) and not value.startswith(".") \
        and _FILENAME_CHARS.issuperset(value) and len(value) <= 255


def _shown(value: object) -> str:
    """A hostile value, shortened and quoted for a message (escapes are added on output)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def filename_problem(filename: str) -> str | None:
    """Why ``filename`` (from an index) cannot be used as a file name, or None."""
    if is_safe_filename(filename):
        return None
    bad = sorted({c for c in filename if c not in _FILENAME_CHARS})
    if not bad:
        return (f"file name {_shown(filename)} "
                + ("starts with a dot" if filename.startswith(".") else "is too long"))
    what = ", ".join("'/'" if c == "/" else "'\\'" if c == "\\" else repr(c) for c in bad[:4])
    return (f"file name {_shown(filename)} holds characters no distribution file name has "
            f"({what})")


def _hashes_problem(field: str, raw: object, out: dict[str, str]) -> str | None:
    """Validate a PEP 691 hashes object into ``out`` (valid values only); the first problem."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        return f"{field} is {_shown(raw)}, not an object of hash names to hex digests"
    problem: str | None = None
    for key, value in raw.items():
        algo = str(key).lower()
        expected = HASH_HEX_LENGTHS.get(algo)
        text = value.lower() if isinstance(value, str) else None
        if text is None:
            why = f"{_shown(value)} is not a string"
        elif not _HASH_NAME_CHARS.issuperset(algo) or not algo or len(algo) > 32:
            why = f"{_shown(str(key))} is not a hash name"
        elif not text or not _HEX_DIGITS.issuperset(text):
            why = f"{_shown(value)} is not hex digits"
        elif expected is not None and len(text) != expected:
            why = f"{_shown(value)} is not {expected} hex digits"
        elif expected is None and (len(text) % 2 or len(text) > 256):
            why = f"{_shown(value)} is not a digest"
        else:
            out.setdefault(algo, text)
            continue
        problem = problem or f"{field} {algo}: {why}"
    return problem


_SPECIFIERS: dict[str, bool] = {}


def _is_specifier(text: str) -> bool:
    """``SpecifierSet(text)`` parses (memoised: a page repeats a few values thousands of times)."""
    known = _SPECIFIERS.get(text)
    if known is None:
        try:
            SpecifierSet(text)
            known = True
        except InvalidSpecifier:
            known = False
        if len(_SPECIFIERS) < 10_000:
            _SPECIFIERS[text] = known
    return known


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _url_problem(url: str, parts: Any) -> str | None:
    if _CONTROL.search(url):
        return f"url {_shown(url)} holds control characters"
    if parts.scheme.lower() not in ("http", "https", "file"):
        return f"url {_shown(url)} is not an http(s) or file URL"
    if parts.scheme.lower() != "file" and not parts.netloc:
        return f"url {_shown(url)} has no host"
    return None


def _fast_filename(entry: Mapping[str, Any]) -> str:
    """The file name in an entry's URL (as ``basename(urlsplit(url).path)``, without the cost)."""
    url = str(entry.get("url", ""))
    tail = url.split("#", 1)[0].split("?", 1)[0].rsplit("/", 1)[-1]
    return unquote(tail) if "%" in tail else tail


_NAMES: dict[str, NormalizedName] = {}


def _canonical(text: str) -> NormalizedName:
    """``canonicalize_name(text)``, memoised (a page repeats one spelling thousands of times)."""
    try:
        return _NAMES[text]
    except KeyError:
        pass
    name = canonicalize_name(text)
    if len(_NAMES) < 100_000:
        _NAMES[text] = name
    return name


_VERSIONS: dict[str, Version | None] = {}


def _version_of(text: str) -> Version | None:
    """``Version(text)``, memoised: the files of one release repeat the same version text, and
    popular projects list tens of thousands of files."""
    try:
        return _VERSIONS[text]
    except KeyError:
        pass
    try:
        version: Version | None = Version(text)
    except InvalidVersion:
        version = None
    if len(_VERSIONS) < 200_000:
        _VERSIONS[text] = version
    return version


def _guess_version(name: NormalizedName, filename: str) -> tuple[bool, Version | None]:
    """Cheaply: is this a file of ``name``, and which version does its name carry? Wheels are
    checked on name and version only (their tags, the costly part, are parsed on demand);
    sdists get the full check, which is cheap. (None: parse it whenever anything is asked.)"""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        if len(parts) not in (5, 6) or _canonical(parts[0]) != name:
            return False, None
        version = _version_of(parts[1])
        return version is not None, version
    parsed = _parse_filename(name, filename)
    if parsed is None:
        return False, None
    return True, parsed[0]


BuildTag = tuple[()] | tuple[int, str]


def _parse_filename(name: NormalizedName,
                    filename: str) -> tuple[Version, bool, frozenset[Tag], BuildTag] | None:
    try:
        if filename.endswith(".whl"):
            wname, version, build, tags = parse_wheel_filename(filename)
            if wname != name:
                return None
            return version, True, tags, build
        if filename.endswith((".tar.gz", ".zip")):
            sname, version = parse_sdist_filename(filename)
            if sname != name:
                return None
            return version, False, frozenset(), ()
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    # pip also accepts legacy sdists (.tar.bz2, .tgz ...) named name-version.ext
    for ext in (".tar.bz2", ".tgz", ".tar.xz", ".tbz", ".tar"):
        if filename.endswith(ext):
            stem = filename[: -len(ext)]
            pname, _, ver = stem.rpartition("-")
            if canonicalize_name(pname) != name:
                return None
            try:
                return Version(ver), False, frozenset(), ()
            except InvalidVersion:
                return None
    return None


def _parse_time(value: Any) -> datetime | None:
    return parse_upload_time(value)[0]


def parse_upload_time(value: Any) -> tuple[datetime | None, str | None]:
    """PEP 700 ``upload-time`` -> (moment, None); (None, why) when present but unreadable;
    (None, None) when absent."""
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, f"{json.dumps(value)[:80]} is not a string"
    if not value.strip():
        return None, "it is empty"
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None, f"{value[:80]!r} is not an ISO 8601 time"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None, f"{value[:80]!r} has no time zone"
    try:  # a moment that has no UTC time (0001-01-01T00:00:00+14:00) is not a moment
        parsed.astimezone(timezone.utc)
    except OverflowError:
        return None, f"{value[:80]!r} is outside the range of dates"
    return parsed, None


def parse_json_page(content: bytes, url: str, final_url: str) -> list[dict[str, Any]]:
    """The file entries of a PEP 691 project page, each with an absolute ``url``.

    Anything that is not a PEP 691 (api-version 1.x) page with a list of file objects that
    each have a URL is an :class:`IndexAccessError`: a page we cannot fully read is never
    treated as a page with fewer files.
    """
    def bad(why: str) -> IndexAccessError:
        return IndexAccessError(
            f"the index page {redact(url)} is not valid PEP 691 JSON ({why})",
            hint="the index is broken or something between you and it altered the page",
        )

    try:
        data = json.loads(content)
    except RecursionError:
        raise bad("nested too deeply") from None
    except ValueError as exc:
        raise bad(str(exc)[:200]) from None
    if not isinstance(data, dict):
        raise bad("the page is not a JSON object")
    meta = data.get("meta")
    api = meta.get("api-version") if isinstance(meta, dict) else None
    if isinstance(api, str) and api.split(".")[0].strip() != "1":
        raise IndexAccessError(
            f"the index page {redact(url)} uses PEP 691 api-version {api[:20]!r}; safe-install "
            "reads version 1.x",
            hint="use an index that serves api-version 1 (or its HTML pages)",
        )
    if "files" not in data:
        raise bad("no 'files' key")
    files = data["files"]
    if not isinstance(files, list):
        raise bad("'files' is not a list")
    # the entries are this parse's own objects: each gets its absolute URL in place
    for i, item in enumerate(files, 1):
        raw_url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(raw_url, str) or not raw_url or raw_url.isspace():
            raise bad(f"file entry #{i} is not an object with a url")
        if raw_url.startswith("https://") and "/." not in raw_url and "[" not in raw_url \
                and raw_url.isprintable() and " " not in raw_url:
            continue  # already absolute and plain: urljoin would return it unchanged
        try:
            absolute = urljoin(final_url, raw_url)
            urlsplit(absolute)
        except ValueError as exc:
            raise bad(f"file entry #{i} has an invalid url: {exc}") from None
        item["url"] = absolute
    return files


#: File endings of distributions pip would consider; a listed name with one of these endings
#: that does not parse as a file of the page's project is reported (and ignored, as pip does).
_DIST_ENDINGS = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tbz", ".tar")


def _entry_filename(entry: Mapping[str, Any]) -> str:
    from urllib.parse import unquote

    try:
        return unquote(os.path.basename(urlsplit(str(entry.get("url", ""))).path))
    except ValueError:
        return str(entry.get("url", ""))[:100]


class Finder:
    """Lists projects' files over pip's sources; thread-safe, each page fetched once per run."""

    def __init__(
        self,
        *,
        index_urls: Sequence[str],
        find_links: Sequence[str] = (),
        trusted_hosts: Sequence[str] = (),
        session: Any,
        max_workers: int = 8,
        index_for: Mapping[str, str] | None = None,
        times_from: Sequence[str] = (),
    ) -> None:
        self.index_urls = tuple(index_urls)
        self.find_links = tuple(find_links)
        self.trusted_hosts = tuple(trusted_hosts)
        self.session = session
        self.http = as_client(session, self.trusted_hosts)
        self.max_workers = max_workers
        # a name pinned to one source ([index-for]): no other source is even asked about it
        self.index_for: dict[NormalizedName, str] = {}
        configured = {_norm(u): u for u in (*self.index_urls, *self.find_links)}
        for pname, location in (index_for or {}).items():
            match = configured.get(_norm(location))
            if match is None:
                raise UsageError(
                    f"[index-for] pins {pname} to {redact(location)}, which is not a configured "
                    "index or find-links location",
                    hint="add that index with --index-url/--extra-index-url (or -f), or fix "
                    "the pin",
                )
            self.index_for[canonicalize_name(pname)] = match
        self.times_from = tuple(u for u in dict.fromkeys(times_from)
                                if _norm(u) not in {_norm(i) for i in self.index_urls})
        self._reference: dict[NormalizedName, tuple[IndexFile, ...]] = {}
        self._errors: dict[NormalizedName, SafeInstallError] = {}
        self._cache: dict[NormalizedName, ProjectListing] = {}
        self._locks: dict[NormalizedName, threading.Lock] = {}
        self._lock = threading.Lock()
        self._find_links_files: list[tuple[Source, str]] | None = None
        self._find_links_notes: list[str] = []
        #: name -> specifiers of the requirements known to ask for it (:meth:`expect`)
        self._expected: dict[NormalizedName, list[SpecifierSet]] = {}

    # -- public ------------------------------------------------------------------------------

    def project(self, name: str) -> ProjectListing:
        key = canonicalize_name(name)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
                if key in self._errors:  # fetched (and retried) once per run, not again
                    raise self._errors[key]
            try:
                listing = self._collect(key)
            except SafeInstallError as exc:
                with self._lock:
                    self._errors[key] = exc
                raise
            with self._lock:
                self._cache[key] = listing
            return listing

    def expect(self, name: str, specifier: SpecifierSet) -> None:
        """Say that a requirement ``name<specifier>`` will look ``name`` up, before it is
        collected: its listing then keeps in memory only the entries of versions that one of
        the expected specifiers admits (issue 21), and reads the pages again, once, if any
        other version is asked for (which must then be the same bytes). Only a saving: what
        is found and selected does not change."""
        key = canonicalize_name(name)
        with self._lock:
            if key not in self._cache:
                self._expected.setdefault(key, []).append(specifier)

    def reference(self, name: str) -> tuple[IndexFile, ...]:
        """Files of ``name`` on the ``--times-from`` indexes (only to date identical files)."""
        key = canonicalize_name(name)
        with self._lock:
            if key in self._reference:
                return self._reference[key]
        files: list[IndexFile] = []
        for index in self.times_from:
            source = Source(index, "times-from")
            page_url = index.rstrip("/") + "/" + key + "/"
            for entry in self._read_page(page_url, source, key):
                parsed = self._to_file(key, source, entry)
                if parsed is not None and parsed.invalid is None:  # never dates anything
                    files.append(parsed)
        with self._lock:
            self._reference[key] = tuple(files)
        return tuple(files)

    def prefetch(self, names: Iterable[str]) -> None:
        """Fetch several projects' pages concurrently (errors surface on the later lookup)."""
        todo = [n for n in {canonicalize_name(n) for n in names} if n not in self._cache]
        if len(todo) < 2:
            return
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            for _ in pool.map(self._quiet_project, todo):
                pass

    def _quiet_project(self, name: str) -> None:
        with contextlib.suppress(IndexAccessError):
            self.project(name)

    # -- collection ----------------------------------------------------------------------------

    def _collect(self, name: NormalizedName, *, whole: bool = False) -> ProjectListing:
        notes: list[str] = []
        digest = hashlib.sha256()
        links: list[tuple[Source, dict[str, Any]]] = []
        pinned = self.index_for.get(name)
        if pinned is not None:
            notes.append(f"{name} is pinned to {redact(pinned)} ([index-for]); no other index "
                         "or find-links location is consulted for it")
        # pip's order: files found directly in find-links dirs (sorted, reversed), then pages of
        # find-links, then index pages in configured order.
        direct, pages = self._find_links_entries()
        notes.extend(self._find_links_notes)
        for source, url in sorted(direct, key=lambda e: e[1], reverse=True):
            if pinned is None or source.url == pinned:
                links.append((source, {"url": url}))
                digest.update(f"file {url}\n".encode())
        for source, page_url in pages:
            if pinned is None or source.url == pinned:
                links.extend((source, entry) for entry in self._read_page(
                    page_url, source, None, notes, digest=digest))
        for index in self.index_urls:
            if pinned is not None and index != pinned:
                continue
            source = Source(index, "index")
            page_url = index.rstrip("/") + "/" + name + "/"
            if page_url.startswith("file:"):
                path = _file_path(page_url)
                if not os.path.isdir(path):
                    if not os.path.isdir(_file_path(index)):
                        notes.append(f"index location {index} does not exist; "
                                     "ignored (as pip does)")
                    continue
                page_url = page_url + "index.html"
            links.extend((source, entry)
                         for entry in self._read_page(page_url, source, name, notes,
                                                      digest=digest))
        raw: list[tuple[Source, dict[str, Any], str, Version | None]] = []
        skipped: dict[str, list[str]] = {}
        unsafe: dict[str, list[str]] = {}
        for source, entry in links:
            filename = _fast_filename(entry)
            plausible, version = _guess_version(name, filename)
            if plausible:
                raw.append((source, entry, filename, version))
                if not is_safe_filename(filename):  # (the cheap check: its name)
                    unsafe.setdefault(source.url, []).append(filename)
                continue
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("Skipping link: wrong project name (not %s): %s", name,
                             redact_url(str(entry.get("url", filename))))
            # find-links pages list every project's files; only a project page is expected
            # to list nothing but this project's distributions
            if source.kind == "index" and filename.lower().endswith(_DIST_ENDINGS):
                skipped.setdefault(source.url, []).append(filename)
        for src, names in skipped.items():
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3
                                             else "")
            notes.append(f"{redact(src)} lists {len(names)} file(s) on the page of {name} whose "
                         f"names are not valid distributions of {name} (wrong project, or an "
                         f"unparseable name or version): {shown}; ignored, as pip does")
        for src, names in unsafe.items():
            shown = ", ".join(repr(n) for n in names[:3]) + (
                f" and {len(names) - 3} more" if len(names) > 3 else "")
            notes.append(f"{redact(src)} lists {len(names)} file(s) of {name} with invalid "
                         f"index data (a file name no distribution has: {shown}); never "
                         "downloaded, and refused if selected")
        listing = ProjectListing(name, None, tuple(dict.fromkeys(notes)), raw=raw)
        listing.digest = digest.hexdigest()
        with self._lock:
            expected = None if whole else self._expected.get(name)
        if expected:
            specifiers = tuple(expected)
            listing.compact(
                lambda v: any(sp.contains(v, prereleases=True) for sp in specifiers),
                lambda: self._collect(name, whole=True))
        return listing

    def _find_links_entries(self) -> tuple[list[tuple[Source, str]], list[tuple[Source, str]]]:
        direct: list[tuple[Source, str]] = []
        pages: list[tuple[Source, str]] = []
        for location in self.find_links:
            source = Source(location, "find-links")
            if "://" not in location or location.startswith("file:"):
                path = _file_path(location) if location.startswith("file:") else location
                if os.path.isdir(path):
                    for entry in sorted(os.listdir(path)):
                        full = os.path.join(path, entry)
                        if entry.endswith((".html", ".htm")):
                            pages.append((source, _path_url(full)))
                        elif os.path.isfile(full):
                            direct.append((source, _path_url(full)))
                elif os.path.isfile(path):
                    if path.endswith((".html", ".htm")):
                        pages.append((source, _path_url(path)))
                    else:  # a single archive given to -f is a candidate itself, as in pip
                        direct.append((source, _path_url(path)))
                else:
                    note = f"find-links location {location} does not exist; ignored (as pip does)"
                    if note not in self._find_links_notes:
                        self._find_links_notes.append(note)
            else:
                pages.append((source, location))
        return direct, pages

    def _fetch(self, url: str, notes: list[str] | None = None) -> tuple[bytes, str, str]:
        if url.startswith("file:"):
            path = _file_path(url)
            try:
                # (a named pipe or a device would block, or never end: only regular files)
                if not stat.S_ISREG(os.stat(path).st_mode):
                    raise IndexAccessError(f"cannot read index page {path}: it is not a "
                                           "regular file",
                                           hint="remove it from the index or find-links "
                                           "directory")
                with open(path, "rb") as fh:
                    data = fh.read(MAX_PAGE_BYTES + 1)
            except OSError as exc:
                raise IndexAccessError(f"cannot read index page {path}: {exc.strerror}") from None
            if len(data) > MAX_PAGE_BYTES:
                raise IndexAccessError(f"index page {path} is larger than "
                                       f"{MAX_PAGE_BYTES // (1024 * 1024)} MiB; refusing")
            return data, "text/html", url
        resp = self.http.get(url, headers={"Accept": ACCEPT}, max_bytes=MAX_PAGE_BYTES,
                             what="index page")
        if resp.status_code in (404, 410):
            return b"", "", resp.url
        if resp.status_code in (401, 403):
            raise IndexAccessError(
                f"{redact(url)} answered HTTP {resp.status_code} (not authorised)",
                hint="give credentials in the index URL, ~/.netrc or keyring, as for pip",
            )
        if resp.status_code != 200:
            raise IndexAccessError(
                f"{redact(url)} answered HTTP {resp.status_code}",
                hint="the index is failing; retry later or use another index",
            )
        if notes is not None and resp.redirects and \
                urlsplit(resp.url).netloc != urlsplit(url).netloc:
            notes.append(f"{redact(url)} redirected to {redact(resp.url)} (another host); "
                         "credentials for the index were not sent there")
        return resp.content, resp.headers.get("Content-Type", ""), resp.url

    def _check_secure(self, url: str) -> None:
        self.http.check_secure(url)

    def _read_page(self, url: str, source: Source, name: str | None,
                   notes: list[str] | None = None, *,
                   digest: Any = None) -> list[dict[str, Any]]:
        content, content_type, final_url = self._fetch(url, notes)
        if digest is not None:  # what was read, to tell whether a second read is the same
            digest.update(f"page {url} {final_url} {content_type} {len(content)}\n".encode())
            digest.update(content)
        if not content and not content_type:
            return []
        ctype = content_type.split(";")[0].strip().lower()
        remote = urlsplit(final_url).scheme in ("http", "https")
        if ctype == JSON_TYPE:
            out = parse_json_page(content, url, final_url)
        elif ctype in ("text/html", "application/vnd.pypi.simple.v1+html") or \
                url.startswith("file:"):
            out = self._html_entries(content, url, final_url)
        else:
            raise IndexAccessError(
                f"the index page {redact(url)} has unsupported content type {content_type!r}",
                hint="safe-install reads PEP 691 JSON and PEP 503 HTML index pages",
            )
        if remote:
            for entry in out:
                entry_url = entry["url"]
                if entry_url.startswith("https://"):
                    continue
                if entry_url[:5].lower() == "file:":  # the scheme, without parsing the URL
                    raise IndexAccessError(
                        f"the index page {redact(url)} links to {entry['url'][:200]}, a local "
                        "file; refusing",
                        hint="a remote index must not point at local files; the index is "
                        "broken or hostile",
                    )
        return out

    @staticmethod
    def _html_entries(content: bytes, url: str, final_url: str) -> list[dict[str, Any]]:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            text = content.decode("latin-1")
        from unearth.collector import IndexHTMLParser

        try:
            parser = IndexHTMLParser()
            parser.feed(text)
            parser.close()
            base = urljoin(final_url, parser.base_url) if parser.base_url else final_url
            out: list[dict[str, Any]] = []
            for anchor in parser.anchors:
                href = anchor.get("href")
                if not href:
                    continue
                meta = anchor.get("data-core-metadata") or anchor.get("data-dist-info-metadata")
                out.append({
                    "url": urljoin(base, href),
                    "requires-python": anchor.get("data-requires-python"),
                    # an empty data-yanked attribute still means yanked (PEP 592)
                    "yanked": (anchor.get("data-yanked") or True) if "data-yanked" in anchor
                    else False,
                    "core-metadata": _html_meta(meta),
                })
                urlsplit(str(out[-1]["url"]))
        except (ValueError, AssertionError) as exc:
            raise IndexAccessError(
                f"the index page {redact(url)} is not valid PEP 503 HTML ({exc})",
                hint="the index is broken or something between you and it altered the page",
            ) from None
        return out

    @staticmethod
    def _to_file(name: NormalizedName, source: Source, entry: dict[str, Any]) -> IndexFile | None:
        """The one place an index entry's values are validated (JSON, HTML, find-links and
        ``--times-from`` pages all come through here). An entry that is not a distribution
        of ``name`` is None (ignored, as pip does); one that is, with any invalid value, is
        an IndexFile with ``invalid`` set, holding only the values that passed."""
        url: str = entry["url"]
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        filename = unquote(os.path.basename(parts.path))
        parsed = _parse_filename(name, filename)
        if parsed is None:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("Skipping link: not a distribution of %s: %s", name, redact_url(url))
            return None
        version, is_wheel, tags, build = parsed
        problems: list[str] = []

        def problem(text: str | None) -> None:
            if text is not None:
                problems.append(text)

        problem(filename_problem(filename))
        problem(_url_problem(url, parts))
        hashes: dict[str, str] = {}
        problem(_hashes_problem("hashes", entry.get("hashes"), hashes))
        if parts.fragment:
            algo, eq, value = parts.fragment.partition("=")
            if eq and algo in ("sha256", "sha384", "sha512", "sha224", "sha1", "md5"):
                from_url: dict[str, str] = {}
                problem(_hashes_problem("url #fragment", {algo: value}, from_url))
                for key, text in from_url.items():
                    hashes.setdefault(key, text)
        # as pip's Link.from_json: a reason string or true means yanked; "" and false do not
        yanked_raw = entry.get("yanked", False)
        yanked: str | None
        if isinstance(yanked_raw, str) and yanked_raw:
            yanked = yanked_raw
        elif yanked_raw and not isinstance(yanked_raw, str):
            yanked = ""
        else:
            yanked = None
        if yanked_raw is not None and not isinstance(yanked_raw, (bool, str)):
            problem(f"yanked is {_shown(yanked_raw)}, not true, false or a reason")
        meta = entry.get("core-metadata", entry.get("dist-info-metadata"))
        metadata_url = None
        metadata_sha256 = None
        if meta:
            metadata_url = parts._replace(fragment="").geturl() + ".metadata"
            if isinstance(meta, dict):
                meta_hashes: dict[str, str] = {}
                problem(_hashes_problem("core-metadata", meta, meta_hashes))
                metadata_sha256 = meta_hashes.get("sha256")
            elif meta is not True:
                problem(f"core-metadata is {_shown(meta)}, not true, false or hashes")
        size_raw = entry.get("size")
        size: int | None = None
        if type(size_raw) is int and size_raw >= 0:
            size = size_raw
        elif size_raw is not None:
            problem(f"size is {_shown(size_raw)}, not a non-negative integer")
        rp_raw = entry.get("requires-python")
        rp: str | None = None
        if isinstance(rp_raw, str) and rp_raw.strip():
            rp = rp_raw  # (the selection ignores an invalid one, as pip does)
            if not _is_specifier(rp_raw):
                problem(f"requires-python {_shown(rp_raw)} is not a version specifier")
        elif rp_raw not in (None, ""):
            problem(f"requires-python is {_shown(rp_raw)}, not a string")
        upload_time, upload_time_error = parse_upload_time(entry.get("upload-time"))
        return IndexFile(
            project=name,
            filename=filename,
            url=parts._replace(fragment="").geturl(),
            source=source,
            version=version,
            is_wheel=is_wheel,
            tags=tags,
            build_tag=build,
            sha256=hashes.get("sha256"),
            hashes=tuple(sorted(hashes.items())),
            upload_time=upload_time,
            yanked=yanked,
            requires_python=rp,
            size=size,
            metadata_url=metadata_url,
            metadata_sha256=metadata_sha256,
            upload_time_error=upload_time_error,
            invalid="; ".join(problems) if problems else None,
        )


def _html_meta(value: str | None) -> dict[str, str] | bool | None:
    if not value:
        return None
    algo, eq, digest = value.partition("=")
    return {algo: digest} if eq else True


def _norm(location: str) -> str:
    """One spelling of a configured location, to match an ``[index-for]`` pin or a
    ``--times-from`` URL with it (``HTTP://host:80/simple`` is ``http://host/simple/``)."""
    return canonical_index_url(location).rstrip("/")


def _file_path(url: str) -> str:
    from urllib.parse import unquote
    from urllib.request import url2pathname

    return url2pathname(unquote(urlsplit(url).path))


def _path_url(path: str) -> str:
    from pathlib import Path

    return Path(os.path.abspath(path)).as_uri()
