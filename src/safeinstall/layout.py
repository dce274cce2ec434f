"""Output that fits: the width to lay out for, and tables fitted to it.

* On a terminal, its width. Without one, ``COLUMNS`` when it is set (as ``ls`` and pip do);
  otherwise no width at all: tables become one record per line (``key=value`` fields), which
  greps and diffs well, and messages are not wrapped.
* A table wider than the width first loses columns in the order its caller gives (documented in
  docs/reference.md, "Output"), then its shrinkable column (a filename) is shortened with an
  ellipsis in the middle, which keeps both the project name and the tags readable (the
  rightmost shrinkable column first, each down to its minimum width).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

#: narrowest width honoured (below it, tables are laid out for this many columns)
MIN_WIDTH = 40
#: a shrinkable column is never narrower than this
HARD_MIN = 8
#: the gap between two columns of a table (rich's padding of one space on either side)
GAP = 2


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def output_width(stream: IO[str], environ: Mapping[str, str]) -> int | None:
    """The width to lay out ``stream``'s output for, or None for the plain layout (no
    terminal and no ``COLUMNS``)."""
    columns = environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return max(MIN_WIDTH, int(columns))
    if _isatty(stream):
        try:
            return max(MIN_WIDTH, os.get_terminal_size(stream.fileno()).columns)
        except (OSError, ValueError, AttributeError):
            return 80
    return None


def middle_ellipsis(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, shortened in the middle with ``…``."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = width // 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


@dataclass(frozen=True)
class Column:
    header: str
    drop_rank: int | None = None  # dropped first: 1, then 2, ...; None: always kept
    shrink: bool = False  # the column shortened with a middle ellipsis
    min_width: int = 12


@dataclass(frozen=True)
class Fitted:
    """The columns kept (indexes into the caller's columns) and their widths."""

    keep: tuple[int, ...]
    widths: tuple[int, ...]

    def cell(self, position: int, text: str) -> str:
        return middle_ellipsis(text, self.widths[position])


def fit_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> Fitted:
    """Which columns to show, and how wide, for ``rows`` (plain cell texts) to fit ``width``."""
    natural = [max([len(c.header), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    keep = list(range(len(columns)))

    def total(kept: Sequence[int], shrunk: Mapping[int, int] | None = None) -> int:
        shrunk = shrunk or {}
        return sum(shrunk.get(i, natural[i]) for i in kept) + GAP * (len(kept) - 1)

    def minimum(kept: Sequence[int]) -> Mapping[int, int]:
        return {i: min(natural[i], max(columns[i].min_width, len(columns[i].header)))
                for i in kept if columns[i].shrink}

    droppable = sorted((c.drop_rank, i) for i, c in enumerate(columns)
                       if c.drop_rank is not None)
    for _rank, i in droppable:
        if total(keep) <= width or total(keep, minimum(keep)) <= width:
            break
        keep.remove(i)
    widths = {i: natural[i] for i in keep}
    excess = total(keep) - width
    soft = minimum(keep)
    for floors in (soft, {i: HARD_MIN for i in soft}):  # the hard floor as a last resort
        for i in reversed(keep):  # the rightmost shrinkable column first
            if excess > 0 and columns[i].shrink:
                cut = max(0, min(excess, widths[i] - floors[i]))
                widths[i] -= cut
                excess -= cut
    return Fitted(tuple(keep), tuple(widths[i] for i in keep))


def plain_record(fields: Sequence[tuple[str, str]]) -> str:
    """One record on one line: the first field bare, then ``key=value`` fields (values with
    spaces quoted)."""
    first, *rest = fields
    parts = [first[1]]
    for key, value in rest:
        shown = f'"{value}"' if (" " in value or not value) else value
        parts.append(f"{key}={shown}")
    return "  ".join(parts)


__all__ = ["Column", "Fitted", "MIN_WIDTH", "fit_table", "middle_ellipsis", "output_width",
           "plain_record"]
