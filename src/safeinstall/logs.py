"""Where the log records of a run go: ``-v`` shows them on stderr, otherwise nowhere.

The library logs through ``logging.getLogger(__name__)`` (selection, finder, resolver, policy:
why each file lost) and never configures logging itself; an executable calls
:func:`configure_logging` once its verbosity is known. Records carry outside text (file names,
URLs, yanked reasons from an index), so every record goes out with its line breaks escaped
(:func:`safeinstall.display.printable`: no control or bidi character, no forged line) and no
secret of a URL; at a known width (a terminal or ``COLUMNS``) it is wrapped to it, each
continuation indented, as the other messages are.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Mapping
from typing import IO

from safeinstall.display import printable
from safeinstall.urls import redact_text

#: the logger every module of the package logs under (``safeinstall.selection``, ...)
ROOT = "safeinstall"


class _PrintableFormatter(logging.Formatter):
    def __init__(self, width: int | None) -> None:
        super().__init__("%(message)s")
        self.width = width

    def format(self, record: logging.LogRecord) -> str:
        text = printable(redact_text(super().format(record)))
        if self.width is None or len(text) <= self.width:
            return text
        return textwrap.fill(text, self.width, subsequent_indent="    ",
                             break_on_hyphens=False)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs (found again by its class)."""


def configure_logging(verbosity: int, stream: IO[str],
                      environ: Mapping[str, str] | None = None) -> None:
    """Send the package's log records to ``stream`` at ``verbosity >= 1`` (``-v``), with their
    debug records; below it the package logs nothing anywhere (no handler, and the level
    makes every ``logger.isEnabledFor(DEBUG)`` guard false, so a quiet run pays nothing).
    Lines are wrapped to ``stream``'s width (its terminal, or ``COLUMNS`` in ``environ``).
    Called again (another run in the same process), it replaces its own handler."""
    logger = logging.getLogger(ROOT)
    for handler in [h for h in logger.handlers if isinstance(h, _Handler)]:
        logger.removeHandler(handler)
    if verbosity < 1:
        logger.setLevel(logging.WARNING)
        logger.propagate = True
        return
    from safeinstall.layout import output_width

    handler = _Handler(stream)
    handler.setFormatter(_PrintableFormatter(
        output_width(stream, {} if environ is None else environ)))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # (not twice, were the root logger configured too)
