"""Issue 20: the ``locks`` package stage by stage. Every lock format has a reader behind one
interface; the pylock writer (tomli-w since issue 20) writes the same document as the
hand-written TOML writer it replaced; reading a lock loads no HTTP stack."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import safeinstall
from safeinstall.backfill import Proof
from safeinstall.errors import RequirementError
from safeinstall.locks.model import (
    LOCK_FORMATS,
    LeftOut,
    Lock,
    LockedArtifact,
    LockedPackage,
    detect_format,
)
from safeinstall.locks.reader import READERS, read_lock
from safeinstall.locks.writer import pylock_dict, pylock_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: pylock.toml documents written by the hand-written TOML writer (lockfile.dumps_toml, main at
#: b3bf8ec) from the locks below, with the tool's version set to "VERSION"
GOLDEN = Path(__file__).parent / "data" / "locks" / "writer"
T = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)


def _sample_lock() -> Lock:
    """Every shape the pylock writer handles: wheels and an sdist, a late-verified wheel and
    an allowed-late sdist, markers (with quotes), several indexes, undated files, files left
    out (escapes, non-ASCII, a tab) and build dependencies."""
    A, P = LockedArtifact, LockedPackage
    proof = Proof("wheel-content", "demo-1.0-py3-none-any.whl", "c" * 64, 7, ("RECORD order",))
    demo = P("demo", "1.0", (
        A("demo-1.0-py3-none-any.whl", "https://example.org/files/demo-1.0-py3-none-any.whl",
          "https://example.org/simple/", "a" * 64, 1234, T, timedelta(seconds=5), True,
          ("cp312-manylinux_x86_64", "cp312-win_amd64")),
        A("demo-1.0-cp312-cp312-win_amd64.whl", "https://example.org/files/w.whl",
          "https://example.org/simple/", "b" * 64, None, T + timedelta(days=3),
          timedelta(days=3), True, ("cp312-win_amd64",), proof=proof),
        A("demo-1.0.tar.gz", "https://example.org/files/demo-1.0.tar.gz",
          "https://example.org/simple/", "d" * 64, 99, None, None, False, ("cp312-win_amd64",),
          allowed_late="--allow-late demo==1.0"),
    ), ("the user (requirements.in:1)",), T, None)
    dep = P("Dep.Two", "2.0.post1", (
        A("dep_two-2.0.post1-py3-none-any.whl", "https://mirror.example/d.whl",
          "https://mirror.example/simple/", "e" * 64, 10, T, timedelta(0), True,
          ("cp312-win_amd64",)),
        A("dep_two-2.0.post1.tar.gz", "https://other.example/d.tar.gz",
          "https://other.example/simple/", "f" * 64, 11, T, timedelta(0), False,
          ("cp312-win_amd64",)),
    ), ("demo 1.0",), None, 'sys_platform == "win32"')
    sdist_only = P("plain", "3", (
        A("plain-3.tar.gz", "https://example.org/files/plain-3.tar.gz",
          "https://example.org/simple/", "1" * 64, 5, T, None, False,
          ("cp312-manylinux_x86_64",)),), (), T,
        'python_version >= "3.12" and platform_machine != "x\'y"')
    build = P("setuptools", "80.0", (
        A("setuptools-80.0-py3-none-any.whl", "https://example.org/s.whl", "", "2" * 64, None,
          T, timedelta(0), True, ("cp312-manylinux_x86_64",)),
        A("setuptools-80.0.tar.gz", "https://example.org/s.tar.gz", "", "3" * 64, None,
          None, None, False, ("cp312-win_amd64",)),), ("plain 3",), T)
    return Lock(
        (demo, dep, sdist_only),
        (LeftOut("demo", "1.0", "demo-1.0-cp39-abi3-macosx_11_0_arm64.whl", "4" * 64, "late",
                 'late: uploaded 3d after its release began (threshold 1d); "quoted" \\ back',
                 T, timedelta(days=3)),
         LeftOut("demo", "1.0", "demo-1.0-cp312-cp312-musllinux_1_2_x86_64.whl", None,
                 "yanked", "yanked: ünïcode reason\twith tab"),
         LeftOut("plain", "3", "plain-3-py3-none-any.whl", "5" * 64, "not-selected",
                 "no locked target selects it", T)),
        ("cp312-manylinux_x86_64", "cp312-win_amd64"),
        T, timedelta(days=1), ("a note",), (build,))


def _empty_lock() -> Lock:
    return Lock((), (), ("cp312-manylinux_x86_64",), datetime(2026, 1, 2, tzinfo=timezone.utc),
                timedelta(hours=6))


@pytest.mark.parametrize(("lock", "golden"), [(_sample_lock(), "pylock.sample.toml"),
                                              (_empty_lock(), "pylock.empty.toml")])
def test_the_pylock_writer_writes_what_the_hand_written_writer_wrote(lock, golden, monkeypatch):
    monkeypatch.setattr(safeinstall, "__version__", "VERSION")
    text = pylock_text(lock)
    assert tomllib.loads(text) == tomllib.loads((GOLDEN / golden).read_text(encoding="utf-8"))
    # the writer's library writes every value it is given, nothing more
    assert tomllib.loads(text) == pylock_dict(lock)


def test_a_written_pylock_reads_back_with_the_line_of_each_package(tmp_path):
    path = tmp_path / "pylock.toml"
    path.write_text(pylock_text(_sample_lock()), encoding="utf-8")
    lock = read_lock(str(path))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [(r.name, r.version) for r in lock.releases] == \
        [("demo", "1.0"), ("dep-two", "2.0.post1"), ("plain", "3")]
    for r in lock.releases:
        assert r.line is not None and lines[r.line - 1] == f'name = "{r.name}"'
    assert lock.by_release()[("demo", "1")].hashes == {"a" * 64, "b" * 64, "d" * 64}
    assert lock.releases[1].marker == 'sys_platform == "win32"'
    assert lock.indexes == ("https://example.org/simple/",)


SHA = "ab" * 32
SAMPLES = {
    "requirements": ("requirements.txt", f"demo==1.0 --hash=sha256:{SHA}\n"),
    "pylock": ("pylock.toml", 'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\n'
               'name = "demo"\nversion = "1.0"\n[[packages.wheels]]\n'
               'url = "https://example.org/demo-1.0-py3-none-any.whl"\n'
               f'hashes = {{sha256 = "{SHA}"}}\n'),
    "pipfile": ("Pipfile.lock", json.dumps({"_meta": {"sources": []}, "default": {
        "demo": {"version": "==1.0", "hashes": [f"sha256:{SHA}"]}}}, indent=4)),
    "poetry": ("poetry.lock", '[[package]]\nname = "demo"\nversion = "1.0"\n'
               f'files = [{{file = "demo-1.0.tar.gz", hash = "sha256:{SHA}"}}]\n'),
    "uv": ("uv.lock", 'version = 1\n[[package]]\nname = "demo"\nversion = "1.0"\n'
           'source = { registry = "https://pypi.org/simple" }\n'
           'sdist = { url = "https://example.org/demo-1.0.tar.gz", '
           f'hash = "sha256:{SHA}" }}\n'),
}


def test_every_lock_format_has_a_reader():
    assert set(READERS) == set(LOCK_FORMATS) == set(SAMPLES)


@pytest.mark.parametrize("fmt", LOCK_FORMATS)
def test_each_reader_reads_its_format_through_the_interface(fmt, tmp_path):
    name, text = SAMPLES[fmt]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert detect_format(str(path)) == fmt
    direct = READERS[fmt](str(path), text, {})
    assert direct.format == fmt
    assert [(r.name, r.version, r.hashes) for r in direct.releases] == \
        [("demo", "1.0", frozenset({SHA}))]
    assert direct.releases[0].line == 1 + next(
        i for i, line in enumerate(text.splitlines()) if "demo" in line)
    assert read_lock(str(path)) == direct


@pytest.mark.parametrize("fmt", ["pylock", "poetry", "uv"])
def test_a_toml_lock_that_is_not_toml_is_an_error_naming_it(fmt, tmp_path):
    path = tmp_path / SAMPLES[fmt][0]
    path.write_text("[[package]\n", encoding="utf-8")
    with pytest.raises(RequirementError, match=f"lock file {path} is not valid TOML"):
        read_lock(str(path))


def test_reading_a_lock_loads_no_http_stack():
    code = ("import sys; import safeinstall.locks.reader; "
            "print(sorted(m for m in ('safeinstall.finder', 'safeinstall.http', 'unearth', "
            "'httpx2', 'rich', 'safeinstall.checker') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
