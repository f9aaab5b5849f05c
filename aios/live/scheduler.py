"""Schedules: a playbook with ``trigger: {schedule: "<cron>", missed: run_once|skip}`` gets one event
per tick.

Ticks are whole minutes in the schedule's time zone (the trigger's ``timezone``, else the workspace's
``runtime.timezone``; see `aios.live.timetable`), with the DST rules of `aios.plan.cron`.
``live_schedules`` remembers, per playbook, the last minute that was handled (an instant, in UTC); a
tick's event and the new mark are written in one transaction, and the event id is fixed by (playbook,
minute), so a tick produces at most one run even across crashes.

Ticks that fell while no server was running (or that the server missed by more than a minute) are
*missed*: with ``missed: run_once`` the latest of them runs once (its payload says ``missed: true``),
with ``missed: skip`` (the default) they are dropped. A schedule seen for the first time, or whose
expression or time zone changed, starts from the current minute: nothing before it counts as missed.
The latest tick is found backwards from now by the cron library, not by scanning minute by minute.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from aios.live import journal
from aios.live.console import Console
from aios.live.current import CurrentPlan
from aios.live.events import LiveEvent, schedule_event
from aios.live.timetable import schedules
from aios.plan.plan import Plan
from aios.runtime.store import Store

__all__ = ["due_events", "Scheduler", "local_now"]

_MINUTE = dt.timedelta(minutes=1)


def local_now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def _utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC)


def _minute(t: dt.datetime) -> dt.datetime:
    return _utc(t).replace(second=0, microsecond=0)


def due_events(conn: sqlite3.Connection, plan: Plan, now: dt.datetime) -> list[LiveEvent]:
    """Inside the caller's transaction: the tick events due at ``now``, with the marks moved forward."""
    minute = _minute(now)
    out: list[LiveEvent] = []
    for sched in schedules(plan):
        row = conn.execute("SELECT cron, last_tick FROM live_schedules WHERE playbook = ?",
                           (sched.playbook,)).fetchone()
        stamp = minute.isoformat()
        if row is None or row[0] != sched.key:
            conn.execute("INSERT OR REPLACE INTO live_schedules(playbook, cron, last_tick) VALUES (?,?,?)",
                         (sched.playbook, sched.key, stamp))
            continue
        last = dt.datetime.fromisoformat(row[1]).astimezone(dt.UTC)
        if minute <= last:
            continue
        # Compare instants in UTC: Python never finds a time in a repeated hour equal to one in
        # another zone, and compares two times of one zone by wall clock.
        latest = sched.latest_before(minute + _MINUTE)  # the latest tick at or before this minute
        if latest is not None and _utc(latest) > last:
            earlier: dt.datetime | None = latest
            if _utc(latest) == minute:
                out.append(schedule_event(sched.playbook, latest))
                earlier = sched.latest_before(minute)
            if sched.missed == "run_once" and earlier is not None and _utc(earlier) > last:
                out.append(schedule_event(sched.playbook, earlier, missed=True))
        conn.execute("UPDATE live_schedules SET last_tick = ? WHERE playbook = ?", (stamp, sched.playbook))
    return out


class Scheduler:
    """A thread that checks the live plan's schedules every second and journals due ticks."""

    def __init__(self, storage_dir: Path, current: CurrentPlan, console: Console, *,
                 on_event: Callable[[], None], clock: Callable[[], dt.datetime] = local_now,
                 interval_s: float = 1.0) -> None:
        self.storage_dir = storage_dir
        self.current = current
        self.console = console
        self.on_event = on_event
        self.clock = clock
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aios-schedule", daemon=True)
        self._checked: tuple[str, dt.datetime] | None = None  # (plan, minute) last looked at

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def tick(self, store: Store) -> list[LiveEvent]:
        plan = self.current.plan
        if not any(pb.trigger.schedule for pb in plan.playbooks):
            return []
        now = self.clock()
        key = (plan.content_hash, _minute(now))
        if key == self._checked:  # once per minute (and per plan) is enough
            return []
        with store.transaction() as conn:
            events = due_events(conn, plan, now)
            fresh = journal.accept(conn, events)
        self._checked = key
        return [ev for ev, new in zip(events, fresh, strict=True) if new]

    def _loop(self) -> None:
        store = journal.open_store(self.storage_dir)
        try:
            while not self._stop.is_set():
                try:
                    for ev in self.tick(store):
                        what = "missed tick" if ev.payload.get("missed") else "tick"
                        self.console.line(f"schedule {ev.payload['playbook']}: {what} "
                                          f"{ev.payload['scheduled_for']} → event {ev.id}")
                        self.on_event()
                except Exception as err:  # keep ticking; the next pass retries
                    self.console.line(f"schedule: {type(err).__name__}: {err}")
                self._stop.wait(self.interval_s)
        finally:
            store.close()
