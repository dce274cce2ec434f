"""Where the log records of a run go: ``-v`` shows them on stderr, otherwise nowhere.

The library logs through ``logging.getLogger(__name__)`` (selection, finder, resolver, policy:
why each file lost) and never configures logging itself; an executable calls
:func:`configure_logging` once its verbosity is known. Records carry outside text (file names,
URLs, yanked reasons from an index), so every line goes out through
:func:`safeinstall.display.safe_text` with its line breaks escaped: one record, one line, no
control or bidi character, no secret of a URL.
"""

from __future__ import annotations

import logging
from typing import IO

from safeinstall.display import printable
from safeinstall.urls import redact_text

#: the logger every module of the package logs under (``safeinstall.selection``, ...)
ROOT = "safeinstall"


class _PrintableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return printable(redact_text(super().format(record)))


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs (found again by its class)."""


def configure_logging(verbosity: int, stream: IO[str]) -> None:
    """Send the package's log records to ``stream`` at ``verbosity >= 1`` (``-v``), with their
    debug records; below it the package logs nothing anywhere (no handler, and the level
    makes every ``logger.isEnabledFor(DEBUG)`` guard false, so a quiet run pays nothing).
    Called again (another run in the same process), it replaces its own handler."""
    logger = logging.getLogger(ROOT)
    for handler in [h for h in logger.handlers if isinstance(h, _Handler)]:
        logger.removeHandler(handler)
    if verbosity < 1:
        logger.setLevel(logging.WARNING)
        logger.propagate = True
        return
    handler = _Handler(stream)
    handler.setFormatter(_PrintableFormatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # (not twice, were the root logger configured too)
