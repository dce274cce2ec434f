"""The fast path of PEP 691 pages (issue 21): :func:`read_json_page` decodes only each entry's
URL with msgspec and keeps the entry's bytes for later, and :func:`guess_versions` reads the
versions of a whole page's file names in one pass. Both must give exactly what the plain
parse gives (``json`` and :func:`parse_json_page`, :func:`_guess_version`), errors included,
for any page: an attacker chooses the page, and a page the fast path reads differently would
be a way around the checks. These tests compare the two on generated and hand-made hostile
pages."""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import urljoin, urlsplit

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name
from packaging.version import Version

from safeinstall.errors import IndexAccessError
from safeinstall.indexdata import (
    NOT_OURS,
    _guess_version,
    filename_in_url,
    guess_versions,
    to_file,
)
from safeinstall.listing import ProjectListing
from safeinstall.models import Source
from safeinstall.pages import _plain_absolute, entry_values, parse_json_page, read_json_page

PAGE_URL = "https://index.example/simple/demo/"
NAME = canonicalize_name("demo")


def _fast(content: bytes, page_url: str = PAGE_URL) -> tuple[Any, ...]:
    try:
        urls, entries = read_json_page(content, page_url, page_url)
    except IndexAccessError as exc:
        return ("error", str(exc))
    return ("ok", urls, [repr(dict(entry_values(e))) for e in entries])


def _plain(content: bytes, page_url: str = PAGE_URL) -> tuple[Any, ...]:
    try:
        files = parse_json_page(content, page_url, page_url)
    except IndexAccessError as exc:
        return ("error", str(exc))
    return ("ok", [f["url"] for f in files], [repr(f) for f in files])


def _same(content: bytes, page_url: str = PAGE_URL) -> None:
    assert _fast(content, page_url) == _plain(content, page_url)


# -- generated pages -------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_FILENAMES = st.sampled_from([
    "demo-1.0.tar.gz", "demo-1.0-py3-none-any.whl", "Demo_-1.0.0.zip", "demo-1.0.tar.bz2",
    "other-1.0.tar.gz", "demo-x.y.tar.gz", "demo.whl", "demo-2.0-1-cp312-cp312-linux_x86_64.whl",
]) | st.text(string.ascii_letters + string.digits + "-._%", max_size=20)
_PLAIN_URL = st.builds(lambda host, f: f"https://{host}/p/{f}",
                       st.sampled_from(["files.example", "a.b:8080", "x"]), _FILENAMES)
_URL = st.one_of(
    _PLAIN_URL, _PLAIN_URL, _PLAIN_URL,
    _PLAIN_URL.map(lambda u: u + "#sha256=ab"), _PLAIN_URL.map(lambda u: "http" + u[5:]),
    _FILENAMES.map(lambda f: f"../../files/{f}"),
    st.sampled_from(["https://", "https://?x", "http:///x", "https://a/./b", "https://a/b c",
                     "https://[::1/x", "https://a\\b", "https://a\u2100b/x", "file:///etc/x",
                     "HTTPS://A/x", "https://a/\x7f", "", " ", "https://a/b https://c/d"]),
    st.text(max_size=15),
)
_ENTRY = st.fixed_dictionaries({"url": _URL}, optional={
    "hashes": st.one_of(_JSON, st.dictionaries(st.sampled_from(["sha256", "md5"]),
                                               st.text(string.hexdigits, max_size=64))),
    "upload-time": st.one_of(_JSON, st.just("2024-01-01T00:00:00Z")),
    "yanked": _JSON, "requires-python": _JSON, "size": _JSON, "core-metadata": _JSON,
    "dist-info-metadata": _JSON, "filename": _JSON, "provenance": _JSON,
})
_PAGE = st.fixed_dictionaries(
    {"files": st.lists(st.one_of(_ENTRY, _ENTRY, _ENTRY, _JSON), max_size=5)},
    optional={"meta": st.one_of(_JSON, st.fixed_dictionaries(
        {"api-version": st.sampled_from(["1.0", "1.1", "2.0", "x"])})),
        "name": st.just("demo"), "versions": _JSON},
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PAGE, st.booleans())
def test_fast_path_reads_every_page_as_the_json_parser_does(page: dict[str, Any],
                                                             ascii_only: bool) -> None:
    _same(json.dumps(page, ensure_ascii=ascii_only).encode())


#: a page served over plain http (the local test index, a mirror on a LAN): ``urljoin``
#: rewrites an http URL there (it drops an empty ``;``, ``?`` or ``#``), the https shortcut
#: of the plain parse does not apply
HTTP_PAGE_URL = "http://127.0.0.1:8080/simple/demo/"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PAGE, st.booleans())
def test_fast_path_reads_an_http_page_as_the_json_parser_does(page: dict[str, Any],
                                                               ascii_only: bool) -> None:
    _same(json.dumps(page, ensure_ascii=ascii_only).encode(), HTTP_PAGE_URL)


@pytest.mark.parametrize("url", [
    "http://a/p/demo-1.0.tar.gz;", "http://a/p/demo-1.0.tar.gz?", "http://a/p/demo-1.0.tar.gz#",
    "http://a/p/demo-1.0.tar.gz;?x", "http://a/p/demo-1.0.tar.gz?#sha256=ab", "http://a?",
    "http://a/p/demo-1.0.tar.gz;a?",
])
def test_fast_path_http_urls_urljoin_rewrites(url: str) -> None:
    """On an http page the plain parse gives ``demo-1.0.tar.gz`` (a file of the project) for
    ``http://a/p/demo-1.0.tar.gz;``; the fast path must not keep ``demo-1.0.tar.gz;`` (not a
    file of the project: silently ignored)."""
    content = _page('{"url": "http://a/p/demo-2.0.tar.gz"}', '{"url": "' + url + '"}')
    _same(content, HTTP_PAGE_URL)
    _same(content)  # (an https page: the URLs stay as they are, in both)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=60), _JSON.map(lambda v: json.dumps(v).encode())))
def test_fast_path_any_bytes(content: bytes) -> None:
    _same(content)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PAGE, st.data())
def test_fast_path_damaged_pages(page: dict[str, Any], data: st.DataObject) -> None:
    """A valid page with a few bytes changed, removed or added."""
    content = bytearray(json.dumps(page).encode())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(content)))
        what = data.draw(st.sampled_from(["set", "del", "ins"]))
        byte = data.draw(st.sampled_from(b'"{}[],:\\ nu0\xff\xed\x00'))
        if what == "set" and at < len(content):
            content[at] = byte
        elif what == "del" and at < len(content):
            del content[at]
        else:
            content.insert(at, byte)
    _same(bytes(content))


def _page(*entries: str, head: str = '"meta": {"api-version": "1.1"}, ') -> bytes:
    return ('{' + head + '"files": [' + ", ".join(entries) + ']}').encode()


_U = '"url": "https://files.example/p/demo-1.0.tar.gz"'


@pytest.mark.parametrize("content", [
    # duplicate keys: the last one, in both (the url, a hash, the files list)
    _page('{"url": "https://a/x/demo-1.0.tar.gz", "url": "https://b/y/demo-2.0.tar.gz"}'),
    _page('{' + _U + ', "hashes": {"sha256": "' + "a" * 64 + '"}, "hashes": {}}'),
    _page('{' + _U + '}') [:-1] + b', "files": []}',
    _page('{' + _U + '}') [:-1] + b', "files": 3}',
    # keys and values spelled with escapes
    _page('{"u\\u0072l": "https://files.example/p/demo-1.0.tar.gz"}'),
    _page('{"url": "https:\\/\\/files.example\\/p\\/demo-1.0.tar.gz"}'),
    _page('{' + _U + ', "yanked": "\\ud800"}'),  # a lone surrogate (json accepts it)
    _page('{"url": "https://files.example/p/demo-1.0.tar.gz\\u0000"}'),
    _page('{' + _U + ', "size": NaN}'), _page('{' + _U + ', "size": 1e999}'),
    _page('{' + _U + ', "size": 123456789012345678901234567890}'),
    _page('{' + _U + ', "x": ' + "[" * 990 + "]" * 990 + '}'),
    _page('{' + _U + ', "x": ' + "[" * 5000 + "]" * 5000 + '}'),
    b"\xef\xbb\xbf" + _page('{' + _U + '}'),  # a byte order mark
    _page('{' + _U + '}').decode().encode("utf-16"),
    _page('{' + _U + '}') + b" trailing",
    _page('{' + _U + '}', head='"meta": {"api-version": "2.0"}, '),
    _page('{' + _U + '}', head='"meta": {"api-version": "1.0"}, "meta": 5, '),
    # URLs the fast path must not take as they are
    _page('{' + _U + '}', '{"url": "../../files/demo-2.0.tar.gz"}'),
    _page('{' + _U + '}', '{"url": "https://"}'),
    _page('{' + _U + '}', '{"url": "https://a\u2100b/demo-2.0.tar.gz"}'),
    _page('{' + _U + '}', '{"url": "https://a/b https://c/demo-2.0.tar.gz"}'),
    _page('{' + _U + '}', '{"url": "https://a/p/../demo-2.0.tar.gz"}'),
    _page('{' + _U + '}', '{"url": "  "}'), _page('{' + _U + '}', '{"url": 5}'),
    # characters urljoin or urlsplit would remove or refuse: escaped, and raw (DEL)
    _page('{' + _U + '}', '{"url": "https://a/p/\\tdemo-2.0.tar.gz"}'),
    _page('{' + _U + '}', '{"url": "https://a/p/\x7fdemo-2.0.tar.gz"}'),
    _page('{' + _U + '}', '{"url": "https://a/p/\\u0085demo-2.0.tar.gz"}'),
    _page('{' + _U + ', "yanked": "a \\"quoted\\" reason"}'),
    _page('{' + _U + '}', '{}'), _page('{' + _U + '}', '[]'),
    b'{"files": {}}', b'[]', b'', b'{}',
], ids=lambda c: c[:40].decode("latin-1"))
def test_fast_path_hostile_pages(content: bytes) -> None:
    _same(content)


def test_fast_path_is_taken_for_an_index_like_page() -> None:
    content = _page('{' + _U + ', "hashes": {"sha256": "' + "a" * 64 + '"}}',
                    '{"url": "http://127.0.0.1:8080/p/demo-2.0-py3-none-any.whl"}')
    urls, entries = read_json_page(content, PAGE_URL, PAGE_URL)
    assert all(isinstance(e, msgspec.Raw) for e in entries)
    assert urls == ["https://files.example/p/demo-1.0.tar.gz",
                    "http://127.0.0.1:8080/p/demo-2.0-py3-none-any.whl"]
    parsed = to_file(NAME, Source(PAGE_URL, "index"), entry_values(entries[0]))
    assert parsed is not None and parsed.sha256 == "a" * 64 and parsed.invalid is None


_URL_CHARS = string.ascii_letters + string.digits + "/.:?#@%[]\\ -_~!$&'()*+,;=\x7f\t\u2100"


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.builds(str.__add__, st.sampled_from(["https://", "http://", "", "ftp://"]),
                          st.text(_URL_CHARS, max_size=20)), max_size=4))
def test_plain_urls_are_absolute_as_they_are(urls: list[str]) -> None:
    if not _plain_absolute(urls):
        return
    for url in urls:  # (the same parts: urljoin drops an empty "?" or "#", urlsplit too)
        assert urlsplit(urljoin(PAGE_URL, url)) == urlsplit(url)
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https") and parts.netloc
        assert url.isprintable() and " " not in url


# -- file names ------------------------------------------------------------------------------

_NAMES = st.one_of(_FILENAMES, st.builds(
    lambda n, v, rest: f"{n}-{v}{rest}",
    st.sampled_from(["demo", "Demo", "de.mo", "de_mo", "demo2", "", "-demo", "DEMO-"]),
    st.sampled_from(["1.0", "1.0.0", "01.0", "1.0.post1", "1!2", "x", "", "1.0-1", "1..0"]),
    st.sampled_from([".tar.gz", ".zip", ".tar.bz2", ".tgz", "-py3-none-any.whl",
                     "-1-py3-none-any.whl", "-py3-none.whl", ".whl", ".exe", "", ".tar.gz.whl",
                     "-a-b-c-d-e.whl"])))


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(_NAMES, st.sampled_from(["", "#sha256=ab", "?x=1", "%2D"])),
                max_size=8))
def test_guess_versions_agrees_with_the_one_by_one_guess(items: list[tuple[str, str]]) -> None:
    urls = [f"https://files.example/p/{name}{tail}" for name, tail in items]
    filenames, versions = guess_versions(NAME, urls)
    assert filenames == [filename_in_url(u) for u in urls]
    for filename, version in zip(filenames, versions, strict=True):
        plausible, guessed = _guess_version(NAME, filename)
        assert (version is not NOT_OURS) == plausible
        if plausible:
            assert version == guessed


def test_one_version_spelled_two_ways_is_one_group_in_collection_order() -> None:
    source = Source(PAGE_URL, "index")
    raw = [(source, {"url": f"https://files.example/p/{fn}"}, fn, Version(v))
           for fn, v in [("demo-1.0.tar.gz", "1.0"), ("demo-2.0.tar.gz", "2.0"),
                         ("demo-1.0.0-py3-none-any.whl", "1.0.0")]]
    listing = ProjectListing(NAME, raw=raw)
    assert listing.versions() == (Version("2.0"), Version("1.0"))
    assert [f.filename for f in listing.files_of(Version("1"))] == [
        "demo-1.0.tar.gz", "demo-1.0.0-py3-none-any.whl"]


def test_an_entry_json_refuses_is_refused_with_the_reason_when_looked_at() -> None:
    """An integer of more than 4300 digits: msgspec skips it, ``json`` refuses it (the plain
    parse refuses the page). Decoding the entry later must say what is wrong with the page,
    not "run the command again" (the same page fails the same way every time). (Known
    difference: the fast path reads the page, and only the entry looked at is refused; a
    value nobody reads, outside every entry, is not looked at.)"""
    content = _page('{' + _U + ', "size": ' + "1" * 5000 + '}')
    assert _plain(content)[0] == "error" and "4300" in _plain(content)[1]
    urls, entries = read_json_page(content, PAGE_URL, PAGE_URL)
    with pytest.raises(IndexAccessError) as caught:
        entry_values(entries[0])
    assert "4300" in str(caught.value) and "not valid JSON" in str(caught.value)
    assert "run the command again" not in str(caught.value)


# -- listings: the lazy listing answers as the eager one, compacted or not ----------------------

_SPELLINGS = ["1.0", "1.0.0", "1", "2.0", "2.0.0", "1.0.post1", "3.0a1", "1!1.0", "v1.0"]
_KINDS = [".tar.gz", "-py3-none-any.whl", "-1-py3-none-any.whl", ".zip",
          "-cp312-cp312-linux_x86_64.whl"]


def _listing_page(items: list[tuple[str, str, int]]) -> bytes:
    entries = []
    for spelling, kind, host in items:
        fn = f"demo-{spelling}{kind}"
        entries.append({"url": f"https://h{host}.example/p/{fn}",
                        "hashes": {"sha256": f"{(len(entries) % 16):x}" * 64},
                        "upload-time": "2024-01-01T00:00:00Z"})
    return json.dumps({"meta": {"api-version": "1.1"}, "files": entries}).encode()


def _lazy(content: bytes, sources: list[Source]) -> ProjectListing:
    from safeinstall.listing import RawEntry
    raw: list[RawEntry] = []
    for source in sources:  # (one page per source, as the finder reads them)
        urls, entries = read_json_page(content, source.url, source.url)
        filenames, versions = guess_versions(NAME, urls)
        raw.extend((source, e, fn, v) for e, fn, v in zip(entries, filenames, versions,
                                                           strict=True)
                   if v is not NOT_OURS)  # type: ignore[misc]
    listing = ProjectListing(NAME, raw=raw)
    listing.digest = "same"
    return listing


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_SPELLINGS), st.sampled_from(_KINDS),
                          st.integers(0, 1)), max_size=12),
       st.sets(st.sampled_from(["1.0", "2.0", "1.0.post1", "3.0a1", "1!1.0"]), max_size=3),
       st.sampled_from(["light", "named", "versions", "release", "files_of", "candidates"]))
def test_a_compacted_listing_answers_as_the_eager_one(items: list[tuple[str, str, int]],
                                                       kept: set[str], first: str) -> None:
    from packaging.specifiers import SpecifierSet

    content = _listing_page(items)
    sources = [Source("https://a.example/simple/demo/", "index"),
               Source("https://b.example/simple/demo/", "index")]
    eager = ProjectListing(NAME, [f for s in sources
                                  for f in (to_file(NAME, s, d)
                                            for d in parse_json_page(content, s.url, s.url))
                                  if f is not None])
    plain = _lazy(content, sources)
    compacted = _lazy(content, sources)
    keep = {Version(v) for v in kept}
    compacted.compact(lambda v: v in keep, lambda: _lazy(content, sources))

    def answers(listing: ProjectListing) -> list[Any]:
        out: list[Any] = []
        order = ["light", "named", "versions", "release", "files_of", "candidates"]
        order.remove(first)
        for what in [first, *order]:  # (the first question may restore the pages)
            if what == "light":
                out.append(listing.light())
            elif what == "named":
                out.extend(listing.named(f"demo-{s}{k}") for s in _SPELLINGS for k in _KINDS)
            elif what == "versions":
                out.append(listing.versions())
            elif what == "candidates":
                out.extend(listing.candidates(SpecifierSet(s))
                           for s in ("==1.0", ">=2", "", "<1.0.post1"))
            else:
                for v in [*map(Version, ["1", "2", "1.0.post1", "3.0a1", "1!1", "9"])]:
                    out.append(listing.files_of(v) if what == "files_of" else
                               (listing.release(v, sources[0]), listing.release(v, sources[1])))
        return out

    assert answers(plain) == answers(eager)
    assert answers(compacted) == answers(eager)


def test_one_version_spelled_many_ways_is_grouped_in_linear_time() -> None:
    """A hostile page lists one version under thousands of spellings (``01.0``, ``1.00.000``,
    ...: each its own Version object, all equal). Grouping them merged each into the sorted
    group again, quadratic: 30,000 entries took half a minute. It must stay a moment, with
    every entry in one group, in collection order."""
    import itertools
    import time

    spellings = ["0" * a + "1" + "".join("." + "0" * z for z in zs)
                 for a in range(10) for j in range(6)
                 for zs in itertools.product(range(1, 6), repeat=j)][:30_000]
    urls = [f"https://files.example/p/demo-{s}.tar.gz" for s in spellings]
    filenames, versions = guess_versions(NAME, urls)
    assert len({id(v) for v in versions}) == len(spellings)
    source = Source(PAGE_URL, "index")
    raw = [(source, {"url": u}, fn, v) for u, fn, v in zip(urls, filenames, versions,
                                                          strict=True)]
    started = time.process_time()
    listing = ProjectListing(NAME, raw=raw)  # type: ignore[arg-type]
    assert time.process_time() - started < 3.0
    assert listing.versions() == (Version("1"),)
    assert list(listing._by_version[Version("1")]) == list(range(len(spellings)))


def test_named_is_not_left_stale_by_a_restore_in_another_thread() -> None:
    """The look-ahead's threads and the resolver's share listings. A restore (another
    thread asks for a version set aside) while :meth:`named` builds its index by file name
    must not leave that index without the restored entries: the mirror-mismatch check asks
    ``named`` for a file name and would find nothing."""
    import threading

    content = _listing_page([("1.0", ".tar.gz", 0), ("2.0", ".tar.gz", 0)])
    source = Source("https://a.example/simple/demo/", "index")
    listing = _lazy(content, [source])
    listing.compact(lambda v: v == Version("1.0"), lambda: _lazy(content, [source]))

    class _Raw(list):  # type: ignore[type-arg]
        """Another thread restores the listing while ``named`` reads the entries."""

        def __iter__(self):  # type: ignore[no-untyped-def]
            other = threading.Thread(target=listing.light)
            other.start()
            other.join(timeout=1.0)  # (done, or waiting for ``named`` to finish)
            self.other = other
            return super().__iter__()

    raw = _Raw(listing._raw)
    listing._raw = raw
    assert [f.filename for f in listing.named("demo-1.0.tar.gz")] == ["demo-1.0.tar.gz"]
    raw.other.join()
    assert [f.filename for f in listing.named("demo-2.0.tar.gz")] == ["demo-2.0.tar.gz"]
