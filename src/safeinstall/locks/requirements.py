"""The reader of hashed requirements files (``pip-compile --generate-hashes``, ``uv pip
compile``, ``safe-install-tool lock``): each ``name==version`` pinned by ``--hash=sha256``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePath

from packaging.utils import canonicalize_name

from safeinstall.locks._parse import _sha256_of, _slash
from safeinstall.locks.model import (
    LockedFile,
    LockedRelease,
    ReadLock,
    UncheckedEntry,
    UncheckedKind,
)


def read(path: str, text: str, environ: Mapping[str, str]) -> ReadLock:
    """Read a hashed requirements file (``environ``: the values of ``${VAR}`` in it)."""
    from packaging.requirements import InvalidRequirement, Requirement

    from safeinstall.reqfile import parse_requirement_files

    with tempfile.TemporaryDirectory(prefix="safe-install-lock-") as tmp:
        if os.path.exists(path) and Path(path).read_text(encoding="utf-8",
                                                         errors="replace") == text:
            target = path
        else:  # an old revision: parse the text next to nothing (includes cannot be followed)
            target = os.path.join(tmp, PurePath(path).name)
            Path(target).write_text(text, encoding="utf-8")
        parsed = parse_requirement_files([target], environ=environ)
    releases: list[LockedRelease] = []
    notes: list[str] = []
    unchecked: list[UncheckedEntry] = []
    for line in parsed.requirements:
        lineno = int(line.source.rsplit(":", 1)[1]) if ":" in line.source and \
            line.source.rsplit(":", 1)[1].isdigit() else None
        where = f"{path}:{lineno}" if lineno else path
        if line.editable:
            unchecked.append(UncheckedEntry(None, None, "editable",
                                            f"{where}: editable requirement {line.text!r}: "
                                            "a path or VCS checkout, not checked", lineno,
                                            line.text))
            continue
        try:
            req = Requirement(line.text)
        except InvalidRequirement:
            unchecked.append(UncheckedEntry(None, None, "path",
                                            f"{where}: {line.text!r} is not a named requirement "
                                            "(a path or URL): not checked", lineno, line.text))
            continue
        name = canonicalize_name(req.name)
        if req.url:
            kind: UncheckedKind = "vcs" if "+" in req.url.split(":", 1)[0] else "direct-url"
            unchecked.append(UncheckedEntry(name, None, kind,
                                            f"{where}: {req.name} comes from {req.url!r}, not "
                                            "from an index: its files cannot be dated", lineno,
                                            line.text))
            continue
        pins = [s for s in req.specifier if s.operator in ("==", "===")
                and not s.version.endswith(".*")]
        if len(pins) != 1:
            unchecked.append(UncheckedEntry(name, None, "not-pinned",
                                            f"{where}: {line.text!r} is not pinned to one "
                                            "version: not checked", lineno, line.text))
            continue
        hashes = _sha256_of(line.hashes, where)
        if not hashes:
            kind = "no-sha256" if line.hashes else "no-hashes"
            unchecked.append(UncheckedEntry(
                name, pins[0].version, kind,
                f"{where}: {req.name}=={pins[0].version} has no sha256 --hash"
                + (" (only " + ", ".join(sorted({h.split(':')[0] for h in line.hashes}))
                   + ")" if line.hashes else "") + ": its files cannot be dated",
                lineno, line.text))
            continue
        releases.append(LockedRelease(name, pins[0].version,
                                      tuple(LockedFile(h) for h in hashes), None, lineno,
                                      str(req.marker) if req.marker else None))
    fo = parsed.options
    indexes = () if fo.no_index else tuple(
        _slash(u) for u in ([fo.index_url] if fo.index_url else []) + list(fo.extra_index_urls))
    return ReadLock(path, "requirements", tuple(releases), indexes, tuple(notes),
                    tuple(unchecked))
