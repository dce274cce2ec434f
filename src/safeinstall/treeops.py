"""The file work of an sdist's build: reading its archive in one go, and extracting it, copying
the build's site directory and removing its work directory in a child process. Standard library
only: run as a script by :mod:`safeinstall.buildenv`.

Under a busy GIL (page and look-ahead threads) every small read or inflate call of tarfile's
streaming gzip reader waits to get the GIL back; reading the whole file and inflating it in one
call costs a few of those waits instead of thousands. Only a plain archive takes that path: a
file over :data:`MAX_COMPRESSED`, inflating to more than :data:`MAX_INFLATED`, not gzip, with a
second gzip member or trailing bytes, truncated or corrupt is read as before (streaming), so
every broken or unusual archive gives exactly the result and error it gave before.

The extraction, the copy of the build files and the removal of a build's directory are
thousands of syscalls each, every one a wait for the GIL in the busy main process: a child
process of their own does them at the speed of the disk, and the extraction runs meanwhile
the build files are installed or copied.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable

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


# -- the file work of a build, in a child process ------------------------------------------------
#
# Run as ``python -I -S treeops.py OP ARG...`` (with -I the script's directory is not on
# sys.path: it imports only the standard library). It prints one JSON line: {"ok": true} or
# {"ok": false, "error": MESSAGE, "broken": BOOL}. The parent falls back to the same function
# in its own process when the child cannot run or gives no answer.


class TreeError(Exception):
    """An sdist that cannot be extracted safely: ``broken`` when the archive is unreadable
    (as opposed to refused for a member)."""

    def __init__(self, message: str, *, broken: bool) -> None:
        super().__init__(message)
        self.message = message
        self.broken = broken


def extract(source: str, into: str) -> None:
    """Extract the sdist ``source`` into the directory ``into``: a tar with tarfile's
    ``data`` filter (no member outside the tree, no links out of it, no devices), a zip only
    when no member would land outside the tree."""
    name = os.path.basename(source)
    root = os.path.realpath(into)
    try:
        if name.endswith(".zip"):
            with open_zip(source) as zf:
                for member in zf.namelist():
                    target = os.path.realpath(os.path.join(into, member))
                    if not target.startswith(root + os.sep):
                        raise TreeError(f"{name}: member {member!r} would be written outside "
                                        "the source tree", broken=False)
                zf.extractall(into)
        else:
            with open_tar(source) as tf:
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(into, filter="data")
                else:  # pragma: no cover - Pythons without extraction filters
                    for m in tf.getmembers():
                        target = os.path.realpath(os.path.join(into, m.name))
                        if not target.startswith(root + os.sep) or \
                                m.issym() or m.islnk() or m.isdev():
                            raise TreeError(f"{name}: unsafe member {m.name!r}", broken=False)
                    tf.extractall(into)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        # (a truncated or corrupt .tar.gz: EOFError or zlib.error from the streaming reader)
        raise TreeError(f"{name} cannot be unpacked: {exc}", broken=True) from None


def copy(source: str, target: str) -> None:
    """A real copy of the tree ``source`` as ``target`` (symbolic links copied as links)."""
    shutil.copytree(source, target, symlinks=True)


def remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str]) -> int:
    op, args = (argv[0], argv[1:]) if argv else ("", [])
    ops: dict[str, tuple[Callable[..., None], int]] = {
        "extract": (extract, 2), "copy": (copy, 2), "remove": (remove, 1)}
    if op not in ops or len(args) != ops[op][1]:
        sys.stdout.write(json.dumps({"ok": False, "broken": False,
                                     "error": f"usage: treeops.py {'|'.join(ops)} ARG..."}) + "\n")
        return 2
    try:
        ops[op][0](*args)
    except TreeError as exc:
        answer = {"ok": False, "error": exc.message, "broken": exc.broken}
    except (OSError, shutil.Error) as exc:
        answer = {"ok": False, "error": str(exc), "broken": False}
    else:
        answer = {"ok": True}
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
