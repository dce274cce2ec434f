"""Find every file of a project on the configured indexes and find-links, as pip would see them.

Pages are fetched with unearth's HTTP client (HTML anchors parsed by unearth's parser); what
unearth would silently skip (an unreadable page, a server error) is an error here, because a
security check that quietly sees fewer files is a check that can be fooled.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

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
from unearth.collector import IndexHTMLParser

from safeinstall.errors import IndexAccessError

SourceKind = Literal["index", "find-links"]

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

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None

    def hash_allowed(self, allowed: dict[str, frozenset[str]]) -> bool:
        return any(value in allowed.get(name, frozenset()) for name, value in self.hashes)


@dataclass(frozen=True)
class ProjectListing:
    """All files of one project across all sources, in pip's collection order."""

    name: NormalizedName
    files: tuple[IndexFile, ...]
    notes: tuple[str, ...] = ()  # e.g. an index location that does not exist

    def release(self, version: Version, source: Source) -> tuple[IndexFile, ...]:
        return tuple(f for f in self.files if f.version == version and f.source == source)


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
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


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
    ) -> None:
        self.index_urls = tuple(index_urls)
        self.find_links = tuple(find_links)
        self.trusted_hosts = tuple(trusted_hosts)
        self.session = session
        self.max_workers = max_workers
        self._cache: dict[NormalizedName, ProjectListing] = {}
        self._locks: dict[NormalizedName, threading.Lock] = {}
        self._lock = threading.Lock()
        self._find_links_files: list[tuple[Source, str]] | None = None
        self._find_links_notes: list[str] = []

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
            listing = self._collect(key)
            with self._lock:
                self._cache[key] = listing
            return listing

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

    def _collect(self, name: NormalizedName) -> ProjectListing:
        notes: list[str] = []
        links: list[tuple[Source, dict[str, Any]]] = []
        # pip's order: files found directly in find-links dirs (sorted, reversed), then pages of
        # find-links, then index pages in configured order.
        direct, pages = self._find_links_entries()
        notes.extend(self._find_links_notes)
        for source, url in sorted(direct, key=lambda e: e[1], reverse=True):
            links.append((source, {"url": url}))
        for source, page_url in pages:
            links.extend((source, entry) for entry in self._read_page(page_url, source, None))
        for index in self.index_urls:
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
            links.extend((source, entry) for entry in self._read_page(page_url, source, name))
        files: list[IndexFile] = []
        for source, entry in links:
            parsed = self._to_file(name, source, entry)
            if parsed is not None:
                files.append(parsed)
        return ProjectListing(name=name, files=tuple(files), notes=tuple(dict.fromkeys(notes)))

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
                    pages.append((source, _path_url(path)))
                else:
                    note = f"find-links location {location} does not exist; ignored (as pip does)"
                    if note not in self._find_links_notes:
                        self._find_links_notes.append(note)
            else:
                pages.append((source, location))
        return direct, pages

    def _fetch(self, url: str) -> tuple[bytes, str, str]:
        if url.startswith("file:"):
            path = _file_path(url)
            try:
                with open(path, "rb") as fh:
                    return fh.read(MAX_PAGE_BYTES + 1), "text/html", url
            except OSError as exc:
                raise IndexAccessError(f"cannot read index page {path}: {exc.strerror}") from None
        self._check_secure(url)
        try:
            resp = self.session.get(url, headers={"Accept": ACCEPT})
        except Exception as exc:  # httpx2 transport errors of every kind
            raise IndexAccessError(
                f"cannot reach {url}: {exc.__class__.__name__}: {exc}",
                hint="check the index URL and your network or proxy settings",
            ) from None
        if resp.status_code in (404, 410):
            return b"", "", str(resp.url)
        if resp.status_code >= 400:
            raise IndexAccessError(
                f"{url} answered HTTP {resp.status_code}",
                hint="the index is failing; retry later or use another index",
            )
        content = resp.content
        if len(content) > MAX_PAGE_BYTES:
            raise IndexAccessError(f"{url} returned more than {MAX_PAGE_BYTES} bytes; refusing")
        return content, resp.headers.get("Content-Type", ""), str(resp.url)

    def _check_secure(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme == "https":
            return
        host = parts.hostname or ""
        if host in ("localhost", "::1") or host.startswith("127."):
            return
        netloc = parts.netloc.rpartition("@")[2]
        if host in self.trusted_hosts or netloc in self.trusted_hosts:
            return
        raise IndexAccessError(
            f"refusing to read {url} over insecure {parts.scheme}",
            hint=f"use https, or pass --trusted-host {host} if you trust that network",
        )

    def _read_page(self, url: str, source: Source, name: str | None) -> list[dict[str, Any]]:
        content, content_type, final_url = self._fetch(url)
        if not content and not content_type:
            return []
        ctype = content_type.split(";")[0].strip().lower()
        if ctype == JSON_TYPE:
            try:
                data = json.loads(content)
                files = data["files"]
                if not isinstance(files, list):
                    raise TypeError("files is not a list")
            except (ValueError, KeyError, TypeError) as exc:
                raise IndexAccessError(
                    f"the index page {url} is not valid PEP 691 JSON ({exc})",
                    hint="the index is broken or something between you and it altered the page",
                ) from None
            out = []
            for item in files:
                if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                    continue
                entry = dict(item)
                entry["url"] = urljoin(final_url, item["url"])
                out.append(entry)
            return out
        if ctype in ("text/html", "application/vnd.pypi.simple.v1+html") or url.startswith("file:"):
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text = content.decode("latin-1")
            parser = IndexHTMLParser()
            parser.feed(text)
            base = urljoin(final_url, parser.base_url) if parser.base_url else final_url
            out = []
            for anchor in parser.anchors:
                href = anchor.get("href")
                if not href:
                    continue
                meta = anchor.get("data-core-metadata") or anchor.get("data-dist-info-metadata")
                out.append({
                    "url": urljoin(base, href),
                    "requires-python": anchor.get("data-requires-python"),
                    "yanked": anchor.get("data-yanked") if "data-yanked" in anchor else False,
                    "core-metadata": _html_meta(meta),
                })
            return out
        raise IndexAccessError(
            f"the index page {url} has unsupported content type {content_type!r}",
            hint="safe-install reads PEP 691 JSON and PEP 503 HTML index pages",
        )

    @staticmethod
    def _to_file(name: NormalizedName, source: Source, entry: dict[str, Any]) -> IndexFile | None:
        url: str = entry["url"]
        parts = urlsplit(url)
        filename = os.path.basename(parts.path)
        from urllib.parse import unquote

        filename = unquote(filename)
        parsed = _parse_filename(name, filename)
        if parsed is None:
            return None
        version, is_wheel, tags, build = parsed
        hashes: dict[str, str] = {}
        raw_hashes = entry.get("hashes")
        if isinstance(raw_hashes, dict):
            hashes.update({str(k).lower(): str(v).lower() for k, v in raw_hashes.items()
                           if isinstance(v, str)})
        if parts.fragment:
            algo, eq, value = parts.fragment.partition("=")
            if eq and algo in ("sha256", "sha384", "sha512", "sha224", "sha1", "md5"):
                hashes.setdefault(algo, value.lower())
        yanked_raw = entry.get("yanked", False)
        yanked: str | None
        if yanked_raw is True:
            yanked = ""
        elif isinstance(yanked_raw, str):
            yanked = yanked_raw
        else:
            yanked = None
        meta = entry.get("core-metadata", entry.get("dist-info-metadata"))
        metadata_url = None
        metadata_sha256 = None
        if meta:
            metadata_url = parts._replace(fragment="").geturl() + ".metadata"
            if isinstance(meta, dict):
                metadata_sha256 = meta.get("sha256")
        size = entry.get("size")
        rp = entry.get("requires-python")
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
            upload_time=_parse_time(entry.get("upload-time")),
            yanked=yanked,
            requires_python=rp if isinstance(rp, str) and rp.strip() else None,
            size=size if isinstance(size, int) else None,
            metadata_url=metadata_url,
            metadata_sha256=metadata_sha256,
        )


def _html_meta(value: str | None) -> dict[str, str] | bool | None:
    if not value:
        return None
    algo, eq, digest = value.partition("=")
    return {algo: digest} if eq else True


def _file_path(url: str) -> str:
    from urllib.parse import unquote
    from urllib.request import url2pathname

    return url2pathname(unquote(urlsplit(url).path))


def _path_url(path: str) -> str:
    from pathlib import Path

    return Path(os.path.abspath(path)).as_uri()
