"""The reader of ``uv.lock``: ``[[package]]`` entries from a registry, with the sha256 hash (and
upload time) of their sdist and wheels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from safeinstall.locks._parse import (
    _add_release,
    _array,
    _line_finder,
    _load_toml,
    _name,
    _parse_time,
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
    """Read a ``uv.lock`` (``environ`` is not used)."""
    data = _load_toml(path, text)
    find = _line_finder(text)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    unchecked: list[UncheckedEntry] = []
    indexes: list[str] = []
    for i, raw in enumerate(_array(data.get("package", []), "package")):
        pkg = _table(raw, f"package[{i}]")
        name = _name(pkg.get("name"), f"package[{i}].name")
        where = f"package {name}"
        start = find(f'name = "{pkg.get("name")}"')
        source = _table(pkg.get("source") or {}, f"{where}.source")
        registry = source.get("registry")
        if not registry:
            if not source.get("virtual") and not source.get("editable"):
                kind: UncheckedKind = "vcs" if source.get("git") else \
                    "direct-url" if source.get("url") else "path"
                unchecked.append(UncheckedEntry(name, None, kind, f"{path}: {where} does not "
                                                "come from a registry: not checked", start,
                                                _text(source)))
            continue
        version = _version(pkg.get("version"), f"{where}.version")
        index = _slash(_string(registry, f"{where}.source.registry"))
        files = []
        dists: list[Any] = []
        if "sdist" in pkg:
            dists.append((f"{where}.sdist", _table(pkg["sdist"], f"{where}.sdist")))
        for j, w in enumerate(_array(pkg.get("wheels", []), f"{where}.wheels")):
            dists.append((f"{where}.wheels[{j}]", _table(w, f"{where}.wheels[{j}]")))
        for dwhere, dist in dists:
            for sha in _sha256_of([dist.get("hash", "")], f"{dwhere}.hash"):
                url = dist.get("url")
                url = url if isinstance(url, str) else None
                filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) if url else None
                files.append(LockedFile(sha, filename, url, _parse_time(dist.get("upload-time"))))
        _add_release(LockedRelease(name, version, tuple(files), index, start), path, where,
                     releases, indexes, unchecked)
    return ReadLock(path, "uv", tuple(releases), tuple(indexes), tuple(notes),
                    tuple(unchecked))
