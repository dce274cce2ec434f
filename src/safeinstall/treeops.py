"""Reading sdist archives in one go. Standard library only.

Under a busy GIL (page and look-ahead threads) every small read or inflate call of tarfile's
streaming gzip reader waits to get the GIL back; reading the whole file and inflating it in one
call costs a few of those waits instead of thousands. Only a plain archive takes that path: a
file over :data:`MAX_COMPRESSED`, inflating to more than :data:`MAX_INFLATED`, not gzip, with a
second gzip member or trailing bytes, truncated or corrupt is read as before (streaming), so
every broken or unusual archive gives exactly the result and error it gave before.
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
import zlib

#: an archive is read whole only up to this size ...
MAX_COMPRESSED = 16 * 1024 * 1024
#: ... and only when it inflates to at most this many bytes
MAX_INFLATED = 64 * 1024 * 1024


def inflate_whole(path: str | os.PathLike[str]) -> bytes | None:
    """The inflated bytes of ``path`` when it is one complete gzip member (CRC checked) within
    the bounds, read in one call; else None (the caller reads it the streaming way)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_COMPRESSED + 1)
    except OSError:
        return None
    if len(data) > MAX_COMPRESSED or data[:2] != b"\x1f\x8b":
        return None
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(data, MAX_INFLATED)
    except zlib.error:
        return None
    if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
        return None
    return raw


def open_tar(path: str | os.PathLike[str]) -> tarfile.TarFile:
    """``tarfile.open(path)``, over the inflated bytes in memory when :func:`inflate_whole`
    gives them (the same tar bytes either way), else the streaming reader itself."""
    raw = inflate_whole(path)
    if raw is not None:
        try:
            return tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
        except tarfile.TarError:
            pass  # not a tar inside: the streaming open tells why, as before
    return tarfile.open(path)


def open_zip(path: str | os.PathLike[str]) -> zipfile.ZipFile:
    """``zipfile.ZipFile(path)``, over its bytes read in one call when it is at most
    :data:`MAX_COMPRESSED`."""
    try:
        size = os.stat(path).st_size
    except OSError:
        size = MAX_COMPRESSED + 1
    if size <= MAX_COMPRESSED:
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_COMPRESSED + 1)
        except OSError:
            data = b""
        if data and len(data) <= MAX_COMPRESSED:
            try:
                return zipfile.ZipFile(io.BytesIO(data))
            except zipfile.BadZipFile:
                pass  # as before: the file's own open tells why
    return zipfile.ZipFile(path)
