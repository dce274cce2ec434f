"""A wheel's METADATA read with HTTP Range requests (:mod:`safeinstall.rangefile`), issue 21:
a small tail first, then each gap up to the bytes already read in one request, and no byte
twice, whatever the wheel's layout. Served by a real HTTP server on 127.0.0.1 that answers
Range requests as PyPI does (:class:`support.faults.FaultServer`)."""

from __future__ import annotations

import random
import re
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from clihelp import run_cli
from safeinstall.rangefile import RangeFile
from support.artifacts import build_wheel
from support.faults import FaultServer


def _spans(faulty: FaultServer, filename: str, size: int) -> list[tuple[int, int]]:
    """The byte spans the Range requests for ``filename`` asked for (end exclusive)."""
    out = []
    for seen in faulty.seen:
        spec = seen.headers.get("range")
        if spec is None or not seen.path.endswith("/" + filename):
            continue
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", spec)
        assert match, spec
        if not match.group(1):
            out.append((max(0, size - int(match.group(2))), size))
        else:
            out.append((int(match.group(1)), min(size, int(match.group(2)) + 1)))
    return out


def _wheel(tmp_path: Path, files: int, requires: int) -> Path:
    """A wheel laid out as wheel builders write them: the ``.dist-info`` files last, RECORD
    at the very end, just before the central directory."""
    rng = random.Random(files * 1000 + requires)
    extra = {f"demo/data/file_{i:05d}_{'n' * 40}.bin": rng.randbytes(200) for i in range(files)}
    built = build_wheel(tmp_path / f"w{files}-{requires}", "demo", "1.0",
                        requires_dist=[f"dep{i}>=1; extra == 'x'" for i in range(requires)],
                        provides_extra=["x"], extra_files=extra)
    with zipfile.ZipFile(built) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    members.sort(key=lambda m: (".dist-info/" in m[0].filename,
                                m[0].filename.endswith("/RECORD")))
    out = tmp_path / "dist" / f"{files}-{requires}" / built.name
    out.parent.mkdir(parents=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return out


@pytest.mark.parametrize("files, requires, most", [
    (0, 0, 1),  # smaller than the tail: one request
    (150, 0, 1),  # central directory and METADATA in the tail
    (3000, 0, 3),  # a central directory larger than the tail, METADATA before the RECORD
    (0, 4000, 2),  # a METADATA larger than the tail
    (3000, 4000, 3),
])
def test_metadata_by_range_in_few_requests_and_no_byte_twice(
        files, requires, most, local_index, clean_pip_env, tmp_path, t0):
    wheel = _wheel(tmp_path, files, requires)
    size = wheel.stat().st_size
    local_index.add(wheel, upload_time=t0)
    with FaultServer(local_index, ranges=True) as faulty:
        run = run_cli(["-i", faulty.url, "--dry-run", "--ignore-installed", "demo"],
                      clean_pip_env, tmp_path)
        spans = _spans(faulty, wheel.name, size)
        assert faulty.count(r"\.whl$") == 0  # never the whole wheel
    assert run.code == 0, run.stderr
    assert run.package("demo")["metadata_source"] == "range"
    assert 1 <= len(spans) <= most, spans
    taken = sorted(spans)
    assert all(a[1] <= b[0] for a, b in zip(taken, taken[1:], strict=False)), taken
    assert sum(end - start for start, end in spans) <= size


@pytest.mark.parametrize("files, requires", [(0, 0), (3000, 0), (0, 4000), (3000, 4000)])
def test_every_member_reads_back_exactly(files, requires, local_index, tmp_path, t0):
    """Whatever is read, in any order, is the file's bytes: blocks joined at their seams."""
    import ssl

    from safeinstall.http import HttpClient
    from safeinstall.session import LightSession

    wheel = _wheel(tmp_path, files, requires)
    data = wheel.read_bytes()
    local_index.add(wheel, upload_time=t0)
    with FaultServer(local_index, ranges=True) as faulty:
        parts = urlsplit(faulty.url)
        session = LightSession(ssl.create_default_context())
        try:
            remote = RangeFile(HttpClient(session), f"{parts.scheme}://{parts.netloc}/files/"
                                                    f"{wheel.name}")
            with zipfile.ZipFile(remote) as zf, zipfile.ZipFile(wheel) as local:
                names = local.namelist()
                random.Random(1).shuffle(names)
                for name in names[:100]:
                    assert zf.read(name) == local.read(name)
            for start in (0, len(data) // 3, len(data) - 5):
                remote.seek(start)
                assert remote.read(7) == data[start:start + 7]
        finally:
            session.close()
        spans = sorted(_spans(faulty, wheel.name, len(data)))
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans


class _HostileRanges(FaultServer):
    """Answers the first Range request of each wheel as PyPI does, and every later one as
    ``mode`` says (a hostile or broken server in front of the file)."""

    def __init__(self, index, mode: str) -> None:  # type: ignore[no-untyped-def]
        super().__init__(index, ranges=True)
        self.mode = mode
        self.answered = 0

    def _serve(self, h, path, headers, answer=None):  # type: ignore[no-untyped-def]
        byte_range = headers.get("range")
        if not (byte_range and path.endswith(".whl")):
            return super()._serve(h, path, headers, answer)
        status, out, body = self._real(path, headers)
        size = len(body)
        self.answered += 1
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", byte_range)
        assert match is not None
        if self.answered == 1 or not match.group(1):
            return super()._serve(h, path, headers, answer)
        start, end = int(match.group(1)), int(match.group(2))
        mode = self.mode
        if mode == "shifted":  # a valid 206 for other bytes than asked, and saying so
            start, end = max(0, start - 7), max(0, end - 7)
            part, total = body[start:end + 1], size
        elif mode == "short":
            part, total = body[start:start + 1], size
        elif mode == "empty":
            part, total = b"", size
        elif mode == "more":
            part, total = body[start:end + 1 + 4096], size
        elif mode == "resized":
            part, total = body[start:end + 1], size * 2
        else:  # "garbage": the right length, other bytes
            part, total = bytes(len(body[start:end + 1])), size
        crange = f"bytes {start}-{start + max(len(part), 1) - 1}/{total}"
        return self._send(h, 206, {**out, "Content-Range": crange}, part)


@pytest.mark.parametrize("mode", ["shifted", "short", "empty", "more", "resized", "garbage"])
def test_a_hostile_range_server_falls_back_to_the_verified_wheel(
        mode, local_index, clean_pip_env, tmp_path, t0):
    """After a good first answer (the tail), every later Range answer is wrong: the metadata
    then comes from the whole wheel, verified against its sha256; never a traceback, a few
    requests only."""
    wheel = _wheel(tmp_path, 3000, 4000)  # (needs requests after the tail)
    local_index.add(wheel, upload_time=t0)
    with _HostileRanges(local_index, mode) as faulty:
        run = run_cli(["-i", faulty.url, "--dry-run", "--ignore-installed", "demo"],
                      clean_pip_env, tmp_path)
        ranged = faulty.count(r"\.whl$", ranges=True) - faulty.count(r"\.whl$")
    assert run.code == 0, run.stderr
    # (a 206 for other bytes, or of a file of another size, is refused as such: no byte of it
    # is taken for the bytes asked for)
    assert run.package("demo")["metadata_source"] == "wheel"
    assert ranged <= 12


class _HugeDirectory(FaultServer):
    """Answers the tail request with the end record of a zip whose central directory would
    be 250 MB (of a 300 MB file), and records every later Range request."""

    SIZE = 300 * 1024 * 1024

    def __init__(self, index) -> None:  # type: ignore[no-untyped-def]
        super().__init__(index, ranges=True)
        self.asked: list[tuple[int, int]] = []

    def _serve(self, h, path, headers, answer=None):  # type: ignore[no-untyped-def]
        import struct

        byte_range = headers.get("range")
        if not (byte_range and path.endswith(".whl")):
            return super()._serve(h, path, headers, answer)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", byte_range)
        assert match is not None
        size = self.SIZE
        if not match.group(1):
            size_cd = 250 * 1024 * 1024
            end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, size_cd,
                              size - 22 - size_cd, 0)
            tail = bytes(int(match.group(2)) - len(end)) + end
            return self._send(h, 206, {"Content-Range": f"bytes {size - len(tail)}-{size - 1}"
                                                        f"/{size}"}, tail)
        start, last = int(match.group(1)), int(match.group(2))
        self.asked.append((start, last + 1))
        return self._send(h, 206, {"Content-Range": f"bytes {start}-{start}/{size}"}, b"\0")


def test_range_reads_never_ask_for_more_than_a_budget(local_index, clean_pip_env, tmp_path,
                                                      t0):
    """A server that claims a 300 MB wheel whose central directory is 250 MB: reading it by
    Range requests would hold it all in memory (an answer's body is kept whole). The metadata
    must come from the downloaded wheel instead (written to disk as it comes, verified)."""
    wheel = _wheel(tmp_path, 0, 0)
    local_index.add(wheel, upload_time=t0)
    with _HugeDirectory(local_index) as faulty:
        run = run_cli(["-i", faulty.url, "--dry-run", "--ignore-installed", "demo"],
                      clean_pip_env, tmp_path)
        asked = list(faulty.asked)
    assert run.code == 0, run.stderr
    assert run.package("demo")["metadata_source"] == "wheel"
    assert all(end - start <= RangeFile.BUDGET for start, end in asked), asked
    assert sum(end - start for start, end in asked) <= RangeFile.BUDGET, asked


def test_a_file_smaller_than_a_zip_end_record_sends_no_invalid_range(
        local_index, clean_pip_env, tmp_path, t0):
    """A "wheel" of 10 bytes: the zip reader seeks 22 bytes before the end. That must fail as
    it does on a file (no negative position, no ``Range: bytes=0--1`` sent); the run then
    refuses the broken wheel, with an error, not a traceback."""
    broken = tmp_path / "dist" / "demo-1.0-py3-none-any.whl"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"PK\x03\x04broken")
    local_index.add(broken, upload_time=t0, serve_metadata=False,
                    metadata=b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    with FaultServer(local_index, ranges=True) as faulty:
        run = run_cli(["-i", faulty.url, "--dry-run", "--ignore-installed", "demo"],
                      clean_pip_env, tmp_path)
        specs = [s.headers["range"] for s in faulty.seen if "range" in s.headers]
    assert run.code != 0
    assert specs and all(re.fullmatch(r"bytes=(\d+-\d+|-\d+)", spec) for spec in specs), specs
