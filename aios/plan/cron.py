"""Cron expressions (5 fields: minute hour day-of-month month day-of-week), checked once at compile time
and evaluated in a time zone by `cronsim <https://github.com/cuu508/cronsim>`_.

Why a library, and why cronsim: a hand-written evaluator got list-with-step elements, the day-field
rule and leap days wrong; cronsim is small, pure Python, typed, maintained (it runs Healthchecks.io's
cron checks), imports in about a millisecond, iterates forwards and backwards, and follows
Debian/Vixie cron on the two points where crons differ:

* **Day fields.** If the day-of-month or the day-of-week field starts with ``*`` (``*``, ``*/2``), a
  day must match both fields; otherwise either. ``0 9 */2 * mon`` is odd-numbered days that are
  Mondays, ``0 9 1,15 * mon`` is the 1st, the 15th and every Monday.
* **Daylight saving time.** An expression with fixed minute and hour fields (neither starts with
  ``*``: ``30 2 * * *``, ``0 9-17 * * *``) is a wall-clock time: a tick that falls in the hour skipped
  in spring runs once, at the end of the jump (03:00 in Europe/Berlin), and a tick in the hour repeated
  in autumn runs once, in its first occurrence. An expression with ``*`` in its minute or hour field
  (``*/15 * * * *``, ``0 * * * *``) runs in elapsed time: every wall-clock time that actually occurs
  and matches, so nothing runs in a skipped hour and a repeated hour runs again.

Syntax: names (``mon``, ``jan``, any case), lists, ranges, steps (``15,*/20``, ``1-10/3``, ``5/15``),
``@hourly @daily @midnight @weekly @monthly @yearly @annually``, and cronsim's extensions ``L``
(last day of the month) and ``LW`` (last weekday) in the day-of-month field, ``5L`` (last Friday) and
``mon#2`` (second Monday) in the day-of-week field. Seconds fields are not accepted.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from cronsim import CronSim

__all__ = ["CronSchedule", "CronError", "parse_cron", "FIELDS", "SHORTCUTS"]

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_ALLOWED = ("0-59", "0-23", "1-31, L or LW", "1-12 or jan-dec", "0-7 or sun-sat (0 and 7 are Sunday), 5L, mon#2")
SHORTCUTS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
             "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
_REFERENCE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # cronsim gives up after 50 years without a tick


class CronError(ValueError):
    """A bad expression; ``start:end`` are the offending characters in the text as written."""

    def __init__(self, message: str, field_index: int | None = None, start: int = 0, end: int = 0) -> None:
        super().__init__(message)
        self.field_index = field_index
        self.start = start
        self.end = end


def _utc(t: dt.datetime) -> dt.datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("schedule times must be timezone-aware")
    return t.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A checked expression. Times go in aware and come out in ``zone`` (default: the input's zone).

    Compare the returned times by instant (``astimezone(UTC)``): two times of one zone compare by
    wall clock in Python, which is wrong in a repeated hour.
    """

    text: str  # as written
    expr: str  # five fields (shortcuts expanded)

    def ticks(self, after: dt.datetime, zone: dt.tzinfo | None = None) -> Iterator[dt.datetime]:
        """The ticks strictly after ``after``, in order (for about 50 years)."""
        floor = _utc(after)
        sim = CronSim(self.expr, after.astimezone(zone or after.tzinfo))
        while True:
            try:
                t = next(sim)
            except StopIteration:
                return
            # cronsim walks fixed-time expressions in wall-clock time: from the second copy of a
            # repeated hour its first answer can lie behind us, and a skipped hour's ticks share one
            # instant. Each tick is yielded once, in order.
            if _utc(t) > floor:
                floor = _utc(t)
                yield t

    def next_after(self, t: dt.datetime, zone: dt.tzinfo | None = None) -> dt.datetime | None:
        return next(self.ticks(t, zone), None)

    def latest_before(self, t: dt.datetime, zone: dt.tzinfo | None = None) -> dt.datetime | None:
        """The latest tick strictly before ``t``, found backwards without scanning minute by minute."""
        bound = _utc(t)
        zone = zone or t.tzinfo
        sim = CronSim(self.expr, t.astimezone(zone), reverse=True)
        try:
            cand = next(sim)
            while _utc(cand) >= bound:  # a skipped hour's tick moved to the end of the jump
                cand = next(sim)
        except StopIteration:
            return None
        # Backwards, cronsim can miss a tick in the first copy of a repeated hour when asked from the
        # second copy; the forward walk is the reference, so finish with it (usually one step).
        for nxt in self.ticks(cand, zone):
            if _utc(nxt) >= bound:
                break
            cand = nxt
        return cand


def _fields(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def _explain(text: str, fields: list[tuple[str, int, int]]) -> CronError:
    """Map cronsim's error to the field it is about."""
    from cronsim.cronsim import Field

    for i, (part, start, end) in enumerate(fields):
        try:
            Field(i + 1).parse(part.upper())
        except Exception:
            return CronError(f"bad {FIELDS[i]} field `{part}` (allowed: {_ALLOWED[i]}, with lists, ranges and "
                             f"steps)", i, start, end)
    part, start, end = fields[2]
    return CronError(f"the schedule never fires: day-of-month `{part}` does not occur in month `{fields[3][0]}`",
                     2, start, end)


def parse_cron(text: str) -> CronSchedule:
    """Check an expression; raises `CronError` with the offending field."""
    stripped = text.strip()
    whole = (len(text) - len(text.lstrip()), len(text.rstrip()))
    if stripped.startswith("@"):
        expr = SHORTCUTS.get(stripped.lower())
        if expr is None:
            raise CronError(f"unknown shortcut `{stripped}` (known: {', '.join(SHORTCUTS)})", None, *whole)
        return CronSchedule(text, expr)
    fields = _fields(text)
    if len(fields) != 5:
        raise CronError(f"a schedule has 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}",
                        None, *whole)
    expr = " ".join(f[0] for f in fields)
    try:
        next(CronSim(expr, _REFERENCE))
    except StopIteration:
        raise CronError("the schedule never fires", None, *whole) from None
    except Exception:  # CronSimError, or whatever else odd input provokes: a diagnostic, never a traceback
        raise _explain(text, fields) from None
    return CronSchedule(text, expr)

