"""PEP 751 ``pylock.toml``: its reader (every package's files and sha256 hashes), the selection
pip 26 makes from it for one target (:func:`pylock_requirements`, for ``safe-install -r
pylock.toml``), and the checks of the local archives it names (:func:`check_archive`,
:func:`verify_archive`), made before anything reads, builds or installs them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from safeinstall.errors import RequirementError
from safeinstall.locks._parse import _line_finder, _load_toml, _sha256_of, _slash
from safeinstall.locks.model import (
    LockedFile,
    LockedRelease,
    ReadLock,
    UncheckedEntry,
    split_extras,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from safeinstall.models import UserRequirement
    from safeinstall.target import TargetPython


def read(path: str, text: str, environ: Mapping[str, str]) -> ReadLock:
    """Read a ``pylock.toml`` (``environ`` is not used)."""
    from packaging.pylock import PackageSdist, PackageWheel, Pylock

    data = _load_toml(path, text)
    try:
        lock = Pylock.from_dict(data)
    except Exception as exc:  # PylockValidationError and friends
        raise RequirementError(f"{path} is not a valid pylock.toml: {exc}") from None
    find = _line_finder(text)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    unchecked: list[UncheckedEntry] = []
    indexes: list[str] = []
    for pkg in lock.packages:
        line = find(f'name = "{pkg.name}"')
        where = f"{path}: package {pkg.name}" + (f" {pkg.version}" if pkg.version else "")
        name = canonicalize_name(pkg.name)
        version = str(pkg.version) if pkg.version is not None else None
        if pkg.wheels is None and pkg.sdist is None:
            if pkg.archive is not None:
                where_from = pkg.archive.path or pkg.archive.url or "?"
                local = pkg.archive.path if not pkg.archive.url else (
                    unquote(urlsplit(pkg.archive.url).path)
                    if pkg.archive.url.startswith("file:") else None)
                unchecked.append(UncheckedEntry(
                    name, version, "archive", f"{where}: an archive ({where_from}), not an "
                    "index file: it cannot be dated", line, f"archive {where_from}",
                    local, tuple(sorted(pkg.archive.hashes.items()))))
            elif pkg.vcs is not None:
                unchecked.append(UncheckedEntry(
                    name, version, "vcs", f"{where}: a VCS checkout "
                    f"({pkg.vcs.url or pkg.vcs.path}): not checked", line, "vcs"))
            elif pkg.directory is not None:
                unchecked.append(UncheckedEntry(
                    name, version, "path", f"{where}: a directory ({pkg.directory.path}): "
                    "not checked", line, "directory"))
            else:
                unchecked.append(UncheckedEntry(name, version, "no-files",
                                                f"{where}: lists no files", line, "no files"))
            continue
        if version is None:
            unchecked.append(UncheckedEntry(name, None, "not-pinned",
                                            f"{where}: has files but no version", line))
            continue
        files: list[LockedFile] = []
        dists: list[PackageWheel | PackageSdist] = [*(pkg.wheels or [])]
        if pkg.sdist is not None:
            dists.append(pkg.sdist)
        without: list[str] = []
        for dist in dists:
            shas = _sha256_of([f"{a}:{v}" for a, v in dist.hashes.items()],
                              f"{where}: {dist.filename}")
            if not shas:
                without.append(str(dist.filename))
                continue
            files.append(LockedFile(shas[0], dist.filename, dist.url, dist.upload_time))
        if without:
            unchecked.append(UncheckedEntry(name, version, "no-sha256",
                                            f"{where}: no sha256 for {', '.join(without)}",
                                            line))
        if not files:
            continue
        if pkg.index and _slash(pkg.index) not in indexes:
            indexes.append(_slash(pkg.index))
        releases.append(LockedRelease(name, version, tuple(files),
                                      _slash(pkg.index) if pkg.index else None, line,
                                      str(pkg.marker) if pkg.marker else None))
    return ReadLock(path, "pylock", tuple(releases), tuple(indexes), tuple(notes),
                    tuple(unchecked))


# -- installing from pylock.toml ------------------------------------------------------------------


@dataclass(frozen=True)
class PylockSelection:
    requirements: tuple[UserRequirement, ...]
    indexes: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())


ALLOW_OUTSIDE_ENV = "SAFE_INSTALL_ALLOW_LOCK_PATHS_OUTSIDE"


def _inside(base_dir: str, path: str, *, entry: str, lock: str, allow_outside: bool) -> str:
    """``path`` (relative to the lock's directory) resolved; outside that directory it is
    refused unless ``allow_outside``."""
    full = os.path.realpath(os.path.join(base_dir, path))
    base = os.path.realpath(base_dir)
    if not allow_outside and os.path.commonpath([base, full]) != base:
        raise RequirementError(
            f"{lock}: {entry} points outside the lock's directory ({path!r})",
            hint="a lock may only name files in its own directory tree; move the file there, "
            f"or set {ALLOW_OUTSIDE_ENV}=1 if you wrote this lock and mean it")
    return full


def check_archive(entry: UncheckedEntry, lock_path: str) -> str | None:
    """Why the local archive of a pylock entry is not the locked file (its path leaves the
    lock's directory, it cannot be read, or its sha256 differs), or None when it is."""
    if entry.archive is None:
        return None
    base_dir = os.path.dirname(os.path.abspath(lock_path))
    what = f"package {entry.name} (archive {entry.archive})"
    try:
        full = _inside(base_dir, entry.archive, entry=what, lock=lock_path,
                       allow_outside=False)
        verify_archive(full, dict(entry.archive_hashes), entry=what, lock=lock_path)
    except RequirementError as exc:
        return exc.message
    return None


def verify_archive(full: str, hashes: Mapping[str, str], *, entry: str, lock: str) -> None:
    """Check a local archive named by a lock against the lock's hashes, before anything
    reads, builds or installs it."""
    import hashlib

    wanted = {algo.lower(): value.lower() for algo, value in hashes.items()}
    if "sha256" not in wanted:
        raise RequirementError(f"{lock}: {entry} has no sha256 hash, so its bytes cannot be "
                               "verified", hint="add the archive's sha256 to the lock")
    digest = hashlib.sha256()
    try:
        with open(full, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise RequirementError(f"{lock}: cannot read {entry} ({full}): {exc.strerror}") \
            from None
    if digest.hexdigest() != wanted["sha256"]:
        raise RequirementError(
            f"{lock}: {entry}: the file's sha256 is {digest.hexdigest()}, the lock says "
            f"{wanted['sha256']}: it is not the file that was locked",
            hint="nothing was built or installed; find out how the file changed, then "
            "regenerate the lock")


def pylock_requirements(location: str, *, target: TargetPython, cwd: str,
                        sdist_only: Iterable[str] = (),
                        allow_outside: bool = False) -> PylockSelection:
    """What ``pip install -r pylock.toml[extras]`` installs for ``target``, as requirements.

    As pip 26: packages are selected by their markers and the target's tags
    (:meth:`packaging.pylock.Pylock.select`, default groups, the extras given in brackets), and
    each selected wheel or sdist becomes ``name==version`` pinned by its hashes. Directory,
    archive and VCS entries become path, URL and VCS requirements; their paths must stay in
    the lock's directory (unless ``allow_outside``), and a local archive's bytes are checked
    against the lock's sha256 here, before anything builds or installs it. The check then
    dates every file on the configured indexes; an index the lock names is only reported.
    """
    from packaging.pylock import PackageArchive, PackageDirectory, PackageVcs, Pylock

    from safeinstall.models import UserRequirement
    from safeinstall.urls import canonical_index_url

    path, extras = split_extras(location)
    full = path if os.path.isabs(path) else os.path.join(cwd, path)
    try:
        data = tomllib.loads(Path(full).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RequirementError(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RequirementError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise RequirementError(f"{path} is nested too deeply to be read") from None
    try:
        lock = Pylock.from_dict(data)
    except Exception as exc:
        raise RequirementError(f"{path} is not a valid pylock.toml: {exc}") from None
    no_binary = {canonicalize_name(n) for n in sdist_only}
    try:
        selected = list(lock.select(
            environment=dict(target.environment),  # type: ignore[arg-type]
            tags=list(target.tags), extras=extras,
            prefer_sdist_predicate=lambda n: n in no_binary))
    except Exception as exc:
        raise RequirementError(f"cannot select from {path} for {target.describe()}: {exc}",
                               hint="the lock was made for other environments") from None
    base_dir = os.path.dirname(os.path.abspath(full))
    reqs: list[UserRequirement] = []
    indexes: list[str] = []
    notes: list[str] = [f"{path}: {len(selected)} package(s) selected for {target.describe()}"]
    for pkg, dist in selected:
        source = f"{path} ({pkg.name})"
        entry = f"package {pkg.name}"
        if isinstance(dist, PackageVcs):
            if dist.url:
                url = dist.url
            else:
                url = Path(_inside(base_dir, dist.path or "", entry=f"{entry} (vcs path)",
                                   lock=path, allow_outside=allow_outside)).as_uri()
            text = f"{pkg.name} @ {dist.type}+{url}@{dist.commit_id}"
            reqs.append(UserRequirement(text, source, base_dir=base_dir))
            continue
        if isinstance(dist, PackageDirectory):
            where = _inside(base_dir, dist.path, entry=f"{entry} (directory)", lock=path,
                            allow_outside=allow_outside)
            reqs.append(UserRequirement(where, source, editable=bool(dist.editable),
                                        base_dir=base_dir))
            continue
        hashes = tuple(f"{algo}:{value.lower()}" for algo, value in dist.hashes.items())
        if isinstance(dist, PackageArchive):
            local: str | None = None
            if dist.url and dist.url.startswith("file:"):
                local = unquote(urlsplit(dist.url).path)
            elif not dist.url:
                local = dist.path or ""
            if local is not None:
                what = f"{entry} (archive {local})"
                archive = _inside(base_dir, local, entry=what, lock=path,
                                  allow_outside=allow_outside)
                verify_archive(archive, dist.hashes, entry=what, lock=path)
                url = Path(archive).as_uri()
            else:
                url = str(dist.url)
            reqs.append(UserRequirement(f"{pkg.name} @ {url}", source, hashes,
                                        base_dir=base_dir))
            continue
        version = pkg.version
        if version is None:
            raise RequirementError(f"{path}: {pkg.name} has files but no version")
        reqs.append(UserRequirement(f"{pkg.name}=={version}", source, hashes, base_dir=base_dir))
        if pkg.index and canonical_index_url(pkg.index) not in \
                {canonical_index_url(u) for u in indexes}:
            indexes.append(_slash(pkg.index))
    return PylockSelection(tuple(reqs), tuple(indexes), tuple(notes))
