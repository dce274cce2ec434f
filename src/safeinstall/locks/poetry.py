"""The reader of ``poetry.lock``: ``[[package]]`` entries with their files and sha256 hashes (or,
before poetry 1.5, the files of every package under ``[metadata.files]``)."""

from __future__ import annotations

from collections.abc import Mapping

from packaging.utils import canonicalize_name

from safeinstall.locks._parse import (
    PYPI_SIMPLE,
    _add_release,
    _array,
    _line_finder,
    _load_toml,
    _name,
    _sha256_of,
    _slash,
    _string,
    _table,
    _text,
    _version,
)
from safeinstall.locks.model import (
    LockedFile,
    LockedRelease,
    ReadLock,
    UncheckedEntry,
    UncheckedKind,
)


def read(path: str, text: str, environ: Mapping[str, str]) -> ReadLock:
    """Read a ``poetry.lock`` (``environ`` is not used)."""
    data = _load_toml(path, text)
    find = _line_finder(text)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    unchecked: list[UncheckedEntry] = []
    indexes: list[str] = []
    # poetry < 1.5 kept the files of every package under [metadata.files]
    legacy = _table(_table(data.get("metadata", {}), "metadata").get("files", {}),
                    "metadata.files")
    legacy_files = {canonicalize_name(str(k)): v for k, v in legacy.items()}
    for i, raw in enumerate(_array(data.get("package", []), "package")):
        pkg = _table(raw, f"package[{i}]")
        name = _name(pkg.get("name"), f"package[{i}].name")
        where = f"package {name}"
        version = _version(pkg.get("version"), f"{where}.version")
        start = find(f'name = "{pkg.get("name")}"')
        if "files" not in pkg and name in legacy_files:
            pkg = {**pkg, "files": legacy_files[name]}
        source = _table(pkg.get("source") or {}, f"{where}.source")
        stype = source.get("type")
        if stype not in (None, "legacy"):
            kind: UncheckedKind = "vcs" if stype == "git" else "path"
            unchecked.append(UncheckedEntry(name, version, kind, f"{path}: {where} comes from "
                                            f"a {stype} source: not checked", start,
                                            _text(source)))
            continue
        url = source.get("url")
        index = _slash(_string(url, f"{where}.source.url")) if stype == "legacy" and url \
            else PYPI_SIMPLE
        files = []
        for j, f in enumerate(_array(pkg.get("files", []), f"{where}.files")):
            f = _table(f, f"{where}.files[{j}]")
            for sha in _sha256_of([f.get("hash", "")], f"{where}.files[{j}].hash"):
                files.append(LockedFile(sha, f.get("file") if isinstance(f.get("file"), str)
                                        else None))
        _add_release(LockedRelease(name, version, tuple(files), index, start), path, where,
                     releases, indexes, unchecked)
    return ReadLock(path, "poetry", tuple(releases), tuple(indexes), tuple(notes),
                    tuple(unchecked))
