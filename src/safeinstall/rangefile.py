"""A remote file read through HTTP Range requests (a wheel's ``.dist-info/METADATA`` without
downloading the wheel)."""

from __future__ import annotations

import io
import re
from typing import Any

from safeinstall.http import as_client


class NoRanges(Exception):
    """The server does not answer Range requests (named by the URL)."""


_CONTENT_RANGE = re.compile(r"bytes ([0-9]{1,18})-([0-9]{1,18})/([0-9]{1,18})")


def _content_range(resp: Any, length: int) -> tuple[int, int, int] | None:
    """A 206 answer's ``Content-Range``: (first byte, end exclusive, file size) when it is
    well-formed and says ``length`` bytes, within the file, else None."""
    crange = resp.headers.get("Content-Range", "") or resp.headers.get("content-range", "")
    match = _CONTENT_RANGE.fullmatch(crange.strip())
    if match is None:
        return None
    first, last, size = (int(g) for g in match.groups())
    if last + 1 - first != length or last >= size:
        return None
    return first, last + 1, size


class RangeFile(io.RawIOBase):
    """A read-only seekable view of a remote file, fetched in blocks with Range requests."""

    BLOCK = 64 * 1024
    #: The first read takes the file's last TAIL bytes: for most wheels that is the whole
    #: central directory and the ``.dist-info`` files before it (written last), so one round
    #: trip. In a sample of 250 wheels from PyPI, 128 KiB covered 92 % (256 KiB: 95 %, for
    #: 1.5 times the bytes); the 918 wheels of the scale lock take 992 requests and 73 MB
    #: (256 KiB and block-by-block misses: 963 requests, 104 MB; issue 21).
    TAIL = 128 * 1024
    #: A later miss also takes this much before the position asked for: a reader that has just
    #: read the central directory next reads ``.dist-info/METADATA``, stored shortly before it.
    BACK = 64 * 1024
    #: At most this many bytes are asked for in all (each answer is held in memory): a
    #: central directory and a METADATA (at most 16 MiB) take far less; a server that claims
    #: more (a 4 GB central directory) gets the fallback, the wheel downloaded to disk and
    #: verified.
    BUDGET = 64 * 1024 * 1024

    def __init__(self, http: Any, url: str) -> None:
        super().__init__()
        self.http = as_client(http)
        self.url = url
        self.pos = 0
        self.blocks: dict[int, bytes] = {}
        #: bytes asked for so far (:attr:`BUDGET`)
        self.asked = self.TAIL
        resp = self._get(f"bytes=-{self.TAIL}", self.TAIL)
        data = bytes(resp.content)
        answered = _content_range(resp, len(data))
        # (the file's last bytes, as asked)
        if answered is None or answered[1] != answered[2] or not data:
            raise NoRanges(url)
        self.size = answered[2]
        self._keep(answered[0], data)

    def _get(self, byte_range: str, length: int) -> Any:
        # a server that ignores Range answers 200: its body is never read
        resp = self.http.get(self.url, headers={"Range": byte_range}, max_bytes=length,
                             what="range request", body_statuses=(206,))
        if resp.status_code != 206:
            raise NoRanges(self.url)
        return resp

    def _keep(self, start: int, data: bytes) -> None:
        # joined with the blocks it touches: a read across the seam is then found in one
        after = self.blocks.pop(start + len(data), None)
        if after is not None:
            data += after
        before = next((b for b, d in self.blocks.items() if b + len(d) == start), None)
        if before is not None:
            start, data = before, self.blocks.pop(before) + data
        self.blocks[start] = data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            pos = offset
        elif whence == 1:
            pos = self.pos + offset
        else:
            pos = self.size + offset
        if pos < 0:  # (as a file: the zip reader takes it for "not a zip file")
            raise OSError(f"negative seek position {pos}")
        self.pos = pos
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
        for _ in range(8):  # (each round fills the first gap; a short answer needs another)
            got = self._find(self.pos, n)
            if got is not None:
                self.pos += len(got)
                return got
            self._fill(self.pos, n)
        raise OSError("short range response")

    def _fill(self, pos: int, n: int) -> None:
        """Fetch the first bytes of ``[pos, pos + n)`` not held yet, in one request: from
        BACK before ``pos`` (a miss at ``pos`` itself), at least a BLOCK, never a byte already
        held (a zip reader's read of the whole central directory is one request)."""
        gap = pos
        for start, data in sorted(self.blocks.items()):
            if start <= gap < start + len(data):
                gap = start + len(data)
        start = max(0, gap - self.BACK) if gap == pos else gap
        start = max([start, *(b + len(d) for b, d in self.blocks.items()
                              if b + len(d) <= gap)])
        end = min(self.size, max(gap + self.BLOCK, pos + n))  # (exclusive)
        later = min((b for b in self.blocks if b > gap), default=None)
        if later is not None:
            end = min(end, later)
        if end <= start:  # (nothing left to ask for: never seen)
            raise OSError("short range response")
        self.asked += end - start
        if self.asked > self.BUDGET:
            raise OSError(f"range reads of more than {self.BUDGET} bytes")
        resp = self._get(f"bytes={start}-{end - 1}", end - start)
        data = bytes(resp.content)
        if not data:
            raise OSError("short range response")
        answered = _content_range(resp, len(data))
        if answered is None or answered[0] != start or answered[2] != self.size:
            # (other bytes than asked, or of a file of another size: the file changed)
            raise OSError("range response for other bytes than asked")
        self._keep(start, data)

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)
