"""Differential test of schedule ticks: aios (cronsim) against an independent reference, over every
minute of 2028 (a leap year), for 62 expressions, in UTC, Europe/Berlin and America/New_York.

The reference: croniter (a second cron library, in the `test` extra only) parses each field; numpy
then checks every minute of the year against the fields, with Vixie cron's rules written out here:

* day fields: AND when the day-of-month or the day-of-week field starts with ``*``, else OR;
* an expression whose minute and hour fields both are fixed (neither starts with ``*``) is a
  wall-clock time: matched on the naive local calendar, then placed at its first occurrence, or, in a
  skipped hour, at the end of the jump (ticks that land on one instant run once);
* any other expression matches every real minute by its local wall-clock time.

Sparse expressions are compared tick by tick over the whole year. Dense ones (more than
``FULL_LIMIT`` ticks a year, which cronsim needs tens of microseconds each to step through) are
compared tick by tick in the six hours around each DST change and at random instants of the year;
the backwards search the scheduler uses (``latest_before``) is checked at random instants for all.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from aios.plan.cron import SHORTCUTS, parse_cron
from aios.plan.zones import load_zone

croniter = pytest.importorskip("croniter").croniter

EXPRESSIONS = [
    # the wrong-cron cases of issue 12
    "15,*/20 * * * *", "0 9 */2 * 1", "0 0 29 2 *",
    # minutes and hours
    "* * * * *", "*/5 * * * *", "*/15 * * * *", "*/7 * * * *", "5/15 * * * *", "0,30 * * * *", "0 * * * *",
    "30 * * * *", "59 23 * * *", "1 0 * * *", "0 0 * * *", "0 3 * * *", "30 2 * * *", "0,30 2 * * *",
    "15 2 * * *", "0 1-3 * * *", "30 1,2,3 * * *", "*/10 2 * * *", "0 */2 * * *", "0 */3 * * *",
    "0 9-17/2 * * *", "0-59/10 9-17 * * 1-5", "*/20 9-17 * * 1-5",
    # weekdays
    "0 9 * * 1-5", "0 9 * * mon-fri", "30 8 * * 1,3,5", "0 9 * * 0", "0 9 * * 7", "0 9 * * sun",
    "0 18 * * fri", "0 12 * * sat,sun", "0 10 * * */2", "0 10 * * 1-5/2", "45 23 * * 6", "0 22 * * 1-5",
    "5 4 * * sun",
    # days of the month and months, and the two day fields together
    "0 0 1 * *", "0 0 15 * *", "0 0 31 * *", "0 9 1,15 * 1", "0 9 1-7 * 1", "0 9 */10 * *",
    "0 9 10-20/5 * *", "0 0 28-31 * *", "0 0 1 1 *", "0 0 1 */3 *", "0 12 * jan,jul *", "0 12 1 jun-aug *",
    "0 6 * 3 *", "0 6 * 10 *", "0 2 * 3,10 0", "30 2 25-31 3 sun", "30 2 25-31 10 sun", "0 0 13 * 5",
    # shortcuts
    "@hourly", "@daily", "@weekly", "@monthly", "@yearly",
]
ZONES = ["UTC", "Europe/Berlin", "America/New_York"]
YEAR = 2028  # a leap year, so `0 0 29 2 *` fires
FULL_LIMIT = 2200  # ticks a year up to which the whole year is compared tick by tick
SAMPLES = 25  # random instants per expression and zone for next_after / latest_before
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _minutes(t: dt.datetime) -> int:
    return int((t - EPOCH).total_seconds()) // 60


def _instant(m: int) -> dt.datetime:
    return EPOCH + dt.timedelta(minutes=int(m))


class Zone:
    """Offsets of one zone for every UTC minute of the year (from the tz database, hour by hour)."""

    def __init__(self, name: str) -> None:
        self.zone = ZoneInfo(name)
        start = dt.datetime(YEAR - 1, 12, 30, tzinfo=dt.UTC)
        self.base = _minutes(start)
        hours = [start + dt.timedelta(hours=h) for h in range(369 * 24)]
        offs = np.array([int(h.astimezone(self.zone).utcoffset().total_seconds()) // 60  # type: ignore[union-attr]
                         for h in hours])
        self.offsets = np.repeat(offs, 60)
        change = np.nonzero(np.diff(self.offsets))[0] + 1
        # (instant, offset before, offset after) of each change
        self.changes = [(self.base + int(i), int(self.offsets[i - 1]), int(self.offsets[i])) for i in change]
        self.start = _minutes(dt.datetime(YEAR, 1, 1, tzinfo=self.zone))
        self.end = _minutes(dt.datetime(YEAR + 1, 1, 1, tzinfo=self.zone))
        self.real = np.arange(self.start, self.end)  # every real minute of the year, and its wall clock
        self.real_fields = _wall_fields(self.real + self.offset_at(self.real))

    def offset_at(self, m: np.ndarray) -> np.ndarray:
        return self.offsets[m - self.base]


def _wall_fields(local: np.ndarray) -> tuple[np.ndarray, ...]:
    """minute, hour, day of month, month, weekday (0 = Sunday) of local wall-clock epoch minutes."""
    days = local // 1440
    d = days.astype("datetime64[D]")
    month_start = d.astype("datetime64[M]")
    return (local % 60, (local // 60) % 24, (d - month_start).astype(int) + 1,
            month_start.astype(int) % 12 + 1, (days + 4) % 7)


# every wall-clock minute of the year on the naive calendar (epoch minutes as if in UTC)
NAIVE = np.arange(_minutes(dt.datetime(YEAR, 1, 1, tzinfo=dt.UTC)), _minutes(dt.datetime(YEAR + 1, 1, 1, tzinfo=dt.UTC)))
NAIVE_FIELDS = _wall_fields(NAIVE)


def _match(expr: str, fields: tuple[np.ndarray, ...]) -> np.ndarray:
    parts = SHORTCUTS.get(expr, expr).split()
    sizes = (60, 24, 32, 13, 8)
    luts = []
    for values, size in zip(croniter(expr).expanded, sizes, strict=True):
        lut = np.zeros(size, dtype=bool)
        if values == ["*"]:
            lut[:] = True
        else:
            lut[[int(v) for v in values]] = True
        luts.append(lut)
    minute, hour, dom, month, dow = (lut[f] for lut, f in zip(luts, fields, strict=True))
    days = (dom & dow) if parts[2].startswith("*") or parts[4].startswith("*") else (dom | dow)
    return minute & hour & month & days


def _fixed(expr: str) -> bool:
    parts = SHORTCUTS.get(expr, expr).split()
    return not parts[0].startswith("*") and not parts[1].startswith("*")


def reference_ticks(expr: str, zone: Zone) -> np.ndarray:
    """UTC epoch minutes of the expression's ticks in the zone's year."""
    if not _fixed(expr):
        return zone.real[_match(expr, zone.real_fields)]
    wall = NAIVE[_match(expr, NAIVE_FIELDS)]
    out = set()
    candidates = {off for _, a, b in zone.changes for off in (a, b)} or {int(zone.offsets[0])}
    for w in wall.tolist():
        real = [w - off for off in candidates if int(zone.offsets[w - off - zone.base]) == off]
        if real:
            out.add(min(real))  # the first occurrence of a repeated wall time
        else:  # in a skipped hour: at the end of the jump
            out.update(t for t, before, after in zone.changes if t + before <= w < t + after)
    return np.array(sorted(out), dtype=np.int64)


def _aios_ticks(expr: str, zone: dt.tzinfo, start: int, end: int) -> list[int]:
    out = []
    for t in parse_cron(expr).ticks(_instant(start) - dt.timedelta(seconds=1), zone):
        m = _minutes(t.astimezone(dt.UTC))
        if m >= end:
            break
        out.append(m)
    return out


def test_aios_ticks_agree_with_the_reference_over_a_year(record_property: Callable[[str, object], None]) -> None:
    rng = random.Random(2026)
    stats = {"expressions": len(EXPRESSIONS), "zones": len(ZONES), "minutes_scanned": 0, "ticks_full": 0,
             "ticks_windows": 0, "queries": 0, "pairs_full": 0, "pairs_sampled": 0}
    for name in ZONES:
        zone = Zone(name)
        tz = load_zone(name)
        assert tz is not None
        for expr in EXPRESSIONS:
            ref = reference_ticks(expr, zone)
            stats["minutes_scanned"] += zone.end - zone.start
            where = f"`{expr}` in {name}"
            if len(ref) <= FULL_LIMIT:
                got = _aios_ticks(expr, tz, zone.start, zone.end)
                assert got == ref.tolist(), where
                stats["ticks_full"] += len(got)
                stats["pairs_full"] += 1
            else:
                windows = [(t - 180, t + 180) for t, _, _ in zone.changes] or [(zone.start + 60 * 24 * 87,
                                                                              zone.start + 60 * 24 * 88)]
                for lo, hi in windows:
                    got = _aios_ticks(expr, tz, lo, hi)
                    assert got == ref[(ref >= lo) & (ref < hi)].tolist(), f"{where} near {_instant(lo)}"
                    stats["ticks_windows"] += len(got)
                stats["pairs_sampled"] += 1
            cron = parse_cron(expr)
            for _ in range(SAMPLES if len(ref) >= 3 else 0):
                m = rng.randrange(int(ref[0]) + 1, int(ref[-1]))
                at = _instant(m) + dt.timedelta(seconds=rng.randrange(60))
                i = int(np.searchsorted(ref, m, side="right"))  # ref[i - 1] <= m < ref[i]
                nxt, prev = cron.next_after(at, tz), cron.latest_before(at, tz)
                assert nxt is not None and _minutes(nxt.astimezone(dt.UTC)) == ref[i], f"{where} after {at}"
                want_prev = ref[i - 1] if ref[i - 1] < m or at.second else ref[i - 2]
                assert prev is not None and _minutes(prev.astimezone(dt.UTC)) == want_prev, f"{where} before {at}"
                stats["queries"] += 2
    record_property("differential", stats)
    print(stats)
    assert stats["pairs_full"] + stats["pairs_sampled"] == len(EXPRESSIONS) * len(ZONES) >= 150


def test_the_reference_sees_the_dst_rules() -> None:
    """The reference itself, on the cases docs/live.md spells out."""
    berlin = Zone("Europe/Berlin")
    ticks = [_instant(m).astimezone(berlin.zone).isoformat(timespec="minutes")
             for m in reference_ticks("0,30 2 * * *", berlin)]
    assert "2028-03-26T03:00+02:00" in ticks and "2028-03-26T03:30+02:00" not in ticks
    assert [t for t in ticks if t.startswith("2028-10-29")] == ["2028-10-29T02:00+02:00", "2028-10-29T02:30+02:00"]
    hourly = [_instant(m).astimezone(berlin.zone).isoformat(timespec="minutes")
              for m in reference_ticks("0 * * * *", berlin)]
    assert [t for t in hourly if t.startswith("2028-10-29T02")] == ["2028-10-29T02:00+02:00", "2028-10-29T02:00+01:00"]
    assert not [t for t in hourly if t.startswith("2028-03-26T02")]
