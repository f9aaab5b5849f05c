"""Schedules: cron semantics (cronsim), time zones and DST, the scheduler's ticks, `aios schedules`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from aios.cli.main import cli
from aios.compiler import compile_workspace
from aios.live import journal
from aios.live.scheduler import due_events
from aios.plan.cron import parse_cron
from aios.plan.plan import Plan
from aios.runtime.store import Store

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")


def _plan(ws: Path) -> Plan:
    plan = compile_workspace(ws).plan
    assert plan is not None
    return plan


def _next(expr: str, start: dt.datetime, n: int) -> list[dt.datetime]:
    cron, out, t = parse_cron(expr), [], start
    for _ in range(n):
        nxt = cron.next_after(t)
        assert nxt is not None
        out.append(nxt)
        t = nxt
    return out


def _due(store: Store, plan: Plan, now: dt.datetime) -> list[tuple[str, bool]]:
    with store.transaction() as conn:
        events = due_events(conn, plan, now)
        fresh = journal.accept(conn, events)
    return [(ev.payload["scheduled_for"], ev.payload["missed"]) for ev, new in zip(events, fresh, strict=True)
            if new]


# -- the three wrong-cron cases of issue 12 -------------------------------------------------------

def test_a_list_element_with_a_step_keeps_the_other_elements_single() -> None:
    ticks = _next("15,*/20 * * * *", dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC), 5)
    assert [t.strftime("%H:%M") for t in ticks] == ["10:15", "10:20", "10:40", "11:00", "11:15"]


def test_a_day_of_month_step_and_a_weekday_must_both_hold() -> None:
    # Vixie cron: a day field starting with `*` means AND: odd days of the month that are Mondays
    ticks = _next("0 9 */2 * 1", dt.datetime(2026, 3, 1, tzinfo=UTC), 4)
    assert [t.date().isoformat() for t in ticks] == ["2026-03-09", "2026-03-23", "2026-04-13", "2026-04-27"]
    assert all(t.isoweekday() == 1 and t.day % 2 == 1 for t in ticks)


def test_february_29_fires_in_leap_years(ws: Path) -> None:
    assert _next("0 0 29 2 *", dt.datetime(2026, 1, 1, tzinfo=UTC), 2) == [
        dt.datetime(2028, 2, 29, tzinfo=UTC), dt.datetime(2032, 2, 29, tzinfo=UTC)]
    inbox = ws / "playbooks" / "inbox.yaml"
    inbox.write_text(inbox.read_text().replace("0 3 * * *", "0 0 29 2 *"))
    assert not compile_workspace(ws).diagnostics


# -- time zones -----------------------------------------------------------------------------------

def test_schedules_tick_in_the_workspace_time_zone(ws: Path, tmp_path: Path) -> None:
    aios_yaml = ws / "aios.yaml"
    aios_yaml.write_text(aios_yaml.read_text().replace("runtime:\n", "runtime:\n  timezone: Europe/Berlin\n"))
    plan = _plan(ws)  # nightly: "0 3 * * *" — 03:00 in Berlin is 02:00 UTC in winter
    with journal.open_store(tmp_path) as store:
        assert _due(store, plan, dt.datetime(2026, 3, 1, 1, 0, tzinfo=UTC)) == []
        assert _due(store, plan, dt.datetime(2026, 3, 1, 2, 0, 20, tzinfo=UTC)) == [("2026-03-01T03:00+01:00", False)]
        assert _due(store, plan, dt.datetime(2026, 3, 1, 3, 0, 20, tzinfo=UTC)) == []


# -- daylight saving time -------------------------------------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")


def _stamps(expr: str, start: dt.datetime, end: dt.datetime, zone: dt.tzinfo) -> list[str]:
    out = []
    for t in parse_cron(expr).ticks(start, zone):
        if t.astimezone(UTC) >= end.astimezone(UTC):
            break
        out.append(t.isoformat(timespec="minutes"))
    return out


def test_a_fixed_time_in_the_skipped_hour_runs_once_at_the_end_of_the_jump() -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST
    start, end = dt.datetime(2026, 3, 28, 12, tzinfo=BERLIN), dt.datetime(2026, 3, 30, 12, tzinfo=BERLIN)
    assert _stamps("30 2 * * *", start, end, BERLIN) == ["2026-03-29T03:00+02:00", "2026-03-30T02:30+02:00"]
    assert _stamps("0,30 2 * * *", start, end, BERLIN) == [
        "2026-03-29T03:00+02:00", "2026-03-30T02:00+02:00", "2026-03-30T02:30+02:00"]
    assert _stamps("0,30 2,3 * * *", start, end, BERLIN)[:2] == ["2026-03-29T03:00+02:00", "2026-03-29T03:30+02:00"]
    # America/New_York, 2026-03-08: 02:00 EST jumps to 03:00 EDT
    ny = _stamps("15 2 * * *", dt.datetime(2026, 3, 7, 12, tzinfo=NEW_YORK), dt.datetime(2026, 3, 9, 12, tzinfo=NEW_YORK),
                 NEW_YORK)
    assert ny == ["2026-03-08T03:00-04:00", "2026-03-09T02:15-04:00"]


def test_a_fixed_time_in_the_repeated_hour_runs_once() -> None:
    # Europe/Berlin, 2026-10-25: 03:00 CEST goes back to 02:00 CET
    start, end = dt.datetime(2026, 10, 24, 12, tzinfo=BERLIN), dt.datetime(2026, 10, 26, 12, tzinfo=BERLIN)
    assert _stamps("30 2 * * *", start, end, BERLIN) == ["2026-10-25T02:30+02:00", "2026-10-26T02:30+01:00"]
    # America/New_York, 2026-11-01: 02:00 EDT goes back to 01:00 EST
    ny = _stamps("30 1 * * *", dt.datetime(2026, 10, 31, 12, tzinfo=NEW_YORK),
                 dt.datetime(2026, 11, 2, 0, tzinfo=NEW_YORK), NEW_YORK)
    assert ny == ["2026-11-01T01:30-04:00"]
    # asked from inside the second copy of the hour, the tick in the first copy is the latest one
    second_copy = dt.datetime(2026, 10, 25, 2, 10, tzinfo=BERLIN, fold=1)
    latest = parse_cron("30 2 * * *").latest_before(second_copy, BERLIN)
    assert latest is not None and latest.isoformat() == "2026-10-25T02:30:00+02:00"
    assert parse_cron("30 2 * * *").next_after(second_copy, BERLIN) == dt.datetime(2026, 10, 26, 2, 30, tzinfo=BERLIN)


def test_wildcard_hours_follow_elapsed_time_across_the_changes() -> None:
    spring = _stamps("*/30 * * * *", dt.datetime(2026, 3, 29, 1, 0, tzinfo=BERLIN),
                     dt.datetime(2026, 3, 29, 3, 31, tzinfo=BERLIN), BERLIN)
    assert spring == ["2026-03-29T01:30+01:00", "2026-03-29T03:00+02:00", "2026-03-29T03:30+02:00"]
    autumn = _stamps("*/30 * * * *", dt.datetime(2026, 10, 25, 1, 45, tzinfo=BERLIN),
                     dt.datetime(2026, 10, 25, 3, 1, tzinfo=BERLIN), BERLIN)
    assert autumn == ["2026-10-25T02:00+02:00", "2026-10-25T02:30+02:00", "2026-10-25T02:00+01:00",
                      "2026-10-25T02:30+01:00", "2026-10-25T03:00+01:00"]


def _berlin_workspace(ws: Path, expr: str, missed: str = "run_once") -> Plan:
    aios_yaml = ws / "aios.yaml"
    aios_yaml.write_text(aios_yaml.read_text().replace("runtime:\n", "runtime:\n  timezone: Europe/Berlin\n"))
    inbox = ws / "playbooks" / "inbox.yaml"
    inbox.write_text(inbox.read_text().replace('"0 3 * * *", missed: run_once', f'"{expr}", missed: {missed}'))
    return _plan(ws)


def _every_minute(store: Store, plan: Plan, start: dt.datetime, hours: int) -> list[tuple[str, bool]]:
    got = []
    for i in range(hours * 60):
        got += _due(store, plan, start + dt.timedelta(minutes=i, seconds=7))
    return got


def test_the_scheduler_fires_once_across_both_changes(ws: Path, tmp_path: Path) -> None:
    plan = _berlin_workspace(ws, "30 2 * * *")
    with journal.open_store(tmp_path / "spring") as store:
        spring = _every_minute(store, plan, dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC), 4)
    with journal.open_store(tmp_path / "autumn") as store:
        autumn = _every_minute(store, plan, dt.datetime(2026, 10, 24, 22, 0, tzinfo=UTC), 4)
    assert spring == [("2026-03-29T03:00+02:00", False)]
    assert autumn == [("2026-10-25T02:30+02:00", False)]


def test_a_tick_missed_in_the_first_copy_of_the_repeated_hour_runs_once(ws: Path, tmp_path: Path) -> None:
    plan = _berlin_workspace(ws, "30 2 * * *")
    with journal.open_store(tmp_path) as store:
        assert _due(store, plan, dt.datetime(2026, 10, 24, 23, 50, tzinfo=UTC)) == []  # 01:50 CEST
        # down until 02:10 CET (01:10 UTC): the 02:30 CEST tick (00:30 UTC) was missed
        assert _due(store, plan, dt.datetime(2026, 10, 25, 1, 10, tzinfo=UTC)) == [("2026-10-25T02:30+02:00", True)]
        assert _every_minute(store, plan, dt.datetime(2026, 10, 25, 1, 11, tzinfo=UTC), 2) == []


def test_changing_the_time_zone_starts_the_schedule_afresh(ws: Path, tmp_path: Path) -> None:
    plan = _plan(ws)  # UTC
    with journal.open_store(tmp_path) as store:
        assert _due(store, plan, dt.datetime(2026, 3, 1, 1, 0, tzinfo=UTC)) == []
        berlin = _berlin_workspace(ws, "0 3 * * *")
        assert _due(store, berlin, dt.datetime(2026, 3, 2, 5, 0, tzinfo=UTC)) == []  # nothing counts as missed
        assert _due(store, berlin, dt.datetime(2026, 3, 3, 2, 0, tzinfo=UTC)) == [("2026-03-03T03:00+01:00", False)]


# -- `aios schedules` -----------------------------------------------------------------------------

def test_aios_schedules_json_lists_the_next_ticks_with_offsets(ws: Path) -> None:
    inbox = ws / "playbooks" / "inbox.yaml"
    inbox.write_text(inbox.read_text() + """---
kind: playbook
name: standup
trigger: {schedule: "30 2 * * mon-fri", timezone: America/New_York}
steps:
  - id: tick
    transform: {at: "{{ event.payload.scheduled_for }}"}
""")
    plan = _berlin_workspace(ws, "0,30 2 * * *")
    assert plan is not None
    res = CliRunner().invoke(cli, ["schedules", "-w", str(ws), "--next", "3", "--json",
                                   "--after", "2026-03-29T00:00:00+01:00"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == {"schedules": [
        {"playbook": "nightly", "cron": "0,30 2 * * *", "timezone": "Europe/Berlin",
         "next": ["2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00", "2026-03-30T02:30:00+02:00"]},
        {"playbook": "standup", "cron": "30 2 * * mon-fri", "timezone": "America/New_York",
         "next": ["2026-03-30T02:30:00-04:00", "2026-03-31T02:30:00-04:00", "2026-04-01T02:30:00-04:00"]},
    ]}
    now = CliRunner().invoke(cli, ["schedules", "-w", str(ws), "--json"])
    ticks = [dt.datetime.fromisoformat(t) for s in json.loads(now.output)["schedules"] for t in s["next"]]
    assert len(ticks) == 10 and all(t > dt.datetime.now(UTC) for t in ticks)
    text = CliRunner().invoke(cli, ["schedules", "-w", str(ws), "--next", "1"])
    assert text.exit_code == 0 and "Europe/Berlin" in text.output and "America/New_York" in text.output
    bad = CliRunner().invoke(cli, ["schedules", "-w", str(ws), "--after", "2026-03-29"])
    assert bad.exit_code == 2 and "no UTC offset" in bad.output


def test_aios_schedules_refuses_a_workspace_that_does_not_compile(ws: Path) -> None:
    inbox = ws / "playbooks" / "inbox.yaml"
    inbox.write_text(inbox.read_text().replace('"0 3 * * *"', '"0 3 * * *", timezone: Mars/Olympus'))
    res = CliRunner().invoke(cli, ["schedules", "-w", str(ws)])
    assert res.exit_code == 1 and "unknown time zone `Mars/Olympus`" in res.output
