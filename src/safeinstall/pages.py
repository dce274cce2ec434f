"""Index pages into their file entries: PEP 691 JSON (:func:`read_json_page`, with a msgspec
fast path, and :func:`parse_json_page`) and PEP 503 HTML (:func:`parse_html_page`). Each entry
is then validated, in one place, by :func:`safeinstall.indexdata.to_file`.

Nothing here does I/O: the finder (:mod:`safeinstall.finder`) reads the pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import msgspec

from safeinstall.errors import IndexAccessError
from safeinstall.urls import redact_url as redact

#: what the finder asks an index for (PEP 691 JSON first) ...
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
#: ... the content type of a PEP 691 page ...
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
#: ... and the largest page it reads
MAX_PAGE_BYTES = 64 * 1024 * 1024


class _Url(msgspec.Struct):
    url: str


class _UrlPage(msgspec.Struct):
    """What :func:`read_json_page` decodes first: each entry's URL (the rest skipped)."""
    files: list[_Url]
    meta: Any = None


class _RawPage(msgspec.Struct):
    """... and then each entry's bytes, decoded only when the entry is looked at."""
    files: list[msgspec.Raw]


_URL_PAGE = msgspec.json.Decoder(_UrlPage)
_RAW_PAGE = msgspec.json.Decoder(_RawPage)

#: A page entry as the finder keeps it: a dict (HTML pages, find-links, pages the fast path
#: does not take), or the undecoded bytes of a JSON entry (:func:`read_json_page`)
Entry = Mapping[str, Any] | msgspec.Raw


def read_json_page(content: bytes, url: str,
                   final_url: str) -> tuple[list[str], Sequence[Entry]]:
    """A PEP 691 page's entries' absolute URLs and the entries, as :func:`parse_json_page`
    reads them, with the same errors, but faster on a large page (issue 21): the entries
    of a well-formed page whose URLs are all plain absolute http(s) URLs (PyPI's) are not
    decoded here but kept as their JSON bytes, decoded by :func:`entry_values` when looked
    at (a large lock's pages list 400,000 entries, of which a few thousand are).

    The fast path is taken only when the page is UTF-8, msgspec decodes it (it is stricter
    than ``json``: it refuses NaN, lone surrogates, a byte order mark and other encodings) and
    every URL is plain; anything else goes through :func:`parse_json_page`, whose value or
    error is then the answer. For a page both accept, each entry's bytes decode with
    ``json`` to the same value as in the whole page (duplicate keys: the last one, in both).
    """
    fast = read_json_fast(content, url, final_url)
    if fast is not None:
        return fast
    files = parse_json_page(content, url, final_url)
    return [str(f["url"]) for f in files], files


def read_json_fast(content: bytes, url: str,
                   final_url: str) -> tuple[list[str], list[msgspec.Raw]] | None:
    """:func:`read_json_page`'s fast path alone: the URLs and undecoded entries of a page it
    takes, None for any other page (which only :func:`parse_json_page` reads, or refuses).
    A page of another api-version is refused here as there."""
    try:
        ascii_page = content.isascii()
        if not ascii_page:  # (msgspec does not check the UTF-8 of what it skips)
            content.decode("utf-8")
        page = _URL_PAGE.decode(content)
        entries = _RAW_PAGE.decode(content).files
    except (UnicodeDecodeError, msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    urls = [f.url for f in page.files]
    # an ASCII page without escapes or DEL holds printable ASCII strings only (a raw
    # control character in a JSON string is malformed: msgspec refused it)
    printable = ascii_page and b"\\" not in content and b"\x7f" not in content
    if _plain_absolute(urls, printable=printable) and _kept_by_urljoin(urls, final_url):
        _check_api_version(page.meta, url)
        return urls, entries
    return None


def local_file_link(urls: Sequence[str], final_url: str) -> str | None:
    """The first of a page's entry ``urls`` that names a local file (``file:``) when the page
    came from a server (``final_url`` http or https), else None: a remote index must never
    point at this machine's files."""
    if urlsplit(final_url).scheme not in ("http", "https"):
        return None
    for entry_url in urls:
        if entry_url.startswith("https://"):
            continue
        if entry_url[:5].lower() == "file:":  # the scheme, without parsing the URL
            return entry_url
    return None


#: URLs joined by single spaces, each absolute http(s) with a host
_ABSOLUTE_URLS = re.compile(r"https?://[^/?# ][^ ]*(?: https?://[^/?# ][^ ]*)*")


def _plain_absolute(urls: list[str], *, printable: bool = False) -> bool:
    """Whether each URL is one ``urljoin`` returns unchanged and ``urlsplit`` accepts:
    absolute http(s) with a host, printable ASCII, no space, ``/.``, ``[``, ``]`` or ``\\``
    (one scan of them all, joined by spaces). ``printable``: the caller knows every one is
    printable ASCII without ``\\``."""
    if not urls:
        return True
    joined = " ".join(urls)
    return (printable or (joined.isascii() and joined.isprintable() and "\\" not in joined)) \
        and "[" not in joined and "]" not in joined and "/." not in joined \
        and joined.count(" ") == len(urls) - 1 and _ABSOLUTE_URLS.fullmatch(joined) is not None


def _kept_by_urljoin(urls: list[str], final_url: str) -> bool:
    """Whether ``urljoin(final_url, url)`` returns each of ``urls`` (plain absolute ones)
    unchanged. On an https page it does (another scheme, or :func:`parse_json_page`'s https
    shortcut); on an http page it rebuilds each http URL from its parts, which drops an empty
    ``;``, ``?`` or ``#`` (``.../demo-1.0.tar.gz;`` is ``demo-1.0.tar.gz`` there)."""
    try:
        if urlsplit(final_url).scheme != "http":
            return True
        return all(urljoin(final_url, u) == u for u in urls if u.startswith("http://"))
    except ValueError:
        return False


_BAD_ENTRY = "an index page entry is not valid JSON ({})"
_BAD_ENTRY_HINT = "the index is broken or something between you and it altered the page"


def entry_values(entry: Entry) -> Mapping[str, Any]:
    """An entry's keys and values (a JSON entry kept as bytes is decoded, as ``json`` would
    have decoded it in the whole page)."""
    if isinstance(entry, msgspec.Raw):
        try:
            values = json.loads(bytes(entry))
        except RecursionError:  # (msgspec accepted it: never seen)
            raise IndexAccessError(_BAD_ENTRY.format("nested too deeply"),
                                   hint=_BAD_ENTRY_HINT) from None
        except ValueError as exc:  # (an integer of more than 4300 digits: msgspec skips it)
            raise IndexAccessError(_BAD_ENTRY.format(str(exc)[:200]),
                                   hint=_BAD_ENTRY_HINT) from None
        if not isinstance(values, dict):  # (decoded as an object by msgspec: never seen)
            raise IndexAccessError("an index page entry is not an object")
        return values
    return entry


def detached(entry: Entry) -> Entry:
    """The entry without a hold on its whole page's bytes (kept after a compaction)."""
    return entry.copy() if isinstance(entry, msgspec.Raw) else entry


def _check_api_version(meta: Any, url: str) -> None:
    api = meta.get("api-version") if isinstance(meta, dict) else None
    if isinstance(api, str) and api.split(".")[0].strip() != "1":
        raise IndexAccessError(
            f"the index page {redact(url)} uses PEP 691 api-version {api[:20]!r}; safe-install "
            "reads version 1.x",
            hint="use an index that serves api-version 1 (or its HTML pages)",
        )


def parse_json_page(content: bytes, url: str, final_url: str) -> list[dict[str, Any]]:
    """The file entries of a PEP 691 project page, each with an absolute ``url``.

    Anything that is not a PEP 691 (api-version 1.x) page with a list of file objects that
    each have a URL is an :class:`IndexAccessError`: a page we cannot fully read is never
    treated as a page with fewer files.
    """
    def bad(why: str) -> IndexAccessError:
        return IndexAccessError(
            f"the index page {redact(url)} is not valid PEP 691 JSON ({why})",
            hint="the index is broken or something between you and it altered the page",
        )

    try:
        data = json.loads(content)
    except RecursionError:
        raise bad("nested too deeply") from None
    except ValueError as exc:
        raise bad(str(exc)[:200]) from None
    if not isinstance(data, dict):
        raise bad("the page is not a JSON object")
    _check_api_version(data.get("meta"), url)
    if "files" not in data:
        raise bad("no 'files' key")
    files = data["files"]
    if not isinstance(files, list):
        raise bad("'files' is not a list")
    # the entries are this parse's own objects: each gets its absolute URL in place
    for i, item in enumerate(files, 1):
        raw_url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(raw_url, str) or not raw_url or raw_url.isspace():
            raise bad(f"file entry #{i} is not an object with a url")
        if raw_url.startswith("https://") and "/." not in raw_url and "[" not in raw_url \
                and "]" not in raw_url and raw_url.isprintable() and " " not in raw_url:
            continue  # already absolute and plain: urljoin would return it unchanged
        try:
            absolute = urljoin(final_url, raw_url)
            urlsplit(absolute)
        except ValueError as exc:
            raise bad(f"file entry #{i} has an invalid url: {exc}") from None
        item["url"] = absolute
    return files



def parse_html_page(content: bytes, url: str, final_url: str) -> list[dict[str, Any]]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        text = content.decode("latin-1")
    from unearth.collector import IndexHTMLParser

    try:
        parser = IndexHTMLParser()
        parser.feed(text)
        parser.close()
        base = urljoin(final_url, parser.base_url) if parser.base_url else final_url
        out: list[dict[str, Any]] = []
        for anchor in parser.anchors:
            href = anchor.get("href")
            if not href:
                continue
            meta = anchor.get("data-core-metadata") or anchor.get("data-dist-info-metadata")
            out.append({
                "url": urljoin(base, href),
                "requires-python": anchor.get("data-requires-python"),
                # an empty data-yanked attribute still means yanked (PEP 592)
                "yanked": (anchor.get("data-yanked") or True) if "data-yanked" in anchor
                else False,
                "core-metadata": _html_meta(meta),
            })
            urlsplit(str(out[-1]["url"]))
    except (ValueError, AssertionError) as exc:
        raise IndexAccessError(
            f"the index page {redact(url)} is not valid PEP 503 HTML ({exc})",
            hint="the index is broken or something between you and it altered the page",
        ) from None
    return out


def _html_meta(value: str | None) -> dict[str, str] | bool | None:
    if not value:
        return None
    algo, eq, digest = value.partition("=")
    return {algo: digest} if eq else True
