"""Parse and format durations such as ``36h``, ``7d`` or ``1d12h``."""

from __future__ import annotations

import re
from datetime import timedelta

from safeinstall.errors import UsageError

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
#: The longest duration accepted (100 years): a longer threshold or window means nothing, and
#: date arithmetic with it would leave the calendar (years 1-9999).
MAX_DURATION = timedelta(days=36500)


def parse_duration(value: str) -> timedelta:
    """Parse ``value`` (e.g. ``"36h"``, ``"7d"``, ``"1d12h"``, ``"90m"``) into a timedelta.

    A bare number is rejected: a unit is always required, so ``"7"`` cannot be mistaken for
    seven seconds when seven days were meant.
    """
    text = value.strip().lower()
    pos = 0
    total = 0.0
    seen: set[str] = set()
    for match in _PART.finditer(text):
        if match.start() != pos or match.group(2) in seen:
            break
        seen.add(match.group(2))
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise UsageError(
            f"invalid duration {value!r}",
            hint="write a number with a unit: s, m, h, d or w, e.g. '36h', '7d' or '1d12h'",
        )
    if total > MAX_DURATION.total_seconds():  # also inf, from a number with 400 digits
        raise UsageError(
            f"duration {value!r} is too long (at most {MAX_DURATION.days}d, 100 years)",
            hint="write a shorter duration, e.g. '36h', '7d' or '365d'",
        )
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    """Format ``delta`` compactly for humans: ``90d 4h``, ``2h 5m``, ``12s``."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            count, seconds = divmod(seconds, size)
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    return sign + " ".join(parts)
