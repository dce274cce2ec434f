"""sdist archives read whole and inflated in one call (issue 21, cold runs).

Under a busy GIL each small read of tarfile's streaming gzip reader waits for the GIL; reading
the file whole and inflating it in one call avoids that. Only a plain archive within the bounds
takes that path; every other one (over a bound, not gzip, a second gzip member, trailing bytes,
truncated, corrupt) is read the streaming way, so its result or error is exactly what it was.
"""

from __future__ import annotations

import gzip
import io
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
