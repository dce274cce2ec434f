"""Core metadata of a distribution, read without running anything: parsed from METADATA or
PKG-INFO bytes, from a wheel's ``.dist-info``, from an sdist's static PKG-INFO, and an sdist's
``[build-system] requires``. Every read is bounded by :data:`MAX_METADATA_BYTES`. An sdist
is read whole and inflated in one call when it is a plain archive (:mod:`safeinstall.treeops`).
"""

from __future__ import annotations

import email.parser
import re
import tarfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from safeinstall.errors import IndexAccessError
from safeinstall.treeops import open_tar, open_zip

MAX_METADATA_BYTES = 16 * 1024 * 1024


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


#: the end of a metadata file's headers: an empty line (line endings as the email parser's)
_HEADERS_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r|\n)")


def parse_metadata(data: bytes, source: str) -> tuple[CoreMetadata, Message]:
    """The core metadata in ``data`` and its headers (the body, a description that can be
    long, is not parsed: the headers end at the first empty line, as for the email parser,
    so they are the same)."""
    end = _HEADERS_END.search(data)
    msg = email.parser.BytesParser().parsebytes(data if end is None else data[:end.end()])
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


class MetadataTooLarge(Exception):
    """A METADATA member larger than :data:`MAX_METADATA_BYTES` (named by the argument)."""


def metadata_from_zip(zf: zipfile.ZipFile, project: str) -> bytes:
    names = [n for n in zf.namelist()
             if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    wanted = [n for n in names if canonicalize_name(n.split("-")[0]) == canonicalize_name(project)]
    name = (wanted or names)[0]
    info = zf.getinfo(name)
    if info.file_size > MAX_METADATA_BYTES:
        raise MetadataTooLarge(name)
    return zf.read(name)


def read_wheel_metadata(path: Path, project: str) -> bytes:
    try:
        with zipfile.ZipFile(path) as zf:
            return metadata_from_zip(zf, project)
    except MetadataTooLarge:
        raise IndexAccessError(
            f"{path.name}: its METADATA is larger than {MAX_METADATA_BYTES // (1024 * 1024)} "
            "MiB; refusing",
            hint="the wheel is broken or hostile; pin another version",
        ) from None
    except (zipfile.BadZipFile, KeyError, IndexError):
        raise IndexAccessError(
            f"{path.name} is not a valid wheel (no readable .dist-info/METADATA)",
            hint="the file is broken; pin another version or report it to the project",
        ) from None


def read_sdist_pkg_info(path: Path) -> bytes | None:
    """PKG-INFO at the top of an sdist, or None."""
    try:
        if path.name.endswith(".zip"):
            with open_zip(path) as zf:
                for n in zf.namelist():
                    if n.count("/") == 1 and n.endswith("/PKG-INFO"):
                        return zf.read(n)[:MAX_METADATA_BYTES]
            return None
        with open_tar(path) as tf:
            for member in tf:
                if member.isfile() and member.name.count("/") == 1 and \
                        member.name.endswith("/PKG-INFO"):
                    handle = tf.extractfile(member)
                    return handle.read(MAX_METADATA_BYTES) if handle else None
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError):
        return None
    return None


PIP_DEFAULT_BUILD_REQUIRES = ("setuptools>=40.8.0",)


def read_member(path: Path, name: str) -> bytes | None:
    """A top-level file (``<dir>/name``) of an sdist archive, or of a project directory."""
    try:
        if path.is_dir():
            target = path / name
            return target.read_bytes()[:MAX_METADATA_BYTES] if target.is_file() else None
        if path.name.endswith(".zip"):
            with open_zip(path) as zf:
                for n in zf.namelist():
                    if n.count("/") == 1 and n.endswith("/" + name):
                        return zf.read(n)[:MAX_METADATA_BYTES]
            return None
        with open_tar(path) as tf:
            for member in tf:
                if member.isfile() and member.name.count("/") == 1 and \
                        member.name.endswith("/" + name):
                    handle = tf.extractfile(member)
                    return handle.read(MAX_METADATA_BYTES) if handle else None
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError):
        return None
    return None


def build_requires(path: Path) -> tuple[str, ...]:
    """``[build-system] requires`` of an sdist or project directory, read without running it
    (pip's default when there is no build-system table)."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    data = read_member(path, "pyproject.toml")
    if data is None:
        return PIP_DEFAULT_BUILD_REQUIRES
    try:
        table = tomllib.loads(data.decode("utf-8")).get("build-system")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise IndexAccessError(f"{path.name}: pyproject.toml is not valid TOML ({exc})",
                               hint="the sdist is broken; pin another version") from None
    if table is None:
        return PIP_DEFAULT_BUILD_REQUIRES
    requires = table.get("requires") if isinstance(table, dict) else None
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise IndexAccessError(f"{path.name}: [build-system] requires is not a list of strings")
    return tuple(requires)


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
