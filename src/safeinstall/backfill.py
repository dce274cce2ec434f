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
What is proven and what is not is written down in docs/threat-model.md.
"""

from __future__ import annotations

import base64
import configparser
import csv
import email.parser
import email.policy
import hashlib
import io
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

#: dist-info files that are bookkeeping of the wheel format, not content: never compared
_BOOKKEEPING = frozenset({"RECORD", "WHEEL", "INSTALLER", "RECORD.jws", "RECORD.p7s",
                          "REQUESTED", "direct_url.json"})
#: the two source layouts a pure wheel is matched against
_PREFIXES = ("", "src/")
#: files that run code at interpreter start (with a .pth) or are never part of a backfill
_STARTUP_MODULES = frozenset({"sitecustomize", "usercustomize"})
#: an archive member larger than this is not read (a proof is not worth a memory bomb)
MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 100_000

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


class _NotVerifiable(Exception):
    """Raised inside the verifier; becomes a :class:`Mismatch`."""


# -- reading archives without extracting them --------------------------------------------------


def _check_member_name(name: str, archive: str) -> str:
    if "\\" in name or name.startswith("/") or any(ord(c) < 32 for c in name):
        raise _NotVerifiable(f"{archive} has a member with an unsafe name: {name!r}")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise _NotVerifiable(f"{archive} has a member outside its root: {name!r}")
    return "/".join(p for p in parts if p != ".")


def read_wheel(path: Path) -> dict[str, bytes]:
    """Every regular file of a wheel: archive path -> bytes."""
    out: dict[str, bytes] = {}
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise _NotVerifiable(f"{path.name} has more than {MAX_MEMBERS} members")
        for info in infos:
            if info.is_dir():
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                raise _NotVerifiable(f"{path.name}: {info.filename} is too large to compare")
            name = _check_member_name(info.filename, path.name)
            if name in out:
                raise _NotVerifiable(f"{path.name} lists {name} twice")
            out[name] = archive.read(info)
    return out


def read_sdist(path: Path) -> dict[str, bytes]:
    """Every regular file of an sdist (``.tar.gz`` or ``.zip``) below its single top-level
    directory: path relative to that root -> bytes. Links and devices are left out (a file the
    wheel has and the sdist only links to is then missing, and not verified)."""
    files: dict[str, bytes] = {}
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise _NotVerifiable(f"{path.name} has more than {MAX_MEMBERS} members")
            for info in infos:
                if info.is_dir() or info.file_size > MAX_MEMBER_BYTES:
                    continue
                files[_check_member_name(info.filename, path.name)] = archive.read(info)
    else:
        with tarfile.open(path, mode="r:*") as archive:
            count = 0
            for member in archive:
                count += 1
                if count > MAX_MEMBERS:
                    raise _NotVerifiable(f"{path.name} has more than {MAX_MEMBERS} members")
                if not member.isreg() or member.size > MAX_MEMBER_BYTES:
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                name = _check_member_name(member.name, path.name)
                if name in files:
                    raise _NotVerifiable(f"{path.name} lists {name} twice")
                files[name] = handle.read()
    roots = {n.split("/", 1)[0] for n in files}
    if len(roots) != 1:
        raise _NotVerifiable(f"{path.name} does not have a single top-level directory")
    root = roots.pop()
    return {n[len(root) + 1:]: data for n, data in files.items() if "/" in n}


# -- normalisations --------------------------------------------------------------------------------


def _is_python_source(path: str) -> bool:
    return path.endswith((".py", ".pyi"))


def _newlines(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _shebang_python(data: bytes) -> bytes:
    """A script's first line rewritten to ``#!python`` as wheel builders do."""
    if not data.startswith(b"#!"):
        return data
    first, sep, rest = data.partition(b"\n")
    if b"python" not in first.lower():
        return data
    return b"#!python" + sep + rest


# -- static metadata of an sdist --------------------------------------------------------------


def _norm_requirements(lines: Iterable[str], origin: str) -> frozenset[str]:
    out = set()
    for line in lines:
        text = line.strip()
        if not text:
            continue
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise _NotVerifiable(f"{origin} has an invalid requirement {text!r}: {exc}") from None
        extras = ",".join(sorted(canonicalize_name(e) for e in req.extras))
        text = canonicalize_name(req.name) + (f"[{extras}]" if extras else "")
        text += ",".join(sorted(str(s) for s in req.specifier))
        if req.url:
            text += f" @ {req.url}"
        if req.marker:
            text += f"; {req.marker}"
        out.add(text)
    return frozenset(out)


def _parse_email(data: bytes) -> email.message.Message:
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data)


def _requires_txt(text: str, origin: str) -> frozenset[str]:
    """setuptools' ``egg-info/requires.txt``: sections ``[extra]``, ``[:marker]``,
    ``[extra:marker]`` turned into Requires-Dist lines."""
    lines: list[str] = []
    section: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section is None:
            lines.append(line)
            continue
        extra, _, marker = section.partition(":")
        conditions = []
        if marker:
            conditions.append(f"({marker})")
        if extra:
            conditions.append(f'extra == "{extra}"')
        lines.append(f"{line}; {' and '.join(conditions)}" if conditions else line)
    return _norm_requirements(lines, origin)


@dataclass(frozen=True)
class StaticMetadata:
    requires: frozenset[str] | None  # None: not known without building
    entry_points: dict[str, dict[str, str]] | None  # None: not known without building
    origin: str


def _entry_points(text: str, origin: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise _NotVerifiable(f"{origin} cannot be read: {exc}") from None
    out = {}
    for group in parser.sections():
        entries = {k.strip(): " ".join(v.split()) for k, v in parser.items(group)}
        if entries:
            out[group] = entries
    return out


def sdist_static_metadata(sdist: Mapping[str, bytes]) -> StaticMetadata:
    """What the sdist declares without being built: Requires-Dist from PKG-INFO (Metadata-Version
    2.2+ and not Dynamic), else ``*.egg-info/requires.txt``, else static ``pyproject.toml``; entry
    points from ``*.egg-info/entry_points.txt`` or static ``pyproject.toml``."""
    requires: frozenset[str] | None = None
    entry_points: dict[str, dict[str, str]] | None = None
    origin = "the sdist"
    pkg_info = sdist.get("PKG-INFO")
    if pkg_info is not None:
        msg = _parse_email(pkg_info)
        try:
            mv = Version(msg.get("Metadata-Version", "0").strip())
        except InvalidVersion:
            mv = Version("0")
        dynamic = {d.strip().lower() for d in msg.get_all("Dynamic") or ()}
        if mv >= Version("2.2") and "requires-dist" not in dynamic:
            requires = _norm_requirements(msg.get_all("Requires-Dist") or (), "PKG-INFO")
            origin = "PKG-INFO"
    bases = sorted({n.rsplit("/", 1)[0] + "/" for n in sdist
                    if n.rsplit("/", 1)[0].endswith(".egg-info") and n.count("/") in (1, 2)})
    for base in bases[:1]:
        if requires is None:
            req = sdist.get(base + "requires.txt")
            requires = (_requires_txt(req.decode("utf-8", "replace"), base + "requires.txt")
                        if req is not None else frozenset())
            origin = base + "requires.txt"
        eps = sdist.get(base + "entry_points.txt")
        if entry_points is None:
            entry_points = (_entry_points(eps.decode("utf-8", "replace"),
                                          base + "entry_points.txt")
                            if eps is not None else {})
    pyproject = sdist.get("pyproject.toml")
    if pyproject is not None and (requires is None or entry_points is None):
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        try:
            project = tomllib.loads(pyproject.decode("utf-8")).get("project")
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            project = None
        if isinstance(project, dict):
            dynamic_fields = set(project.get("dynamic") or ())
            if requires is None and "dependencies" not in dynamic_fields and \
                    "optional-dependencies" not in dynamic_fields:
                lines = [str(x) for x in project.get("dependencies") or ()]
                for extra, reqs in (project.get("optional-dependencies") or {}).items():
                    for r in reqs:
                        base, sep, marker = str(r).partition(";")
                        lines.append(f'{base}; ({marker.strip()}) and extra == "{extra}"' if sep
                                     else f'{base}; extra == "{extra}"')
                requires = _norm_requirements(lines, "pyproject.toml")
                origin = "pyproject.toml"
            if entry_points is None and not {"scripts", "gui-scripts", "entry-points"} & \
                    dynamic_fields:
                groups: dict[str, dict[str, str]] = {}
                for key, group in (("scripts", "console_scripts"),
                                   ("gui-scripts", "gui_scripts")):
                    if project.get(key):
                        groups[group] = {k: " ".join(str(v).split())
                                         for k, v in project[key].items()}
                for group, entries in (project.get("entry-points") or {}).items():
                    groups[group] = {k: " ".join(str(v).split()) for k, v in entries.items()}
                entry_points = groups
    return StaticMetadata(requires, entry_points, origin)


# -- the proofs -----------------------------------------------------------------------------------


def _dist_info(wheel: Mapping[str, bytes], name: str) -> str:
    dirs = {n.split("/", 1)[0] for n in wheel if n.split("/", 1)[0].endswith(".dist-info")}
    if len(dirs) != 1:
        raise _NotVerifiable(f"{name} has {len(dirs)} .dist-info directories, not one")
    return dirs.pop()


def _check_own_record(wheel: Mapping[str, bytes], info: str, name: str) -> None:
    """The late wheel's RECORD (kept by pip as the list of files to remove on uninstall) may
    name only files of the wheel: a RECORD that lists another path (``../../.bashrc``) is
    not bookkeeping, and is not verified."""
    record = wheel.get(f"{info}/RECORD")
    if record is None:
        raise _NotVerifiable(f"{name} has no {info}/RECORD")
    try:
        rows = list(csv.reader(io.StringIO(record.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _NotVerifiable(f"the RECORD of {name} cannot be read: {exc}") from None
    for row in rows:
        if row and row[0] not in wheel:
            raise _NotVerifiable(f"the RECORD of {name} lists {row[0]!r}, which is not a file "
                                 "of the wheel")


def is_pure_wheel(path: Path) -> bool:
    """Whether a wheel says ``Root-Is-Purelib: true`` (False for anything unreadable)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.count("/") == 1
                     and n.endswith(".dist-info/WHEEL")]
            if len(names) != 1:
                return False
            meta = _parse_email(archive.read(names[0]))
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return False
    return (meta.get("Root-Is-Purelib") or "").strip().lower() == "true"


def _installed_path(path: str, data_dir: str) -> tuple[str, str]:
    """(scheme, path relative to that scheme) of a wheel member."""
    if path.startswith(data_dir + "/"):
        rest = path[len(data_dir) + 1:]
        scheme, _, sub = rest.partition("/")
        if not sub:
            raise _NotVerifiable(f"{path} is not inside a scheme of {data_dir}")
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
    except _NotVerifiable as exc:
        return Mismatch(sdist_path.name, str(exc))
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError) as exc:
        return Mismatch(sdist_path.name, f"an archive cannot be read: {exc}")


def _verify_pure(wheel_path: Path, sdist_path: Path, sdist_sha256: str | None) -> Proof:
    wheel = read_wheel(wheel_path)
    sdist = read_sdist(sdist_path)
    info = _dist_info(wheel, wheel_path.name)
    _check_own_record(wheel, info, wheel_path.name)
    data_dir = info[:-len(".dist-info")] + ".data"
    wheel_meta = _parse_email(wheel.get(f"{info}/WHEEL", b""))
    if (wheel_meta.get("Root-Is-Purelib") or "").strip().lower() != "true":
        raise _NotVerifiable(f"{wheel_path.name} is not a pure-Python wheel (Root-Is-Purelib)")
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
            raise _NotVerifiable(f"{wheel_path.name} installs {sub}: {bad}")
        if scheme in ("purelib", "platlib", "lib"):
            if sub in installed:
                raise _NotVerifiable(f"{wheel_path.name} installs {sub} twice")
            installed[sub] = data
        elif scheme == "scripts":
            scripts[sub] = data
        elif scheme in ("data", "headers"):
            others[f"{scheme}/{sub}"] = data
        else:
            raise _NotVerifiable(f"{wheel_path.name} has an unknown scheme {scheme!r}")
    if not installed:
        raise _NotVerifiable(f"{wheel_path.name} installs no module")
    prefix, compared, first_difference = _match_prefix(installed, sdist, normalised)
    if prefix is None:
        raise _NotVerifiable(first_difference or "no common layout")
    # no .py file of the matched packages missing from the wheel
    packages = {p.split("/", 1)[0] for p in installed if "/" in p}
    for path in sorted(sdist):
        if not path.startswith(prefix) or not path.endswith(".py"):
            continue
        rel = path[len(prefix):]
        if rel.split("/", 1)[0] in packages and "/" in rel and rel not in installed:
            raise _NotVerifiable(f"the sdist's {path} is missing from {wheel_path.name}")
    # scripts and data files: the sdist must hold the same bytes (shebang normalised)
    for name, data in sorted(scripts.items()):
        candidates = [p for p in sdist if PurePosixPath(p).name == name]
        if not any(_shebang_python(sdist[p]) == _shebang_python(data) for p in candidates):
            raise _NotVerifiable(f"{wheel_path.name} installs the script {name}, which no file "
                                 "of the sdist matches")
        if any(sdist[p] != data for p in candidates if _shebang_python(sdist[p]) ==
               _shebang_python(data)):
            normalised.add("script shebang rewritten to #!python")
        compared += 1
    for name, data in sorted(others.items()):
        rel = name.split("/", 1)[1]
        if not any(p == rel or p.endswith("/" + rel) for p in sdist if sdist[p] == data):
            raise _NotVerifiable(f"{wheel_path.name} installs {name}, which no file of the "
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
            if _is_python_source(path) and _newlines(theirs) == _newlines(data):
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
        raise _NotVerifiable("the sdist declares its dependencies only at build time "
                             "(no static Requires-Dist), so they cannot be compared")
    meta = _parse_email(wheel.get(f"{info}/METADATA", b""))
    ours = _norm_requirements(meta.get_all("Requires-Dist") or (), f"{name} METADATA")
    if ours != static.requires:
        extra = sorted(ours - static.requires)
        missing = sorted(static.requires - ours)
        raise _NotVerifiable(
            f"{name}'s Requires-Dist differs from the sdist's {static.origin}"
            + (f": added {', '.join(extra)}" if extra else "")
            + (f"; missing {', '.join(missing)}" if missing else ""))
    eps = wheel.get(f"{info}/entry_points.txt")
    ours_eps = _entry_points(eps.decode("utf-8", "replace"), f"{name} entry_points.txt") \
        if eps is not None else {}
    if static.entry_points is None:
        if ours_eps:
            raise _NotVerifiable(f"{name} declares entry points, and the sdist's are known only "
                                 "at build time")
        return
    if ours_eps != static.entry_points:
        groups = sorted(set(ours_eps) | set(static.entry_points))
        diff = next(g for g in groups if ours_eps.get(g) != static.entry_points.get(g))
        raise _NotVerifiable(f"{name}'s entry points differ from the sdist's in [{diff}]")


def _record_digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(
        b"=").decode("ascii")


def parse_record(text: bytes, name: str) -> dict[str, str]:
    """A RECORD file: path -> ``sha256=...`` (entries without a sha256 are left out)."""
    out: dict[str, str] = {}
    try:
        rows = list(csv.reader(io.StringIO(text.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _NotVerifiable(f"the RECORD of {name} cannot be read: {exc}") from None
    for row in rows:
        if not row:
            continue
        path = row[0]
        digest = row[1] if len(row) > 1 else ""
        if path in out:
            raise _NotVerifiable(f"the RECORD of {name} lists {path} twice")
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
    except _NotVerifiable as exc:
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
    except _NotVerifiable as exc:
        return Mismatch(reference_path.name, str(exc))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return Mismatch(reference_path.name, f"an archive cannot be read: {exc}")
    return verify_identical_wheel(wheel_path, reference_path.name, record,
                                  reference_sha256=reference_sha256)
