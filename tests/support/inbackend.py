"""A tiny, stdlib-only PEP 517 build backend, plus the wheel/sdist writers it shares with tests.

This file has two lives:

* ``tests/support/artifacts.py`` imports it to write wheels and sdists (one code path for
  both, so a wheel built by the tests and a wheel built by pip from one of our sdists are
  made the same way);
* :func:`support.artifacts.build_sdist` copies this very file, verbatim, into every sdist as
  ``inbackend.py`` and names it as the in-tree build backend (``build-backend = "inbackend"``,
  ``backend-path = ["."]``, ``requires = []``). pip can then build those sdists with no
  build dependency from any index.

It must therefore import nothing outside the standard library, and keep working on every
Python the project supports.

When the environment variable ``SAFE_INSTALL_TEST_BUILD_MARKER`` holds a path, every hook
appends its own name and a newline to that file (creating it): a test can prove that a
build did (or did not) run, and which hooks ran.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: Environment variable naming the file that each backend hook appends its name to.
BUILD_MARKER_ENV = "SAFE_INSTALL_TEST_BUILD_MARKER"
#: File, at the root of an sdist, that holds what the backend needs to build the wheel.
DIST_JSON = "safeinstall_test_dist.json"
#: Fixed timestamp of every archive member, so equal inputs give byte-identical archives.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)
_TAR_MTIME = 1577836800  # 2020-01-01T00:00:00Z
_GENERATOR = "safeinstall-tests-inbackend 1.0"


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


def normalize_name(name: str) -> str:
    """Return the PEP 503 normalized form of a project name (``Foo.Bar_baz`` -> ``foo-bar-baz``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def filename_name(name: str) -> str:
    """Return ``name`` as written in wheel and sdist filenames (``Foo.Bar`` -> ``foo_bar``)."""
    return normalize_name(name).replace("-", "_")


def filename_version(version: str) -> str:
    """Return ``version`` as written in wheel and sdist filenames (no ``-``)."""
    return version.replace("-", "_")


def module_name(name: str) -> str:
    """Return the importable top-level package a distribution of ``name`` installs."""
    return filename_name(name)


def dist_stem(name: str, version: str) -> str:
    """Return ``{name}-{version}`` as used by sdist filenames and ``.dist-info`` directories."""
    return f"{filename_name(name)}-{filename_version(version)}"


def wheel_filename(name: str, version: str, tag: str, build_tag: str | None = None) -> str:
    """Return the wheel filename for ``name``/``version`` with the compressed ``tag`` triple."""
    if build_tag is not None and not re.fullmatch(r"\d\w*", build_tag):
        raise ValueError(f"build tag must start with a digit: {build_tag!r}")
    if len(tag.split("-")) != 3:
        raise ValueError(f"wheel tag must be 'python-abi-platform': {tag!r}")
    parts = [filename_name(name), filename_version(version)]
    if build_tag is not None:
        parts.append(build_tag)
    parts.append(tag)
    return "-".join(parts) + ".whl"


def sdist_filename(name: str, version: str) -> str:
    """Return the sdist filename for ``name``/``version`` (``{name}-{version}.tar.gz``)."""
    return dist_stem(name, version) + ".tar.gz"


# ---------------------------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------------------------


def core_metadata(
    name: str,
    version: str,
    *,
    metadata_version: str = "2.1",
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    provides_extra: Sequence[str] = (),
    dynamic: Sequence[str] = (),
) -> str:
    """Return core metadata (``METADATA`` / ``PKG-INFO``) text for a distribution."""
    lines = [
        f"Metadata-Version: {metadata_version}",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: Test distribution {name} {version} written by safe-install's test suite",
    ]
    lines += [f"Dynamic: {field}" for field in dynamic]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Provides-Extra: {extra}" for extra in provides_extra]
    lines += [f"Requires-Dist: {req}" for req in requires_dist]
    return "\n".join(lines) + "\n\n"


def module_source(name: str, version: str, payload: str | None) -> str:
    """Return the ``__init__.py`` of the package a test distribution installs.

    It defines ``__version__`` and ``PAYLOAD`` so that a test can tell which of two artifacts
    of the same version was installed.
    """
    return (
        f'"""Test package {name} {version}, written by safe-install\'s test suite."""\n\n'
        f"__version__ = {version!r}\n"
        f"PAYLOAD = {payload!r}\n"
    )


def _expand_tags(tag: str) -> list[str]:
    """Expand a compressed tag set (``py2.py3-none-any``) into individual tags."""
    pythons, abis, platforms = tag.split("-")
    return [
        f"{py}-{abi}-{plat}"
        for py in pythons.split(".")
        for abi in abis.split(".")
        for plat in platforms.split(".")
    ]


def wheel_file_text(tag: str, build_tag: str | None = None) -> str:
    """Return the ``WHEEL`` file of a wheel carrying ``tag`` (purelib iff platform ``any``)."""
    purelib = tag.split("-")[2] == "any"
    lines = [
        "Wheel-Version: 1.0",
        f"Generator: {_GENERATOR}",
        f"Root-Is-Purelib: {'true' if purelib else 'false'}",
    ]
    lines += [f"Tag: {t}" for t in _expand_tags(tag)]
    if build_tag is not None:
        lines.append(f"Build: {build_tag}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Archives
# ---------------------------------------------------------------------------------------------


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def write_wheel(
    out_dir: str | os.PathLike[str],
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    provides_extra: Sequence[str] = (),
    build_tag: str | None = None,
    payload: str | None = None,
    init_source: str | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a valid wheel into ``out_dir`` and return its path.

    ``extra_files`` adds members (archive path -> bytes), e.g. a ``.pth`` file at the root.

    ``init_source`` replaces the generated ``<module>/__init__.py`` (the backend passes the
    one found in the sdist). Archives are deterministic: equal arguments give equal bytes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info_dir = dist_stem(name, version) + ".dist-info"
    if init_source is None:
        init_source = module_source(name, version, payload)
    metadata = core_metadata(
        name,
        version,
        requires_dist=requires_dist,
        requires_python=requires_python,
        provides_extra=provides_extra,
    )
    members: list[tuple[str, bytes]] = [
        (f"{module_name(name)}/__init__.py", init_source.encode("utf-8")),
        (f"{info_dir}/METADATA", metadata.encode("utf-8")),
        (f"{info_dir}/WHEEL", wheel_file_text(tag, build_tag).encode("utf-8")),
        *sorted((extra_files or {}).items()),
    ]
    record_path = f"{info_dir}/RECORD"
    record = (
        "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in members)
        + f"{record_path},,\n"
    )
    members.append((record_path, record.encode("utf-8")))

    target = out / wheel_filename(name, version, tag, build_tag)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in members:
            info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return target


def write_tar_gz(target: Path, members: Iterable[tuple[str, bytes]]) -> Path:
    """Write a deterministic ``.tar.gz`` holding ``members`` (archive path, content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in members:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = _TAR_MTIME
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    with (
        open(target, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed,
    ):
        compressed.write(buffer.getvalue())
    return target


def write_sdist_from_tree(
    source_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], stem: str
) -> Path:
    """Pack every file under ``source_dir`` into ``out_dir/{stem}.tar.gz`` under ``{stem}/``."""
    root = Path(source_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    members = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or "__pycache__" in rel.parts or path.suffix == ".pyc":
            continue
        members.append((f"{stem}/{rel.as_posix()}", path.read_bytes()))
    return write_tar_gz(out / f"{stem}.tar.gz", members)


# ---------------------------------------------------------------------------------------------
# PEP 517 hooks (run by pip with the unpacked sdist as the working directory)
# ---------------------------------------------------------------------------------------------


def _mark(hook: str) -> None:
    marker = os.environ.get(BUILD_MARKER_ENV)
    if marker:
        with open(marker, "a", encoding="utf-8") as handle:
            handle.write(hook + "\n")


def _dist() -> dict[str, Any]:
    with open(DIST_JSON, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def get_requires_for_build_wheel(config_settings: Mapping[str, Any] | None = None) -> list[str]:
    """PEP 517 hook: building a wheel needs what the sdist's ``dynamic_build_requires`` lists
    (nothing by default: the backend itself needs only the standard library)."""
    _mark("get_requires_for_build_wheel")
    return list(_dist().get("dynamic_build_requires", []))


def get_requires_for_build_sdist(config_settings: Mapping[str, Any] | None = None) -> list[str]:
    """PEP 517 hook: building an sdist needs nothing beyond the standard library."""
    _mark("get_requires_for_build_sdist")
    return []


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: Mapping[str, Any] | None = None
) -> str:
    """PEP 517 hook: write ``{name}-{version}.dist-info`` with METADATA and WHEEL."""
    _mark("prepare_metadata_for_build_wheel")
    dist = _dist()
    info_dir = Path(metadata_directory) / (dist_stem(dist["name"], dist["version"]) + ".dist-info")
    info_dir.mkdir(parents=True, exist_ok=True)
    metadata = core_metadata(
        dist["name"],
        dist["version"],
        requires_dist=dist["requires_dist"],
        requires_python=dist["requires_python"],
        provides_extra=dist["provides_extra"],
    )
    (info_dir / "METADATA").write_text(metadata, encoding="utf-8")
    (info_dir / "WHEEL").write_text(wheel_file_text("py3-none-any"), encoding="utf-8")
    return info_dir.name


def build_wheel(
    wheel_directory: str,
    config_settings: Mapping[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    """PEP 517 hook: build a ``py3-none-any`` wheel of this sdist; return its filename."""
    _mark("build_wheel")
    dist = _dist()
    init_path = Path(module_name(dist["name"])) / "__init__.py"
    wheel = write_wheel(
        wheel_directory,
        dist["name"],
        dist["version"],
        requires_dist=dist["requires_dist"],
        requires_python=dist["requires_python"],
        provides_extra=dist["provides_extra"],
        init_source=init_path.read_text(encoding="utf-8"),
    )
    return wheel.name


def build_sdist(sdist_directory: str, config_settings: Mapping[str, Any] | None = None) -> str:
    """PEP 517 hook: re-pack the source tree as ``{name}-{version}.tar.gz``; return its name."""
    _mark("build_sdist")
    dist = _dist()
    stem = dist_stem(dist["name"], dist["version"])
    return write_sdist_from_tree(".", sdist_directory, stem).name


# PEP 660: an "editable" build here is a regular wheel (enough for tests of -e handling).
get_requires_for_build_editable = get_requires_for_build_wheel
prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel
build_editable = build_wheel
