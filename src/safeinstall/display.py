"""Text from outside (an index, a lock file, a store, a server) made safe to print.

A filename, a project name or an error from a server can carry terminal escapes (ESC, CR,
backspace) or bidirectional overrides that erase or fake lines of output. Every such text goes
through :func:`printable` before it reaches a terminal, a log, a report message or SARIF: control
and bidi characters are shown visibly as ``\\xNN``/``\\uNNNN`` escapes, everything else unchanged.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

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


def safe_text(text: str) -> str:
    """What every output sink prints for ``text``: URLs redacted
    (:func:`safeinstall.urls.redact_text`: no password, token or query secret), control and
    bidi characters escaped (:func:`printable`, line breaks kept)."""
    from safeinstall.urls import redact_text

    return printable(redact_text(text), keep_newlines=True)


class SafeStream:
    """A text stream that writes through :func:`safe_text`: the one sink for plain text of a
    command whose output can carry outside text (file names, project names, URLs, server
    messages). JSON is unchanged by it (``json.dumps`` escapes control characters itself)
    except for secrets in URLs. ``raw`` is the stream underneath, for a
    :func:`safe_console`, which escapes on its own and adds styles of its own."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(safe_text(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, getvalue, ...
        return getattr(self.raw, name)


def raw_stream(stream: Any) -> Any:
    """The stream under a :class:`SafeStream` (or ``stream`` itself)."""
    return stream.raw if isinstance(stream, SafeStream) else stream


def _escaped_segments(segments: Iterable[Any]) -> Iterator[Any]:
    from rich.segment import Segment

    for seg in segments:
        if seg.control or not seg.text or safe_text(seg.text) == seg.text:
            yield seg
        else:
            yield Segment(safe_text(seg.text), seg.style, seg.control)


_CONSOLE_CLASS: Any = None


def safe_console(**kwargs: Any) -> Any:
    """A rich ``Console`` (``kwargs`` as rich's) that never writes outside text raw: every
    string it renders (markup, table cells) goes through :func:`safe_text` before layout,
    and every segment of every renderable (``Text`` objects too) once more after it. The one
    place through which all rich output of safe-install goes; rich's own styles and cursor
    controls are unaffected."""
    global _CONSOLE_CLASS
    if _CONSOLE_CLASS is None:
        from rich.console import Console, RenderHook

        class _Escaped:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
                yield from _escaped_segments(console.render(self.inner, options))

        class _Hook(RenderHook):
            def process_renderables(self, renderables: list[Any]) -> list[Any]:
                return [_Escaped(r) for r in renderables]

        class SafeConsole(Console):
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, **kw)
                self.push_render_hook(_Hook())

            def render_str(self, text: str, **kw: Any) -> Any:
                return super().render_str(safe_text(text), **kw)

        _CONSOLE_CLASS = SafeConsole
    if "file" in kwargs:
        kwargs["file"] = raw_stream(kwargs["file"])
    return _CONSOLE_CLASS(**kwargs)
