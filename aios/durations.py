"""Duration literals (``30m``, ``2h30m``, ``7d``) read within range, for rules and YAML alike.

A duration longer than `MAX_DURATION_DAYS` is refused where it is written: later it would become a
``timedelta`` (which stops at 999 999 999 days) or be added to a date-time (which stops at year 9999),
and fail with an ``OverflowError`` at run time, in the middle of a run.
"""

from __future__ import annotations

import re

from aios.limits import MAX_DURATION_DAYS

__all__ = ["UNIT_SECONDS", "MAX_DURATION_SECONDS", "duration_seconds", "show_duration", "too_long_message",
           "iso_plus_seconds"]

UNIT_SECONDS: dict[str, float] = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION_SECONDS = MAX_DURATION_DAYS * 86400
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_MAX_PART_DIGITS = 12  # 10**12 ms is already 31 years; longer numbers are out of range unread


def duration_seconds(text: str) -> float | None:
    """``2h30m`` -> 9000.0 seconds; None when the duration is longer than `MAX_DURATION_DAYS`."""
    total = 0.0
    for number, unit in _PART.findall(text):
        if len(number.lstrip("0")) > _MAX_PART_DIGITS:
            return None
        total += int(number) * UNIT_SECONDS[unit]
    return total if total <= MAX_DURATION_SECONDS else None


def too_long_message(text: str) -> str:
    shown = text if len(text) <= 40 else text[:20] + "…" + text[-8:]
    return f"the duration `{shown}` is longer than the limit of {MAX_DURATION_DAYS} days"


def show_duration(seconds: float) -> str:
    """A duration as written in rules and YAML, in the largest unit it is a whole number of:
    86400 -> ``1d``, 5400 -> ``90m``, 1.5 -> ``1500ms``; 0 -> ``0s``."""
    if seconds == 0:
        return "0s"
    for unit, size in sorted(UNIT_SECONDS.items(), key=lambda item: -item[1]):
        count = seconds / size
        if abs(count - round(count)) < 1e-9 * max(1.0, abs(count)):
            return f"{round(count)}{unit}"
    return f"{seconds:g}s"


def iso_plus_seconds(iso: str, seconds: float) -> str:
    """The ISO 8601 UTC time ``seconds`` after ``iso``; past the calendar's end it stays at its last
    millisecond (an expiry that far off never comes), never an ``OverflowError`` mid-run."""
    from datetime import UTC, datetime, timedelta

    start = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    try:
        t = start + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        t = datetime.max.replace(tzinfo=UTC) if seconds > 0 else datetime.min.replace(tzinfo=UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
