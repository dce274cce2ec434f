"""Response deadlines (``--response-deadline``): how long one response may take in all, and
the watchdog thread that cuts the connection of a response past it, however slowly the server
drips its headers or body (:class:`safeinstall.session.LightSession`)."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time

#: The default of ``--response-deadline``: the longest one response may take, from the request
#: to the last byte of its body, in seconds ...
RESPONSE_DEADLINE = 120.0
#: ... plus one second per this many bytes the response announces (Content-Length), so that a
#: large download on a slow link (at least 100 KiB/s) is not cut off.
DEADLINE_BYTES_PER_SECOND = 100 * 1024



class ResponseDeadline(Exception):  # noqa: N818 - a condition, named as the option
    """A response took longer than its deadline (``--response-deadline``); not retried."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the response took longer than its deadline of {seconds:.0f}s")
        self.seconds = seconds


def response_budget(deadline: float, length: str | None) -> float:
    """Seconds one response may take: ``deadline``, plus time for the bytes it announces."""
    extra = 0.0
    if length and length.strip().isdigit():
        extra = int(length) / DEADLINE_BYTES_PER_SECOND
    return deadline + extra


class Watchdog:
    """One daemon thread per session that cuts (``shutdown``) the socket of every request past
    its deadline, however the server drips its headers or body."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[int, tuple[float, http.client.HTTPConnection]] = {}
        self.expired: set[int] = set()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def watch(self, conn: http.client.HTTPConnection, end: float) -> None:
        with self._cond:
            if id(conn) in self.expired:
                return  # cut already: it stays cut
            self._due[id(conn)] = (end, conn)
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="safe-install-deadline",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def done(self, conn: http.client.HTTPConnection) -> bool:
        """Stop watching ``conn``; whether its deadline had passed."""
        with self._cond:
            self._due.pop(id(conn), None)
            expired = id(conn) in self.expired
            self.expired.discard(id(conn))
            return expired

    def is_expired(self, conn: http.client.HTTPConnection) -> bool:
        with self._cond:
            return id(conn) in self.expired

    def stop(self) -> None:
        """End the thread (the session is closed)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                late = [(key, conn) for key, (end, conn) in self._due.items() if end <= now]
                for key, _conn in late:
                    del self._due[key]
                    self.expired.add(key)
                if not late:
                    nxt = min((end for end, _c in self._due.values()), default=None)
                    self._cond.wait(None if nxt is None else max(0.0, nxt - now))
                    continue
            for _key, conn in late:
                cut(conn)


def cut(conn: http.client.HTTPConnection) -> None:
    """Wake whatever thread reads ``conn`` (its reads fail at once)."""
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
