"""Every HTTP request safe-install makes goes through :class:`HttpClient`.

One place decides how the network is trusted and how it may fail:

* bounded retries with exponential backoff (pip's ``--retries``: retries after the first try)
  for timeouts, connection resets, truncated bodies, HTTP 5xx and 429; ``Retry-After`` is
  honoured up to :data:`MAX_RETRY_AFTER` seconds, and a longer one ends the retries at once;
* redirects are followed by hand, hop by hop: every hop must be ``https``, a loopback address
  or a ``--trusted-host``; credentials are chosen per host by the session's auth (unearth's
  ``MultiDomainBasicAuth``), so an index's credentials never follow a redirect to another host;
* bodies are streamed with a size limit, so a hostile server cannot fill memory or disk;
* every failure is an :class:`~safeinstall.errors.IndexAccessError` (exit 3) naming the URL.

The session is :class:`safeinstall.session.Session` (``http.client`` for plain requests,
unearth's ``PyPIClient``, an ``httpx2.Client``, for the rest) or any object with the same
``stream()``; its timeout is pip's ``--timeout``.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import hashlib
import random
import sys
import time
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

from safeinstall.deadlines import ResponseDeadline, response_budget
from safeinstall.errors import IndexAccessError, SafeInstallError
from safeinstall.urls import redact_url

T = TypeVar("T")

#: First pause between two tries, in seconds; it doubles on every retry (with jitter) ...
BACKOFF = 0.25
#: ... up to this many seconds.
MAX_BACKOFF = 8.0
#: The longest ``Retry-After`` we wait for; a server asking for more ends the retries at once.
MAX_RETRY_AFTER = 60.0
#: Redirect hops followed for one request.
MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 256 * 1024


def is_retryable_status(status: int) -> bool:
    """429 and server errors, except the ones that will not change (501, 505)."""
    return status == 429 or (500 <= status < 600 and status not in (501, 505))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():  # "²".isdigit() is true, too
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def is_secure_url(url: str, trusted_hosts: Sequence[str]) -> bool:
    """pip's rule: https, a loopback address, or a ``--trusted-host`` (host or host:port)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host in ("localhost", "::1") or host.startswith("127."):
        return True
    netloc = parts.netloc.rpartition("@")[2]
    return host in trusted_hosts or netloc in trusted_hosts


def redact(url: str) -> str:
    """``url`` fit for messages (see :func:`safeinstall.urls.redact_url`)."""
    return redact_url(url)


@dataclass(frozen=True)
class Fetched:
    """A response read in full (within its size limit)."""

    url: str  # the final URL, after redirects
    status_code: int
    headers: Mapping[str, str]
    content: bytes
    redirects: tuple[str, ...] = ()  # every Location followed, in order


class _RetryableStatus(Exception):
    def __init__(self, url: str, status: int, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status}")
        self.url = url
        self.status = status
        self.retry_after = retry_after


@dataclass
class HttpClient:
    """Retries, redirects, limits and errors around an ``httpx2.Client`` (thread-safe)."""

    session: Any
    retries: int = 5
    trusted_hosts: Sequence[str] = ()
    backoff: float | None = None  # None: the module's BACKOFF (read at each pause)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    #: ``--response-deadline``: seconds one response may take in all (plus time for the bytes
    #: it announces, see :func:`safeinstall.deadlines.response_budget`); None: no deadline. The
    #: light session cuts a late response wherever it is; for others it is checked between
    #: the blocks of the body.
    deadline: float | None = None

    def close(self) -> None:
        self.session.close()

    # -- security --------------------------------------------------------------------------------

    def check_secure(self, url: str, *, via: str | None = None) -> None:
        if is_secure_url(url, self.trusted_hosts):
            return
        parts = urlsplit(url)
        where = f"{redact(via)} redirected to {redact(url)}: " if via else ""
        if parts.scheme not in ("http", "https"):
            raise IndexAccessError(
                f"{where}refusing to fetch {redact(url)}: only http(s) locations are read from "
                "an index",
                hint="the index (or something between you and it) is misbehaving",
            )
        raise IndexAccessError(
            f"{where}refusing to read {redact(url)} over insecure {parts.scheme}",
            hint=f"use https, or pass --trusted-host {parts.hostname} if you trust that network",
        )

    # -- requests --------------------------------------------------------------------------------

    def get(self, url: str, *, max_bytes: int, what: str = "index page",
            headers: Mapping[str, str] | None = None,
            body_statuses: Container[int] = (200,)) -> Fetched:
        """GET ``url`` (following redirects), retrying transient failures.

        The body is read only for ``body_statuses`` and at most ``max_bytes`` of it; any other
        final status comes back with an empty body for the caller to judge.
        """

        def attempt() -> Fetched:
            started = time.monotonic()
            with self._open(url, headers) as (resp, final, hops):
                if resp.status_code not in body_statuses:
                    return Fetched(final, resp.status_code, resp.headers, b"", hops)
                chunks: list[bytes] = []
                size = 0
                self._check_length(resp, final, max_bytes, what)
                end = self._end(started, resp)
                for chunk in resp.iter_bytes(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(final, max_bytes, what)
                    if end is not None and time.monotonic() > end:
                        raise ResponseDeadline(self.deadline or 0.0)
                    chunks.append(chunk)
                return Fetched(final, resp.status_code, resp.headers, b"".join(chunks),
                               hops)

        return self._with_retries(url, what, attempt)

    def download(self, url: str, dest: Path, *, max_bytes: int,
                 algorithms: Sequence[str] = ("sha256",),
                 progress: Callable[[int], None] | None = None) -> dict[str, str]:
        """Stream ``url`` into ``dest`` (rewritten on every try); return its digests."""

        def attempt() -> dict[str, str]:
            hashers = {a: hashlib.new(a) for a in algorithms}
            started = time.monotonic()
            with self._open(url, None) as (resp, final, _hops):
                if resp.status_code != 200:
                    raise IndexAccessError(
                        f"downloading {redact(url)} failed: HTTP {resp.status_code}",
                        hint="the index lists a file it does not serve; nothing was installed",
                    )
                self._check_length(resp, final, max_bytes, "download")
                done = 0
                end = self._end(started, resp)
                with open(dest, "wb") as out:
                    for chunk in resp.iter_bytes(CHUNK):
                        done += len(chunk)
                        if done > max_bytes:
                            raise _too_large(final, max_bytes, "download")
                        if end is not None and time.monotonic() > end:
                            raise ResponseDeadline(self.deadline or 0.0)
                        for h in hashers.values():
                            h.update(chunk)
                        out.write(chunk)
                        if progress:
                            progress(done)
            return {a: h.hexdigest() for a, h in hashers.items()}

        try:
            return self._with_retries(url, "download", attempt)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise

    # -- machinery -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _open(self, url: str, headers: Mapping[str, str] | None
              ) -> Iterator[tuple[Any, str, tuple[str, ...]]]:
        current = url
        hops: list[str] = []
        self.check_secure(current)
        while True:
            with self.session.stream("GET", current, headers=dict(headers or {}),
                                     follow_redirects=False) as resp:
                location = resp.headers.get("Location")
                if resp.status_code in REDIRECT_STATUSES and location:
                    nxt = urljoin(current, location)
                    if len(hops) >= MAX_REDIRECTS:
                        raise IndexAccessError(
                            f"{redact(url)} redirects more than {MAX_REDIRECTS} times",
                            hint="the index is misconfigured (a redirect loop?)",
                        )
                    self.check_secure(nxt, via=current)
                    hops.append(nxt)
                    current = nxt
                    continue
                if is_retryable_status(resp.status_code):
                    raise _RetryableStatus(current, resp.status_code,
                                           resp.headers.get("Retry-After"))
                yield resp, current, tuple(hops)
                return

    def _end(self, started: float, resp: Any) -> float | None:
        if self.deadline is None:
            return None
        return started + response_budget(self.deadline, resp.headers.get("Content-Length"))

    @staticmethod
    def _check_length(resp: Any, url: str, max_bytes: int, what: str) -> None:
        declared = resp.headers.get("Content-Length")
        if declared and declared.strip().isdigit() and int(declared) > max_bytes:
            raise _too_large(url, max_bytes, what)

    def _pause(self, n: int) -> float:
        first = BACKOFF if self.backoff is None else self.backoff
        base = min(MAX_BACKOFF, first * (2.0 ** n))
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security

    def _with_retries(self, url: str, what: str, attempt: Callable[[], T]) -> T:
        tries = max(0, self.retries) + 1
        last = ""
        for n in range(tries):
            try:
                return attempt()
            except SafeInstallError:
                raise
            except ResponseDeadline as exc:  # a dripping server: another try would drip too
                raise IndexAccessError(
                    f"{redact(url)} ({what}) took longer than the response deadline of "
                    f"{exc.seconds:g}s (--response-deadline), for the whole response; "
                    "gave up",
                    hint="the index is very slow or stalling on purpose; retry later, or "
                    "raise --response-deadline if the index is just slow. Nothing was "
                    "installed",
                ) from None
            except _RetryableStatus as exc:
                last = f"HTTP {exc.status}"
                wait = self._pause(n)
                delay = parse_retry_after(exc.retry_after)
                if delay is not None:
                    if delay > MAX_RETRY_AFTER:
                        raise IndexAccessError(
                            f"{redact(exc.url)} answered HTTP {exc.status} and asks to retry "
                            f"after {delay:.0f}s, longer than safe-install waits "
                            f"({MAX_RETRY_AFTER:.0f}s)",
                            hint="the index is overloaded or rate-limiting you; retry later",
                        ) from None
                    wait = max(wait, delay)
                    last += f" (Retry-After: {exc.retry_after})"
            except Exception as exc:  # httpx2 transport errors of every kind
                if not _transient(exc):
                    raise IndexAccessError(
                        f"cannot fetch {redact(url)} ({what}): {_describe(exc)}",
                        hint="check the URL, your network, proxy and certificate settings",
                    ) from None
                last = _describe(exc)
                wait = self._pause(n)
            if n + 1 < tries:
                self.sleep(wait)
        attempts = f"{tries} attempt{'s' if tries > 1 else ''}"
        raise IndexAccessError(
            f"cannot fetch {redact(url)} ({what}): {last}, after {attempts}",
            hint="the index or the network is failing; retry later, raise --retries or "
            "--timeout, or use another index. Nothing was installed",
        )


def as_client(session: Any, trusted_hosts: Sequence[str] = ()) -> HttpClient:
    """``session`` itself when it is an :class:`HttpClient`, else one around it."""
    if isinstance(session, HttpClient):
        return session
    return HttpClient(session, trusted_hosts=tuple(trusted_hosts))


def _too_large(url: str, max_bytes: int, what: str) -> IndexAccessError:
    return IndexAccessError(
        f"{redact(url)} ({what}) is larger than {_size(max_bytes)}; refusing to read more",
        hint="the index is broken or hostile; nothing was installed",
    )


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    return f"{n} bytes"


_NETWORK_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN,
                             errno.EHOSTDOWN, errno.EADDRNOTAVAIL, errno.ENETRESET})


def _transient(exc: Exception) -> bool:
    """Worth another try: a network or protocol failure, not a bad URL or a certificate that
    does not verify."""
    import http.client
    import socket
    import ssl
    import zlib

    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return False
    httpx2 = sys.modules.get("httpx2")  # only when the full session was used
    if httpx2 is not None:
        if isinstance(exc, (httpx2.UnsupportedProtocol, httpx2.LocalProtocolError,
                            httpx2.InvalidURL)):
            return False
        if isinstance(exc, (httpx2.TransportError, httpx2.DecodingError)):
            return True
    if isinstance(exc, http.client.InvalidURL):
        return False
    if isinstance(exc, (http.client.HTTPException, ConnectionError, TimeoutError, ssl.SSLError,
                        socket.gaierror, zlib.error)):
        return True
    # an unreachable network or host; not a full disk or any other local failure
    return isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


__all__ = ["HttpClient", "Fetched", "as_client", "is_secure_url", "parse_retry_after",
           "is_retryable_status", "redact", "MAX_RETRY_AFTER"]
