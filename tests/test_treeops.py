"""sdist archives read whole and inflated in one call (issue 21, cold runs).

Under a busy GIL each small read of tarfile's streaming gzip reader waits for the GIL; reading
the file whole and inflating it in one call avoids that. Only a plain archive within the bounds
takes that path; every other one (over a bound, not gzip, a second gzip member, trailing bytes,
truncated, corrupt) is read the streaming way, so its result or error is exactly what it was.
"""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from safeinstall import treeops
from safeinstall.distmeta import build_requires, read_member, read_sdist_pkg_info
from support.artifacts import build_sdist


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _plain(tmp_path: Path) -> Path:
    return build_sdist(tmp_path / "plain", "demo", "1.0", build_requires=["flit_core>=3"])


def _variant(make: Callable[[bytes], bytes]) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        good = _plain(tmp_path)
        out = tmp_path / "variant" / good.name
        out.parent.mkdir()
        out.write_bytes(make(good.read_bytes()))
        return out
    return build


def _pyproject_last(tmp_path: Path) -> Path:
    """pyproject.toml after a member that inflates to more than a (lowered) bound."""
    out = tmp_path / "big" / "demo-1.0.tar.gz"
    out.parent.mkdir()
    out.write_bytes(gzip.compress(_tar_bytes({
        "demo-1.0/PKG-INFO": b"Metadata-Version: 2.2\nName: demo\nVersion: 1.0\n",
        "demo-1.0/padding.bin": b"\0" * 300_000,
        "demo-1.0/pyproject.toml": b'[build-system]\nrequires = ["flit_core>=3"]\n'})))
    return out


VARIANTS: dict[str, Callable[[Path], Path]] = {
    "plain": _plain,
    "second gzip member": _variant(lambda b: b + gzip.compress(b"\0" * 1024)),
    "trailing bytes": _variant(lambda b: b + b"junk"),
    "truncated": _variant(lambda b: b[: len(b) * 2 // 3]),
    "bad crc": _variant(lambda b: b[:-8] + bytes([b[-8] ^ 0xFF]) + b[-7:]),
    "corrupt deflate": _variant(lambda b: b[:40] + b"\xff" * 16 + b[56:]),
    "not gzip (plain tar)": _variant(gzip.decompress),
    "gzip of no tar": _variant(lambda b: gzip.compress(b"not a tar archive" * 50)),
    "empty": _variant(lambda b: b""),
}


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except Exception as exc:  # the exact error (type and text) is the outcome compared
        return (type(exc), str(exc))


def _reads(path: Path) -> tuple[object, ...]:
    return (_outcome(lambda: read_member(path, "pyproject.toml")),
            _outcome(lambda: read_member(path, "setup.py")),
            _outcome(lambda: read_sdist_pkg_info(path)),
            _outcome(lambda: build_requires(path)))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_archive_reads_as_the_streaming_reader_reads_it(variant, tmp_path, monkeypatch):
    path = VARIANTS[variant](tmp_path)
    whole = treeops.inflate_whole(path)
    assert (whole is not None) == (variant in ("plain", "gzip of no tar"))
    fast = _reads(path)
    monkeypatch.setattr(treeops, "MAX_COMPRESSED", 0)  # every read streams, as before
    assert treeops.inflate_whole(path) is None
    assert _reads(path) == fast
    if variant == "plain":
        assert fast[0] is not None and b"flit_core>=3" in fast[0]  # type: ignore[operator]
        assert fast[3] == ("flit_core>=3",)


def test_an_archive_inflating_past_the_bound_is_read_streaming(tmp_path, monkeypatch):
    path = _pyproject_last(tmp_path)
    assert treeops.inflate_whole(path) is not None
    monkeypatch.setattr(treeops, "MAX_INFLATED", 100_000)
    assert treeops.inflate_whole(path) is None  # inflating stops at the bound
    assert build_requires(path) == ("flit_core>=3",)
    assert read_sdist_pkg_info(path) is not None


def test_a_zip_sdist_is_read_from_memory_with_the_same_result(tmp_path, monkeypatch):
    path = tmp_path / "demo-1.0.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo-1.0/PKG-INFO", "Metadata-Version: 2.2\nName: demo\nVersion: 1.0\n")
        zf.writestr("demo-1.0/pyproject.toml", '[build-system]\nrequires = ["hatchling"]\n')
    broken = tmp_path / "broken-1.0.zip"
    broken.write_bytes(path.read_bytes()[:-30])
    fast = _reads(path), _reads(broken)
    monkeypatch.setattr(treeops, "MAX_COMPRESSED", 0)
    assert (_reads(path), _reads(broken)) == fast
    assert fast[0][3] == ("hatchling",)


# -- extraction, copy and removal in a child process ----------------------------------------------


def _hostile_tar(out: Path, kind: str) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ok = tarfile.TarInfo("evil-1.0/PKG-INFO")
        ok.size = 5
        tf.addfile(ok, io.BytesIO(b"hello"))
        names = {"dotdot": "evil-1.0/../../escaped.txt",
                 "absolute": str(out.parent / "escaped.txt")}
        info = tarfile.TarInfo(names.get(kind, "evil-1.0/x"))
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
        elif kind == "hardlink":
            info.type, info.linkname = tarfile.LNKTYPE, "/etc/passwd"
        elif kind == "device":
            info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        else:
            info.size = 4
        tf.addfile(info, io.BytesIO(b"evil") if info.isfile() else None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(buf.getvalue()))
    return out


def _hostile_zip(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("evil-1.0/PKG-INFO", "hello")
        zf.writestr("evil-1.0/../../escaped.txt", "evil")
    return out


HOSTILE = ["dotdot", "absolute", "symlink", "hardlink", "device", "zip", "truncated"]


def _hostile(tmp_path: Path, kind: str) -> Path:
    if kind == "zip":
        return _hostile_zip(tmp_path / "in" / "evil-1.0.zip")
    if kind == "truncated":
        good = _plain(tmp_path)
        out = tmp_path / "in" / good.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(good.read_bytes()[:-100])
        return out
    return _hostile_tar(tmp_path / "in" / "evil-1.0.tar.gz", kind)


def _unpack_outcome(source: Path, into: Path) -> object:
    from safeinstall.buildenv import _unpack
    from safeinstall.errors import IndexAccessError

    try:
        tree = _unpack(source, into)
    except IndexAccessError as exc:
        return (exc.message.replace(str(into.parent), "WORK"), exc.hint)
    return sorted(str(p.relative_to(into)) for p in tree.rglob("*"))


NO_CHILD = ["/nonexistent/python3"]  # cannot start: the work is done in this process
NO_ANSWER = [sys.executable, "-I", "-S", "-c", "import sys; sys.exit(3)"]  # starts, no answer


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_archive_is_refused_alike_by_the_child_and_in_process(kind, tmp_path,
                                                                        monkeypatch):
    from safeinstall import buildenv

    source = _hostile(tmp_path, kind)
    outcomes = [_unpack_outcome(source, tmp_path / "child" / "src")]
    with monkeypatch.context() as m:
        m.setattr(buildenv, "_TREEOPS", NO_CHILD)
        outcomes.append(_unpack_outcome(source, tmp_path / "here" / "src"))
        m.setattr(treeops, "MAX_COMPRESSED", 0)  # and the streaming reader, as before
        outcomes.append(_unpack_outcome(source, tmp_path / "stream" / "src"))
    monkeypatch.setattr(buildenv, "_TREEOPS", NO_ANSWER)
    outcomes.append(_unpack_outcome(source, tmp_path / "retry" / "src"))
    assert outcomes == [outcomes[0]] * 4
    assert not [p for p in tmp_path.rglob("escaped.txt")
                if "src" not in p.relative_to(tmp_path).parts]
    if kind == "absolute":  # tarfile's data filter extracts it inside the tree, as before
        assert any(name.endswith("/in/escaped.txt") for name in outcomes[0])  # type: ignore[attr-defined]
        return
    assert isinstance(outcomes[0], tuple), outcomes[0]  # refused
    message, hint = outcomes[0]
    assert source.name in message
    if kind == "zip":
        assert "would be written outside the source tree" in message and hint is None
    else:
        assert "cannot be unpacked" in message
        assert hint == "the sdist is broken; pin another version"


def test_an_sdist_is_extracted_alike_by_the_child_and_in_process(tmp_path, monkeypatch):
    from safeinstall import buildenv

    source = _plain(tmp_path)
    child = _unpack_outcome(source, tmp_path / "child" / "src")
    monkeypatch.setattr(buildenv, "_TREEOPS", NO_CHILD)
    here = _unpack_outcome(source, tmp_path / "here" / "src")
    monkeypatch.setattr(buildenv, "_TREEOPS", NO_ANSWER)
    retry = _unpack_outcome(source, tmp_path / "retry" / "src")
    assert child == here == retry
    assert "demo-1.0/pyproject.toml" in child  # type: ignore[operator]


@pytest.mark.parametrize("runner", ["child", "no child", "no answer"])
def test_the_copy_of_a_tree_is_real_whoever_makes_it(runner, tmp_path, monkeypatch):
    from safeinstall import buildenv

    monkeypatch.setattr(buildenv, "_TREEOPS", {"child": buildenv._TREEOPS, "no child": NO_CHILD,
                                               "no answer": NO_ANSWER}[runner])
    template = tmp_path / "template"
    (template / "pkg").mkdir(parents=True)
    (template / "pkg" / "mod.py").write_text("x = 1\n")
    (template / "link").symlink_to("pkg")
    buildenv._copy_tree(template, tmp_path / "copy")
    copied = tmp_path / "copy" / "pkg" / "mod.py"
    assert copied.read_text() == "x = 1\n"
    assert copied.stat().st_ino != (template / "pkg" / "mod.py").stat().st_ino
    assert (tmp_path / "copy" / "link").is_symlink()
    copied.write_text("changed\n")  # a build writing into its copy changes no template
    assert (template / "pkg" / "mod.py").read_text() == "x = 1\n"


def test_an_unpack_error_comes_before_a_failed_build_environment_and_nothing_is_left(
        tmp_path, clean_pip_env):
    from safeinstall import buildenv
    from safeinstall.errors import IndexAccessError

    source = _hostile(tmp_path, "dotdot")
    files = tmp_path / "files"
    files.mkdir()
    (tmp_path / "constraints.txt").write_text("")
    missing = buildenv.BuildPin("helper", "1.0", "0" * 64, "helper-1.0-py3-none-any.whl",
                                str(files / "helper-1.0-py3-none-any.whl"))
    env = buildenv.BuildEnv(str(files), str(tmp_path / "constraints.txt"), (missing,))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(IndexAccessError, match="cannot be unpacked"):
        buildenv.prepare_build(owner="evil", source=source, env=env, python=sys.executable,
                               pip_python=None, environ=clean_pip_env, workdir=work,
                               templates=buildenv.SiteTemplates())
    for proc in list(buildenv._removals):
        proc.wait(timeout=60)
    assert not [p for p in work.iterdir() if p.name.startswith("build-requires-")]
    assert not list(tmp_path.rglob("escaped.txt"))
