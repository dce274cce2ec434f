"""A listing keeps in memory only the versions its requirements can select (issue 21).

The finder is told which specifiers will ask for a project (``Finder.expect``, from the user's
requirements); the entries of other versions are set aside, and read again from the index when
anything asks for them. Nothing found or selected changes, and a page that changed between the
two reads is refused, never mixed into one listing.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from clihelp import run_cli
from safeinstall.errors import IndexAccessError
from safeinstall.finder import Finder
from safeinstall.http import HttpClient
from safeinstall.listing import ProjectListing
from safeinstall.session import LightSession, Session
from safeinstall.tls import default_context
from support.artifacts import build_sdist, build_wheel

VERSIONS = ["1.0", "2.0", "3.0"]


def _finder(local_index) -> Finder:
    ctx = default_context()
    client = HttpClient(Session(lambda: None, LightSession(ctx, timeout=5.0)), retries=1,
                        sleep=lambda s: None)
    return Finder(index_urls=[local_index.url], session=client)


@pytest.fixture
def demo(local_index, tmp_path: Path, t0):
    out = tmp_path / "dists"
    for i, v in enumerate(VERSIONS):
        when = t0 + timedelta(days=i)
        local_index.add(build_wheel(out, "demo", v), upload_time=when)
        local_index.add(build_sdist(out, "demo", v), upload_time=when)
    return local_index


def kept(listing: ProjectListing) -> set[str]:
    return {str(item[3]) for item in listing._raw if item is not None}


def urls(files) -> list[str]:
    return [f.url for f in files]


def test_only_the_expected_versions_are_kept_and_answers_do_not_change(demo) -> None:
    whole = _finder(demo).project("demo")
    finder = _finder(demo)
    finder.expect("demo", SpecifierSet("==2.0"))
    listing = finder.project("demo")
    assert kept(listing) == {"2.0"}
    before = len(demo.requests)
    # what the requirement asks: answered from memory, no page read again
    assert urls(listing.candidates(SpecifierSet("==2.0"))) == \
        urls(whole.candidates(SpecifierSet("==2.0")))
    assert listing.versions() == whole.versions()
    assert urls(listing.release(Version("2.0"), listing.files_of(Version("2.0"))[0].source)) \
        == urls(whole.release(Version("2.0"), whole.files_of(Version("2.0"))[0].source))
    wheel = next(f for f in listing.files_of(Version("2.0")) if f.is_wheel)
    assert urls(listing.named(wheel.filename)) == [wheel.url]
    assert listing.index_urls() == whole.index_urls()
    assert len(demo.requests) == before
    # another version (a later requirement, a backtrack): the page is read again, once
    assert urls(listing.candidates(SpecifierSet(">=1"))) == \
        urls(whole.candidates(SpecifierSet(">=1")))
    assert kept(listing) == set(VERSIONS)
    assert len(demo.requests) == before + 1
    assert urls(listing.files) == urls(whole.files)
    assert listing.light() == whole.light()
    assert len(demo.requests) == before + 1


@pytest.mark.parametrize("ask", ["candidates", "files_of", "named", "light", "files"])
def test_every_way_to_another_version_reads_it_back(demo, ask: str) -> None:
    whole = _finder(demo).project("demo")
    finder = _finder(demo)
    finder.expect("demo", SpecifierSet(">=2"))
    listing = finder.project("demo")
    assert kept(listing) == {"2.0", "3.0"}
    old = [f for f in whole.files if f.version == Version("1.0")]
    if ask == "candidates":
        assert urls(listing.candidates(SpecifierSet("<2"))) == urls(old)
    elif ask == "files_of":
        assert urls(listing.files_of(Version("1.0"))) == urls(old)
    elif ask == "named":
        assert urls(listing.named(old[0].filename)) == [old[0].url]
    elif ask == "light":
        assert listing.light() == whole.light()
    else:
        assert urls(listing.files) == urls(whole.files)


def test_a_page_that_changed_before_the_second_read_is_refused(demo, tmp_path: Path,
                                                              t0) -> None:
    finder = _finder(demo)
    finder.expect("demo", SpecifierSet("==3.0"))
    listing = finder.project("demo")
    assert [str(f.version) for f in listing.candidates(SpecifierSet("==3.0"))] == ["3.0"] * 2
    # the index now serves another page (an old release gains a file)
    demo.add(build_wheel(tmp_path / "late", "demo", "1.0", tag="py2.py3-none-any"),
             upload_time=t0 + timedelta(days=30))
    with pytest.raises(IndexAccessError, match="changed during this run"):
        listing.candidates(SpecifierSet("==1.0"))


def test_without_expectation_or_with_any_version_everything_is_kept(demo) -> None:
    assert kept(_finder(demo).project("demo")) == set(VERSIONS)
    finder = _finder(demo)
    finder.expect("demo", SpecifierSet(""))
    assert kept(finder.project("demo")) == set(VERSIONS)
    # two requirements on one name: the versions of either are kept
    finder = _finder(demo)
    finder.expect("demo", SpecifierSet("==1.0"))
    finder.expect("demo", SpecifierSet("==3.0"))
    assert kept(finder.project("demo")) == {"1.0", "3.0"}


def test_the_look_ahead_keeps_to_the_users_pins_and_reads_no_page_twice(
        local_index, clean_pip_env, tmp_path: Path, t0) -> None:
    # app 1.0 asks for dep>=1; the user pins dep==1.0 (a lock). The look-ahead's guess for
    # 'dep>=1' alone is dep 2.0, a version the compacted listing set aside: asking for it read
    # dep's page a second time (issue 21, cause 2 of benchmarks/cold-regression.md).
    out = tmp_path / "dists"
    local_index.add(build_wheel(out, "app", "1.0", requires_dist=["dep>=1"]), upload_time=t0,
                    advertise_metadata=True)
    for i, v in enumerate(["1.0", "2.0"]):
        local_index.add(build_wheel(out, "dep", v), upload_time=t0 + timedelta(days=i),
                        advertise_metadata=True)
    for run in range(2):  # the second run also warms dep from the first run's hints
        local_index.clear_requests()
        done = run_cli(["-i", local_index.url, "--dry-run", "app==1.0", "dep==1.0"],
                       clean_pip_env, tmp_path)
        assert done.code == 0, done.stderr
        assert {(p["name"], p["version"]) for p in done.report["packages"]} == \
            {("app", "1.0"), ("dep", "1.0")}
        assert local_index.requests.count("/simple/dep/") == 1, (run, local_index.requests)
        # nothing of the version the user did not ask for was fetched
        assert not [p for p in local_index.requests if "dep-2.0" in p]
