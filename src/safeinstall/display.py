"""Text from outside (an index, a lock file, a store, a server) made safe to print.

A filename, a project name or an error from a server can carry terminal escapes (ESC, CR,
backspace) or bidirectional overrides that erase or fake lines of output. Every such text goes
through :func:`printable` before it reaches a terminal, a log, a report message or SARIF: control
and bidi characters are shown visibly as ``\\xNN``/``\\uNNNN`` escapes, everything else unchanged.
"""

from __future__ import annotations

import unicodedata

#: bidirectional formatting characters (Trojan Source, CVE-2021-42574) and other invisibles
_BIDI_AND_INVISIBLE = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\ufeff"
)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def is_unsafe_char(ch: str) -> bool:
    """True for a character that must not reach a terminal raw."""
    if ch in _BIDI_AND_INVISIBLE:
        return True
    cat = unicodedata.category(ch)
    return cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, format (bidi) or unassigned character escaped visibly.

    With ``keep_newlines`` a ``\\n`` stays a line break (for multi-line messages we wrote
    ourselves around outside values); a backslash is never escaped, so the output is for
    people, not a reversible encoding."""
    s = str(text)
    if s.isprintable() and not any(c in _BIDI_AND_INVISIBLE for c in s):
        return s
    out = []
    for ch in s:
        if keep_newlines and ch == "\n":
            out.append(ch)
        elif is_unsafe_char(ch):
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)


def has_unsafe_chars(text: str) -> bool:
    return any(is_unsafe_char(c) for c in text)
