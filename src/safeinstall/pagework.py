"""Index pages read in a second process (issue 21).

A large lock's pages are 180 MB listing 400,000 file entries, of which the run looks at a few
thousand. Reading them (thousands of TLS records, each a wait for the GIL), decoding them,
checking their URLs and guessing each entry's version is most of a warm run's work, and under
one GIL it holds up the resolver. So the page of a project whose versions of interest are
known (:meth:`safeinstall.finder.Finder.expect`) is fetched and read by a child process
running this module. It answers with a :class:`PageRead`: what the fetch gave (final URL,
content type, redirects, the page's sha256 and length) and a :class:`PageSummary`, the
page's entries grouped by the version in their file names, with only the kept versions'
entries. The listing built from it is the one the run would have built itself
(:meth:`safeinstall.finder.Finder._collect`), entry for entry.

The child fetches with the run's own HTTP code (:class:`~safeinstall.http.HttpClient` over
a :class:`~safeinstall.session.LightSession` with the same TLS settings, trusted hosts,
timeout and deadline), without retries, and only what the light session carries. Anything
else is the run's: a page the child does not fetch with HTTP 200 (or 404/410, no page) is
fetched again by the run, with its retries, credentials and errors; a page it does not read
the way the run's own fast path does (:func:`safeinstall.pages.read_json_fast`: HTML, a URL
that needs joining, a local-file link, another api-version, anything malformed) comes back
whole and the run reads it itself. A child that cannot start, dies, answers something it
should not or takes too long is set aside for the rest of the run, and the run reads every
page itself: slower, never different.
"""

from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import sys
import threading
from array import array
from collections.abc import Sequence
from concurrent.futures import Future
from typing import IO, Any

import msgspec

#: seconds the run waits for one page from the child (its fetch has a deadline of its own)
#: before it reads the page itself and sets the child aside
ANSWER_TIMEOUT = 600.0
#: pages each child fetches at the same time ...
CHILD_FETCHES = 8
#: ... and how many children
CHILDREN = 2


class Kept(msgspec.Struct, array_like=True, frozen=True):
    """An entry kept in memory: its place among the project's entries of the page, its file
    name, the version text in that name (None: only the full parse can tell) and its JSON
    object's bytes, as in the page."""

    position: int
    filename: str
    version: str | None
    entry: bytes


class PageSummary(msgspec.Struct, array_like=True, frozen=True):
    """What the child makes of one project page."""

    #: entries of the project (in page order; the others are not the project's files)
    count: int
    #: version text -> positions of its entries (``array("I")`` bytes), for each version set
    #: aside, in the order the versions first appear
    groups: list[tuple[str | None, bytes]]
    #: the entries of the versions kept, in page order
    kept: list[Kept]
    #: names of other files the page lists that end like a distribution
    skipped: list[str]
    #: the project's file names that no distribution file can have
    unsafe: list[str]


class PageRead(msgspec.Struct, array_like=True, frozen=True):
    """The child's fetch of one page (HTTP 200, or 404/410: no page) and what it made of it."""

    status: int
    final_url: str
    content_type: str
    #: every Location followed, in order
    redirects: list[str]
    #: the sha256 and length of the page's bytes
    sha256: bytes
    length: int
    #: None: the page is the run's to read (``content``)
    summary: PageSummary | None
    #: the page, when there is no summary
    content: bytes | None


class Settings(msgspec.Struct, frozen=True):
    """How the child fetches: as the run's light session (see
    :func:`safeinstall.wiring.open_session`)."""

    #: the environment's ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` (the default TLS context)
    tls_environ: dict[str, str]
    cert: str | None
    client_cert: str | None
    trusted_hosts: list[str]
    timeout: float | None
    deadline: float | None


class _Request(msgspec.Struct, array_like=True):
    id: int
    name: str
    url: str
    keep: list[str]


class _Answer(msgspec.Struct, array_like=True):
    id: int
    read: PageRead | None


_LENGTH = struct.Struct("<I")  # the length of the message that follows
_READY = 0  # the child's first answer: it is ready (requests count from 1)


def summarize_page(name: str, url: str, final_url: str, content: bytes,
                   keep: Sequence[str]) -> PageSummary | None:
    """The summary of the PEP 691 page of project ``name`` (canonical), keeping the entries
    of the versions that one of the ``keep`` specifiers admits (pre-releases included), or
    None when the page is not one :func:`~safeinstall.pages.read_json_fast` takes, links to
    a local file from a remote page, or anything in it fails: then the run reads it itself.
    """
    from packaging.specifiers import SpecifierSet
    from packaging.utils import NormalizedName
    from packaging.version import Version

    from safeinstall.errors import SafeInstallError
    from safeinstall.indexdata import _DIST_ENDINGS, NOT_OURS, guess_versions, unsafe_filenames
    from safeinstall.pages import local_file_link, read_json_fast

    try:
        fast = read_json_fast(content, url, final_url)
    except SafeInstallError:
        return None
    if fast is None:
        return None
    urls, entries = fast
    if local_file_link(urls, final_url) is not None:
        return None  # (refused by the run's own read, with its message)
    specifiers = [SpecifierSet(text) for text in keep]
    filenames, versions = guess_versions(NormalizedName(name), urls)
    groups: dict[int, tuple[Version | None, array[int], bool]] = {}
    kept: list[Kept] = []
    skipped: list[str] = []
    ours: list[str] = []
    for entry, filename, version in zip(entries, filenames, versions, strict=True):
        if version is NOT_OURS:
            if filename.lower().endswith(_DIST_ENDINGS):
                skipped.append(filename)
            continue
        assert not isinstance(version, bool)
        slot = groups.get(id(version))
        if slot is None:
            keeps = version is None or any(sp.contains(version, prereleases=True)
                                           for sp in specifiers)
            groups[id(version)] = slot = (version, array("I"), keeps)
        position = len(ours)
        slot[1].append(position)
        ours.append(filename)
        if slot[2]:
            kept.append(Kept(position, filename, None if version is None else str(version),
                             bytes(entry)))
    return PageSummary(
        count=len(ours),
        groups=[(str(v), positions.tobytes())
                for v, positions, keeps in groups.values() if not keeps and v is not None],
        kept=kept, skipped=skipped, unsafe=unsafe_filenames(ours))


class PageWorker:
    """The run's side of the child: asks it for pages and waits for them (thread-safe)."""

    def __init__(self, settings: Settings, command: Sequence[str] | None = None) -> None:
        self._settings = settings
        self._command = list(command or [sys.executable, "-I", "-m", "safeinstall.pagework"])
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending: dict[int, Future[PageRead | None]] = {}
        self._next = 0
        self._broken = False
        #: set when the child says it is ready (until then the run reads its pages itself:
        #: a small run never waits for a child to start)
        self._ready = False
        #: pages the child fetched and read for the run
        self.pages_read = 0
        self._answers = msgspec.msgpack.Decoder(_Answer)
        self._encoder = msgspec.msgpack.Encoder()

    def start(self) -> None:
        """Start the child now (else at the first page), so that it is ready when the first
        page comes."""
        with self._lock:
            if not self._broken:
                self._started()

    @property
    def broken(self) -> bool:
        return self._broken

    @property
    def ready(self) -> bool:
        """The child has started and is not set aside."""
        return self._ready and not self._broken

    def in_hand(self) -> int:
        """Pages asked for and not answered yet."""
        return len(self._pending)

    def read(self, name: str, url: str, keep: Sequence[str]) -> PageRead | None:
        """The page at ``url`` of project ``name``, fetched and summarized in the child
        (:func:`summarize_page`); None when the child did not fetch it (the run fetches it
        itself), or is set aside (then for every later page too)."""
        fut: Future[PageRead | None] = Future()
        with self._lock:
            if self._broken or not self._started() or not self._ready:
                return None
            self._next += 1
            ident = self._next
            self._pending[ident] = fut
        try:
            self._send(self._encoder.encode(_Request(ident, name, url, list(keep))))
            read = fut.result(timeout=ANSWER_TIMEOUT)
            if read is not None:
                with self._lock:
                    self.pages_read += 1
            return read
        except Exception:  # noqa: BLE001 - a child that fails is set aside: the run reads it
            self._set_aside()
            return None
        finally:
            with self._lock:
                self._pending.pop(ident, None)

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            self._broken = True
        if proc is not None:
            with contextlib.suppress(OSError, ValueError):
                assert proc.stdin is not None
                proc.stdin.close()
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self._fail_pending()

    # -- machinery -----------------------------------------------------------------------------

    def _send(self, message: bytes) -> None:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        with self._write_lock:
            _write_all(proc.stdin.fileno(), _LENGTH.pack(len(message)) + message)

    def _started(self) -> bool:
        """Start the child on first use (under the lock); False if it cannot start."""
        if self._proc is not None:
            return True
        try:
            self._proc = subprocess.Popen(self._command, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            assert self._proc.stdin is not None
            settings = self._encoder.encode(self._settings)
            _write_all(self._proc.stdin.fileno(), _LENGTH.pack(len(settings)) + settings)
        except (OSError, ValueError):
            self._broken = True
            if self._proc is not None:
                with contextlib.suppress(OSError):
                    self._proc.kill()
            return False
        threading.Thread(target=self._read_answers, args=(self._proc,), daemon=True,
                         name="safe-install-pages").start()
        return True

    def _read_answers(self, proc: subprocess.Popen[bytes]) -> None:
        out = proc.stdout
        assert out is not None
        try:
            while True:
                body = _read_message(out)
                if body is None:
                    break
                answer = self._answers.decode(body)
                if answer.id == _READY:
                    self._ready = True
                    continue
                with self._lock:
                    fut = self._pending.get(answer.id)
                if fut is not None and not fut.done():
                    fut.set_result(answer.read)
        except (OSError, ValueError, msgspec.DecodeError):
            pass
        self._set_aside()

    def _set_aside(self) -> None:
        with self._lock:
            self._broken = True
            proc = self._proc
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.kill()
        self._fail_pending()

    def _fail_pending(self) -> None:
        with self._lock:
            pending = list(self._pending.values())
        for fut in pending:
            if not fut.done():
                with contextlib.suppress(Exception):
                    fut.set_result(None)


class PagePool:
    """Several :class:`PageWorker` children: each page goes to the one with the fewest pages
    in hand (one child is busy with a large lock's pages on one core)."""

    def __init__(self, settings: Settings, children: int = CHILDREN,
                 command: Sequence[str] | None = None) -> None:
        self._workers = [PageWorker(settings, command) for _ in range(max(1, children))]

    def start(self) -> None:
        for worker in self._workers:
            worker.start()

    @property
    def broken(self) -> bool:
        return all(worker.broken for worker in self._workers)

    @property
    def pages_read(self) -> int:
        return sum(worker.pages_read for worker in self._workers)

    @property
    def workers(self) -> tuple[PageWorker, ...]:
        return tuple(self._workers)

    def read(self, name: str, url: str, keep: Sequence[str]) -> PageRead | None:
        """:meth:`PageWorker.read` by the least busy child that is not set aside."""
        ready = [worker for worker in self._workers if worker.ready]
        if not ready:
            return None
        return min(ready, key=PageWorker.in_hand).read(name, url, keep)

    def close(self) -> None:
        for worker in self._workers:
            worker.close()


def _write_all(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd`` (a write to a pipe can take only part of it, when a signal
    comes)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    """``size`` bytes from ``stream``, or None at its end."""
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_message(stream: IO[bytes]) -> bytes | None:
    head = _read_exactly(stream, _LENGTH.size)
    return None if head is None else _read_exactly(stream, _LENGTH.unpack(head)[0])


# -- the child ---------------------------------------------------------------------------------


def _fetcher(settings: Settings) -> Any:
    """The child's HTTP client: the run's light session, with its settings, no retries, and
    no full session (a page only that one can fetch is the run's)."""
    from safeinstall.http import HttpClient
    from safeinstall.session import LightSession, Session
    from safeinstall.tls import context_for, default_context

    default = None if settings.cert else default_context(settings.tls_environ)
    context = context_for(settings.cert, settings.client_cert, default)
    light = LightSession(context, timeout=settings.timeout,
                         trusted_hosts=tuple(settings.trusted_hosts), deadline=settings.deadline)

    def no_full() -> Any:
        raise RuntimeError("not a page for the light session")

    return HttpClient(Session(no_full, light), retries=0,
                      trusted_hosts=tuple(settings.trusted_hosts), deadline=settings.deadline)


def read_page(http: Any, name: str, url: str, keep: Sequence[str]) -> PageRead | None:
    """The child's fetch of one page (as :meth:`safeinstall.finder.Finder._fetch`) and its
    summary; None when the fetch fails or gives another status (the run's to fetch)."""
    import hashlib

    from safeinstall.pages import ACCEPT, JSON_TYPE, MAX_PAGE_BYTES

    try:
        resp = http.get(url, headers={"Accept": ACCEPT}, max_bytes=MAX_PAGE_BYTES,
                        what="index page")
    except Exception:  # noqa: BLE001 - the run fetches it again, and tells what is wrong
        return None
    if resp.status_code in (404, 410):
        return PageRead(resp.status_code, resp.url, "", list(resp.redirects),
                        hashlib.sha256(b"").digest(), 0, None, b"")
    if resp.status_code != 200:
        return None
    content: bytes = resp.content
    content_type = resp.headers.get("Content-Type", "")
    summary = None
    if content_type.split(";")[0].strip().lower() == JSON_TYPE:
        try:
            summary = summarize_page(name, url, resp.url, content, keep)
        except Exception:  # noqa: BLE001 - "not mine": the run reads the page itself
            summary = None
    return PageRead(200, resp.url, content_type, list(resp.redirects),
                    hashlib.sha256(content).digest(), len(content), summary,
                    None if summary is not None else content)


def main() -> int:
    """The child: fetch and summarize each requested page, answer on stdout, until stdin
    ends."""
    from concurrent.futures import ThreadPoolExecutor

    source = sys.stdin.buffer
    sink = sys.stdout.buffer
    raw = _read_message(source)
    if raw is None:
        return 0
    http = _fetcher(msgspec.msgpack.decode(raw, type=Settings))
    import safeinstall.indexdata  # noqa: F401 - (what read_page needs, before it is ready)

    requests = msgspec.msgpack.Decoder(_Request)
    encoder = msgspec.msgpack.Encoder()
    lock = threading.Lock()
    ready = encoder.encode(_Answer(_READY, None))
    sink.write(_LENGTH.pack(len(ready)) + ready)
    sink.flush()

    def answer(request: _Request) -> None:
        try:
            read = read_page(http, request.name, request.url, request.keep)
            body = encoder.encode(_Answer(request.id, read))
        except Exception:  # noqa: BLE001 - every request is answered: this one is the run's
            body = encoder.encode(_Answer(request.id, None))
        with lock:
            sink.write(_LENGTH.pack(len(body)) + body)
            sink.flush()

    pool = ThreadPoolExecutor(CHILD_FETCHES)
    while True:
        raw = _read_message(source)
        if raw is None:
            return 0  # (the run closed its end: what is in flight is not waited for)
        pool.submit(answer, requests.decode(raw))


if __name__ == "__main__":
    # (an interrupt, a broken pipe, the run gone: the child just ends, quietly)
    try:
        main()
    finally:
        os._exit(0)
