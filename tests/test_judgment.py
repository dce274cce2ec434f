"""The one judgment point (issue 13): ``ReleaseTimeline.date`` places a file in its release and
``Policy.judge`` compares it with the threshold. Units, on hand-made index files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from safeinstall.backfill import Proof
from safeinstall.errors import UsageError
from safeinstall.listing import ProjectListing
from safeinstall.models import IndexFile, Source
from safeinstall.policy import (
    LateException,
    Policy,
    parse_action,
    parse_late_action,
    severity_for,
)
from safeinstall.timeline import release_timeline, timeline_for

T0 = datetime(2024, 4, 24, 19, 31, 22, tzinfo=timezone.utc)
INDEX = Source("https://index.example/simple/", "index")
MIRROR = Source("https://mirror.example/simple/", "index")
REFERENCE = Source("https://pypi.example/simple/", "times-from")
DAY = timedelta(days=1)


def ifile(filename: str, hours: float | None, *, sha: str | None = "auto",
          source: Source = INDEX, error: str | None = None, url: str | None = None) -> IndexFile:
    if filename.endswith(".whl"):
        name, version, build, tags = parse_wheel_filename(filename)
        wheel = True
    else:
        name, version = parse_sdist_filename(filename)
        build, tags, wheel = (), frozenset(), False
    digest = (filename.encode().hex()[:64].ljust(64, "0")) if sha == "auto" else sha
    return IndexFile(
        project=canonicalize_name(name), filename=filename,
        url=url or f"https://files.example/{filename}", source=source, version=version,
        is_wheel=wheel, tags=tags, build_tag=build, sha256=digest,
        hashes=(("sha256", digest),) if digest else (),
        upload_time=None if hours is None else T0 + timedelta(hours=hours), yanked=None,
        requires_python=None, size=None, metadata_url=None, metadata_sha256=None,
        upload_time_error=error)


def timeline(*files: IndexFile, version: str = "1.0", source: Source = INDEX):
    return release_timeline(ProjectListing(canonicalize_name("demo"), files), Version(version),
                            source)


SDIST = "demo-1.0.tar.gz"
PURE = "demo-1.0-py3-none-any.whl"
NATIVE = "demo-1.0-cp312-cp312-win_amd64.whl"


def test_a_complete_timeline_dates_every_file_from_the_earliest_upload():
    late = ifile(NATIVE, 90 * 24)
    tl = timeline(ifile(PURE, 0.5), late, ifile(SDIST, 0))
    assert tl.start_problem is None and tl.release_start == T0
    assert [f.filename for f in tl.files] == [SDIST, PURE, NATIVE]
    dated = tl.date(late)
    assert (dated.release_start, dated.lateness, dated.problem) == (T0, 90 * DAY, None)
    assert tl.lateness(late) == 90 * DAY


@pytest.mark.parametrize("policy, verdict, severity", [
    (Policy(), "late", "error"),
    (Policy(on_late="warn"), "late", "warning"),
    (Policy(late_after=100 * DAY), "on-time", None),
    (Policy(late_after=90 * DAY), "on-time", None),  # the threshold itself is on time
    (Policy(allow_late=(LateException.parse("demo==1.0"),)), "allowed-late", "info"),
])
def test_judge_compares_with_the_threshold_and_applies_exceptions(policy, verdict, severity):
    late = ifile(NATIVE, 90 * 24)
    tl = timeline(ifile(SDIST, 0), late)
    j = policy.judge("demo", Version("1.0"), tl.date(late))
    assert (j.verdict, j.severity) == (verdict, severity)
    assert j.is_late == (verdict in ("late", "allowed-late"))
    assert j.kind == ("late" if j.is_late else None)
    assert j.refused == (severity == "error")


def test_a_file_exception_matches_the_sha256_only():
    late = ifile(NATIVE, 48)
    tl = timeline(ifile(SDIST, 0), late)
    mine = Policy(allow_late=(LateException.parse(f"sha256:{late.sha256}"),))
    other = Policy(allow_late=(LateException.parse("sha256:" + "f" * 64),))
    assert mine.judge("demo", Version("1.0"), tl.date(late)).verdict == "allowed-late"
    assert other.judge("demo", Version("1.0"), tl.date(late)).verdict == "late"


@pytest.mark.parametrize("error, text", [
    (None, f"no upload time for {SDIST}"),
    ("'x' is not an ISO 8601 time", f"an unreadable upload-time for {SDIST} ('x' is not"),
])
def test_an_undated_older_file_makes_the_start_unknown_and_the_late_file_unknown(error, text):
    late = ifile(NATIVE, 90 * 24)
    tl = timeline(ifile(SDIST, None, error=error), late)
    assert tl.release_start is None and tl.first_upload == late.upload_time
    assert not tl.has_upload_times and not tl.start_inconsistent
    dated = tl.date(late)
    assert dated.lateness is None and dated.release_start is None
    assert dated.upload_time == late.upload_time
    assert text in (dated.problem or "") and "the start of demo 1.0 is unknown" in dated.problem
    for policy, severity in ((Policy(), "error"), (Policy(on_unknown_upload_time="warn"),
                                                    "warning")):
        j = policy.judge("demo", Version("1.0"), dated)
        assert (j.verdict, j.kind, j.severity) == ("unknown", "unknown-upload-time", severity)
    # an exception covers lateness, never an unknown start
    allowing = Policy(allow_late=(LateException.parse("demo==1.0"),))
    assert allowing.judge("demo", Version("1.0"), dated).verdict == "unknown"


def test_many_undated_files_are_counted():
    tl = timeline(*(ifile(f"demo-1.0-cp3{i}-cp3{i}-win_amd64.whl", None) for i in range(5)),
                  ifile(SDIST, 0))
    assert "and for 2 more file(s)" in (tl.start_problem or "")


@pytest.mark.parametrize("copy, consistent", [
    (dict(hours=0.5), True),  # an identical listing twice is harmless
    (dict(hours=0), False),  # backdated
    (dict(hours=0.5, sha="e" * 64), False),  # other bytes
    (dict(hours=0.5, sha=None), False),  # a copy without a hash could be anything
    (dict(hours=None), False),
])
def test_a_file_listed_twice_must_agree_on_time_and_hash(copy, consistent):
    wheel = ifile(PURE, 0.5)
    twin = ifile(PURE, copy["hours"], sha=copy.get("sha", "auto"), url=wheel.url + "?2")
    tl = timeline(ifile(SDIST, 0), wheel, twin)
    assert tl.start_inconsistent == (not consistent)
    dated = tl.date(wheel)
    judged = Policy(on_unknown_upload_time="warn").judge("demo", Version("1.0"), dated)
    if consistent:
        assert judged.verdict == "on-time" and dated.lateness == timedelta(minutes=30)
    else:
        assert dated.inconsistent and dated.lateness is None
        assert f"lists {PURE} more than once" in (dated.problem or "")
        # always refused: no option makes a contradiction acceptable
        assert (judged.verdict, judged.kind, judged.severity) == \
            ("unknown", "inconsistent-timeline", "error")


def test_two_copies_without_hashes_must_be_the_same_url():
    same = timeline(ifile(PURE, 1, sha=None), ifile(PURE, 1, sha=None))
    assert same.start_problem is None
    other = timeline(ifile(PURE, 1, sha=None), ifile(PURE, 1, sha=None, url="https://x/y.whl"))
    assert other.start_inconsistent


def test_a_file_that_is_not_in_the_timeline_is_not_dated_by_it():
    tl = timeline(ifile(SDIST, 0), ifile(PURE, 0.5))
    stranger = ifile(NATIVE, 0.5)
    assert "is not among the files of demo 1.0" in (tl.date(stranger).problem or "")
    assert tl.date(stranger).lateness is None
    # the same name with other bytes is not the listed file either
    impostor = ifile(PURE, 0.5, sha="d" * 64)
    assert tl.date(impostor).lateness is None
    # a file without a listed hash is matched by the digest computed on download
    unhashed = ifile(PURE, 0.5, sha=None)
    assert tl.date(unhashed, sha256=ifile(PURE, 0).sha256).lateness == timedelta(minutes=30)
    assert tl.date(unhashed, sha256="d" * 64).lateness is None


def test_no_files_is_a_problem():
    tl = timeline(ifile(SDIST, 0), version="2.0")
    assert "lists no files of demo 2.0" in (tl.start_problem or "")


def test_a_local_variant_is_dated_against_its_public_release():
    evil = ifile("demo-1.0+evil-py3-none-any.whl", 30 * 24)
    files = (ifile(SDIST, 0), ifile(PURE, 0.1), evil, ifile("demo-1.0+cpu-py3-none-any.whl", 2))
    listing = ProjectListing(canonicalize_name("demo"), files)
    local = release_timeline(listing, Version("1.0+evil"), INDEX)
    assert [f.filename for f in local.files] == [evil.filename]
    assert {f.filename for f in local.related} == {SDIST, PURE, "demo-1.0+cpu-py3-none-any.whl"}
    dated = local.date(evil)
    assert dated.local_variant and dated.release_start == T0 and dated.lateness == 30 * DAY
    assert Policy().judge("demo", Version("1.0+evil"), dated).verdict == "late"
    # the public release is not judged by its local variants
    public = release_timeline(listing, Version("1.0"), INDEX)
    assert public.related == () and public.date(files[1]).lateness == timedelta(minutes=6)
    assert not public.date(files[1]).local_variant
    # an undated public file makes the variant's start unknown
    undated = ProjectListing(canonicalize_name("demo"), (ifile(SDIST, None), evil))
    tl = release_timeline(undated, Version("1.0+evil"), INDEX)
    assert tl.date(evil).lateness is None and "local variants" in (tl.start_problem or "")


def test_a_mirror_without_times_is_dated_by_the_identical_file_on_a_complete_timeline():
    mirrored = ifile(PURE, None, source=MIRROR)
    reference = (ifile(SDIST, 0, source=REFERENCE), ifile(PURE, 48, source=REFERENCE))
    listing = ProjectListing(canonicalize_name("demo"), (mirrored,))
    tl, note = timeline_for(listing, mirrored, reference)
    assert tl.source == REFERENCE and note is not None and "--times-from" in note
    dated = tl.date(mirrored)
    assert dated.lateness == 2 * DAY
    assert Policy().judge("demo", Version("1.0"), dated).verdict == "late"
    # ... but not by a reference whose own timeline is incomplete
    gappy = (ifile(SDIST, None, source=REFERENCE), ifile(PURE, 48, source=REFERENCE))
    tl, _ = timeline_for(listing, mirrored, gappy)
    assert tl.date(mirrored).lateness is None
    # a file the reference does not list stays undated
    extra = ifile(NATIVE, None, source=MIRROR)
    tl, note = timeline_for(ProjectListing(canonicalize_name("demo"), (mirrored, extra)), extra,
                            reference)
    assert note is None and tl.date(extra).lateness is None


# -- late-verified (issue 19): a content proof counts only with --on-late verify ----------------

PROOF = Proof("sdist-content", SDIST, "a" * 64, 3, ())


@pytest.mark.parametrize("policy, proof, verdict, severity", [
    (Policy(on_late="verify"), PROOF, "late-verified", "info"),
    (Policy(on_late="verify"), None, "late", "error"),  # no proof: refused as with refuse
    (Policy(), PROOF, "late", "error"),  # a proof means nothing without verify
    (Policy(on_late="warn"), PROOF, "late", "warning"),
])
def test_a_proof_makes_a_late_file_late_verified_only_with_verify(policy, proof, verdict,
                                                                  severity):
    late = ifile(PURE, 90 * 24)
    tl = timeline(ifile(SDIST, 0), late)
    j = policy.judge("demo", Version("1.0"), tl.date(late), proof=proof)
    assert (j.verdict, j.severity) == (verdict, severity)
    assert j.is_late
    assert j.kind == ("late-verified" if verdict == "late-verified" else "late")
    assert j.proof is (proof if verdict == "late-verified" else None)
    assert j.refused == (severity == "error")


def test_a_proof_changes_no_other_verdict():
    verify = Policy(on_late="verify")
    on_time = ifile(PURE, 1)
    tl = timeline(ifile(SDIST, 0), on_time)
    assert verify.judge("demo", Version("1.0"), tl.date(on_time), proof=PROOF).verdict == \
        "on-time"
    # an exception is an exception, proof or not
    allowing = Policy(on_late="verify", allow_late=(LateException.parse("demo==1.0"),))
    late = ifile(PURE, 90 * 24)
    tl = timeline(ifile(SDIST, 0), late)
    j = allowing.judge("demo", Version("1.0"), tl.date(late), proof=PROOF)
    assert (j.verdict, j.exception is not None, j.proof) == ("allowed-late", True, None)
    # an unknown start stays unknown: a proof against a file of unknown date proves nothing
    undated = timeline(ifile(SDIST, None), late)
    j = verify.judge("demo", Version("1.0"), undated.date(late), proof=PROOF)
    assert (j.verdict, j.severity) == ("unknown", "error")


@pytest.mark.parametrize("text, action", [("verify", "verify"), (" Verify ", "verify"),
                                          ("refuse", "refuse"), ("warn", "warn")])
def test_on_late_accepts_verify(text, action):
    assert parse_late_action(text, "--on-late") == action
    assert severity_for(action) == ("warning" if action == "warn" else "error")


def test_on_late_verify_is_for_on_late_only():
    with pytest.raises(UsageError, match="invalid --on-late value 'maybe'") as err:
        parse_late_action("maybe", "--on-late")
    assert "verify" in (err.value.hint or "")
    with pytest.raises(UsageError):
        parse_action("verify", "--on-unknown-upload-time")


@pytest.mark.parametrize("policy, verdict, severity", [
    (Policy(), "late", "error"),
    (Policy(on_late="warn"), "late", "warning"),
    (Policy(allow_late=(LateException.parse("demo==1.0"),)), "allowed-late", "info"),
])
def test_a_file_added_after_the_release_was_seen_is_judged_late_within_the_threshold(
        policy, verdict, severity):
    """Trust on first use: a file added 2 h into the release (well within --late-after) after
    the store had seen the release is judged as a late file, by the same rule as one past the
    threshold: exceptions and --on-late apply, the upload time does not excuse it."""
    added = ifile(PURE, 2)
    dated = timeline(ifile(SDIST, 0), added).date(added)
    assert policy.judge("demo", Version("1.0"), dated).verdict == "on-time"
    j = policy.judge_late("demo", Version("1.0"), dated)
    assert (j.verdict, j.severity) == (verdict, severity)
    proven = Policy(on_late="verify").judge_late("demo", Version("1.0"), dated, proof=PROOF)
    assert proven.verdict == "late-verified" and proven.proof is PROOF
