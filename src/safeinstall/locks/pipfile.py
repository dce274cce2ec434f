"""The reader of ``Pipfile.lock`` (pipenv): a JSON document whose ``default`` and ``develop``
sections pin each package with ``==`` and its sha256 hashes."""

from __future__ import annotations

import json
from collections.abc import Mapping

from safeinstall.errors import RequirementError
from safeinstall.locks._parse import (
    PYPI_SIMPLE,
    _array,
    _line_finder,
    _name,
    _sha256_of,
    _slash,
    _string,
    _table,
    _text,
    _version,
)
from safeinstall.locks.model import LockedFile, LockedRelease, ReadLock, UncheckedEntry


def read(path: str, text: str, environ: Mapping[str, str]) -> ReadLock:
    """Read a ``Pipfile.lock`` (``environ`` is not used)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RequirementError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequirementError(f"{path} is not a Pipfile.lock (no JSON object)")
    meta = _table(data.get("_meta", {}), "_meta")
    sources: dict[str, str] = {}
    for i, s in enumerate(_array(meta.get("sources", []), "_meta.sources")):
        s = _table(s, f"_meta.sources[{i}]")
        sources[str(s.get("name"))] = _slash(_string(s.get("url"), f"_meta.sources[{i}].url"))
    default_index = next(iter(sources.values()), PYPI_SIMPLE)
    find = _line_finder(text)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    unchecked: list[UncheckedEntry] = []
    for section in ("default", "develop"):
        entries = _table(data.get(section, {}), section)
        for raw_name, raw in entries.items():
            where = f"{section}.{raw_name}"
            entry = _table(raw, where)
            name = _name(raw_name, where)
            line = find(f'"{raw_name}": {{')
            if any(k in entry for k in ("git", "hg", "svn", "bzr")):
                unchecked.append(UncheckedEntry(name, None, "vcs", f"{path}: {where} is a VCS "
                                                "checkout: not checked", line, _text(entry)))
                continue
            if "path" in entry or "file" in entry:
                unchecked.append(UncheckedEntry(name, None, "path", f"{path}: {where} is a "
                                                "path or URL: not checked", line, _text(entry)))
                continue
            version = _string(entry.get("version", ""), f"{where}.version")
            if not version.startswith("=="):
                unchecked.append(UncheckedEntry(name, None, "not-pinned",
                                                f"{path}: {where} is not pinned with ==: not "
                                                "checked", line, _text(entry)))
                continue
            version = _version(version[2:], f"{where}.version")
            hashes = _sha256_of(_array(entry.get("hashes", []), f"{where}.hashes"),
                                f"{where}.hashes")
            if not hashes:
                unchecked.append(UncheckedEntry(name, version, "no-sha256" if entry.get("hashes")
                                                else "no-hashes", f"{path}: {where} has no "
                                                "sha256 hash: its files cannot be dated", line,
                                                _text(entry)))
                continue
            index = sources.get(str(entry.get("index")), default_index)
            releases.append(LockedRelease(name, version, tuple(LockedFile(h) for h in hashes),
                                          index, line))
    return ReadLock(path, "pipfile", tuple(releases), tuple(dict.fromkeys(sources.values())),
                    tuple(notes), tuple(unchecked))
