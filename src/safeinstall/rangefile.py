"""A remote file read through HTTP Range requests (a wheel's ``.dist-info/METADATA`` without
downloading the wheel)."""

from __future__ import annotations

import io
from typing import Any

from safeinstall.http import as_client


class NoRanges(Exception):
    """The server does not answer Range requests (named by the URL)."""


class RangeFile(io.RawIOBase):
    """A read-only seekable view of a remote file, fetched in blocks with Range requests."""

    BLOCK = 64 * 1024
    #: The first read takes the file's last TAIL bytes: for most wheels that is the whole
    #: central directory and the ``.dist-info`` files before it (written last), so one round
    #: trip; bytes are cheap next to round trips.
    TAIL = 256 * 1024
    #: A later miss also takes this much before the position asked for: a reader that has just
    #: read the central directory next reads ``.dist-info/METADATA``, stored shortly before it.
    BACK = 64 * 1024

    def __init__(self, http: Any, url: str) -> None:
        super().__init__()
        self.http = as_client(http)
        self.url = url
        self.pos = 0
        self.blocks: dict[int, bytes] = {}
        resp = self._get(f"bytes=-{self.TAIL}", self.TAIL)
        crange = resp.headers.get("Content-Range", "") or resp.headers.get("content-range", "")
        try:
            self.size = int(crange.rpartition("/")[2])
        except ValueError:
            raise NoRanges(url) from None
        data = bytes(resp.content)
        if self.size < len(data):
            raise NoRanges(url)
        start = self.size - len(data)
        self._keep(start, data)

    def _get(self, byte_range: str, length: int) -> Any:
        # a server that ignores Range answers 200: its body is never read
        resp = self.http.get(self.url, headers={"Range": byte_range}, max_bytes=length,
                             what="range request", body_statuses=(206,))
        if resp.status_code != 206:
            raise NoRanges(self.url)
        return resp

    def _keep(self, start: int, data: bytes) -> None:
        self.blocks[start] = data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            self.pos = offset
        elif whence == 1:
            self.pos += offset
        else:
            self.pos = self.size + offset
        return self.pos

    def _find(self, pos: int, n: int) -> bytes | None:
        for start, data in self.blocks.items():
            if start <= pos and pos + n <= start + len(data):
                return data[pos - start: pos - start + n]
        return None

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = self.size - self.pos
        n = max(0, min(n, self.size - self.pos))
        if n == 0:
            return b""
        got = self._find(self.pos, n)
        if got is None:
            start = max(0, self.pos - self.BACK)
            end = min(self.size, self.pos + max(n, self.BLOCK)) - 1
            resp = self._get(f"bytes={start}-{end}", end - start + 1)
            self._keep(start, bytes(resp.content))
            got = self._find(self.pos, n)
            if got is None:
                raise OSError("short range response")
        self.pos += len(got)
        return got

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)
