"""Index pages fetched and read by child processes (issue 21, :mod:`safeinstall.pagework`).

The children only save the run's time: every listing built from their answers must be the one
the run builds itself, entry for entry, for well-formed and hostile pages alike; a page they
do not read the run's way comes back whole, a fetch they cannot do is the run's again, and a
child that dies leaves the run reading its pages itself.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from array import array
from datetime import timedelta
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from clihelp import run_cli
from safeinstall.errors import SafeInstallError
from safeinstall.finder import Finder, _fits
from safeinstall.http import HttpClient
from safeinstall.listing import ProjectListing
from safeinstall.models import Source
from safeinstall.pagework import Kept, PagePool, PageSummary, Settings, _write_all
from safeinstall.session import LightSession, Session
from safeinstall.tls import default_context
from safeinstall.wiring import PAGE_POOL_PROJECTS
from support.artifacts import build_sdist, build_wheel
from support.index import HTML_CONTENT_TYPE, JSON_CONTENT_TYPE

SETTINGS = Settings(tls_environ={}, cert=None, client_cert=None, trusted_hosts=[],
                    timeout=10.0, deadline=60.0)


def _finder(index, pool: PagePool | None = None) -> Finder:
    client = HttpClient(Session(lambda: None, LightSession(default_context(), timeout=10.0)),
                        retries=1, sleep=lambda s: None)
    finder = Finder(index_urls=[index.url], session=client)
    finder.page_worker = pool
    return finder


@pytest.fixture
def pool():
    started = PagePool(SETTINGS)
    started.start()
    for worker in started.workers:  # (a run reads pages itself until a child is ready)
        for _ in range(3000):  # (30 s: a loaded machine starts a child slowly)
            if worker.ready:
                break
            threading.Event().wait(0.01)
        assert worker.ready
    yield started
    started.close()


def _page(files: list[dict[str, object]], api: str = "1.1") -> bytes:
    return json.dumps({"meta": {"api-version": api}, "name": "x", "files": files}).encode()


def _entry(index, filename: str, **extra: object) -> dict[str, object]:
    return {"filename": filename, "url": f"{index.base_url}/files/{filename}",
            "hashes": {"sha256": "a" * 64}, "upload-time": "2024-01-01T00:00:00Z", **extra}


@pytest.fixture
def hostile(local_index, tmp_path: Path, t0):
    """Well-formed projects and pages that are not: each is read by the run alone and with
    the children."""
    out = tmp_path / "dists"
    for i, v in enumerate(["1.0", "1.0.0", "2.0", "3.0rc1", "3.0"]):
        when = t0 + timedelta(days=i)
        local_index.add(build_wheel(out, "demo", v), upload_time=when)
        if v != "1.0.0":
            local_index.add(build_sdist(out, "demo", v), upload_time=when)
    local_index.add(build_wheel(out, "other", "1.0"), upload_time=t0)
    ix = local_index
    pages = {
        # another project's files, a name no distribution has, a duplicate, an unknown ending
        "mixed": (_page([_entry(ix, "mixed-1.0-py3-none-any.whl"),
                         _entry(ix, "evil-1.0-py3-none-any.whl"),
                         _entry(ix, "mixed-2.0-py3-none-any.whl"),
                         _entry(ix, "mixed-2.0-py3-none-any.whl"),
                         {"filename": "x", "url": f"{ix.base_url}/files/mixed-3.0-py3-none-an"
                          "y.whl?x=<a>"},
                         _entry(ix, "mixed-1.0.tar.gz", yanked="bad"),
                         {"filename": "y", "url": f"{ix.base_url}/files/mixed-4.0-py3-none-an"
                          "y%24.whl"},
                         _entry(ix, "README.txt")]), JSON_CONTENT_TYPE),
        # relative URLs: the run's slow path joins them (the children do not read such a page)
        "relative": (_page([{"filename": "relative-1.0.tar.gz",
                             "url": "../../files/relative-1.0.tar.gz"}]), JSON_CONTENT_TYPE),
        "htmlpage": (b'<html><body><a href="/files/htmlpage-1.0.tar.gz">x</a></body></html>',
                     HTML_CONTENT_TYPE),
        "newapi": (_page([_entry(ix, "newapi-1.0.tar.gz")], api="2.0"), JSON_CONTENT_TYPE),
        "localfile": (_page([{"filename": "localfile-1.0.tar.gz",
                              "url": "file:///etc/localfile-1.0.tar.gz"}]), JSON_CONTENT_TYPE),
        "notjson": (b"{not json", JSON_CONTENT_TYPE),
        "failing": (b"", JSON_CONTENT_TYPE),
        "empty": (_page([]), JSON_CONTENT_TYPE),
    }
    for name, (body, ctype) in pages.items():
        local_index.break_project(name, body, ctype, status=503 if name == "failing" else 200)
    return local_index


PROJECTS = ["demo", "other", "mixed", "relative", "htmlpage", "newapi", "localfile", "notjson",
            "failing", "empty", "missing"]


def _seen(finder: Finder, name: str, spec: SpecifierSet) -> object:
    """Everything the run can ask of ``name``'s listing, or the error it gets."""
    try:
        listing = finder.project(name)
        before = (listing.notes, [f.url for f in listing.candidates(spec)], listing.index_urls(),
                  listing.digest)
        return before, listing.versions(), [f.url for f in listing.files], listing.light(), \
            [f.invalid for f in listing.files]
    except SafeInstallError as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("spec", ["==2.0", ">=1.0", "==1.0", "<0"])
def test_a_listing_read_by_the_children_is_the_runs_own(hostile, pool, spec) -> None:
    alone, helped = _finder(hostile), _finder(hostile, pool)
    for finder in (alone, helped):
        for name in PROJECTS:
            finder.expect(name, SpecifierSet(spec))
    for name in PROJECTS:
        first = len(hostile.requests)
        if name in ("demo", "other", "mixed", "empty"):
            helped.project(name)  # (a page the children read well is fetched once)
            assert hostile.requests[first:].count(f"/simple/{name}/") == 1, name
        assert _seen(helped, name, SpecifierSet(spec)) == \
            _seen(alone, name, SpecifierSet(spec)), name
    # the children fetched every page but the failing one (the run's to fetch and report)
    assert pool.pages_read == len(PROJECTS) - 1
    assert not pool.broken


def test_the_children_keep_only_the_expected_versions(hostile, pool) -> None:
    finder = _finder(hostile, pool)
    finder.expect("demo", SpecifierSet("==1.0"))
    listing = finder.project("demo")
    assert pool.pages_read == 1 and hostile.requests.count("/simple/demo/") == 1
    kept = {str(item[3]) for item in listing._raw if item is not None}
    assert kept == {"1.0", "1.0.0"}  # (equal versions: kept together)
    before = len(hostile.requests)
    assert {str(v) for v in listing.versions()} == {"1.0", "2.0", "3.0rc1", "3.0"}
    assert len(hostile.requests) == before  # (the versions are known without a second read)
    assert [f.filename for f in listing.candidates(SpecifierSet(">=3.0rc1"))] == \
        ["demo-3.0-py3-none-any.whl", "demo-3.0.tar.gz",
         "demo-3.0rc1-py3-none-any.whl", "demo-3.0rc1.tar.gz"]
    assert len(hostile.requests) == before + 1  # (read again by the run, once)


def test_a_child_that_dies_leaves_the_run_reading_its_pages(hostile, pool) -> None:
    for worker in pool.workers:
        assert worker._proc is not None
        worker._proc.kill()
        worker._proc.wait()
    alone, helped = _finder(hostile), _finder(hostile, pool)
    for finder in (alone, helped):
        finder.expect("demo", SpecifierSet("==2.0"))
    assert _seen(helped, "demo", SpecifierSet("==2.0")) == \
        _seen(alone, "demo", SpecifierSet("==2.0"))
    assert pool.broken and pool.pages_read == 0


def test_a_child_that_cannot_start_is_set_aside(hostile) -> None:
    broken = PagePool(SETTINGS, command=[str(Path("/nonexistent/python"))])
    broken.start()
    finder = _finder(hostile, broken)
    finder.expect("demo", SpecifierSet("==2.0"))
    assert [f.filename for f in finder.project("demo").candidates(SpecifierSet("==2.0"))] == \
        ["demo-2.0-py3-none-any.whl", "demo-2.0.tar.gz"]
    assert broken.broken
    broken.close()


def _summary(kept: list[int], groups: list[tuple[str | None, list[int]]],
             count: int) -> PageSummary:
    return PageSummary(count=count,
                       groups=[(text, array("I", places).tobytes()) for text, places in groups],
                       kept=[Kept(p, f"demo-{p}.tar.gz", "9.9", b"{}") for p in kept],
                       skipped=[], unsafe=[])


@pytest.mark.parametrize(("summary", "fits"), [
    (_summary([0], [("1.0", [1, 2])], 3), True),
    (_summary([], [], 0), True),
    (_summary([0], [("1.0", [0, 2])], 3), False),  # a place twice, one never
    (_summary([0], [("1.0", [1, 3])], 3), False),  # a place past the end
    (_summary([0], [("1.0", [1])], 3), False),  # an entry nowhere
    (_summary([0], [("not a version", [1, 2])], 3), False),
    (_summary([0], [(None, [1, 2])], 3), False),
    (_summary([0], [("1.0", [])], 1), False),
])
def test_a_summary_is_used_only_when_it_places_every_entry_once(summary, fits) -> None:
    assert _fits(summary) is fits


def test_a_version_set_aside_that_a_requirement_can_select_is_read_again() -> None:
    """The children set aside what the specifiers do not admit; if a summary ever set aside
    more, the listing reads the pages again rather than miss a file."""
    source = Source("https://example.invalid/simple/", "index")
    entry = {"url": "https://example.invalid/files/demo-2.0.tar.gz"}
    whole = ProjectListing("demo", raw=[(source, entry, "demo-2.0.tar.gz", Version("2.0"))])
    whole.digest = "same"
    listing = ProjectListing("demo", raw=[None], dropped=[(Version("2.0"), array("I", [0]))],
                             index_urls=(source.url,))
    listing.digest = "same"
    reads: list[int] = []

    def reread() -> ProjectListing:
        reads.append(1)
        return whole

    listing.compact(lambda v: v == Version("2.0"), reread)
    assert reads == [1]
    assert [f.filename for f in listing.candidates(SpecifierSet("==2.0"))] == ["demo-2.0.tar.gz"]


def test_every_byte_reaches_the_child_when_signals_cut_the_writes() -> None:
    """A write to a pipe takes only part of the bytes when a signal arrives: the rest follows
    (before, a request could stop half-way and the child wait for it for good)."""
    data = os.urandom(1 << 20) * 24
    read_fd, write_fd = os.pipe()
    got: list[bytes] = []

    def reader() -> None:
        with os.fdopen(read_fd, "rb") as fh:
            while chunk := fh.read(65536):
                got.append(chunk)
                threading.Event().wait(0.0005)  # (a slow reader: the pipe fills up)

    thread = threading.Thread(target=reader)
    thread.start()
    old = signal.signal(signal.SIGALRM, lambda *_: None)
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    try:
        _write_all(write_fd, data)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, old)
        os.close(write_fd)
    thread.join()
    assert b"".join(got) == data


def test_a_large_lock_is_checked_through_the_children(local_index, clean_pip_env, tmp_path,
                                                      t0) -> None:
    """A lock with enough projects gets the children; its selections and refusals are the
    run's: a wheel added to its release a month late is refused."""
    out = tmp_path / "dists"
    names = [f"p{i:03d}" for i in range(PAGE_POOL_PROJECTS + 5)]
    for i, name in enumerate(names):
        local_index.add(build_wheel(out, name, "1.0"), upload_time=t0)
        local_index.add(build_sdist(out, name, "1.0"), upload_time=t0)
        local_index.add(build_wheel(out, name, "2.0"), upload_time=t0 + timedelta(days=1))
        if i == 7:
            local_index.add(build_wheel(out, name, "1.0", tag="py311-none-any"),
                            upload_time=t0 + timedelta(days=40))
    lock = tmp_path / "lock.txt"
    lock.write_text("".join(f"{n}==1.0\n" for n in names))
    done = run_cli(["-i", local_index.url, "--dry-run", "--no-deps", "-r", str(lock)],
                   clean_pip_env, tmp_path)
    assert done.code == 1, done.stderr
    assert "p007" in done.stderr and "late" in done.stderr
    assert sorted((p["name"], p["version"]) for p in done.report["packages"]) == \
        [(n, "1.0") for n in names]
    refused = [p for p in done.report["packages"] if p["decision"] != "install"]
    assert [p["name"] for p in refused] == ["p007"]
    # each page was read once, and no file of a version nobody asked for was fetched
    assert all(local_index.requests.count(f"/simple/{n}/") == 1 for n in names)
    assert not [r for r in local_index.requests if "-2.0-" in r]


def test_a_redirected_page_gives_the_runs_notes(hostile, pool) -> None:
    """A page redirected to another host gets the run's note (credentials not sent there);
    a missing page redirected elsewhere gets none, as when the run fetches it."""
    from support.faults import Fault, FaultServer

    with FaultServer(hostile) as faulty, FaultServer(hostile) as other:
        faulty.add(Fault(r"^/simple/demo/$", "redirect", times=10,
                         location=f"http://localhost:{other.port}/simple/demo/"))
        faulty.add(Fault(r"^/simple/missing/$", "redirect", times=10,
                         location=f"http://localhost:{other.port}/simple/missing/"))

        class Index:
            url = faulty.url

        for name in ("demo", "missing"):
            alone, helped = _finder(Index), _finder(Index, pool)
            for finder in (alone, helped):
                finder.expect(name, SpecifierSet("==2.0"))
            read = pool.pages_read
            assert _seen(helped, name, SpecifierSet("==2.0")) == \
                _seen(alone, name, SpecifierSet("==2.0"))
            assert pool.pages_read == read + 1
            notes = helped.project(name).notes
            assert any("another host" in n for n in notes) is (name == "demo"), notes


@pytest.mark.parametrize(("settings", "projects", "children"), [
    ({}, PAGE_POOL_PROJECTS, True),
    ({}, PAGE_POOL_PROJECTS - 1, False),  # (a small run reads its few pages faster itself)
    ({"proxy": "http://proxy.example:3128"}, 1000, False),
    ({"index_url": "https://user:secret@index.example/simple/"}, 1000, False),
])
def test_children_only_for_a_large_run_the_light_session_can_fetch(
        settings, projects, children, monkeypatch, tmp_path) -> None:
    """A proxy or credentials leave every page to the run's own session (the children have
    neither)."""
    from safeinstall.pipoptions import PipSettings
    from safeinstall.wiring import page_worker

    # (this machine's own proxies and netrc would decide too: none here)
    for key in [k for k in os.environ if k.lower().endswith("_proxy")]:
        monkeypatch.delenv(key)
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))

    pool = page_worker(PipSettings(**settings), {"SSL_CERT_FILE": "/x.pem"}, projects=projects)
    assert (pool is not None) is children
    if pool is not None:
        assert pool.workers[0]._settings.tls_environ == {"SSL_CERT_FILE": "/x.pem"}
        pool.close()
