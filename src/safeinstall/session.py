"""The HTTP sessions under :class:`safeinstall.http.HttpClient`.

Almost every request of a run is a plain GET of an index page, a metadata file or an artifact
from an https index (or a loopback one). Those go through :class:`LightSession`: HTTP/1.1 over
the standard library's ``http.client``, with kept-alive connections. It reads a body in large
blocks, which costs about a third of the CPU of httpx2's event-per-TLS-record stack, and it
does not import httpx2 (tens of milliseconds of start-up).

Everything else goes to the full session, unearth's ``PyPIClient`` (an ``httpx2.Client``, with
pip's way of finding credentials), built on first use:

* every request, when a proxy is configured (``--proxy`` or the environment's ``*_proxy``, as
  httpx2 reads them) or a netrc file exists;
* every request, when an index, find-links or ``--times-from`` URL carries credentials;
* a request to a ``--trusted-host`` over https (not verified, as in pip), to a URL that is not
  http(s), carries credentials, or has characters that would need quoting;
* a request the light session answered with 401 or 407 is asked again through the full session,
  which finds credentials as pip does (URL, index URL, netrc, then keyring); later requests to
  that host go to the full session directly.

Both sessions verify TLS with the same context (:mod:`safeinstall.tls`). Retries, redirects,
size limits and error messages are :class:`~safeinstall.http.HttpClient`'s, the same for both.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import platform
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from safeinstall import __version__
from safeinstall.deadlines import (
    RESPONSE_DEADLINE,
    ResponseDeadline,
    Watchdog,
    cut,
    response_budget,
)

USER_AGENT = f"safe-install/{__version__}"
#: What the light session can decode; it asks for nothing else.
ACCEPT_ENCODING = "gzip, deflate"
#: Statuses the light session hands to the full session: it has no credentials to offer.
AUTH_STATUSES = frozenset({401, 407})
#: A small body of a response nobody reads (a 404, say) is drained to keep its connection.
DRAIN_LIMIT = 64 * 1024
#: Idle connections kept per host.
MAX_IDLE = 10


class RequestAborted(Exception):  # noqa: N818
    """The run was interrupted: requests in flight are cut, and no new one starts."""


def _plain(url: str) -> bool:
    """ASCII with no control characters or spaces: sent as is, exactly as httpx2 would."""
    return url.isascii() and url.isprintable() and " " not in url


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


class LightResponse:
    """The part of an ``httpx2.Response`` that :class:`~safeinstall.http.HttpClient` uses."""

    def __init__(self, raw: http.client.HTTPResponse,
                 check: Callable[[], None] = lambda: None) -> None:
        self._raw = raw
        self._check = check  # raises if the response was cut (deadline, interrupt)
        self.status_code = raw.status
        self.headers = raw.headers  # case-insensitive get(), like httpx2's Headers

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The body, decoded (gzip, deflate); a body cut short raises ``IncompleteRead``,
        one cut by its deadline :class:`ResponseDeadline`."""
        size = chunk_size or 256 * 1024
        decoders = self._decoders()
        while True:
            try:
                block = self._raw.read(size)
            except (OSError, http.client.HTTPException):
                self._check()
                raise
            if not block:
                self._check()
                break
            for part in self._decode(decoders, block, size):
                if part:
                    yield part
        missing = self._raw.length  # bytes a Content-Length promised and never came
        if missing:
            raise http.client.IncompleteRead(b"", missing)
        for part in self._flush(decoders):
            if part:
                yield part

    def _decoders(self) -> list[Any]:
        # as httpx2: codings listed in the order applied, undone in reverse; unknown ones are
        # passed through (identity)
        value = self.headers.get("Content-Encoding", "") or ""
        codings = [c.strip().lower() for c in value.split(",") if c.strip()]
        out: list[Any] = []
        for coding in reversed(codings):
            if coding == "gzip":
                out.append(zlib.decompressobj(zlib.MAX_WBITS | 16))
            elif coding == "deflate":
                out.append(_Deflate())
        return out

    @staticmethod
    def _decode(decoders: Sequence[Any], block: bytes, size: int) -> Iterator[bytes]:
        """``block`` through the decoders, at most ``size`` bytes of output at a time: a small
        compressed block is never expanded in memory all at once."""
        if not decoders:
            yield block
            return
        dec, rest = decoders[0], decoders[1:]
        out = dec.decompress(block, size)
        while True:
            if out:
                yield from LightResponse._decode(rest, out, size)
            tail = dec.unconsumed_tail
            if not tail:
                return
            out = dec.decompress(tail, size)

    @staticmethod
    def _flush(decoders: Sequence[Any]) -> Iterator[bytes]:
        data = b""
        for dec in decoders:
            data = (dec.decompress(data) if data else b"") + dec.flush()
        yield data


class _Deflate:
    """HTTP "deflate": zlib-wrapped by the standard, raw deflate by some servers (as httpx2)."""

    def __init__(self) -> None:
        self._first = True
        self._dec = zlib.decompressobj()

    @property
    def unconsumed_tail(self) -> bytes:
        return self._dec.unconsumed_tail

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        if self._first:
            self._first = False
            try:
                return self._dec.decompress(data, max_length)
            except zlib.error:
                self._dec = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._dec.decompress(data, max_length)

    def flush(self) -> bytes:
        return self._dec.flush()


class LightSession:
    """Plain GETs over ``http.client``; thread-safe (a connection serves one request at a
    time and goes back to a per-host pool once its response is read)."""

    def __init__(self, context: ssl.SSLContext, *, timeout: float | None = None,
                 trusted_hosts: Sequence[str] = (),
                 deadline: float | None = RESPONSE_DEADLINE) -> None:
        from safeinstall.process import abort_on_interrupt

        self._context = context
        self._timeout = timeout
        self._deadline = deadline
        self._trusted = frozenset(trusted_hosts)
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._active: set[http.client.HTTPConnection] = set()
        self._watchdog = Watchdog()
        self._lock = threading.Lock()
        self._closed = False
        self._aborted = False
        self._dns: dict[tuple[str, int], list[Any]] = {}
        self._dns_locks: dict[tuple[str, int], threading.Lock] = {}
        abort_on_interrupt(self)  # Ctrl-C or SIGTERM cuts every request in flight

    def handles(self, url: str) -> bool:
        """Whether this request is the light session's (see the module's docstring)."""
        if not _plain(url):
            return False
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = parts.port
        except ValueError:
            return False
        if not host or parts.username is not None or parts.password is not None:
            return False
        netloc = parts.netloc
        trusted = host in self._trusted or netloc in self._trusted or \
            (port is not None and f"{host}:{port}" in self._trusted)
        if parts.scheme == "https":
            return not trusted  # pip does not verify a trusted host's certificate
        return parts.scheme == "http" and (trusted or _is_loopback(host))

    @contextlib.contextmanager
    def stream(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
               follow_redirects: bool = False) -> Iterator[LightResponse]:
        """One request; redirects are never followed here (HttpClient follows them)."""
        parts = urlsplit(url)
        scheme = parts.scheme
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sent = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": ACCEPT_ENCODING}
        for name, value in (headers or {}).items():
            for old in [k for k in sent if k.lower() == name.lower()]:
                del sent[old]
            sent[name] = value
        start = time.monotonic()
        conn, raw = self._send(key, method, target, sent, start)
        keep = False

        def check() -> None:
            self._check(conn)

        try:
            if self._deadline is not None:  # the announced body gets time of its own
                budget = response_budget(self._deadline, raw.headers.get("Content-Length"))
                self._watchdog.watch(conn, start + budget)
            yield LightResponse(raw, check)
            keep = self._reusable(raw)
        finally:
            with self._lock:
                self._active.discard(conn)
            if self._watchdog.done(conn):
                keep = False
            if keep:
                self._checkin(key, conn)
            else:
                conn.close()

    def _check(self, conn: http.client.HTTPConnection) -> None:
        """Raise what cut ``conn``, if something did."""
        if self._aborted:
            raise RequestAborted("interrupted")
        if self._deadline is not None and self._watchdog.is_expired(conn):
            raise ResponseDeadline(self._deadline)

    def abort(self) -> None:
        """Cut every request in flight and refuse new ones (the run was interrupted)."""
        with self._lock:
            self._aborted = True
            active = list(self._active)
        for conn in active:
            cut(conn)

    def close(self) -> None:
        from safeinstall.process import forget_on_interrupt

        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
            active = list(self._active)
        for conn in active:  # a background fetch still reading: it fails now, not later
            cut(conn)
        for conns in idle.values():
            for conn in conns:
                conn.close()
        self._watchdog.stop()
        forget_on_interrupt(self)

    # -- connections -------------------------------------------------------------------------

    def _send(self, key: tuple[str, str, int], method: str, target: str,
              headers: Mapping[str, str], start: float
              ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self._checkout(key)
        reused = conn is not None
        while True:
            if conn is None:
                conn = self._connect(key)
            with self._lock:
                if self._aborted:
                    conn.close()
                    raise RequestAborted("interrupted")
                self._active.add(conn)
            if self._deadline is not None:  # headers dripped byte by byte are cut too
                self._watchdog.watch(conn, start + self._deadline)
            try:
                conn.request(method, target, headers=dict(headers))
                return conn, conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    ConnectionAbortedError):
                cut = self._release(conn)
                if self._aborted:
                    raise RequestAborted("interrupted") from None
                if cut:
                    raise ResponseDeadline(self._deadline or 0.0) from None
                if not reused:
                    raise
                # a kept-alive connection the server had closed meanwhile: once more, anew
                reused = False
                conn = None
            except (OSError, http.client.HTTPException):
                cut = self._release(conn)
                if self._aborted:
                    raise RequestAborted("interrupted") from None
                if cut:
                    raise ResponseDeadline(self._deadline or 0.0) from None
                raise
            except BaseException:
                self._release(conn)
                raise

    def _release(self, conn: http.client.HTTPConnection) -> bool:
        """Close a connection whose request failed; whether its deadline had cut it."""
        with self._lock:
            self._active.discard(conn)
        conn.close()
        return self._watchdog.done(conn)

    def _connect(self, key: tuple[str, str, int]) -> http.client.HTTPConnection:
        scheme, host, port = key
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=self._timeout,
                                               context=self._context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self._timeout)
        # the socket comes from _open_socket (host name resolved once per run), TLS and SNI
        # stay http.client's
        conn._create_connection = self._open_socket  # type: ignore[attr-defined]
        return conn

    def _addresses(self, host: str, port: int) -> list[Any]:
        """The host's addresses (``getaddrinfo`` entries), looked up once per run: the
        connections opened at the start of a run would otherwise each ask the resolver at the
        same moment (and one lost answer costs the resolver's timeout, seconds)."""
        with self._lock:
            lock = self._dns_locks.setdefault((host, port), threading.Lock())
        with lock:
            found = self._dns.get((host, port))
            if found is None:
                found = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
                self._dns[(host, port)] = found
        return found

    def _open_socket(self, address: tuple[str, int], timeout: Any = None,
                     source_address: Any = None) -> socket.socket:
        """``socket.create_connection`` over the looked-up addresses."""
        host, port = address
        last: OSError | None = None
        for family, kind, proto, _name, sockaddr in self._addresses(host, port):
            sock = socket.socket(family, kind, proto)
            try:
                if timeout is not None:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:  # the next address, as socket.create_connection does
                sock.close()
                last = exc
        raise last or OSError(f"no address found for {host!r}")

    def _checkout(self, key: tuple[str, str, int]) -> http.client.HTTPConnection | None:
        with self._lock:
            conns = self._idle.get(key)
            return conns.pop() if conns else None

    def _checkin(self, key: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            conns = self._idle.setdefault(key, [])
            if not self._closed and len(conns) < MAX_IDLE:
                conns.append(conn)
                return
        conn.close()

    @staticmethod
    def _reusable(raw: http.client.HTTPResponse) -> bool:
        if raw.will_close:
            return False
        if not raw.isclosed():  # the body was not read (an error status, say)
            if raw.length is None or raw.length > DRAIN_LIMIT:
                return False
            try:
                raw.read()
            except (OSError, http.client.HTTPException):
                return False
        return raw.isclosed()


class Session:
    """What :class:`~safeinstall.http.HttpClient` calls ``session``: each request goes to the
    light session when it can carry it, else to the full one (``full``: builds it, once)."""

    def __init__(self, full: Callable[[], Any], light: LightSession | None = None) -> None:
        self._make_full = full
        self._full: Any = None
        self._light = light
        self._lock = threading.Lock()
        self._needs_auth: set[str] = set()

    def full(self) -> Any:
        with self._lock:
            if self._full is None:
                self._full = self._make_full()
            return self._full

    @contextlib.contextmanager
    def stream(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
               follow_redirects: bool = False) -> Iterator[Any]:
        if self._light is not None and self._light.handles(url):
            netloc = urlsplit(url).netloc
            if netloc not in self._needs_auth:
                with self._light.stream(method, url, headers=headers) as resp:
                    if resp.status_code not in AUTH_STATUSES:
                        yield resp
                        return
                with self._lock:  # that host's later requests go to the full session first
                    self._needs_auth.add(netloc)
        with self.full().stream(method, url, headers=dict(headers or {}),
                                follow_redirects=follow_redirects) as resp:
            yield resp

    def close(self) -> None:
        if self._light is not None:
            self._light.close()
        with self._lock:
            full, self._full = self._full, None
        if full is not None:
            full.close()


def light_allowed(*, proxy: str | None, urls: Sequence[str],
                  environ: Mapping[str, str] | None = None) -> str | None:
    """Why no request of this run may use the light session, or None when requests may.
    ``urls``: the configured index, find-links and ``--times-from`` locations."""
    env = os.environ if environ is None else environ
    if proxy:
        return "a proxy is configured (--proxy)"
    if any(k.lower().endswith("_proxy") and k.lower() != "no_proxy" and v
           for k, v in env.items()):
        return "a proxy is configured in the environment"
    if environ is None and platform.system() in ("Windows", "Darwin"):  # pragma: no cover
        from urllib.request import getproxies  # the system's settings, as httpx2 reads them

        if any(k != "no" for k in getproxies()):
            return "a proxy is configured in the system's settings"
    if env.get("NETRC") or os.path.exists(os.path.join(os.path.expanduser("~"), ".netrc")):
        return "a netrc file may hold credentials"
    for url in urls:
        with contextlib.suppress(ValueError):
            parts = urlsplit(url)
            if parts.username is not None or parts.password is not None:
                return "an index URL carries credentials"
    return None


__all__ = ["Session", "LightSession", "LightResponse", "light_allowed", "USER_AGENT"]
