"""Cron expressions (5 fields: minute hour day-of-month month day-of-week), parsed once at compile time.

Names (`mon`, `jan`), lists, ranges and steps are accepted; `@daily`-style shortcuts too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["CronSchedule", "CronError", "parse_cron"]

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_NAMES = {
    3: {m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])},
    4: {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
_SHORTCUTS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *",
              "@yearly": "0 0 1 1 *"}


class CronError(ValueError):
    def __init__(self, message: str, field_index: int) -> None:
        super().__init__(message)
        self.field_index = field_index


@dataclass(frozen=True, slots=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    def matches(self, t: dt.datetime) -> bool:
        if t.minute not in self.minutes or t.hour not in self.hours or t.month not in self.months:
            return False
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow  # classic cron: either day field may match when both are restricted

    def next_after(self, t: dt.datetime) -> dt.datetime:
        cur = t.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        for _ in range(366 * 24 * 60):
            if self.matches(cur):
                return cur
            cur += dt.timedelta(minutes=1)
        raise CronError("schedule never fires", 0)


def _value(text: str, index: int, lo: int, hi: int) -> int:
    names = _NAMES.get(index, {})
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(f"`{text}` is not a number in the {_FIELDS[index][0]} field", index)
    v = int(text)
    if not lo <= v <= hi:
        raise CronError(f"{v} is out of range {lo}-{hi} in the {_FIELDS[index][0]} field", index)
    return v


def _field(text: str, index: int) -> frozenset[int]:
    _, lo, hi = _FIELDS[index]
    out: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"bad step `/{step_text}` in the {_FIELDS[index][0]} field", index)
            step = int(step_text)
        if part == "*":
            start, end = lo, hi
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, index, lo, hi), _value(b, index, lo, hi)
            if start > end:
                raise CronError(f"range `{part}` runs backwards", index)
        else:
            start = _value(part, index, lo, hi)
            end = start if "/" not in text else hi
        out.update(range(start, end + 1, step))
    if index == 4 and 7 in out:
        out.discard(7)
        out.add(0)
    return frozenset(out)


def parse_cron(text: str) -> CronSchedule:
    expr = _SHORTCUTS.get(text.strip(), text.strip())
    parts = expr.split()
    if len(parts) != 5:
        raise CronError(f"a schedule has 5 fields (minute hour day month weekday), got {len(parts)}", 0)
    sets = [_field(p, i) for i, p in enumerate(parts)]
    return CronSchedule(sets[0], sets[1], sets[2], sets[3], sets[4], parts[2] == "*", parts[4] == "*")
