"""Validation of index data: each page entry into an :class:`~safeinstall.models.IndexFile`,
whose values are checked in one place (:func:`to_file`), whatever page it came from (the
pages themselves are read into entries by :mod:`safeinstall.pages`); file names and the
versions they carry.

Nothing here does I/O: the finder (:mod:`safeinstall.finder`) reads the pages.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from safeinstall.models import BuildTag, IndexFile, Source
from safeinstall.urls import redact_url as redact

logger = logging.getLogger(__name__)


def _entry_sha256(entry: Mapping[str, Any]) -> str | None:
    """The entry's sha256 when it is a valid one (64 hex digits), else None (the full parse,
    :func:`to_file`, says what is wrong with it)."""
    hashes = entry.get("hashes")
    value: object = None
    if isinstance(hashes, dict) and "sha256" in hashes:
        value = hashes["sha256"]
    else:
        url = str(entry.get("url", ""))
        if "#sha256=" in url:
            value = url.rpartition("#sha256=")[2]
    if isinstance(value, str) and is_sha256(value.lower()):
        return value.lower()
    return None



# -- validation of index data: once, where a page entry is parsed --------------------------------

#: Hex digits of each hash algorithm's digest (PEP 691 names are hashlib's).
HASH_HEX_LENGTHS = {
    "md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128,
    "sha3_224": 56, "sha3_256": 64, "sha3_384": 96, "sha3_512": 128,
    "blake2b": 128, "blake2s": 64,
}
_HEX_DIGITS = frozenset("0123456789abcdef")
#: What a distribution file name may hold: the characters of project names, versions (with
#: epochs and local labels), build tags and wheel tags. Nothing that is a path separator,
#: whitespace, a control character or a requirements-file metacharacter.
_FILENAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "0123456789._+!~-")
_HASH_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def is_sha256(value: object) -> bool:
    """``value`` is a sha256 as safe-install keeps it: exactly 64 lower-case hex digits."""
    return isinstance(value, str) and len(value) == 64 and _HEX_DIGITS.issuperset(value)


def is_safe_filename(value: object) -> bool:
    """``value`` can be a file name in a path or a line of a requirements file: only the
    characters distribution file names are made of, not starting with a dot."""
    return isinstance(value, str) and bool(value) and not value.startswith(".") \
        and _FILENAME_CHARS.issuperset(value) and len(value) <= 255


#: A character no distribution file name has ("/" separates the names :func:`all_safe_filenames`
#: joins, and no name holds one)
_NOT_FILENAME_CHAR = re.compile(r"[^a-zA-Z0-9._+!~/-]")


def all_safe_filenames(names: list[str]) -> bool:
    """Whether :func:`is_safe_filename` accepts every one of ``names``, in one scan of them all
    (a page lists tens of thousands; a name it refuses is then found one by one)."""
    if not names:
        return True
    joined = "/".join(names)
    return _NOT_FILENAME_CHAR.search(joined) is None \
        and joined.count("/") == len(names) - 1 and all(names) \
        and not joined.startswith(".") and "/." not in joined \
        and max(map(len, names)) <= 255


def unsafe_filenames(names: list[str]) -> list[str]:
    """Those of ``names`` that :func:`is_safe_filename` refuses, in order (one scan of them
    all, each name only if one fails)."""
    if all_safe_filenames(names):
        return []
    return [n for n in names if not is_safe_filename(n)]


def _shown(value: object) -> str:
    """A hostile value, shortened and quoted for a message (escapes are added on output)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def filename_problem(filename: str) -> str | None:
    """Why ``filename`` (from an index) cannot be used as a file name, or None."""
    if is_safe_filename(filename):
        return None
    bad = sorted({c for c in filename if c not in _FILENAME_CHARS})
    if not bad:
        return (f"file name {_shown(filename)} "
                + ("starts with a dot" if filename.startswith(".") else "is too long"))
    what = ", ".join("'/'" if c == "/" else "'\\'" if c == "\\" else repr(c) for c in bad[:4])
    return (f"file name {_shown(filename)} holds characters no distribution file name has "
            f"({what})")


def _hashes_problem(field: str, raw: object, out: dict[str, str]) -> str | None:
    """Validate a PEP 691 hashes object into ``out`` (valid values only); the first problem."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        return f"{field} is {_shown(raw)}, not an object of hash names to hex digests"
    problem: str | None = None
    for key, value in raw.items():
        algo = str(key).lower()
        expected = HASH_HEX_LENGTHS.get(algo)
        text = value.lower() if isinstance(value, str) else None
        if text is None:
            why = f"{_shown(value)} is not a string"
        elif not _HASH_NAME_CHARS.issuperset(algo) or not algo or len(algo) > 32:
            why = f"{_shown(str(key))} is not a hash name"
        elif not text or not _HEX_DIGITS.issuperset(text):
            why = f"{_shown(value)} is not hex digits"
        elif expected is not None and len(text) != expected:
            why = f"{_shown(value)} is not {expected} hex digits"
        elif expected is None and (len(text) % 2 or len(text) > 256):
            why = f"{_shown(value)} is not a digest"
        else:
            out.setdefault(algo, text)
            continue
        problem = problem or f"{field} {algo}: {why}"
    return problem


_SPECIFIERS: dict[str, bool] = {}


def _is_specifier(text: str) -> bool:
    """``SpecifierSet(text)`` parses (memoised: a page repeats a few values thousands of times)."""
    known = _SPECIFIERS.get(text)
    if known is None:
        try:
            SpecifierSet(text)
            known = True
        except InvalidSpecifier:
            known = False
        if len(_SPECIFIERS) < 10_000:
            _SPECIFIERS[text] = known
    return known


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _url_problem(url: str, parts: Any) -> str | None:
    if _CONTROL.search(url):
        return f"url {_shown(url)} holds control characters"
    if parts.scheme.lower() not in ("http", "https", "file"):
        return f"url {_shown(url)} is not an http(s) or file URL"
    if parts.scheme.lower() != "file" and not parts.netloc:
        return f"url {_shown(url)} has no host"
    return None


def filename_in_url(url: str) -> str:
    """The file name in a URL, as ``basename(urlsplit(url).path)``, unquoted, without the
    cost."""
    if "#" in url or "?" in url or "%" in url:
        tail = url.split("#", 1)[0].split("?", 1)[0].rsplit("/", 1)[-1]
        return unquote(tail) if "%" in tail else tail
    return url[url.rfind("/") + 1:]


_NAMES: dict[str, NormalizedName] = {}


def _canonical(text: str) -> NormalizedName:
    """``canonicalize_name(text)``, memoised (a page repeats one spelling thousands of times)."""
    try:
        return _NAMES[text]
    except KeyError:
        pass
    name = canonicalize_name(text)
    if len(_NAMES) < 100_000:
        _NAMES[text] = name
    return name


_VERSIONS: dict[str, Version | None] = {}


def _version_of(text: str) -> Version | None:
    """``Version(text)``, memoised: the files of one release repeat the same version text, and
    popular projects list tens of thousands of files."""
    try:
        return _VERSIONS[text]
    except KeyError:
        pass
    try:
        version: Version | None = Version(text)
    except InvalidVersion:
        version = None
    if len(_VERSIONS) < 200_000:
        _VERSIONS[text] = version
    return version


def _guess_version(name: NormalizedName, filename: str) -> tuple[bool, Version | None]:
    """Cheaply: is this a file of ``name``, and which version does its name carry? Wheels are
    checked on name and version only (their tags, the costly part, are parsed on demand);
    sdists get the full check, which is cheap. (None: parse it whenever anything is asked.)"""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        if len(parts) not in (5, 6) or _canonical(parts[0]) != name:
            return False, None
        version = _version_of(parts[1])
        return version is not None, version
    parsed = _parse_filename(name, filename)
    if parsed is None:
        return False, None
    return True, parsed[0]


#: :func:`guess_versions`: not a file of the project
NOT_OURS: Literal[False] = False


def guess_versions(name: NormalizedName,
                   urls: Sequence[str]) -> tuple[list[str], list[Version | None | bool]]:
    """:func:`_guess_version` of the file name of each of ``urls`` (a whole page's), in one
    pass: the file names, and for each its version, None (only the full parse can tell) or
    :data:`NOT_OURS`. The same answers, a third of the cost (a large lock's pages list
    400,000 files)."""
    joined = "".join(urls)
    if "#" in joined or "?" in joined or "%" in joined:
        filenames = [filename_in_url(u) for u in urls]
    else:
        filenames = [u[u.rfind("/") + 1:] for u in urls]
    names = _NAMES
    versions = _VERSIONS
    out: list[Version | None | bool] = []
    append = out.append
    for filename in filenames:
        if filename.endswith(".whl"):
            parts = filename.split("-")
            if len(parts) != 5 and len(parts) != 6:
                append(NOT_OURS)
                continue
            text = parts[0]
        elif filename.endswith((".tar.gz", ".zip")):  # as parse_sdist_filename
            stem = filename[:-7] if filename.endswith(".tar.gz") else filename[:-4]
            text, dash, version_text = stem.rpartition("-")
            if not dash:
                append(NOT_OURS)
                continue
            parts = [text, version_text]
        else:
            plausible, guessed = _guess_version(name, filename)
            append(guessed if plausible else NOT_OURS)
            continue
        canonical = names.get(text)
        if canonical is None:
            canonical = _canonical(text)
        if canonical != name:
            append(NOT_OURS)
            continue
        version = versions.get(parts[1], NOT_OURS)
        if version is NOT_OURS:
            version = _version_of(parts[1])
        append(NOT_OURS if version is None else version)
    return filenames, out


def _parse_filename(name: NormalizedName,
                    filename: str) -> tuple[Version, bool, frozenset[Tag], BuildTag] | None:
    try:
        if filename.endswith(".whl"):
            wname, version, build, tags = parse_wheel_filename(filename)
            if wname != name:
                return None
            return version, True, tags, build
        if filename.endswith((".tar.gz", ".zip")):
            sname, version = parse_sdist_filename(filename)
            if sname != name:
                return None
            return version, False, frozenset(), ()
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    # pip also accepts legacy sdists (.tar.bz2, .tgz ...) named name-version.ext
    for ext in (".tar.bz2", ".tgz", ".tar.xz", ".tbz", ".tar"):
        if filename.endswith(ext):
            stem = filename[: -len(ext)]
            pname, _, ver = stem.rpartition("-")
            if canonicalize_name(pname) != name:
                return None
            try:
                return Version(ver), False, frozenset(), ()
            except InvalidVersion:
                return None
    return None


def parse_upload_time(value: Any) -> tuple[datetime | None, str | None]:
    """PEP 700 ``upload-time`` -> (moment, None); (None, why) when present but unreadable;
    (None, None) when absent."""
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, f"{json.dumps(value)[:80]} is not a string"
    if not value.strip():
        return None, "it is empty"
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None, f"{value[:80]!r} is not an ISO 8601 time"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None, f"{value[:80]!r} has no time zone"
    try:  # a moment that has no UTC time (0001-01-01T00:00:00+14:00) is not a moment
        parsed.astimezone(timezone.utc)
    except OverflowError:
        return None, f"{value[:80]!r} is outside the range of dates"
    return parsed, None


#: File endings of distributions pip would consider; a listed name with one of these endings
#: that does not parse as a file of the page's project is reported (and ignored, as pip does).
_DIST_ENDINGS = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tbz", ".tar")


def to_file(name: NormalizedName, source: Source, entry: Mapping[str, Any]) -> IndexFile | None:
    """The one place an index entry's values are validated (JSON, HTML, find-links and
    ``--times-from`` pages all come through here). An entry that is not a distribution
    of ``name`` is None (ignored, as pip does); one that is, with any invalid value, is
    an IndexFile with ``invalid`` set, holding only the values that passed."""
    url: str = entry["url"]
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    filename = unquote(os.path.basename(parts.path))
    parsed = _parse_filename(name, filename)
    if parsed is None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Skipping link: not a distribution of %s: %s", name, redact(url))
        return None
    version, is_wheel, tags, build = parsed
    problems: list[str] = []

    def problem(text: str | None) -> None:
        if text is not None:
            problems.append(text)

    problem(filename_problem(filename))
    problem(_url_problem(url, parts))
    hashes: dict[str, str] = {}
    problem(_hashes_problem("hashes", entry.get("hashes"), hashes))
    if parts.fragment:
        algo, eq, value = parts.fragment.partition("=")
        if eq and algo in ("sha256", "sha384", "sha512", "sha224", "sha1", "md5"):
            from_url: dict[str, str] = {}
            problem(_hashes_problem("url #fragment", {algo: value}, from_url))
            for key, text in from_url.items():
                hashes.setdefault(key, text)
    # as pip's Link.from_json: a reason string or true means yanked; "" and false do not
    yanked_raw = entry.get("yanked", False)
    yanked: str | None
    if isinstance(yanked_raw, str) and yanked_raw:
        yanked = yanked_raw
    elif yanked_raw and not isinstance(yanked_raw, str):
        yanked = ""
    else:
        yanked = None
    if yanked_raw is not None and not isinstance(yanked_raw, (bool, str)):
        problem(f"yanked is {_shown(yanked_raw)}, not true, false or a reason")
    meta = entry.get("core-metadata", entry.get("dist-info-metadata"))
    metadata_url = None
    metadata_sha256 = None
    if meta:
        metadata_url = parts._replace(fragment="").geturl() + ".metadata"
        if isinstance(meta, dict):
            meta_hashes: dict[str, str] = {}
            problem(_hashes_problem("core-metadata", meta, meta_hashes))
            metadata_sha256 = meta_hashes.get("sha256")
        elif meta is not True:
            problem(f"core-metadata is {_shown(meta)}, not true, false or hashes")
    size_raw = entry.get("size")
    size: int | None = None
    if type(size_raw) is int and size_raw >= 0:
        size = size_raw
    elif size_raw is not None:
        problem(f"size is {_shown(size_raw)}, not a non-negative integer")
    rp_raw = entry.get("requires-python")
    rp: str | None = None
    if isinstance(rp_raw, str) and rp_raw.strip():
        rp = rp_raw  # (the selection ignores an invalid one, as pip does)
        if not _is_specifier(rp_raw):
            problem(f"requires-python {_shown(rp_raw)} is not a version specifier")
    elif rp_raw not in (None, ""):
        problem(f"requires-python is {_shown(rp_raw)}, not a string")
    upload_time, upload_time_error = parse_upload_time(entry.get("upload-time"))
    return IndexFile(
        project=name,
        filename=filename,
        url=parts._replace(fragment="").geturl(),
        source=source,
        version=version,
        is_wheel=is_wheel,
        tags=tags,
        build_tag=build,
        sha256=hashes.get("sha256"),
        hashes=tuple(sorted(hashes.items())),
        upload_time=upload_time,
        yanked=yanked,
        requires_python=rp,
        size=size,
        metadata_url=metadata_url,
        metadata_sha256=metadata_sha256,
        upload_time_error=upload_time_error,
        invalid="; ".join(problems) if problems else None,
    )
