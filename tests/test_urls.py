"""urls.redact_url / redact_text (one redaction for every URL printed or logged) and
canonical_index_url (one spelling of an index URL used as a key)."""

from __future__ import annotations

import pytest

from safeinstall.urls import canonical_index_url, redact_text, redact_url


@pytest.mark.parametrize("url, shown", [
    ("https://u:hunter2@pypi.example/simple/", "https://u:****@pypi.example/simple/"),
    ("https://tok3n@gitlab.example/api/simple/", "https://****@gitlab.example/api/simple/"),
    ("https://hooks.example/x?token=hunter2&b=2", "https://hooks.example/x?token=****&b=****"),
    ("postgresql://ci:hunter2@db:5432/si", "postgresql://ci:****@db:5432/si"),
    ("postgresql://ci@db/si?password=hunter2&sslmode=require",
     "postgresql://****@db/si?password=****&sslmode=require"),
    ("postgresql:///db?host=/run/postgresql", "postgresql:///db?host=/run/postgresql"),
    ("https://files.example/x-1.0.whl#sha256=abc", "https://files.example/x-1.0.whl#sha256=abc"),
    ("https://h/x#secret", "https://h/x#****"),
    ("https://pypi.org/simple/", "https://pypi.org/simple/"),
    ("http://h/p?", "http://h/p?"),
    ("postgresql://ci:hunter2@[::1/db", "<a URL that cannot be parsed>"),
    ("postgresql://ci:hunter2@db:port/db", "<a URL that cannot be parsed>"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown
    assert "hunter2" not in redact_url(url)


def test_redact_text_redacts_every_url_in_a_message_and_keeps_the_rest():
    text = ("cannot fetch 'https://u:hunter2@h/simple/x/' (index page), then "
            "https://hook/x?token=hunter2; and (https://ok.example/simple/).")
    assert redact_text(text) == ("cannot fetch 'https://u:****@h/simple/x/' (index page), "
                                 "then https://hook/x?token=****; and "
                                 "(https://ok.example/simple/).")
    assert redact_text("no URL here: a:b@c") == "no URL here: a:b@c"


def test_canonical_index_url_spells_one_index_one_way():
    assert canonical_index_url("HTTP://Host:80//simple/") == canonical_index_url("http://host/simple")
    assert canonical_index_url("https://u:p@h/simple/") == "https://h/simple"
