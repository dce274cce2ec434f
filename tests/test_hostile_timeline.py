"""Issue 13 (causes 1, 4, 5): an index that makes a late file look like the start of its
release. Older files without a readable upload time, one file listed twice with different times
or hashes, a late local variant (``1.0+evil``) for ``==1.0``: each is refused by install, lock,
watch and timeline, never judged on time (tests/support/hostile_timeline.py has the pages).

The property tests at the end feed random page entries (missing, duplicated or malformed
upload-time, hashes and yanked) through the same parse -> timeline -> judge functions."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from clihelp import run_cli
from lockhelp import run_tool
from safeinstall.errors import SafeInstallError
from safeinstall.indexdata import (
    _guess_version,
    filename_in_url,
    parse_upload_time,
)
from safeinstall.listing import ProjectListing
from safeinstall.models import Source
from safeinstall.pages import parse_json_page
from safeinstall.policy import Policy
from safeinstall.timeline import timeline_for
from safeinstall.tool import main as tool_main
from support.artifacts import build_sdist, build_wheel
from support.hostile_timeline import HOSTILE_PROJECTS, LATE, publish_hostile_timelines
from support.index import format_upload_time
from support.piprun import pip_list


@pytest.fixture
def hostile(local_index, tmp_path, t0):
    return publish_hostile_timelines(local_index, tmp_path / "hostile", t0)


def _dry(url: str, *extra: str) -> list[str]:
    return ["-i", url, "--dry-run", "--ignore-installed", *extra]


# -- install -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_PROJECTS)
def test_install_refuses_a_late_file_behind_a_hostile_timeline(hostile, name, local_index,
                                                               clean_pip_env, tmp_path):
    p = hostile[name]
    run = run_cli(_dry(local_index.url, p.requirement), clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    pkg = run.package(name)
    assert pkg["filename"] == p.late_filename  # what pip would take
    assert pkg["decision"] == "refuse"
    assert (p.expected_kind, "error") in run.kinds(name)
    finding = next(f for f in pkg["findings"] if f["kind"] == p.expected_kind)
    assert p.named in finding["message"]
    assert f"REFUSED {name} " in run.stderr and p.named in run.stderr
    if p.expected_kind != "late":  # no lateness is shown for a file that cannot be dated
        assert pkg["lateness_seconds"] is None and pkg["release_start"] is None


def test_unknown_times_accepted_by_the_user_warn_that_the_start_is_unknown(
        hostile, local_index, clean_pip_env, tmp_path):
    """--on-unknown-upload-time warn is the user's explicit choice: then it is a warning that
    says the release start is unknown, never an on-time file."""
    p = hostile["vnull"]
    run = run_cli(_dry(local_index.url, "--on-unknown-upload-time", "warn", p.requirement),
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert ("unknown-upload-time", "warning") in run.kinds("vnull")
    assert "the start of vnull 1.0 is unknown" in run.stderr


def test_an_inconsistent_timeline_is_refused_whatever_the_options(hostile, local_index,
                                                                  clean_pip_env, tmp_path):
    p = hostile["vduptime"]
    run = run_cli(_dry(local_index.url, "--on-unknown-upload-time", "warn", "--on-late", "warn",
                       "--allow-late", p.requirement, p.requirement), clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert ("inconsistent-timeline", "error") in run.kinds("vduptime")
    assert "different upload times" in run.stderr


def test_a_local_variant_is_late_against_its_public_release_and_says_so(
        hostile, local_index, clean_pip_env, tmp_path):
    p = hostile["vlocal"]
    run = run_cli(_dry(local_index.url, p.requirement), clean_pip_env, tmp_path)
    assert run.code == 1
    pkg = run.package("vlocal")
    assert pkg["version"] == "1.0+evil"
    assert pkg["lateness_seconds"] == LATE.total_seconds()
    assert ("local-version", "warning") in run.kinds("vlocal")
    assert "a local variant was chosen for a requirement that did not name one" in run.stderr
    local = next(f for f in pkg["findings"] if f["kind"] == "local-version")
    assert "vlocal===1.0" in local["hint"]  # how to pin the public release
    # pinned to the public release, the on-time files install
    run = run_cli(_dry(local_index.url, "vlocal===1.0"), clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert run.package("vlocal")["version"] == "1.0"
    # named on purpose and allowed after review: an info finding, not a warning
    run = run_cli(_dry(local_index.url, "--allow-late", "vlocal==1.0+evil", "vlocal==1.0+evil"),
                  clean_pip_env, tmp_path)
    assert run.code == 0, run.stderr
    assert ("local-version", "info") in run.kinds("vlocal")
    assert ("late", "info") in run.kinds("vlocal")


def test_nothing_is_installed(hostile, local_index, make_venv, clean_pip_env, tmp_path):
    venv = make_venv()
    run = run_cli(["--python", str(venv), "-i", local_index.url,
                   hostile["vmissing"].requirement], clean_pip_env, tmp_path)
    assert run.code == 1, run.stderr
    assert "nothing was installed" in run.stderr
    assert pip_list(venv, clean_pip_env) == {}


# -- lock ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_PROJECTS)
def test_lock_never_writes_the_hash_of_the_late_file(hostile, name, local_index, clean_pip_env,
                                                     tmp_path):
    p = hostile[name]
    work = tmp_path / "work"
    work.mkdir()
    run = run_tool(["lock", "-i", local_index.url, p.requirement], clean_pip_env, tmp_path,
                   cwd=work)
    if name == "vlocal":  # the late variant is left out; the public release is locked
        assert run.code == 0, run.stderr
        text = (work / "requirements.lock").read_text()
        assert "vlocal==1.0 " in text and "vlocal-1.0-py3-none-any.whl" in text
        assert p.late_sha256 not in text
        assert p.late_sha256 not in (work / "pylock.toml").read_text()
        return
    assert run.code == 1, run.stderr
    assert f"({p.expected_kind})" in run.stderr and p.named in run.stderr
    assert "no lock was written" in run.stderr
    assert not (work / "requirements.lock").exists() and not (work / "pylock.toml").exists()


# -- timeline and watch --------------------------------------------------------------------------


def _tool(args: list[str], env: dict[str, str], cwd) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = tool_main(args, environ=env, stdout=out, stderr=err, cwd=str(cwd))
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", ["vbadtime", "vduptime"])
def test_timeline_shows_no_start_and_judges_nothing_on_time(hostile, name, local_index,
                                                            clean_pip_env, tmp_path):
    p = hostile[name]
    code, out, err = _tool(["timeline", "-i", local_index.url, "--targets", "current",
                            "--format", "json", p.requirement], clean_pip_env, tmp_path)
    assert code == 0, err
    [release] = json.loads(out)["releases"]
    assert release["release_start"] is None
    assert p.named in release["start_problem"]
    assert {f["verdict"] for f in release["files"]} == {"unknown"}
    assert not any(f["late"] is False and f["offset_seconds"] is not None
                   for f in release["files"])
    code, out, err = _tool(["timeline", "-i", local_index.url, "--targets", "current",
                            "--width", "200", p.requirement], clean_pip_env, tmp_path)
    assert code == 0, err
    assert "release start unknown: lateness unknown" in out and "no late file" not in out


def test_watch_alerts_on_a_dated_file_added_to_a_release_with_undated_files(
        local_index, clean_pip_env, tmp_path, t0):
    """The release's files carry no readable upload time; a dated wheel appears later and
    pip would select it: it cannot be shown to be on time, so it is an error."""
    work = tmp_path / "a"
    local_index.add(build_sdist(work / "s", "vwatch", "1.0"), upload_time=t0)
    page = json.loads((local_index.pages_dir / "vwatch" / "index.json").read_text())
    page["files"][0]["upload-time"] = None
    local_index.break_project("vwatch", body=json.dumps(page).encode())
    req = tmp_path / "requirements.txt"
    req.write_text("vwatch==1.0\n")
    store = f"sqlite:///{tmp_path}/watch.sqlite3"

    def watch(day: int) -> tuple[int, list[dict[str, Any]], str]:
        code, out, err = _tool(["watch", "-r", str(req), "-i", local_index.url, "--store", store,
                                "--now", (t0 + timedelta(days=day)).isoformat()],
                               clean_pip_env, tmp_path)
        return code, [json.loads(line) for line in out.splitlines()], err

    code, lines, err = watch(1)
    assert (code, lines) == (0, []), err
    wheel = local_index.add(build_wheel(work / "w", "vwatch", "1.0", payload="evil"),
                            upload_time=t0 + LATE)
    page = json.loads((local_index.pages_dir / "vwatch" / "index.json").read_text())
    next(e for e in page["files"] if e["filename"].endswith(".tar.gz"))["upload-time"] = None
    local_index.break_project("vwatch", body=json.dumps(page).encode())
    code, lines, err = watch(31)
    assert code == 1, err
    [f] = lines
    assert f["filename"] == wheel.filename and f["severity"] == "error"
    assert f["late"] is None and f["lateness_seconds"] is None and f["release_start"] is None
    assert "no upload time for vwatch-1.0.tar.gz" in f["message"]


# -- properties: random page entries through parse -> timeline -> judge ----------------------

T0 = datetime(2024, 4, 24, 19, 31, 22, tzinfo=timezone.utc)
THRESHOLD = timedelta(hours=24)
SOURCE = Source("https://index.example/simple/", "index")
NAMES = ("prop-1.0.tar.gz", "prop-1.0-py3-none-any.whl", "prop-1.0-cp312-cp312-win_amd64.whl",
         "prop-1.0+local-py3-none-any.whl", "prop-1.0+gpu-cp312-cp312-win_amd64.whl")

#: what an entry's upload-time field may hold besides the file's true time
_BAD_TIMES = st.one_of(
    st.just(" 2024-01-01T00:00:00z "), st.just(""), st.just("yesterday"),
    st.just("2024-04-24T19:31:22"), st.integers(), st.floats(allow_nan=True), st.booleans(),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=2),
    st.text(max_size=30).filter(lambda t: parse_upload_time(t)[0] is None))
_HASHES = st.one_of(
    st.none(), st.just({}), st.integers(), st.text(max_size=5),
    st.dictionaries(st.sampled_from(["sha256", "md5", "SHA256", "blake2b"]),
                    st.one_of(st.text(max_size=70), st.integers(), st.none(),
                              st.just("../work/pwned"), st.just("a" * 64)), max_size=3))
_YANKED = st.one_of(st.booleans(), st.none(), st.text(max_size=5), st.integers(),
                    st.lists(st.integers(), max_size=2))


@st.composite
def _pages(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, datetime]]:
    """A release page and the true upload time of each file on it. The first entry of each
    file is honest or garbled (never a lie); further entries of the same name (duplicates)
    may claim anything."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=True))
    truth = {n: T0 + timedelta(hours=draw(st.integers(0, 24 * 90))) for n in names}
    entries: list[dict[str, Any]] = []
    for n in names:
        entry: dict[str, Any] = {"url": f"https://files.example/{n}",
                                 "hashes": {"sha256": hashlib.sha256(n.encode()).hexdigest()}}
        how = draw(st.sampled_from(["true", "true", "missing", "bad"]))
        if how == "true":
            entry["upload-time"] = format_upload_time(truth[n])
        elif how == "bad":
            entry["upload-time"] = draw(_BAD_TIMES)
        if draw(st.booleans()):
            entry["hashes"] = draw(_HASHES)
        if draw(st.booleans()):
            entry["yanked"] = draw(_YANKED)
        entries.append(entry)
        for _ in range(draw(st.integers(0, 2))):  # duplicates: any time, any hash
            dup = dict(entry)
            if draw(st.booleans()):
                dup["upload-time"] = draw(st.one_of(
                    _BAD_TIMES, st.builds(lambda h: format_upload_time(T0 + timedelta(hours=h)),
                                          st.integers(-24 * 30, 24 * 90))))
            if draw(st.booleans()):
                dup["hashes"] = draw(_HASHES)
            entries.insert(draw(st.integers(0, len(entries))), dup)
    return entries, truth


def _version(filename: str) -> Version:
    if filename.endswith(".whl"):
        return parse_wheel_filename(filename)[1]
    return parse_sdist_filename(filename)[1]


def _listing(entries: list[dict[str, Any]]) -> ProjectListing:
    """The listing the finder builds from this page (as ``Finder._collect``: raw entries,
    parsed when a version is looked at)."""
    body = json.dumps({"meta": {"api-version": "1.1"}, "files": entries}).encode()
    parsed = parse_json_page(body, SOURCE.url + "prop/", SOURCE.url + "prop/")
    name = canonicalize_name("prop")
    raw = []
    for entry in parsed:
        filename = filename_in_url(str(entry["url"]))
        plausible, version = _guess_version(name, filename)
        if plausible:
            raw.append((SOURCE, entry, filename, version))
    return ProjectListing(name, None, raw=raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(page=_pages(), on_unknown=st.sampled_from(["refuse", "warn"]))
def test_property_no_page_makes_a_late_file_on_time(page, on_unknown):
    entries, truth = page
    policy = Policy(late_after=THRESHOLD, on_unknown_upload_time=on_unknown)
    try:
        listing = _listing(entries)
        for f in listing.files:
            tl, _ = timeline_for(listing, f)
            judgment = policy.judge(f.project, f.version, tl.date(f))
            # the true start of the file's release: its own version's files, and for a local
            # variant its public release and every other local variant of it
            family = [n for n in truth if _version(n) == f.version or
                      (f.version.local is not None and _version(n).public == f.version.public)]
            true_late = truth[f.filename] - min(truth[n] for n in family) > THRESHOLD
            if true_late:
                assert judgment.verdict != "on-time", (f.filename, entries)
            if judgment.verdict == "unknown":
                assert judgment.dated.lateness is None and judgment.severity is not None
                assert judgment.refused == (judgment.dated.inconsistent
                                            or on_unknown == "refuse")
    except SafeInstallError:
        pass  # the project's own errors are fine; anything else fails the test
