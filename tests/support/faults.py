"""A fault-injecting front for a :class:`~support.index.LocalIndex`, on its own 127.0.0.1 port.

Requests are answered from the index's content (pages, files, ``.metadata``) unless a
:class:`Fault` matches the request path: the fault then shapes the answer (a status, a reset
connection, a hang, a truncated, altered, slow, huge or replaced body, a redirect). Every
fault is bounded:

* it applies to at most ``times`` matching requests, then the real content is served again;
* a hang or a slow body lasts at most :data:`MAX_STALL` seconds;
* the server stops itself after ``lifetime`` seconds even if a test never stops it.

Usage::

    with FaultServer(local_index) as faulty:
        faulty.add(Fault(r"/simple/demo/$", "status", status=503, times=2))
        run_cli(["-i", faulty.url, "demo"], ...)
        assert faulty.count(r"/simple/demo/$") == 3

``ranges=True`` serves ``Range`` requests for files with 206 (as PyPI does), so that
metadata can be read from a wheel's tail.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import unquote, urlsplit

from .index import LocalIndex

__all__ = ["Fault", "FaultKind", "FaultServer", "MAX_STALL", "Seen"]

#: Longest a ``hang`` or ``slow`` fault keeps a connection, in seconds.
MAX_STALL = 30.0

FaultKind = Literal[
    "status",  # answer `status` with `headers` and `body`
    "reset",  # reset the connection (RST) before answering
    "hang",  # wait `seconds` (<= MAX_STALL), then answer normally
    "truncate",  # announce the full Content-Length, send half the body, close
    "short",  # announce the full Content-Length, send half the body, close cleanly (FIN)
    "truncate-nolength",  # no Content-Length, send half the body, close (looks complete)
    "corrupt",  # same length, altered bytes
    "slow",  # send the body in `chunk`-byte pieces every `interval` s (<= MAX_STALL in all)
    "drip",  # the whole answer, status line and headers too, `chunk` bytes every `interval` s
    "redirect",  # `status` (302 unless given) to `location`
    "body",  # answer `status` (200 unless given) with `body` as `content_type`
    "huge",  # `size` bytes of filler as `content_type`, with or without Content-Length
    "range-body",  # answer Range requests from `body` instead of the real file
    "chunked",  # the real answer with Transfer-Encoding: chunked, in `chunk`-byte pieces
]


@dataclass
class Fault:
    path: str  # regular expression, searched in the request path
    kind: FaultKind
    times: int = 1
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = "text/plain"
    seconds: float = 0.0
    location: str = ""
    size: int = 0
    declare_length: bool = True
    chunk: int = 1024
    interval: float = 0.1
    #: also applies to ``Range`` requests (``range-body`` applies to nothing else)
    ranges: bool = False
    used: int = 0

    def __post_init__(self) -> None:
        if self.times < 1 or self.times > 1000:
            raise ValueError("a fault applies 1..1000 times")
        self._re = re.compile(self.path)

    def matches(self, path: str, headers: dict[str, str]) -> bool:
        if self.used >= self.times or not self._re.search(path):
            return False
        if self.kind == "range-body":
            return "range" in headers
        return self.ranges or "range" not in headers


@dataclass(frozen=True)
class Seen:
    """One request the fault server received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    fault: str | None  # the fault kind applied, if any
    peer: tuple[str, int] | None = None  # the client's address: one per connection


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait for a handler that is stalling on purpose
    allow_reuse_address = False

    def __init__(self, owner: FaultServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Faults break connections on purpose: errors are expected and not printed."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet."""

    def do_GET(self) -> None:  # noqa: N802
        self.server.owner._handle(self)

    def do_HEAD(self) -> None:  # noqa: N802
        self.server.owner._handle(self)


class FaultServer:
    """Serves ``index``'s content on ``http://127.0.0.1:<port>/simple/`` with faults."""

    def __init__(self, index: LocalIndex, *, lifetime: float = 180.0,
                 ranges: bool = False) -> None:
        self.index = index
        self.lifetime = lifetime
        self.ranges = ranges
        self._faults: list[Fault] = []
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FaultServer:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=f"FaultServer:{self.port}")
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._faults.clear()  # a stalled handler still running finds no more faults
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/simple/"

    # -- faults and the request log ----------------------------------------------------------

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._seen.clear()

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def count(self, path: str, *, ranges: bool = False) -> int:
        """How many requests had a path matching the regular expression ``path`` (Range
        requests only counted with ``ranges``)."""
        pattern = re.compile(path)
        return sum(1 for s in self.seen if pattern.search(s.path)
                   and (ranges or "range" not in s.headers))

    # -- serving -----------------------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        path = unquote(urlsplit(h.path).path)
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self._lock:
            fault = next((f for f in self._faults if f.matches(path, headers)), None)
            if fault is not None:
                fault.used += 1
            self._seen.append(Seen(h.command, path, headers, fault.kind if fault else None,
                                   h.client_address[:2]))
        if fault is None:
            self._serve(h, path, headers)
            return
        getattr(self, "_fault_" + fault.kind.replace("-", "_"))(h, path, headers, fault)

    def _real(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        return self.index._route(path, headers.get("accept"))

    def _serve(self, h: _Handler, path: str, headers: dict[str, str],
               answer: tuple[int, dict[str, str], bytes] | None = None) -> None:
        status, out_headers, body = answer or self._real(path, headers)
        byte_range = headers.get("range")
        if self.ranges and byte_range and status == 200 and path.startswith("/files/"):
            status, out_headers, body = _ranged(byte_range, out_headers, body)
        self._send(h, status, out_headers, body)

    @staticmethod
    def _send(h: _Handler, status: int, headers: dict[str, str], body: bytes, *,
              length: bool = True) -> None:
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        if length:
            h.send_header("Content-Length", str(len(body)))
        else:
            h.send_header("Connection", "close")
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)
        h.wfile.flush()
        if not length:
            h.close_connection = True

    def _fault_status(self, h: _Handler, path: str, headers: dict[str, str], f: Fault) -> None:
        self._send(h, f.status or 503, {"Content-Type": f.content_type, **f.headers}, f.body)

    def _fault_body(self, h: _Handler, path: str, headers: dict[str, str], f: Fault) -> None:
        self._send(h, f.status or 200, {"Content-Type": f.content_type, **f.headers}, f.body)

    def _fault_redirect(self, h: _Handler, path: str, headers: dict[str, str],
                        f: Fault) -> None:
        self._send(h, f.status or 302, {"Location": f.location, **f.headers}, b"")

    def _fault_reset(self, h: _Handler, path: str, headers: dict[str, str], f: Fault) -> None:
        _reset(h)

    def _fault_hang(self, h: _Handler, path: str, headers: dict[str, str], f: Fault) -> None:
        self._sleep(min(f.seconds, MAX_STALL))
        with contextlib.suppress(OSError):  # the client gave up long ago
            self._serve(h, path, headers)

    def _half(self, h: _Handler, path: str, headers: dict[str, str]) -> None:
        """The real answer with its full Content-Length, but only the first half of its body."""
        status, out_headers, body = self._real(path, headers)
        h.send_response(status)
        for key, value in out_headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[: len(body) // 2])
        h.wfile.flush()

    def _fault_truncate(self, h: _Handler, path: str, headers: dict[str, str],
                        f: Fault) -> None:
        self._half(h, path, headers)
        _reset(h)

    def _fault_short(self, h: _Handler, path: str, headers: dict[str, str], f: Fault) -> None:
        self._half(h, path, headers)
        h.close_connection = True

    def _fault_truncate_nolength(self, h: _Handler, path: str, headers: dict[str, str],
                                 f: Fault) -> None:
        status, out_headers, body = self._real(path, headers)
        self._send(h, status, out_headers, body[: len(body) // 2], length=False)

    def _fault_corrupt(self, h: _Handler, path: str, headers: dict[str, str], f: Fault) -> None:
        status, out_headers, body = self._real(path, headers)
        middle = len(body) // 2
        altered = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:] if body \
            else b"x"
        self._send(h, status, out_headers, altered)

    def _fault_slow(self, h: _Handler, path: str, headers: dict[str, str], f: Fault) -> None:
        status, out_headers, body = self._real(path, headers)
        h.send_response(status)
        for key, value in out_headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        deadline = time.monotonic() + min(f.seconds or MAX_STALL, MAX_STALL)
        sent = 0
        try:
            while sent < len(body):
                if time.monotonic() >= deadline:
                    h.wfile.write(body[sent:])
                    break
                h.wfile.write(body[sent: sent + f.chunk])
                h.wfile.flush()
                sent += f.chunk
                if not self._sleep(f.interval):
                    break
        except OSError:
            pass  # the client went away (that is what the test wanted)

    def _fault_drip(self, h: _Handler, path: str, headers: dict[str, str], f: Fault) -> None:
        """A server that never stalls long enough for a read timeout, and never finishes:
        every byte of the answer, headers included, comes `chunk` at a time (for at most
        `seconds`, <= MAX_STALL; then the connection is closed)."""
        status, out_headers, body = self._real(path, headers)
        head = [f"HTTP/1.1 {status} OK"] + [f"{k}: {v}" for k, v in out_headers.items()]
        head.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        deadline = time.monotonic() + min(f.seconds or MAX_STALL, MAX_STALL)
        sent = 0
        try:
            while sent < len(data) and time.monotonic() < deadline:
                h.wfile.write(data[sent: sent + f.chunk])
                h.wfile.flush()
                sent += f.chunk
                if not self._sleep(f.interval):
                    break
        except OSError:
            pass  # the client gave up: that is what the test wanted
        h.close_connection = True

    def _fault_chunked(self, h: _Handler, path: str, headers: dict[str, str],
                       f: Fault) -> None:
        status, out_headers, body = self._real(path, headers)
        h.send_response(status)
        for key, value in out_headers.items():
            h.send_header(key, value)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for start in range(0, len(body), f.chunk):
            piece = body[start:start + f.chunk]
            h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()

    def _fault_huge(self, h: _Handler, path: str, headers: dict[str, str], f: Fault) -> None:
        h.send_response(f.status or 200)
        h.send_header("Content-Type", f.content_type)
        if f.declare_length:
            h.send_header("Content-Length", str(f.size))
        else:
            h.send_header("Connection", "close")
        h.end_headers()
        block = b"x" * 65536
        sent = 0
        try:
            while sent < f.size and not self._stopped:
                piece = block[: min(len(block), f.size - sent)]
                h.wfile.write(piece)
                sent += len(piece)
        except OSError:
            pass  # the client stopped reading: the limit worked
        h.close_connection = True

    def _fault_range_body(self, h: _Handler, path: str, headers: dict[str, str],
                          f: Fault) -> None:
        status, out_headers, body = _ranged(headers["range"],
                                            {"Content-Type": "application/octet-stream"},
                                            f.body)
        self._send(h, status, out_headers, body)

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops; False when it stopped."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._stopped:
                return False
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))
        return True


def _reset(h: _Handler) -> None:
    """Close the connection with a TCP reset (SO_LINGER 0)."""
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
    except OSError:
        pass
    h.close_connection = True


def _ranged(spec: str, headers: dict[str, str], body: bytes
            ) -> tuple[int, dict[str, str], bytes]:
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", spec.strip())
    size = len(body)
    if not match or (not match.group(1) and not match.group(2)):
        return 416, {"Content-Range": f"bytes */{size}"}, b""
    if not match.group(1):
        start, end = max(0, size - int(match.group(2))), size - 1
    else:
        start = int(match.group(1))
        end = min(size - 1, int(match.group(2))) if match.group(2) else size - 1
    if start >= size or start > end:
        return 416, {"Content-Range": f"bytes */{size}"}, b""
    out = {**headers, "Content-Range": f"bytes {start}-{end}/{size}"}
    return 206, out, body[start: end + 1]
