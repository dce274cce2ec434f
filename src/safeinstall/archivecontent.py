"""What a late wheel and the files it is compared with carry, read without extracting or running
anything (:mod:`safeinstall.backfill` proves with it): archive members, bounded in number and
size; the normalisations a comparison applies; the static metadata of an sdist.
"""

from __future__ import annotations

import configparser
import email.parser
import email.policy
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

#: an archive member larger than this is not read (a proof is not worth a memory bomb)
MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 100_000


class NotVerifiable(Exception):
    """Raised inside the verifier; becomes a :class:`safeinstall.backfill.Mismatch`."""


# -- reading archives without extracting them --------------------------------------------------


def _check_member_name(name: str, archive: str) -> str:
    if "\\" in name or name.startswith("/") or any(ord(c) < 32 for c in name):
        raise NotVerifiable(f"{archive} has a member with an unsafe name: {name!r}")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise NotVerifiable(f"{archive} has a member outside its root: {name!r}")
    return "/".join(p for p in parts if p != ".")


def read_wheel(path: Path) -> dict[str, bytes]:
    """Every regular file of a wheel: archive path -> bytes."""
    out: dict[str, bytes] = {}
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise NotVerifiable(f"{path.name} has more than {MAX_MEMBERS} members")
        for info in infos:
            if info.is_dir():
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                raise NotVerifiable(f"{path.name}: {info.filename} is too large to compare")
            name = _check_member_name(info.filename, path.name)
            if name in out:
                raise NotVerifiable(f"{path.name} lists {name} twice")
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
                raise NotVerifiable(f"{path.name} has more than {MAX_MEMBERS} members")
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
                    raise NotVerifiable(f"{path.name} has more than {MAX_MEMBERS} members")
                if not member.isreg() or member.size > MAX_MEMBER_BYTES:
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                name = _check_member_name(member.name, path.name)
                if name in files:
                    raise NotVerifiable(f"{path.name} lists {name} twice")
                files[name] = handle.read()
    roots = {n.split("/", 1)[0] for n in files}
    if len(roots) != 1:
        raise NotVerifiable(f"{path.name} does not have a single top-level directory")
    root = roots.pop()
    return {n[len(root) + 1:]: data for n, data in files.items() if "/" in n}


# -- normalisations --------------------------------------------------------------------------------


def is_python_source(path: str) -> bool:
    return path.endswith((".py", ".pyi"))


def newlines(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def shebang_python(data: bytes) -> bytes:
    """A script's first line rewritten to ``#!python`` as wheel builders do."""
    if not data.startswith(b"#!"):
        return data
    first, sep, rest = data.partition(b"\n")
    if b"python" not in first.lower():
        return data
    return b"#!python" + sep + rest


# -- static metadata of an sdist --------------------------------------------------------------


def norm_requirements(lines: Iterable[str], origin: str) -> frozenset[str]:
    out = set()
    for line in lines:
        text = line.strip()
        if not text:
            continue
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise NotVerifiable(f"{origin} has an invalid requirement {text!r}: {exc}") from None
        extras = ",".join(sorted(canonicalize_name(e) for e in req.extras))
        text = canonicalize_name(req.name) + (f"[{extras}]" if extras else "")
        text += ",".join(sorted(str(s) for s in req.specifier))
        if req.url:
            text += f" @ {req.url}"
        if req.marker:
            text += f"; {req.marker}"
        out.add(text)
    return frozenset(out)


def parse_email(data: bytes) -> email.message.Message:
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
    return norm_requirements(lines, origin)


@dataclass(frozen=True)
class StaticMetadata:
    requires: frozenset[str] | None  # None: not known without building
    entry_points: dict[str, dict[str, str]] | None  # None: not known without building
    origin: str


def read_entry_points(text: str, origin: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise NotVerifiable(f"{origin} cannot be read: {exc}") from None
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
        msg = parse_email(pkg_info)
        try:
            mv = Version(msg.get("Metadata-Version", "0").strip())
        except InvalidVersion:
            mv = Version("0")
        dynamic = {d.strip().lower() for d in msg.get_all("Dynamic") or ()}
        if mv >= Version("2.2") and "requires-dist" not in dynamic:
            requires = norm_requirements(msg.get_all("Requires-Dist") or (), "PKG-INFO")
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
            entry_points = (read_entry_points(eps.decode("utf-8", "replace"),
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
                requires = norm_requirements(lines, "pyproject.toml")
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
