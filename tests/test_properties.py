"""Property-based tests (hypothesis) of the parsers safe-install owns: durations, the index's
PEP 691 JSON pages and upload times, --allow-late values, Retry-After, and the index options of
requirement files (tests/test_reqfile.py has the line-level properties). Whatever the input,
each parser either returns a well-formed value or raises our own error: never another
exception (which would be a traceback for the user)."""

from __future__ import annotations

import json
import string
import tempfile
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name
from packaging.version import Version

from safeinstall.durations import MAX_DURATION, format_duration, parse_duration
from safeinstall.errors import IndexAccessError, RequirementError, UsageError
from safeinstall.http import is_retryable_status, parse_retry_after
from safeinstall.indexdata import parse_upload_time, to_file
from safeinstall.models import Source
from safeinstall.pages import parse_json_page
from safeinstall.policy import LateException
from safeinstall.reqfile import parse_requirement_files

PAGE_URL = "https://index.example/simple/demo/"
UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}

# -- durations ------------------------------------------------------------------------------------


@given(st.integers(0, 10**6), st.sampled_from(sorted(UNITS)))
def test_duration_number_and_unit(n: int, unit: str) -> None:
    if n * UNITS[unit] > MAX_DURATION.total_seconds():  # over 100 years: a usage error
        with pytest.raises(UsageError, match="too long"):
            parse_duration(f"{n}{unit}")
        return
    assert parse_duration(f"{n}{unit}") == timedelta(seconds=n * UNITS[unit])
    assert parse_duration(f"  {n}{unit.upper()} ") == timedelta(seconds=n * UNITS[unit])


@given(st.lists(st.tuples(st.sampled_from("wdhms"), st.integers(0, 999)), min_size=1,
                max_size=5, unique_by=lambda p: p[0]))
def test_compound_durations_in_any_order_add_up(parts: list[tuple[str, int]]) -> None:
    text = "".join(f"{n}{u}" for u, n in parts)
    assert parse_duration(text) == timedelta(seconds=sum(n * UNITS[u] for u, n in parts))


@given(st.integers(0, 86399))
def test_format_duration_reads_back_below_a_day(seconds: int) -> None:
    minutes = timedelta(seconds=seconds - seconds % 60)
    assert parse_duration(format_duration(minutes).replace(" ", "")) == minutes


@given(st.text(max_size=30))
def test_duration_text_parses_or_is_a_usage_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except UsageError as exc:
        assert repr(text) in str(exc)
    else:
        assert value >= timedelta(0)
        assert any(c in text.lower() for c in UNITS)


@given(st.integers(0, 10**9))
def test_bare_numbers_are_never_durations(n: int) -> None:
    try:
        parse_duration(str(n))
    except UsageError:
        return
    raise AssertionError("a number without a unit was accepted")


# -- PEP 691 JSON pages ------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_FILENAMES = st.sampled_from([
    "demo-1.0.tar.gz", "demo-1.0-py3-none-any.whl", "demo-2.0-1-cp312-cp312-manylinux_2_28_x86_64"
    ".whl", "Demo_-1.0.zip", "demo-1.0.tar.bz2", "other-1.0.tar.gz", "demo-x.y.tar.gz",
    "demo.whl", "demo-1.0-py3-none-any.whl.metadata", "", "demo-1.0.exe",
])
_ENTRY_VALUES = {
    "url": st.one_of(_FILENAMES, _FILENAMES.map(lambda f: f"../../files/{f}"),
                     _FILENAMES.map(lambda f: f"https://files.example/{f}#sha256=ab"),
                     st.text(max_size=15)),
    "hashes": st.one_of(_JSON, st.dictionaries(st.sampled_from(["sha256", "md5", "SHA256"]),
                                               st.text(string.hexdigits, max_size=64))),
    "upload-time": st.one_of(_JSON, st.datetimes(timezones=st.just(timezone.utc))
                             .map(lambda d: d.isoformat().replace("+00:00", "Z"))),
    "yanked": _JSON,
    "requires-python": _JSON,
    "size": _JSON,
    "core-metadata": _JSON,
    "dist-info-metadata": _JSON,
}
_ENTRY = st.fixed_dictionaries({}, optional=_ENTRY_VALUES)
_PAGE = st.fixed_dictionaries(
    {"files": st.lists(st.one_of(_ENTRY, _JSON), max_size=5)},
    optional={"meta": st.one_of(_JSON, st.fixed_dictionaries(
        {"api-version": st.sampled_from(["1.0", "1.1", "1.4", "2.0", "0.9", "x"])})),
        "name": st.just("demo"), "versions": _JSON},
)


def _check_page(content: bytes) -> None:
    try:
        entries = parse_json_page(content, PAGE_URL, PAGE_URL)
    except IndexAccessError as exc:
        assert PAGE_URL in str(exc)
        return
    for entry in entries:
        assert isinstance(entry["url"], str) and entry["url"]
        urlsplit(entry["url"])
        parsed = to_file(canonicalize_name("demo"), Source(PAGE_URL, "index"), entry)
        if parsed is not None:
            assert parsed.project == "demo" and isinstance(parsed.version, Version)
            assert parsed.filename.startswith(("demo", "Demo"))
            assert parsed.upload_time is None or parsed.upload_time.tzinfo is not None
            assert parsed.upload_time is None or parsed.upload_time_error is None
            assert all(isinstance(v, str) for _, v in parsed.hashes)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PAGE)
def test_json_page_parses_or_is_an_index_error(page: dict) -> None:
    _check_page(json.dumps(page).encode())


@settings(max_examples=200, deadline=None)
@given(st.one_of(_JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=80)))
def test_any_bytes_as_a_json_page(content: bytes) -> None:
    _check_page(content)


@given(st.lists(_FILENAMES.filter(bool), max_size=6))
def test_valid_pages_keep_every_entry_with_absolute_urls(names: list[str]) -> None:
    page = {"meta": {"api-version": "1.1"}, "name": "demo",
            "files": [{"filename": n, "url": f"../../files/{n}", "hashes": {}} for n in names]}
    entries = parse_json_page(json.dumps(page).encode(), PAGE_URL, PAGE_URL)
    assert [e["url"] for e in entries] == [f"https://index.example/files/{n}" for n in names]


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-5))])))
def test_upload_time_round_trips(moment: datetime) -> None:
    for text in (moment.isoformat(), moment.astimezone(timezone.utc).isoformat()
                 .replace("+00:00", "Z")):
        assert parse_upload_time(text) == (moment, None)


@given(_JSON)
def test_upload_time_is_a_moment_or_says_why_not(value: object) -> None:
    moment, why = parse_upload_time(value)
    if value is None:
        assert (moment, why) == (None, None)
    else:
        assert (moment is None) != (why is None)
        assert moment is None or moment.tzinfo is not None


# -- --allow-late values ------------------------------------------------------------------------

_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9._-]{0,15}[A-Za-z0-9]", fullmatch=True)
_VERSION = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}((a|b|rc)[0-9]{1,2})?", fullmatch=True)


@given(_NAME, _VERSION)
def test_release_exception_round_trips(name: str, version: str) -> None:
    exc = LateException.parse(f"{name}=={version}", reason="r")
    assert exc.matches(name.upper(), Version(version), "0" * 64)
    again = LateException.parse(str(exc))
    assert (again.name, again.version, again.sha256) == (exc.name, exc.version, exc.sha256)


@given(st.text("0123456789abcdefABCDEF", min_size=64, max_size=64))
def test_file_exception_round_trips(digest: str) -> None:
    exc = LateException.parse(f"sha256:{digest}")
    assert exc.matches("anything", Version("1"), digest.lower())
    assert not exc.matches("anything", Version("1"), None)
    assert LateException.parse(str(exc)) == exc


@given(st.text(max_size=40))
def test_any_allow_late_text_parses_or_is_a_usage_error(text: str) -> None:
    try:
        exc = LateException.parse(text, origin="test")
    except UsageError as err:
        assert "test" in str(err)
    else:
        assert (exc.sha256 is None) != (exc.name is None)


# -- Retry-After and retryable statuses ------------------------------------------------------


@given(st.integers(0, 10**7))
def test_retry_after_seconds(n: int) -> None:
    assert parse_retry_after(str(n)) == float(n)


@given(st.integers(1, 10**6))
def test_retry_after_http_date(seconds: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    when = now + timedelta(seconds=seconds)
    assert parse_retry_after(format_datetime(when, usegmt=True), now) == float(seconds)
    assert parse_retry_after(format_datetime(now - timedelta(seconds=seconds), usegmt=True),
                             now) == 0.0


@given(st.text(max_size=40))
def test_retry_after_never_raises(text: str) -> None:
    value = parse_retry_after(text)
    assert value is None or value >= 0


@given(st.integers(100, 599))
def test_only_429_and_transient_5xx_are_retried(status: int) -> None:
    assert is_retryable_status(status) == (status == 429 or (status >= 500
                                                             and status not in (501, 505)))


# -- index options in requirement files -------------------------------------------------------

_OPTION_LINES = st.lists(st.one_of(
    st.integers(1, 3).map(lambda i: ("-i", f"https://i{i}.example/simple/")),
    st.integers(1, 3).map(lambda i: ("--extra-index-url", f"https://x{i}.example/simple/")),
    st.integers(1, 3).map(lambda i: ("-f", f"wheelhouse{i}")),
    st.integers(1, 3).map(lambda i: ("--trusted-host", f"h{i}.example")),
    st.just(("--pre", "")),
    st.just(("", "demo==1.0")),
), max_size=12)


@settings(max_examples=200, deadline=None)
@given(_OPTION_LINES)
def test_index_options_in_a_file_combine_as_pip_combines_them(
        lines: list[tuple[str, str]]) -> None:
    """The last -i wins and drops the extra indexes seen before it; -f, --trusted-host
    accumulate; --pre anywhere on its own line turns pre-releases on."""
    index_url = None
    extras: list[str] = []
    for opt, value in lines:
        if opt == "-i":
            index_url, extras = value, []
        elif opt == "--extra-index-url":
            extras.append(value)
    text = "\n".join(f"{opt} {value}".strip() for opt, value in lines) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.txt"
        path.write_text(text)
        try:
            parsed = parse_requirement_files([str(path)], [], environ={})
        except RequirementError as exc:  # pragma: no cover - would be a parser bug
            raise AssertionError(f"{text!r}: {exc}") from None
    options = parsed.options
    assert options.index_url == index_url
    assert list(options.extra_index_urls) == extras
    assert list(options.find_links) == [v for o, v in lines if o == "-f"]
    assert list(options.trusted_hosts) == [v for o, v in lines if o == "--trusted-host"]
    assert options.pre == any(o == "--pre" for o, _ in lines)
    assert [r.text for r in parsed.requirements] == [v for o, v in lines if not o]


# -- core metadata: only the headers are parsed -------------------------------------------------

_METADATA_LINES = st.lists(st.tuples(
    st.sampled_from([b"Name: demo", b"Version: 1.0", b"Requires-Dist: dep>=1", b" folded",
                     b"\tfolded", b"", b" ", b"not a header", b"Provides-Extra: x", b":",
                     b"From x", b"Requires-Python: >=3.8", b"Dynamic: requires-dist",
                     b"Name: other", b"\xff\xfe"]),
    st.sampled_from([b"\n", b"\r\n", b"\r", b""])), max_size=14)


@given(_METADATA_LINES)
def test_metadata_headers_are_those_of_the_whole_file(lines: list[tuple[bytes, bytes]]) -> None:
    """``parse_metadata`` gives the email parser only the headers (up to the first empty
    line, a description can be long): every header is the one the whole file gives."""
    import email.parser

    from safeinstall.distmeta import parse_metadata

    data = b"".join(text + end for text, end in lines)
    whole = email.parser.BytesParser().parsebytes(data)
    try:
        meta, msg = parse_metadata(data, "test")
    except IndexAccessError:
        assert not whole.get("Name") or not whole.get("Version")
        return
    assert [(k, str(v)) for k, v in msg.items()] == [(k, str(v)) for k, v in whole.items()]
    assert meta.requires_dist == tuple(str(v) for v in whole.get_all("Requires-Dist") or [])
