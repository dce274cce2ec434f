"""A static PEP 691 / PEP 503 package index served over real HTTP on 127.0.0.1.

Layout under ``root``::

    files/<filename>                 the distributions (and ``<filename>.metadata``, PEP 658)
    simple/index.json, index.html    the project list
    simple/<project>/index.json      PEP 691 JSON (api-version 1.1, with PEP 700 upload-time)
    simple/<project>/index.html      PEP 503 HTML (no upload time: HTML has no place for it)

Pages are re-rendered on every :meth:`LocalIndex.add`, so a test can add a "late" file
between two runs of the tool. The server picks JSON or HTML from the ``Accept`` header the
way PyPI (Warehouse) does: among ``text/html``, ``application/vnd.pypi.simple.v1+html`` and
``application/vnd.pypi.simple.v1+json``, the offer with the highest q wins, ties going to
that order (so HTML wins ties); no acceptable offer, or no header, gives ``text/html``.

Usage::

    with LocalIndex(tmp_path / "index") as index:
        index.add(wheel, upload_time=t0)
        run_pip(["install", "--index-url", index.url, "demo"], env)
        assert "/files/demo-1.0-py3-none-any.whl" in index.requests
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import unquote, urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .artifacts import read_wheel_metadata

__all__ = [
    "HTML_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "V1_HTML_CONTENT_TYPE",
    "IndexMode",
    "IndexedFile",
    "LocalIndex",
    "RequestRecord",
    "format_upload_time",
    "select_content_type",
]

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
V1_HTML_CONTENT_TYPE = "application/vnd.pypi.simple.v1+html"
HTML_CONTENT_TYPE = "text/html"
API_VERSION = "1.1"

#: ``json+html``: negotiate like PyPI. ``html-only``: never JSON (a mirror without upload
#: times). ``json-only``: always JSON, whatever the client asks for.
IndexMode = Literal["json+html", "html-only", "json-only"]

# Warehouse's offer order: it decides ties.
_OFFERS = (HTML_CONTENT_TYPE, V1_HTML_CONTENT_TYPE, JSON_CONTENT_TYPE)


def format_upload_time(moment: datetime) -> str:
    """Format ``moment`` as PyPI does: UTC, microseconds, ``Z``.

    E.g. ``2024-04-24T19:31:22.123456Z``.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"upload_time must be timezone-aware, got {moment!r}")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_accept(header: str) -> list[tuple[str, float]]:
    ranges: list[tuple[str, float]] = []
    for item in header.split(","):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        ranges.append((media, max(0.0, min(q, 1.0))))
    return ranges


def _offer_quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    """q of the most specific media range matching ``offer`` (0 when none matches)."""
    kind = offer.split("/")[0]
    best: tuple[int, float] = (0, 0.0)
    for media, q in ranges:
        if media == offer:
            specificity = 3
        elif media == f"{kind}/*":
            specificity = 2
        elif media == "*/*":
            specificity = 1
        else:
            continue
        if specificity > best[0]:
            best = (specificity, q)
    return best[1]


def select_content_type(accept: str | None) -> str:
    """Pick the content type PyPI would serve for the ``Accept`` header ``accept``."""
    if accept is None or not accept.strip():
        return HTML_CONTENT_TYPE
    ranges = _parse_accept(accept)
    scored = [(_offer_quality(offer, ranges), -i, offer) for i, offer in enumerate(_OFFERS)]
    quality, _, offer = max(scored)
    return offer if quality > 0 else HTML_CONTENT_TYPE


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _project_and_version(filename: str) -> tuple[str, str]:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise ValueError(f"not a wheel or sdist filename: {filename!r} ({exc})") from exc
    return str(name), str(version)


@dataclass(frozen=True)
class IndexedFile:
    """One distribution file published on a :class:`LocalIndex`."""

    project: str
    """Normalized project name (``foo-bar``)."""
    version: str
    filename: str
    path: Path
    """Where the index keeps the file (under ``files_dir``)."""
    url: str
    """Absolute URL of the file on the running index."""
    sha256: str
    size: int
    upload_time: datetime | None
    yanked: bool | str
    requires_python: str | None
    metadata_sha256: str | None
    """sha256 of the core metadata when the file has one (wheels), else ``None``."""
    serve_metadata: bool
    advertise_metadata: bool
    listed_after_fetches: int = 0
    """Listed on its project page only from fetch number ``listed_after_fetches + 1`` on."""
    only_for_agent: str | None = None
    """Listed only to clients whose ``User-Agent`` contains this text."""

    @property
    def conditional(self) -> bool:
        """Whether some fetches of its project page do not list it."""
        return self.listed_after_fetches > 0 or self.only_for_agent is not None

    @property
    def url_path(self) -> str:
        """Path part of :attr:`url` (``/files/<filename>``), as recorded in the request log."""
        return f"/files/{self.filename}"

    @property
    def metadata_url_path(self) -> str:
        """Path of the PEP 658 metadata file (``/files/<filename>.metadata``)."""
        return f"/files/{self.filename}.metadata"

    @property
    def upload_time_text(self) -> str | None:
        """``upload-time`` as written in the JSON page, or ``None`` when not served."""
        return None if self.upload_time is None else format_upload_time(self.upload_time)


@dataclass(frozen=True)
class RequestRecord:
    """One request the index answered."""

    method: str
    path: str
    accept: str | None
    status: int
    content_type: str | None


@dataclass
class _Broken:
    body: bytes
    content_type: str
    status: int


@dataclass
class _State:
    files: dict[str, IndexedFile] = field(default_factory=dict)
    broken: dict[str, _Broken] = field(default_factory=dict)
    serial: int = 0
    page_fetches: dict[str, int] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, index: LocalIndex) -> None:
        self.index = index
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Record unexpected handler errors instead of printing them; ignore client hang-ups."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        self.index._record_error(error)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "safeinstall-test-index/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Keep the test output quiet."""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._respond(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        accept = self.headers.get("Accept")
        status, headers, body = self.server.index._route(path, accept,
                                                         self.headers.get("User-Agent"))
        # Log before answering: once the client has its answer, the log must show it.
        self.server.index._log(
            RequestRecord(self.command, path, accept, status, headers.get("Content-Type"))
        )
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)


class LocalIndex:
    """A static package index on ``http://127.0.0.1:<random port>/simple/``.

    The port is bound on construction (so :attr:`url` is known at once); :meth:`start` /
    :meth:`stop` (or ``with``) run and stop the server thread. ``mode`` is one of
    :data:`IndexMode` and may be changed at any time.
    """

    def __init__(self, root: Path, *, mode: IndexMode = "json+html") -> None:
        if mode not in get_args(IndexMode):
            raise ValueError(f"unknown index mode {mode!r}")
        self.root = Path(root)
        self.mode: IndexMode = mode
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._state = _State()
        self._log_records: list[RequestRecord] = []
        self._errors: list[BaseException | None] = []
        self._server = _Server(self)
        self._thread: threading.Thread | None = None
        self._render()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalIndex:
        """Serve requests from a daemon thread; return ``self``."""
        if self._thread is not None:
            raise RuntimeError("index already started")
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"LocalIndex:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port. Idempotent."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LocalIndex:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the index listens on."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The index URL to give pip: ``http://127.0.0.1:PORT/simple/``."""
        return f"{self.base_url}/simple/"

    @property
    def files_dir(self) -> Path:
        """Directory holding the served distribution files."""
        return self.root / "files"

    @property
    def pages_dir(self) -> Path:
        """Directory holding the rendered static pages."""
        return self.root / "simple"

    def project_url(self, project: str) -> str:
        """URL of the project page of ``project`` (normalized)."""
        return f"{self.url}{canonicalize_name(project)}/"

    # -- content ---------------------------------------------------------------------------

    def add(
        self,
        path: Path,
        *,
        upload_time: datetime | None,
        yanked: bool | str = False,
        requires_python: str | None = None,
        serve_metadata: bool = True,
        advertise_metadata: bool = False,
        metadata: bytes | None = None,
        replace: bool = False,
        listed_after_fetches: int = 0,
        only_for_agent: str | None = None,
    ) -> IndexedFile:
        """Publish the wheel or sdist at ``path`` and re-render the pages.

        ``upload_time`` (aware datetime) goes into the JSON page; ``None`` omits it.
        ``yanked``: ``False``, ``True`` or a reason string (PEP 592).
        ``requires_python`` is what the *index* announces (it is not read from the file).
        For wheels, ``serve_metadata`` writes ``<file>.metadata`` (PEP 658) holding the
        wheel's METADATA, or ``metadata`` when given (an index that lies);
        ``advertise_metadata`` announces it (``core-metadata`` with its sha256 in JSON,
        ``data-core-metadata`` in HTML; the legacy ``dist-info-metadata`` spellings too, as
        PyPI does). Advertising without serving gives a 404 on the metadata URL.
        Re-adding a filename raises unless ``replace`` is true.
        A hostile index: ``listed_after_fetches=N`` lists the file on its project page only
        from the page's (N+1)-th fetch on (the page changes after the client checked it);
        ``only_for_agent="pip/"`` lists it only to clients whose ``User-Agent`` contains that.
        """
        source = Path(path)
        filename = source.name
        project, version = _project_and_version(filename)
        if upload_time is not None:
            format_upload_time(upload_time)  # validates awareness
        is_wheel = filename.endswith(".whl")
        if not is_wheel and (advertise_metadata or metadata is not None):
            raise ValueError("core metadata files are only supported for wheels")
        with self._lock:
            if filename in self._state.files and not replace:
                raise ValueError(f"{filename} is already on the index (pass replace=True)")
            target = self.files_dir / filename
            data = source.read_bytes()
            if source.resolve() != target.resolve():
                _atomic_write(target, data)
            metadata_path = self.files_dir / f"{filename}.metadata"
            metadata_sha256: str | None = None
            if is_wheel:
                meta_bytes = metadata if metadata is not None else read_wheel_metadata(target)
                metadata_sha256 = _sha256(meta_bytes)
                if serve_metadata:
                    _atomic_write(metadata_path, meta_bytes)
                elif metadata_path.exists():
                    metadata_path.unlink()
            indexed = IndexedFile(
                project=project,
                version=version,
                filename=filename,
                path=target,
                url=f"{self.base_url}/files/{filename}",
                sha256=_sha256(data),
                size=len(data),
                upload_time=upload_time,
                yanked=yanked,
                requires_python=requires_python,
                metadata_sha256=metadata_sha256,
                serve_metadata=serve_metadata and is_wheel,
                advertise_metadata=advertise_metadata,
                listed_after_fetches=listed_after_fetches,
                only_for_agent=only_for_agent,
            )
            self._state.files[filename] = indexed
            self._state.serial += 1
            self._render_locked()
        return indexed

    def files(self, project: str | None = None) -> list[IndexedFile]:
        """The published files (of ``project`` only, when given), sorted by filename."""
        with self._lock:
            found = list(self._state.files.values())
        if project is not None:
            wanted = canonicalize_name(project)
            found = [f for f in found if f.project == wanted]
        return sorted(found, key=lambda f: f.filename)

    def projects(self) -> list[str]:
        """Normalized names of the projects with at least one file, sorted."""
        with self._lock:
            return sorted({f.project for f in self._state.files.values()})

    def break_project(
        self,
        name: str,
        body: bytes = b"not json",
        content_type: str = JSON_CONTENT_TYPE,
        *,
        status: int = 200,
    ) -> None:
        """Serve ``body`` (with ``content_type`` and ``status``) as ``name``'s page, whatever
        the ``Accept`` header, until :meth:`repair_project`. The project need not exist."""
        with self._lock:
            self._state.broken[canonicalize_name(name)] = _Broken(body, content_type, status)

    def repair_project(self, name: str) -> None:
        """Undo :meth:`break_project`."""
        with self._lock:
            self._state.broken.pop(canonicalize_name(name), None)

    # -- request log -----------------------------------------------------------------------

    @property
    def requests(self) -> list[str]:
        """Paths requested so far, in order (a copy; e.g. ``/files/demo-1.0.tar.gz``)."""
        with self._lock:
            return [r.path for r in self._log_records]

    @property
    def request_log(self) -> list[RequestRecord]:
        """Full records of the requests answered so far (a copy)."""
        with self._lock:
            return list(self._log_records)

    def downloaded(self) -> list[str]:
        """Filenames fetched with GET under ``/files/`` (distributions and ``.metadata``)."""
        return [
            r.path.removeprefix("/files/")
            for r in self.request_log
            if r.method == "GET" and r.path.startswith("/files/") and r.status == 200
        ]

    def clear_requests(self) -> None:
        """Forget the requests logged so far."""
        with self._lock:
            self._log_records.clear()

    @property
    def errors(self) -> list[BaseException | None]:
        """Unexpected exceptions raised while answering requests (should stay empty)."""
        with self._lock:
            return list(self._errors)

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self._log_records.append(record)

    def _record_error(self, error: BaseException | None) -> None:
        with self._lock:
            self._errors.append(error)

    # -- rendering -------------------------------------------------------------------------

    def _render(self) -> None:
        with self._lock:
            self._render_locked()

    def _render_locked(self) -> None:
        by_project: dict[str, list[IndexedFile]] = {}
        for indexed in self._state.files.values():
            by_project.setdefault(indexed.project, [])
            if not indexed.conditional:  # listed per request (see _route)
                by_project[indexed.project].append(indexed)
        names = sorted(by_project)
        meta = {"api-version": API_VERSION, "_last-serial": self._state.serial}
        listing = {"meta": meta, "projects": [{"name": n} for n in names]}
        _atomic_write(self.pages_dir / "index.json", _json_bytes(listing))
        _atomic_write(self.pages_dir / "index.html", _html_listing(names))
        for name, files in by_project.items():
            files.sort(key=lambda f: f.filename)
            page = {
                "meta": meta,
                "name": name,
                "versions": _sorted_versions({f.version for f in files}),
                "files": [_json_file(f) for f in files],
            }
            _atomic_write(self.pages_dir / name / "index.json", _json_bytes(page))
            _atomic_write(self.pages_dir / name / "index.html", _html_project(name, files))

    # -- serving ---------------------------------------------------------------------------

    def _route(self, path: str, accept: str | None,
               agent: str | None = None) -> tuple[int, dict[str, str], bytes]:
        if path in ("/simple", "/"):
            return _redirect("/simple/")
        if path == "/simple/":
            return self._page(self.pages_dir, accept)
        match = re.fullmatch(r"/simple/([^/]+)(/?)", path)
        if match:
            name, slash = match.groups()
            normalized = canonicalize_name(name)
            if name != normalized or not slash:
                return _redirect(f"/simple/{normalized}/")
            with self._lock:
                broken = self._state.broken.get(normalized)
                known = any(f.project == normalized for f in self._state.files.values())
            if broken is not None:
                return broken.status, {"Content-Type": broken.content_type}, broken.body
            if not known:
                return _not_found()
            with self._lock:
                fetches = self._state.page_fetches.get(normalized, 0)
                self._state.page_fetches[normalized] = fetches + 1
                files = [f for f in self._state.files.values() if f.project == normalized]
            if any(f.conditional for f in files):
                shown = sorted((f for f in files
                                if f.listed_after_fetches <= fetches
                                and (f.only_for_agent is None
                                     or f.only_for_agent in (agent or ""))),
                               key=lambda f: f.filename)
                return self._page_of(normalized, shown, accept)
            return self._page(self.pages_dir / normalized, accept)
        match = re.fullmatch(r"/files/([^/]+)", path)
        if match and not match.group(1).startswith("."):
            target = self.files_dir / match.group(1)
            if target.is_file():
                return 200, {"Content-Type": "application/octet-stream"}, target.read_bytes()
        return _not_found()

    def _page_of(self, name: str, files: list[IndexedFile],
                 accept: str | None) -> tuple[int, dict[str, str], bytes]:
        """A project page listing ``files`` only, rendered for this request."""
        with self._lock:
            meta = {"api-version": API_VERSION, "_last-serial": self._state.serial}
        page = {"meta": meta, "name": name,
                "versions": _sorted_versions({f.version for f in files}),
                "files": [_json_file(f) for f in files]}
        with tempfile.TemporaryDirectory(prefix="page-") as tmp:
            _atomic_write(Path(tmp) / "index.json", _json_bytes(page))
            _atomic_write(Path(tmp) / "index.html", _html_project(name, files))
            return self._page(Path(tmp), accept)

    def _page(self, directory: Path, accept: str | None) -> tuple[int, dict[str, str], bytes]:
        if self.mode == "html-only":
            chosen = HTML_CONTENT_TYPE
        elif self.mode == "json-only":
            chosen = JSON_CONTENT_TYPE
        else:
            chosen = select_content_type(accept)
        if chosen == JSON_CONTENT_TYPE:
            body = (directory / "index.json").read_bytes()
            content_type = JSON_CONTENT_TYPE
        else:
            body = (directory / "index.html").read_bytes()
            content_type = (
                V1_HTML_CONTENT_TYPE
                if chosen == V1_HTML_CONTENT_TYPE
                else f"{HTML_CONTENT_TYPE}; charset=utf-8"
            )
        headers = {"Content-Type": content_type, "Cache-Control": "no-cache"}
        if self.mode == "json+html":
            headers["Vary"] = "Accept"
        return 200, headers, body


def _redirect(location: str) -> tuple[int, dict[str, str], bytes]:
    return HTTPStatus.MOVED_PERMANENTLY, {"Location": location}, b""


def _not_found() -> tuple[int, dict[str, str], bytes]:
    return HTTPStatus.NOT_FOUND, {"Content-Type": "text/plain"}, b"404 Not Found\n"


def _json_bytes(data: object) -> bytes:
    return json.dumps(data, indent=1).encode("utf-8")


def _sorted_versions(versions: set[str]) -> list[str]:
    def key(text: str) -> tuple[int, Version | str]:
        try:
            return (0, Version(text))
        except InvalidVersion:
            return (1, text)

    return sorted(versions, key=key)


def _relative_file_url(indexed: IndexedFile) -> str:
    return f"../../files/{indexed.filename}"


def _json_file(indexed: IndexedFile) -> dict[str, object]:
    entry: dict[str, object] = {
        "filename": indexed.filename,
        "url": _relative_file_url(indexed),
        "hashes": {"sha256": indexed.sha256},
        "requires-python": indexed.requires_python,
        "size": indexed.size,
        "yanked": indexed.yanked,
    }
    if indexed.upload_time is not None:
        entry["upload-time"] = format_upload_time(indexed.upload_time)
    if indexed.advertise_metadata and indexed.metadata_sha256 is not None:
        advertised: object = {"sha256": indexed.metadata_sha256}
    else:
        advertised = False
    entry["core-metadata"] = advertised
    entry["data-dist-info-metadata"] = advertised
    return entry


def _html_document(title: str, body: Iterator[str] | list[str]) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        f"    <title>{html.escape(title)}</title>",
        "  </head>",
        "  <body>",
        *body,
        "  </body>",
        "</html>",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _html_listing(names: list[str]) -> bytes:
    anchors = [f'    <a href="{html.escape(n)}/">{html.escape(n)}</a><br />' for n in names]
    return _html_document("Simple index", anchors)


def _html_project(name: str, files: list[IndexedFile]) -> bytes:
    anchors = [f"    <h1>Links for {html.escape(name)}</h1>"]
    for indexed in files:
        attrs = [f'href="{html.escape(_relative_file_url(indexed))}#sha256={indexed.sha256}"']
        if indexed.requires_python is not None:
            attrs.append(f'data-requires-python="{html.escape(indexed.requires_python)}"')
        if indexed.yanked is not False:
            reason = "" if indexed.yanked is True else str(indexed.yanked)
            attrs.append(f'data-yanked="{html.escape(reason)}"')
        if indexed.advertise_metadata and indexed.metadata_sha256 is not None:
            value = f"sha256={indexed.metadata_sha256}"
            attrs.append(f'data-core-metadata="{value}"')
            attrs.append(f'data-dist-info-metadata="{value}"')
        anchors.append(f"    <a {' '.join(attrs)}>{html.escape(indexed.filename)}</a><br />")
    return _html_document(f"Links for {name}", anchors)
