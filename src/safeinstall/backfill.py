"""Prove a late file benign by its content: the ``late-verified`` verdict.

Most late files are backfills: a wheel built later from the same source. A late file is
*verified* only when it is proven to carry nothing that the on-time files of its release did not
already carry. Two proofs exist, both on the exact bytes that will be installed (the downloaded,
hash-checked file); nothing from either archive is executed or extracted to disk:

* :func:`verify_pure_wheel` - a pure-Python late wheel against an on-time sdist of the same
  release: every file the wheel installs is byte-identical to the sdist's file under one common
  prefix (``''`` or ``src/``), no extra file, no ``.py`` file of the matched packages missing,
  Requires-Dist and entry points equal to the sdist's *static* metadata.
* :func:`verify_identical_wheel` - any late wheel against an on-time wheel's RECORD: every file's
  sha256 equals the reference's, and both install the same set of files.
  :func:`verify_against_wheel` does it against a downloaded on-time wheel's *content* (its
  members hashed here, not its RECORD's claims); that is what the check uses.

Both also refuse a late wheel whose own RECORD names a path that is not in the wheel (pip keeps
that list and removes those paths on uninstall).

Each returns a :class:`Proof` or a :class:`Mismatch` that explains the first difference found.
What is proven and what is not is written down in docs/threat-model.md. Reading the archives
and an sdist's static metadata is :mod:`safeinstall.archivecontent`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from safeinstall.archivecontent import (
    NotVerifiable,
    is_python_source,
    newlines,
    norm_requirements,
    parse_email,
    read_entry_points,
    read_sdist,
    read_wheel,
    sdist_static_metadata,
    shebang_python,
)

#: dist-info files that are bookkeeping of the wheel format, not content: never compared
_BOOKKEEPING = frozenset({"RECORD", "WHEEL", "INSTALLER", "RECORD.jws", "RECORD.p7s",
                          "REQUESTED", "direct_url.json"})
#: the two source layouts a pure wheel is matched against
_PREFIXES = ("", "src/")
#: files that run code at interpreter start (with a .pth) or are never part of a backfill
_STARTUP_MODULES = frozenset({"sitecustomize", "usercustomize"})

ProofKind = Literal["sdist-content", "wheel-record"]


@dataclass(frozen=True)
class Proof:
    """The late file carries only what the on-time ``reference`` carried."""

    kind: ProofKind
    reference: str  # the on-time file's name
    reference_sha256: str | None
    files_compared: int
    normalisations: tuple[str, ...]  # the safe normalisations that were needed

    def describe(self) -> str:
        how = ("every installed file is byte-identical to the on-time sdist's"
               if self.kind == "sdist-content"
               else "every file's sha256 equals the on-time wheel's")
        extra = f"; normalised: {', '.join(self.normalisations)}" if self.normalisations else ""
        return f"{how} ({self.files_compared} file(s) compared against {self.reference}{extra})"


@dataclass(frozen=True)
class Mismatch:
    """Not proven: ``reason`` names the first difference found."""

    reference: str
    reason: str


Outcome = Proof | Mismatch


# -- the proofs -----------------------------------------------------------------------------------


def _dist_info(wheel: Mapping[str, bytes], name: str) -> str:
    dirs = {n.split("/", 1)[0] for n in wheel if n.split("/", 1)[0].endswith(".dist-info")}
    if len(dirs) != 1:
        raise NotVerifiable(f"{name} has {len(dirs)} .dist-info directories, not one")
    return dirs.pop()


def _check_own_record(wheel: Mapping[str, bytes], info: str, name: str) -> None:
    """The late wheel's RECORD (kept by pip as the list of files to remove on uninstall) may
    name only files of the wheel: a RECORD that lists another path (``../../.bashrc``) is
    not bookkeeping, and is not verified."""
    record = wheel.get(f"{info}/RECORD")
    if record is None:
        raise NotVerifiable(f"{name} has no {info}/RECORD")
    try:
        rows = list(csv.reader(io.StringIO(record.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise NotVerifiable(f"the RECORD of {name} cannot be read: {exc}") from None
    for row in rows:
        if row and row[0] not in wheel:
            raise NotVerifiable(f"the RECORD of {name} lists {row[0]!r}, which is not a file "
                                 "of the wheel")


def is_pure_wheel(path: Path) -> bool:
    """Whether a wheel says ``Root-Is-Purelib: true`` (False for anything unreadable)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.count("/") == 1
                     and n.endswith(".dist-info/WHEEL")]
            if len(names) != 1:
                return False
            meta = parse_email(archive.read(names[0]))
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return False
    return (meta.get("Root-Is-Purelib") or "").strip().lower() == "true"


def _installed_path(path: str, data_dir: str) -> tuple[str, str]:
    """(scheme, path relative to that scheme) of a wheel member."""
    if path.startswith(data_dir + "/"):
        rest = path[len(data_dir) + 1:]
        scheme, _, sub = rest.partition("/")
        if not sub:
            raise NotVerifiable(f"{path} is not inside a scheme of {data_dir}")
        return scheme, sub
    return "lib", path


def _forbidden(path: str) -> str | None:
    pure = PurePosixPath(path)
    if pure.suffix == ".pth":
        return "a .pth file (runs code at every interpreter start)"
    if pure.suffix in (".pyc", ".pyo") or "__pycache__" in pure.parts:
        return "compiled bytecode (cannot be compared with the source)"
    if len(pure.parts) == 1 and pure.stem in _STARTUP_MODULES:
        return f"{pure.name} (runs at every interpreter start)"
    return None


def verify_pure_wheel(wheel_path: Path, sdist_path: Path, *,
                      sdist_sha256: str | None = None) -> Outcome:
    """Prove a pure-Python wheel carries only the sdist's files (see the module docstring)."""
    try:
        return _verify_pure(wheel_path, sdist_path, sdist_sha256)
    except NotVerifiable as exc:
        return Mismatch(sdist_path.name, str(exc))
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError) as exc:
        return Mismatch(sdist_path.name, f"an archive cannot be read: {exc}")


def _verify_pure(wheel_path: Path, sdist_path: Path, sdist_sha256: str | None) -> Proof:
    wheel = read_wheel(wheel_path)
    sdist = read_sdist(sdist_path)
    info = _dist_info(wheel, wheel_path.name)
    _check_own_record(wheel, info, wheel_path.name)
    data_dir = info[:-len(".dist-info")] + ".data"
    wheel_meta = parse_email(wheel.get(f"{info}/WHEEL", b""))
    if (wheel_meta.get("Root-Is-Purelib") or "").strip().lower() != "true":
        raise NotVerifiable(f"{wheel_path.name} is not a pure-Python wheel (Root-Is-Purelib)")
    normalised: set[str] = set()
    installed: dict[str, bytes] = {}
    scripts: dict[str, bytes] = {}
    others: dict[str, bytes] = {}
    for path, data in wheel.items():
        if path.startswith(info + "/"):
            continue
        scheme, sub = _installed_path(path, data_dir)
        bad = _forbidden(sub)
        if bad:
            raise NotVerifiable(f"{wheel_path.name} installs {sub}: {bad}")
        if scheme in ("purelib", "platlib", "lib"):
            if sub in installed:
                raise NotVerifiable(f"{wheel_path.name} installs {sub} twice")
            installed[sub] = data
        elif scheme == "scripts":
            scripts[sub] = data
        elif scheme in ("data", "headers"):
            others[f"{scheme}/{sub}"] = data
        else:
            raise NotVerifiable(f"{wheel_path.name} has an unknown scheme {scheme!r}")
    if not installed:
        raise NotVerifiable(f"{wheel_path.name} installs no module")
    prefix, compared, first_difference = _match_prefix(installed, sdist, normalised)
    if prefix is None:
        raise NotVerifiable(first_difference or "no common layout")
    # no .py file of the matched packages missing from the wheel
    packages = {p.split("/", 1)[0] for p in installed if "/" in p}
    for path in sorted(sdist):
        if not path.startswith(prefix) or not path.endswith(".py"):
            continue
        rel = path[len(prefix):]
        if rel.split("/", 1)[0] in packages and "/" in rel and rel not in installed:
            raise NotVerifiable(f"the sdist's {path} is missing from {wheel_path.name}")
    # scripts and data files: the sdist must hold the same bytes (shebang normalised)
    for name, data in sorted(scripts.items()):
        candidates = [p for p in sdist if PurePosixPath(p).name == name]
        if not any(shebang_python(sdist[p]) == shebang_python(data) for p in candidates):
            raise NotVerifiable(f"{wheel_path.name} installs the script {name}, which no file "
                                 "of the sdist matches")
        if any(sdist[p] != data for p in candidates if shebang_python(sdist[p]) ==
               shebang_python(data)):
            normalised.add("script shebang rewritten to #!python")
        compared += 1
    for name, data in sorted(others.items()):
        rel = name.split("/", 1)[1]
        if not any(p == rel or p.endswith("/" + rel) for p in sdist if sdist[p] == data):
            raise NotVerifiable(f"{wheel_path.name} installs {name}, which no file of the "
                                 "sdist matches")
        compared += 1
    _compare_metadata(wheel, info, sdist, wheel_path.name)
    return Proof("sdist-content", sdist_path.name, sdist_sha256, compared,
                 tuple(sorted(normalised)))


def _match_prefix(installed: Mapping[str, bytes], sdist: Mapping[str, bytes],
                  normalised: set[str]) -> tuple[str | None, int, str | None]:
    best: tuple[int, str] | None = None  # (files found under the prefix, first difference)
    for prefix in _PREFIXES:
        crlf = False
        found = sum(prefix + path in sdist for path in installed)
        for path, data in sorted(installed.items()):
            theirs = sdist.get(prefix + path)
            if theirs is None:
                why = f"{path} is not in the sdist under {prefix or 'its root'}"
                break
            if theirs == data:
                continue
            if is_python_source(path) and newlines(theirs) == newlines(data):
                crlf = True
                continue
            why = f"{path} differs from the sdist's {prefix}{path}"
            break
        else:
            if crlf:
                normalised.add("CRLF/CR line ends in .py/.pyi files read as LF")
            return prefix, len(installed), None
        if best is None or found > best[0]:  # the layout the wheel follows best explains it
            best = (found, why)
    return None, 0, best[1] if best is not None else None


def _compare_metadata(wheel: Mapping[str, bytes], info: str, sdist: Mapping[str, bytes],
                      name: str) -> None:
    static = sdist_static_metadata(sdist)
    if static.requires is None:
        raise NotVerifiable("the sdist declares its dependencies only at build time "
                             "(no static Requires-Dist), so they cannot be compared")
    meta = parse_email(wheel.get(f"{info}/METADATA", b""))
    ours = norm_requirements(meta.get_all("Requires-Dist") or (), f"{name} METADATA")
    if ours != static.requires:
        extra = sorted(ours - static.requires)
        missing = sorted(static.requires - ours)
        raise NotVerifiable(
            f"{name}'s Requires-Dist differs from the sdist's {static.origin}"
            + (f": added {', '.join(extra)}" if extra else "")
            + (f"; missing {', '.join(missing)}" if missing else ""))
    eps = wheel.get(f"{info}/entry_points.txt")
    ours_eps = read_entry_points(eps.decode("utf-8", "replace"), f"{name} entry_points.txt") \
        if eps is not None else {}
    if static.entry_points is None:
        if ours_eps:
            raise NotVerifiable(f"{name} declares entry points, and the sdist's are known only "
                                 "at build time")
        return
    if ours_eps != static.entry_points:
        groups = sorted(set(ours_eps) | set(static.entry_points))
        diff = next(g for g in groups if ours_eps.get(g) != static.entry_points.get(g))
        raise NotVerifiable(f"{name}'s entry points differ from the sdist's in [{diff}]")


def _record_digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(
        b"=").decode("ascii")


def parse_record(text: bytes, name: str) -> dict[str, str]:
    """A RECORD file: path -> ``sha256=...`` (entries without a sha256 are left out)."""
    out: dict[str, str] = {}
    try:
        rows = list(csv.reader(io.StringIO(text.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise NotVerifiable(f"the RECORD of {name} cannot be read: {exc}") from None
    for row in rows:
        if not row:
            continue
        path = row[0]
        digest = row[1] if len(row) > 1 else ""
        if path in out:
            raise NotVerifiable(f"the RECORD of {name} lists {path} twice")
        if digest.startswith("sha256="):
            out[path] = digest
    return out


def verify_identical_wheel(wheel_path: Path, reference_name: str, reference_record: bytes, *,
                           reference_sha256: str | None = None) -> Outcome:
    """Prove every file of the late wheel has the sha256 the on-time wheel's RECORD gives for
    the same path, and that both install the same files (dist-info bookkeeping aside)."""
    try:
        wheel = read_wheel(wheel_path)
        record = parse_record(reference_record, reference_name)
        info = _dist_info(wheel, wheel_path.name)
        _check_own_record(wheel, info, wheel_path.name)
        expected = {p: d for p, d in record.items()
                    if not (p.startswith(info + "/") and p.split("/", 1)[1] in _BOOKKEEPING)}
        compared = 0
        for path, data in sorted(wheel.items()):
            if path.startswith(info + "/") and path.split("/", 1)[1] in _BOOKKEEPING:
                continue
            want = expected.pop(path, None)
            if want is None:
                return Mismatch(reference_name, f"{wheel_path.name} has {path}, which "
                                f"{reference_name} does not")
            if _record_digest(data) != want:
                return Mismatch(reference_name, f"{path} differs from {reference_name}'s")
            compared += 1
        if expected:
            return Mismatch(reference_name, f"{reference_name} has {sorted(expected)[0]}, which "
                            f"{wheel_path.name} does not")
        return Proof("wheel-record", reference_name, reference_sha256, compared, ())
    except NotVerifiable as exc:
        return Mismatch(reference_name, str(exc))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return Mismatch(reference_name, f"an archive cannot be read: {exc}")


def content_record(wheel_path: Path) -> bytes:
    """A RECORD of what a wheel really holds (every member's sha256, computed here), so that
    a proof compares with the on-time wheel's content, not with what its RECORD claims."""
    wheel = read_wheel(wheel_path)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for path, data in sorted(wheel.items()):
        writer.writerow([path, _record_digest(data), str(len(data))])
    return out.getvalue().encode("utf-8")


def verify_against_wheel(wheel_path: Path, reference_path: Path, *,
                         reference_sha256: str | None = None) -> Outcome:
    """:func:`verify_identical_wheel` against the content of a downloaded on-time wheel."""
    try:
        record = content_record(reference_path)
    except NotVerifiable as exc:
        return Mismatch(reference_path.name, str(exc))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return Mismatch(reference_path.name, f"an archive cannot be read: {exc}")
    return verify_identical_wheel(wheel_path, reference_path.name, record,
                                  reference_sha256=reference_sha256)
