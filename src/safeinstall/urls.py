"""URLs as keys and URLs in messages: one canonical spelling, one redaction.

Every place where an index URL is a key (trust store, watch store, release snapshots, reports,
findings) uses :func:`canonical_index_url`, so that ``HTTP://Host:80/simple`` and
``http://host/simple/`` are one index. Every URL that is printed or logged goes through
:func:`redact_url`, which removes what can be a secret: user info, query and fragment values.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: query keys whose values are not secrets and help a reader (shown in clear)
_PUBLIC_QUERY_KEYS = frozenset({"host", "port", "dbname", "sslmode", "connect_timeout",
                                "application_name", "target_session_attrs"})


def canonical_index_url(url: str) -> str:
    """The one spelling of an index (or find-links, or store) URL used as a key.

    Scheme and host are lower-cased, a default port is dropped, user info is dropped (who
    asked does not change what the index is), percent-escapes of unreserved characters are
    decoded and the rest upper-cased, ``//`` runs and a trailing ``/`` of the path are folded,
    and the fragment is dropped. The query is kept (sorted): it can select what a server
    answers. ``file:`` URLs keep their path. Text that is not an absolute URL is returned
    stripped, unchanged otherwise.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    if not scheme or (scheme != "file" and not parts.hostname):
        return text
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        host = f"{host}:{port}"
    path = quote(unquote(parts.path), safe="/:@!$&'()*+,;=~")
    while "//" in path:
        path = path.replace("//", "/")
    path = path.rstrip("/")
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit((scheme, host, path or "", query, ""))


def redact_url(url: str) -> str:
    """``url`` fit to print or log: user info, passwords and query or fragment values that may
    be tokens are replaced by ``****`` (a PostgreSQL URL's ``?host=`` and similar harmless keys
    stay readable). Text that does not parse as a URL is redacted as a whole when it looks like
    it carries credentials."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        return "<a URL that cannot be parsed>" if ("@" in url or "?" in url) else url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:****@{hostport}" if sep else f"****@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if pairs:
            query = "&".join(
                f"{quote(k)}={quote(v, safe='/') if k.lower() in _PUBLIC_QUERY_KEYS else '****'}"
                for k, v in pairs)
        else:
            query = "****"
    fragment = parts.fragment
    if fragment and not fragment.startswith(("sha256=", "sha384=", "sha512=", "md5=", "egg=",
                                             "subdirectory=")):
        fragment = "****"
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


#: A URL inside free text (a lock entry, a requirement line): scheme, ``://``, up to a space
#: or a quote or bracket that ends it in the text.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"()<>]+")


def redact_urls_in(text: str) -> str:
    """``text`` (such as a lock entry quoted in a message) with every URL in it passed
    through :func:`redact_url`."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)

