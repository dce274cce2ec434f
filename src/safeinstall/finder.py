"""Find every file of a project on the configured indexes and find-links, as pip would see them.

Pages are fetched with the run's HTTP client (HTML anchors parsed by unearth's parser); what
unearth would silently skip (an unreadable page, a server error) is an error here, because a
security check that quietly sees fewer files is a check that can be fooled.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import threading
from array import array
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import msgspec
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from safeinstall.errors import IndexAccessError, SafeInstallError, UsageError
from safeinstall.http import as_client, redact
from safeinstall.indexdata import (
    _DIST_ENDINGS,
    NOT_OURS,
    _version_of,
    guess_versions,
    to_file,
    unsafe_filenames,
)
from safeinstall.listing import ProjectListing, RawEntry
from safeinstall.models import IndexFile, Source
from safeinstall.pages import (
    ACCEPT,
    JSON_TYPE,
    MAX_PAGE_BYTES,
    Entry,
    entry_values,
    local_file_link,
    parse_html_page,
    read_json_page,
)
from safeinstall.pagework import PagePool, PageSummary
from safeinstall.urls import canonical_index_url, redact_url

logger = logging.getLogger(__name__)



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
        #: reads the pages of expected projects in a second process (set by the run's
        #: wiring: :mod:`safeinstall.pagework`); None: the run reads every page itself
        self.page_worker: PagePool | None = None

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
        is found and selected does not change. A constraint on ``name`` is expected too:
        every candidate of the name satisfies it."""
        key = canonicalize_name(name)
        with self._lock:
            if key not in self._cache:
                self._expected.setdefault(key, []).append(specifier)

    def expected_projects(self) -> int:
        """How many projects :meth:`expect` was told of."""
        with self._lock:
            return len(self._expected)

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
            for entry in self._read_page(page_url, source, key)[1]:
                parsed = to_file(key, source, entry_values(entry))
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
        links: list[tuple[Source, list[str], Sequence[Entry]] | tuple[Source, PageSummary]] = []
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
                links.append((source, [url], [{"url": url}]))
                digest.update(f"file {url}\n".encode())
        for source, page_url in pages:
            if pinned is None or source.url == pinned:
                links.append((source, *self._read_page(page_url, source, None, notes,
                                                       digest=digest)))
        with self._lock:
            expected = None if whole else self._expected.get(name)
        specifiers = tuple(expected) if expected else ()
        debug = logger.isEnabledFor(logging.DEBUG)
        # (a page whose versions of interest are known is read by the page worker, unless
        # each skipped link is to be logged)
        worker = self.page_worker if specifiers and not debug else None
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
            elif worker is not None:
                read = worker.read(name, page_url, [str(sp) for sp in specifiers])
                # (a summary, or else the page itself: anything else is the run's to fetch)
                summary = read.summary if read is not None else None
                content = read.content if read is not None else None
                if read is not None and (_fits(summary) if summary is not None
                                         else content is not None):
                    if read.status == 200:  # (as _fetch: no note for a missing page)
                        self._redirect_note(page_url, read.final_url, read.redirects, notes)
                    _add_page(digest, page_url, read.final_url, read.content_type,
                              read.length, read.sha256)
                    links.append((source, summary) if summary is not None else (
                        source, *self._decode_page(page_url, content or b"",
                                                   read.content_type, read.final_url)))
                    continue
            links.append((source, *self._read_page(page_url, source, name, notes,
                                                   digest=digest)))
        raw: list[RawEntry | None] = []
        dropped: list[tuple[Version, array[int]]] = []
        origins: dict[str, None] = {}
        skipped: dict[str, list[str]] = {}
        unsafe: dict[str, list[str]] = {}
        for link in links:
            source = link[0]
            if isinstance(link[1], PageSummary):
                summary = link[1]
                base = len(raw)
                raw.extend([None] * summary.count)
                for kept in summary.kept:
                    raw[base + kept.position] = (
                        source, msgspec.Raw(kept.entry), kept.filename,
                        None if kept.version is None else _version_of(kept.version))
                for text, positions in summary.groups:
                    indices = array("I")
                    indices.frombytes(positions)
                    if base:
                        indices = array("I", [i + base for i in indices])
                    set_aside = _version_of(text) if text is not None else None
                    assert set_aside is not None  # (checked by _fits)
                    dropped.append((set_aside, indices))
                if summary.count and source.is_origin:
                    origins[source.url] = None
                if summary.skipped:
                    skipped.setdefault(source.url, []).extend(summary.skipped)
                if summary.unsafe:
                    unsafe.setdefault(source.url, []).extend(summary.unsafe)
                continue
            urls, entries = link[1], link[2]
            filenames, versions = guess_versions(name, urls)
            first = len(raw)
            for url, entry, filename, version in zip(urls, entries, filenames, versions,
                                                     strict=True):
                if version is not NOT_OURS:
                    raw.append((source, entry, filename, version))  # type: ignore[arg-type]
                    continue
                if debug:
                    logger.debug("Skipping link: wrong project name (not %s): %s", name,
                                 redact_url(url))
                # find-links pages list every project's files; only a project page is
                # expected to list nothing but this project's distributions
                if source.kind == "index" and filename.lower().endswith(_DIST_ENDINGS):
                    skipped.setdefault(source.url, []).append(filename)
            if len(raw) > first and source.is_origin:
                origins[source.url] = None
            # the cheap check of every entry, its name (the rest is validated where an entry
            # is looked at: indexdata.to_file)
            bad = unsafe_filenames([item[2] for item in raw[first:]])  # type: ignore[index]
            if bad:
                unsafe.setdefault(source.url, []).extend(bad)
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
        listing = ProjectListing(name, None, tuple(dict.fromkeys(notes)), raw=raw,
                                 dropped=dropped, index_urls=tuple(origins))
        listing.digest = digest.hexdigest()
        if specifiers:
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
        self._redirect_note(url, resp.url, resp.redirects, notes)
        return resp.content, resp.headers.get("Content-Type", ""), resp.url

    def _read_page(self, url: str, source: Source, name: str | None,
                   notes: list[str] | None = None, *,
                   digest: Any = None) -> tuple[list[str], Sequence[Entry]]:
        content, content_type, final_url = self._fetch_page(url, notes, digest)
        return self._decode_page(url, content, content_type, final_url)

    def _fetch_page(self, url: str, notes: list[str] | None,
                    digest: Any) -> tuple[bytes, str, str]:
        content, content_type, final_url = self._fetch(url, notes)
        if digest is not None:
            _add_page(digest, url, final_url, content_type, len(content),
                      hashlib.sha256(content).digest())
        return content, content_type, final_url

    @staticmethod
    def _redirect_note(url: str, final_url: str, redirects: Sequence[str],
                       notes: list[str] | None) -> None:
        if notes is not None and redirects and \
                urlsplit(final_url).netloc != urlsplit(url).netloc:
            notes.append(f"{redact(url)} redirected to {redact(final_url)} (another host); "
                         "credentials for the index were not sent there")

    def _decode_page(self, url: str, content: bytes, content_type: str,
                     final_url: str) -> tuple[list[str], Sequence[Entry]]:
        if not content and not content_type:
            return [], []
        ctype = content_type.split(";")[0].strip().lower()
        out: Sequence[Entry]
        if ctype == JSON_TYPE:
            urls, out = read_json_page(content, url, final_url)
        elif ctype in ("text/html", "application/vnd.pypi.simple.v1+html") or \
                url.startswith("file:"):
            out = parse_html_page(content, url, final_url)
            urls = [str(entry["url"]) for entry in out]
        else:
            raise IndexAccessError(
                f"the index page {redact(url)} has unsupported content type {content_type!r}",
                hint="safe-install reads PEP 691 JSON and PEP 503 HTML index pages",
            )
        local = local_file_link(urls, final_url)
        if local is not None:
            raise IndexAccessError(
                f"the index page {redact(url)} links to {local[:200]}, a local file; refusing",
                hint="a remote index must not point at local files; the index is broken or "
                "hostile",
            )
        return urls, out


def _fits(summary: PageSummary) -> bool:
    """Whether the page worker's summary is one the run can build the listing from: each
    entry of the project kept or set aside once, every version set aside a version (else the
    run reads the page itself). That nothing a requirement can select was set aside is
    checked where the listing is compacted (:meth:`ProjectListing.compact`)."""
    count = summary.count
    places = array("I", [kept.position for kept in summary.kept])
    for text, positions in summary.groups:
        if text is None or not positions or len(positions) % places.itemsize \
                or _version_of(text) is None:
            return False
        places.frombytes(positions)
    # (each of the project's entries is kept or set aside, once)
    return len(places) == count and (not count or max(places) < count) \
        and len(set(places)) == count


def _add_page(digest: Any, url: str, final_url: str, content_type: str, length: int,
              sha256: bytes) -> None:
    """Add a page read to ``digest`` (what was read, to tell whether a second read is the
    same): its URLs, content type, length and sha256."""
    digest.update(f"page {url} {final_url} {content_type} {length}\n".encode())
    digest.update(sha256)


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
