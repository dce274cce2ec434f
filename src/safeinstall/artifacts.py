"""Download, verify and cache artifacts; read their core metadata without running them.

Everything downloaded is verified against the sha256 the index published (and any trusted hash)
before it is cached, and cached by that hash, so what the installer later hands to pip is exactly
what was checked.  Metadata comes, cheapest first, from a PEP 658 file the index advertises, from
the wheel read through HTTP Range requests (:mod:`safeinstall.rangefile`), or from the
(verified) downloaded artifact; the readers of metadata bytes and files are in
:mod:`safeinstall.distmeta`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from safeinstall.distmeta import (
    MAX_METADATA_BYTES,
    CoreMetadata,
    MetadataTooLarge,
    metadata_from_zip,
    parse_metadata,
    read_wheel_metadata,
)
from safeinstall.errors import IndexAccessError, IntegrityError
from safeinstall.http import as_client, redact
from safeinstall.indexdata import is_safe_filename, is_sha256
from safeinstall.models import IndexFile
from safeinstall.rangefile import NoRanges, RangeFile
from safeinstall.urls import canonical_index_url

#: The largest artifact downloaded when the index does not give its size (PyPI's largest files
#: are a few GiB); with a size, at most that size plus 1 MiB is read.
MAX_DOWNLOAD_BYTES = 8 * 1024 * 1024 * 1024
CHUNK = 256 * 1024
#: Hashes an index may publish that we verify on download (pip's set); sha256 is always computed.
VERIFIED_ALGORITHMS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")


#: Largest file :meth:`ArtifactCache.prefetch` downloads ahead of the install.
EARLY_DOWNLOAD_MAX = 50 * 1024 * 1024


class ArtifactCache:
    """Content-addressed cache of verified artifacts and their metadata (files on disk, keyed
    by sha256). Not the state store (:mod:`safeinstall.store`, a database): "store" names
    only that one."""

    def __init__(self, session: Any, cache_dir: Path | None) -> None:
        self.session = session
        self.http = as_client(session)
        self.cache_dir = cache_dir
        self._tmp = Path(tempfile.mkdtemp(prefix="safe-install-"))
        self._lock = threading.Lock()
        # keyed by URL *and* the sha256 the listing gave: two indexes listing one URL with
        # different hashes never share a download that was verified against only one of them
        self._downloads: dict[tuple[str, str | None], Path] = {}
        self._early: dict[tuple[str, str | None], Future[Path]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:  # downloads still running clean up after themselves first
            self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._tmp, ignore_errors=True)

    def prefetch(self, f: IndexFile) -> None:
        """Start downloading (and verifying) ``f`` in the background, for an install that will
        probably need it: the bytes are only ever used by :meth:`fetch`, after the checks.
        Only files of known size up to :data:`EARLY_DOWNLOAD_MAX`: a run that is refused or
        interrupted waits for downloads in flight, and must not wait for a huge one."""
        if f.size is None or f.size > EARLY_DOWNLOAD_MAX or f.invalid is not None:
            return
        with self._lock:
            if _key(f) in self._early or _key(f) in self._downloads:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=4,
                                                thread_name_prefix="safe-install-download")
            self._early[_key(f)] = self._pool.submit(self._fetch, f, frozenset(), None)

    def downloaded(self, f: IndexFile) -> Path | None:
        """Where ``f`` was saved by this run's :meth:`fetch`, if it was."""
        with self._lock:
            return self._downloads.get(_key(f))

    def scratch(self, name: str) -> Path:
        """A path in this run's private temp dir (removed by :meth:`close`)."""
        return self._tmp / name

    # -- downloads ------------------------------------------------------------------------------

    def _cached_path(self, sha256: str, filename: str) -> Path | None:
        if self.cache_dir is None:
            return None
        _check_key(sha256, filename)
        return self.cache_dir / "artifacts" / sha256[:2] / sha256 / filename

    def fetch(self, f: IndexFile, *, expected: frozenset[str] = frozenset(),
              progress: Callable[[int], None] | None = None) -> Path:
        """Download ``f`` once, verify its sha256 (index hash and ``expected``), return its path."""
        _require_valid(f)
        with self._lock:
            early = self._early.get(_key(f))
        if early is not None:
            # its failure (after the retries) is this fetch's: the download is not tried again
            path = early.result()
            if expected:
                self._check_expected(f, sha256_file(path), expected)
            return path
        return self._fetch(f, expected, progress)

    def _fetch(self, f: IndexFile, expected: frozenset[str],
               progress: Callable[[int], None] | None) -> Path:
        _require_valid(f)
        with self._lock:
            done = self._downloads.get(_key(f))
        if done is not None:
            if expected:  # fetched earlier without the trusted hashes: check them now
                self._check_expected(f, sha256_file(done), expected)
            return done
        if f.sha256:
            cached = self._cached_path(f.sha256, f.filename)
            if cached is not None and cached.is_file() and sha256_file(cached) == f.sha256:
                self._check_expected(f, f.sha256, expected)
                with self._lock:
                    self._downloads[_key(f)] = cached
                return cached
        dest_dir = Path(tempfile.mkdtemp(dir=self._tmp))
        _check_key(None, f.filename)
        dest = dest_dir / f.filename
        self._download_verified(f, dest, expected, progress)
        final = dest
        if f.sha256:
            cached = self._cached_path(f.sha256, f.filename)
            if cached is not None:
                tmp = cached.with_name(cached.name + f".{os.getpid()}.part")
                try:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(dest, tmp)
                    os.replace(tmp, cached)
                    final = cached
                except OSError:
                    final = dest
                finally:  # an interrupted copy leaves no stray file in the cache
                    tmp.unlink(missing_ok=True)
        with self._lock:
            self._downloads[_key(f)] = final
        return final

    def fetch_url(self, url: str, *, expected: frozenset[str]) -> Path:
        """Download a direct-URL artifact and verify it against the user's ``--hash`` values
        (if any) before anything reads or builds it."""
        from urllib.parse import unquote, urlsplit

        filename = unquote(os.path.basename(urlsplit(url).path)) or "download"
        dest = Path(tempfile.mkdtemp(dir=self._tmp)) / filename
        digest = self._download(url, dest, None)
        if expected and digest not in expected:
            dest.unlink(missing_ok=True)
            raise IntegrityError(
                f"{url} has sha256 {digest}, which is not among the --hash values given for it",
                hint="the file at that URL is not the one you pinned; nothing was installed",
            )
        return dest

    def _download_verified(self, f: IndexFile, dest: Path, expected: frozenset[str],
                           progress: Callable[[int], None] | None) -> str:
        """Download ``f`` and check it against every hash the index published for it and its
        declared size; a mismatch (a truncated or altered transfer) is downloaded once more,
        then refused. Returns the sha256."""
        published = {algo: value for algo, value in f.hashes if algo in VERIFIED_ALGORITHMS}
        algorithms = tuple(sorted({"sha256", *published}))
        limit = MAX_DOWNLOAD_BYTES if f.size is None else f.size + 1024 * 1024
        problem = ""
        for attempt in (1, 2):
            digests = self._download_digests(f.url, dest, progress, algorithms, limit)
            size = dest.stat().st_size
            wrong = [a for a in sorted(published) if digests[a] != published[a]]
            if wrong:
                algo = "sha256" if "sha256" in wrong else wrong[0]
                problem = (f"{f.filename} from {redact(f.url)} has {algo} {digests[algo]}, but "
                           f"the index lists {published[algo]}")
            elif f.size is not None and size != f.size:
                problem = (f"{f.filename} from {redact(f.url)} is {size} bytes, but the index "
                           f"lists {f.size}")
            elif expected and digests["sha256"] not in expected and not f.sha256 and \
                    attempt == 1:
                problem = "retry"  # no index hash to tell corruption from another file: retry
            else:
                self._check_expected(f, digests["sha256"], expected)
                return digests["sha256"]
            dest.unlink(missing_ok=True)
            if attempt == 2:
                break
        raise IntegrityError(
            f"{problem}, on two downloads",
            hint="the download was altered or truncated (it was retried once); nothing was "
            "installed. Retry later; if it persists, report it to the index operator",
        )

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
        return self._download_digests(url, dest, progress, ("sha256",), MAX_DOWNLOAD_BYTES)[
            "sha256"]

    def _download_digests(self, url: str, dest: Path, progress: Callable[[int], None] | None,
                          algorithms: tuple[str, ...], limit: int) -> dict[str, str]:
        """Write ``url`` to ``dest`` (retrying transient network faults); return its digests.
        On any failure, including an interrupt, ``dest`` is removed."""
        if url.startswith("file:"):
            from safeinstall.finder import _file_path

            hashers = {a: hashlib.new(a) for a in algorithms}
            src = _file_path(url)
            try:
                with open(src, "rb") as inp, open(dest, "wb") as out:
                    while chunk := inp.read(CHUNK):
                        for h in hashers.values():
                            h.update(chunk)
                        out.write(chunk)
            except OSError as exc:
                dest.unlink(missing_ok=True)
                raise IndexAccessError(f"cannot read {src}: {exc.strerror}") from None
            except BaseException:
                dest.unlink(missing_ok=True)
                raise
            return {a: h.hexdigest() for a, h in hashers.items()}
        return self.http.download(url, dest, max_bytes=limit, algorithms=algorithms,
                                  progress=progress)

    # -- metadata -------------------------------------------------------------------------------

    def verified_metadata_cache(self, f: IndexFile) -> Path | None:
        """Where the metadata read from ``f``'s own bytes, downloaded and verified against its
        sha256, is cached: keyed by that sha256 alone, since whichever index lists a file with
        this sha256 lists these very bytes, and so this metadata."""
        if self.cache_dir is None or not f.sha256:
            return None
        _check_key(f.sha256, None)
        return self.cache_dir / "wheel-metadata" / f.sha256[:2] / f"{f.sha256}.METADATA"

    def index_metadata_cache(self, f: IndexFile) -> Path | None:
        """Where metadata ``f``'s index served (a PEP 658 file, or the wheel's METADATA read
        with Range requests, neither checked against the wheel's sha256) is cached: keyed by
        the index (canonical URL), the file's URL and the hashes the index gave for the
        metadata and the wheel, so that what one index served is only ever read back for the
        same listing on the same index: another index can never poison it."""
        if self.cache_dir is None or not (f.sha256 or f.metadata_sha256):
            return None
        _check_key(f.sha256, None)
        key = json.dumps([canonical_index_url(f.source.url), f.source.kind, f.url,
                          f.metadata_sha256 or "", f.sha256 or ""])
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self.cache_dir / "index-metadata" / digest[:2] / f"{digest}.METADATA"

    def built_metadata(self, sha256: str | None, build_key: str) -> CoreMetadata | None:
        """Metadata an earlier run had pip prepare from the sdist with this sha256 for the same
        target (``build_key``), or None. Such a build ran only after the sdist passed its
        checks, and the sdist's bytes are fixed by the hash, as in pip's own wheel cache."""
        path = self._built_path(sha256, build_key)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return CoreMetadata(
                name=str(data["name"]), version=str(data["version"]),
                requires_dist=tuple(str(r) for r in data["requires_dist"]),
                requires_python=None if data["requires_python"] is None
                else str(data["requires_python"]),
                provides_extra=tuple(str(e) for e in data["provides_extra"]),
                source="build (cached)",
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # an unreadable entry is rebuilt

    def save_built_metadata(self, sha256: str | None, build_key: str,
                            meta: CoreMetadata) -> None:
        path = self._built_path(sha256, build_key)
        if path is None:
            return
        data = {"name": meta.name, "version": meta.version,
                "requires_dist": list(meta.requires_dist),
                "requires_python": meta.requires_python,
                "provides_extra": list(meta.provides_extra)}
        tmp = path.with_name(path.name + f".{os.getpid()}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass
        finally:
            tmp.unlink(missing_ok=True)

    def built_requires(self, sha256: str | None, key: str) -> tuple[str, ...] | None:
        """What the build backend of the sdist with this sha256 added to its build
        requirements (``get_requires_for_build_wheel``) in an earlier run for the same target
        (``key``), or None. Asked only after the sdist and its static build requirements
        passed their checks; the answers are checked again in every run."""
        path = self._built_path(sha256, key + "-requires")
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, list) or not all(isinstance(r, str) for r in data):
            return None
        return tuple(data)

    def save_built_requires(self, sha256: str | None, key: str,
                            requires: tuple[str, ...]) -> None:
        path = self._built_path(sha256, key + "-requires")
        if path is None:
            return
        tmp = path.with_name(path.name + f".{os.getpid()}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(list(requires)), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass
        finally:
            tmp.unlink(missing_ok=True)

    def _built_path(self, sha256: str | None, build_key: str) -> Path | None:
        if self.cache_dir is None or not sha256:
            return None
        _check_key(sha256, build_key)
        return self.cache_dir / "built-metadata" / sha256[:2] / f"{sha256}-{build_key}.json"

    def wheel_metadata(self, f: IndexFile) -> CoreMetadata:
        """Core metadata of a wheel without installing or running anything.

        Cached metadata is reused only for what was verified when it was written: see
        :meth:`verified_metadata_cache` and :meth:`index_metadata_cache`."""
        _require_valid(f)
        verified = self.verified_metadata_cache(f)
        served = self.index_metadata_cache(f)
        for cache in (verified, served):
            if cache is not None and cache.is_file():
                try:
                    saved = cache.read_bytes()
                except OSError:
                    continue
                cached = parse_metadata(saved, "cache")[0]
                _check_identity(f, cached, "cache")
                return cached
        data: bytes | None = None
        source = ""
        if f.metadata_url:
            data = self._get_small(f.metadata_url)
            if data is not None and f.metadata_sha256 and \
                    hashlib.sha256(data).hexdigest() != f.metadata_sha256:
                raise IntegrityError(
                    f"metadata file {redact(f.metadata_url)} does not match the sha256 the "
                    "index lists for it",
                    hint="the index served inconsistent data (or the transfer was altered); "
                    "nothing was installed",
                )
            source = "metadata-file"
        if data is None and f.url.startswith(("http://", "https://")):
            data = self._range_metadata(f)
            source = "range"
        if data is None:
            path = self.fetch(f)
            data = read_wheel_metadata(path, f.project)
            source = "wheel"
        meta = parse_metadata(data, f"{f.filename} ({source})")[0]
        _check_identity(f, meta, source)
        # from the wheel's own bytes, verified against f.sha256 by fetch: any index's; else
        # only this index's listing of this file
        cache = verified if source == "wheel" else served
        if cache is not None:
            tmp = cache.with_name(cache.name + f".{os.getpid()}.part")
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_bytes(data)
                os.replace(tmp, cache)
            except OSError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        return CoreMetadata(meta.name, meta.version, meta.requires_dist, meta.requires_python,
                            meta.provides_extra, source)

    def _get_small(self, url: str) -> bytes | None:
        """A PEP 658 metadata file (None when the index does not serve it after all: the
        metadata then comes from the wheel itself). Larger than MAX_METADATA_BYTES: error."""
        if url.startswith("file:"):
            from safeinstall.finder import _file_path

            try:
                with open(_file_path(url), "rb") as fh:
                    data = fh.read(MAX_METADATA_BYTES + 1)
            except OSError:
                return None
            if len(data) > MAX_METADATA_BYTES:
                raise IndexAccessError(f"metadata file {url} is larger than "
                                       f"{MAX_METADATA_BYTES // (1024 * 1024)} MiB; refusing")
            return data
        resp = self.http.get(url, max_bytes=MAX_METADATA_BYTES, what="metadata file")
        if resp.status_code != 200:
            return None
        return resp.content

    def _range_metadata(self, f: IndexFile) -> bytes | None:
        """Read ``*.dist-info/METADATA`` from a remote wheel with HTTP Range requests."""
        try:
            remote = RangeFile(self.http, f.url)
            with zipfile.ZipFile(remote) as zf:
                return metadata_from_zip(zf, f.project)
        except MetadataTooLarge:
            raise IndexAccessError(
                f"{f.filename}: its METADATA is larger than "
                f"{MAX_METADATA_BYTES // (1024 * 1024)} MiB; refusing",
                hint="the wheel is broken or hostile; pin another version",
            ) from None
        except (NoRanges, zipfile.BadZipFile, KeyError, OSError, IndexAccessError):
            return None  # the metadata then comes from the downloaded, verified wheel
        except Exception:
            return None


def _key(f: IndexFile) -> tuple[str, str | None]:
    return f.url, f.sha256


def _require_valid(f: IndexFile) -> None:
    """An entry whose index data failed validation is never downloaded, read or cached."""
    if f.invalid is not None:
        raise IndexAccessError(
            f"{redact(f.source.url)} lists {f.filename!r} with invalid index data: {f.invalid}",
            hint="the index is broken or hostile; nothing was downloaded from this entry. Pin "
            "another version, or use another index",
        )


def _check_key(sha256: str | None, filename: str | None) -> None:
    """A cache path is built only from validated values (the finder validates them where the
    page is parsed; this is the guard that keeps it so)."""
    if (sha256 is not None and not is_sha256(sha256)) or \
            (filename is not None and not is_safe_filename(filename)):
        raise IndexAccessError(
            f"refusing to build a cache path from unvalidated index data "
            f"({(sha256 or '')[:80]!r}, {(filename or '')[:80]!r})",
            hint="this is a bug in safe-install's validation of index data; nothing was "
            "written. Please report it",
        )


def _check_identity(f: IndexFile, meta: CoreMetadata, source: str) -> None:
    """The metadata must be that of the file's own project and version (as pip checks)."""
    try:
        same_version = Version(meta.version) == f.version
    except InvalidVersion:
        same_version = False
    if canonicalize_name(meta.name) != f.project or not same_version:
        raise IntegrityError(
            f"{f.filename}: its metadata ({source}) is that of {meta.name} {meta.version}, not "
            f"of {f.project} {f.version}",
            hint="the index served metadata that does not belong to this file; nothing was "
            "installed",
        )


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes (hex), read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
