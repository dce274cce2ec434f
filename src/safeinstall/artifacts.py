"""Download, verify and cache artifacts; read their core metadata without running them.

Everything downloaded is verified against the sha256 the index published (and any trusted hash)
before it is stored, and stored by that hash, so what the installer later hands to pip is exactly
what was checked.  Metadata comes, cheapest first, from a PEP 658 file the index advertises, from
the wheel read through HTTP Range requests, or from the (verified) downloaded artifact.
"""

from __future__ import annotations

import email.parser
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from safeinstall.errors import IndexAccessError, IntegrityError
from safeinstall.finder import IndexFile

MAX_METADATA_BYTES = 16 * 1024 * 1024
CHUNK = 256 * 1024


@dataclass(frozen=True)
class CoreMetadata:
    """The parts of a distribution's core metadata that decide resolution."""

    name: str
    version: str
    requires_dist: tuple[str, ...]
    requires_python: str | None
    provides_extra: tuple[str, ...]
    source: str  # where it came from: "metadata-file", "range", "wheel", "sdist-pkg-info", "build"

    def requirements(self) -> list[Requirement]:
        out = []
        for text in self.requires_dist:
            try:
                out.append(Requirement(text))
            except InvalidRequirement as exc:
                raise IndexAccessError(
                    f"{self.name} {self.version} declares an invalid dependency {text!r}: {exc}",
                    hint="the package's metadata is broken; pin another version",
                ) from None
        return out


def parse_metadata(data: bytes, source: str) -> tuple[CoreMetadata, Message]:
    msg = email.parser.BytesParser().parsebytes(data)
    name = msg.get("Name")
    version = msg.get("Version")
    if not name or not version:
        raise IndexAccessError(f"metadata from {source} lacks Name or Version")
    return CoreMetadata(
        name=str(name),
        version=str(version),
        requires_dist=tuple(str(v) for v in (msg.get_all("Requires-Dist") or [])),
        requires_python=str(msg["Requires-Python"]) if msg.get("Requires-Python") else None,
        provides_extra=tuple(str(v) for v in (msg.get_all("Provides-Extra") or [])),
        source=source,
    ), msg


class ArtifactStore:
    """Content-addressed store of verified artifacts and their metadata."""

    def __init__(self, session: Any, cache_dir: Path | None) -> None:
        self.session = session
        self.cache_dir = cache_dir
        self._tmp = Path(tempfile.mkdtemp(prefix="safe-install-"))
        self._lock = threading.Lock()
        self._downloads: dict[str, Path] = {}

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    # -- downloads ------------------------------------------------------------------------------

    def _cached_path(self, sha256: str, filename: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / "artifacts" / sha256[:2] / sha256 / filename

    def fetch(self, f: IndexFile, *, expected: frozenset[str] = frozenset(),
              progress: Callable[[int], None] | None = None) -> Path:
        """Download ``f`` once, verify its sha256 (index hash and ``expected``), return its path."""
        with self._lock:
            if f.url in self._downloads:
                return self._downloads[f.url]
        if f.sha256:
            cached = self._cached_path(f.sha256, f.filename)
            if cached is not None and cached.is_file() and _sha256_file(cached) == f.sha256:
                self._check_expected(f, f.sha256, expected)
                with self._lock:
                    self._downloads[f.url] = cached
                return cached
        dest_dir = Path(tempfile.mkdtemp(dir=self._tmp))
        dest = dest_dir / f.filename
        digest = self._download(f.url, dest, progress)
        if f.sha256 and digest != f.sha256:
            dest.unlink(missing_ok=True)
            raise IntegrityError(
                f"{f.filename} from {f.url} has sha256 {digest}, but the index lists {f.sha256}",
                hint="the download was altered or truncated; nothing was installed. Retry; if it "
                "persists, report it to the index operator",
            )
        self._check_expected(f, digest, expected)
        final = dest
        if f.sha256:
            cached = self._cached_path(f.sha256, f.filename)
            if cached is not None:
                try:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    tmp = cached.with_name(cached.name + f".{os.getpid()}.part")
                    shutil.copyfile(dest, tmp)
                    os.replace(tmp, cached)
                    final = cached
                except OSError:
                    final = dest
        with self._lock:
            self._downloads[f.url] = final
        return final

    @staticmethod
    def _check_expected(f: IndexFile, digest: str, expected: frozenset[str]) -> None:
        if expected and digest not in expected:
            raise IntegrityError(
                f"{f.filename} has sha256 {digest}, which is not among the trusted hashes "
                f"given for {f.project}",
                hint="the requirement's --hash values do not match this file; nothing was "
                "installed",
            )

    def _download(self, url: str, dest: Path, progress: Callable[[int], None] | None) -> str:
        hasher = hashlib.sha256()
        if url.startswith("file:"):
            from safeinstall.finder import _file_path

            src = _file_path(url)
            try:
                with open(src, "rb") as inp, open(dest, "wb") as out:
                    while chunk := inp.read(CHUNK):
                        hasher.update(chunk)
                        out.write(chunk)
            except OSError as exc:
                raise IndexAccessError(f"cannot read {src}: {exc.strerror}") from None
            return hasher.hexdigest()
        try:
            with self.session.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise IndexAccessError(f"downloading {url} failed: HTTP {resp.status_code}")
                done = 0
                with open(dest, "wb") as out:
                    for chunk in resp.iter_bytes(CHUNK):
                        hasher.update(chunk)
                        out.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done)
        except IndexAccessError:
            raise
        except Exception as exc:
            raise IndexAccessError(f"downloading {url} failed: {exc.__class__.__name__}: {exc}",
                                   hint="check your network; nothing was installed") from None
        return hasher.hexdigest()

    # -- metadata -------------------------------------------------------------------------------

    def metadata_cache(self, sha256: str | None) -> Path | None:
        if self.cache_dir is None or not sha256:
            return None
        return self.cache_dir / "metadata" / sha256[:2] / f"{sha256}.METADATA"

    def wheel_metadata(self, f: IndexFile) -> CoreMetadata:
        """Core metadata of a wheel without installing or running anything."""
        cache = self.metadata_cache(f.sha256)
        if cache is not None and cache.is_file():
            return parse_metadata(cache.read_bytes(), "cache")[0]
        data: bytes | None = None
        source = ""
        if f.metadata_url:
            data = self._get_small(f.metadata_url)
            if data is not None and f.metadata_sha256 and \
                    hashlib.sha256(data).hexdigest() != f.metadata_sha256:
                raise IntegrityError(f"metadata file {f.metadata_url} does not match its hash")
            source = "metadata-file"
        if data is None and f.url.startswith(("http://", "https://")):
            data = self._range_metadata(f)
            source = "range"
        if data is None:
            path = self.fetch(f)
            data = read_wheel_metadata(path, f.project)
            source = "wheel"
        meta = parse_metadata(data, f"{f.filename} ({source})")[0]
        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_name(cache.name + f".{os.getpid()}.part")
                tmp.write_bytes(data)
                os.replace(tmp, cache)
            except OSError:
                pass
        return CoreMetadata(meta.name, meta.version, meta.requires_dist, meta.requires_python,
                            meta.provides_extra, source)

    def _get_small(self, url: str) -> bytes | None:
        try:
            resp = self.session.get(url)
        except Exception:
            return None
        if resp.status_code != 200 or len(resp.content) > MAX_METADATA_BYTES:
            return None
        return bytes(resp.content)

    def _range_metadata(self, f: IndexFile) -> bytes | None:
        """Read ``*.dist-info/METADATA`` from a remote wheel with HTTP Range requests."""
        try:
            remote = _RangeFile(self.session, f.url)
            with zipfile.ZipFile(remote) as zf:
                return _metadata_from_zip(zf, f.project)
        except (_NoRanges, zipfile.BadZipFile, KeyError, OSError):
            return None
        except Exception:
            return None


def _metadata_from_zip(zf: zipfile.ZipFile, project: str) -> bytes:
    names = [n for n in zf.namelist()
             if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    wanted = [n for n in names if canonicalize_name(n.split("-")[0]) == canonicalize_name(project)]
    name = (wanted or names)[0]
    info = zf.getinfo(name)
    if info.file_size > MAX_METADATA_BYTES:
        raise KeyError(name)
    return zf.read(name)


def read_wheel_metadata(path: Path, project: str) -> bytes:
    try:
        with zipfile.ZipFile(path) as zf:
            return _metadata_from_zip(zf, project)
    except (zipfile.BadZipFile, KeyError, IndexError):
        raise IndexAccessError(
            f"{path.name} is not a valid wheel (no readable .dist-info/METADATA)",
            hint="the file is broken; pin another version or report it to the project",
        ) from None


def read_sdist_pkg_info(path: Path) -> bytes | None:
    """PKG-INFO at the top of an sdist, or None."""
    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                for n in zf.namelist():
                    if n.count("/") == 1 and n.endswith("/PKG-INFO"):
                        return zf.read(n)[:MAX_METADATA_BYTES]
            return None
        with tarfile.open(path) as tf:
            for member in tf:
                if member.isfile() and member.name.count("/") == 1 and \
                        member.name.endswith("/PKG-INFO"):
                    handle = tf.extractfile(member)
                    return handle.read(MAX_METADATA_BYTES) if handle else None
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError):
        return None
    return None


def static_sdist_metadata(path: Path) -> CoreMetadata | None:
    """An sdist's metadata when it is static (Metadata-Version >= 2.2, dependencies not dynamic)."""
    data = read_sdist_pkg_info(path)
    if data is None:
        return None
    meta, msg = parse_metadata(data, f"{path.name} (PKG-INFO)")
    try:
        mv = tuple(int(p) for p in str(msg.get("Metadata-Version", "1.0")).split("."))
    except ValueError:
        return None
    if mv < (2, 2):
        return None
    dynamic = {str(d).lower() for d in (msg.get_all("Dynamic") or [])}
    if {"requires-dist", "requires-python", "provides-extra"} & dynamic:
        return None
    return CoreMetadata(meta.name, meta.version, meta.requires_dist, meta.requires_python,
                        meta.provides_extra, "sdist-pkg-info")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


sha256_file = _sha256_file


class _NoRanges(Exception):
    pass


class _RangeFile(io.RawIOBase):
    """A read-only seekable view of a remote file, fetched in blocks with Range requests."""

    BLOCK = 64 * 1024

    def __init__(self, session: Any, url: str) -> None:
        super().__init__()
        self.session = session
        self.url = url
        self.pos = 0
        self.blocks: dict[int, bytes] = {}
        resp = session.get(url, headers={"Range": f"bytes=-{self.BLOCK}"})
        if resp.status_code != 206:
            raise _NoRanges(url)
        crange = resp.headers.get("Content-Range", "")
        try:
            self.size = int(crange.rpartition("/")[2])
        except ValueError:
            raise _NoRanges(url) from None
        data = bytes(resp.content)
        start = self.size - len(data)
        self._store(start, data)

    def _store(self, start: int, data: bytes) -> None:
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
            end = min(self.size, self.pos + max(n, self.BLOCK)) - 1
            resp = self.session.get(self.url, headers={"Range": f"bytes={self.pos}-{end}"})
            if resp.status_code != 206:
                raise _NoRanges(self.url)
            self._store(self.pos, bytes(resp.content))
            got = self._find(self.pos, n)
            if got is None:
                raise OSError("short range response")
        self.pos += len(got)
        return got

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)
