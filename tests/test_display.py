"""display.printable and the output sinks built on it (SafeStream, safe_console): outside
text is shown, never obeyed, by a terminal; URLs in it are redacted."""

from __future__ import annotations

import io

import pytest

from safeinstall.display import SafeStream, has_unsafe_chars, printable, safe_console, safe_text


@pytest.mark.parametrize("text, shown", [
    ("plain", "plain"),
    ("a\x1b[2Jb", "a\\x1b[2Jb"),
    ("line\rfake", "line\\x0dfake"),
    ("rtl\u202eexe.txt", "rtl\\u202eexe.txt"),
    ("bell\x07 del\x7f", "bell\\x07 del\\x7f"),
    ("two\nlines", "two\\x0alines"),
])
def test_printable_escapes_control_and_bidi_characters(text, shown):
    assert printable(text) == shown
    assert not has_unsafe_chars(printable(text))


def test_printable_can_keep_line_breaks():
    assert printable("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"


def test_safe_text_redacts_and_escapes():
    assert safe_text("see https://u:pw@h/simple/\x1b[1A\n") == "see https://u:****@h/simple/\\x1b[1A\n"


def test_safe_stream_writes_through_safe_text_and_delegates_the_rest():
    raw = io.StringIO()
    stream = SafeStream(raw)
    stream.write("x\x1b[2K\n")
    stream.writelines(["https://u:pw@h/\n"])
    stream.flush()
    assert raw.getvalue() == "x\\x1b[2K\nhttps://u:****@h/\n"
    assert stream.getvalue() == raw.getvalue()


def test_safe_console_escapes_markup_text_and_tables_but_keeps_its_styles():
    from rich.table import Table
    from rich.text import Text

    raw = io.StringIO()
    console = safe_console(file=SafeStream(raw), force_terminal=True, width=120,
                           highlight=False)
    table = Table()
    table.add_column("file")
    table.add_row("a\x1b[1Ab")
    table.add_row(Text("c\x1b[1Ad https://u:pw@h/", style="red"))
    console.print("[bold]e\x1b[1Af[/]", table)
    out = raw.getvalue()
    assert "\x1b[1A" not in out and "pw@" not in out
    assert out.count("\\x1b[1A") == 3
    assert "\x1b[1m" in out  # rich's own bold is still there
