"""The plan's schedules as a timetable: each scheduled playbook with its expression, its time zone (the
trigger's ``timezone``, else the workspace's ``runtime.timezone``) and its coming ticks.

The scheduler and ``aios schedules`` both read schedules through here, so what the command lists is
what the server fires.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from aios.plan.cron import CronSchedule, parse_cron
from aios.plan.plan import Plan, Playbook
from aios.plan.zones import load_zone

__all__ = ["Schedule", "schedules", "schedule_of", "upcoming"]


@dataclass(frozen=True, slots=True)
class Schedule:
    playbook: str
    cron: str  # as written
    timezone: str
    missed: str
    expr: CronSchedule
    zone: dt.tzinfo

    @property
    def key(self) -> str:
        """What the scheduler's mark is kept for: a new expression or zone starts afresh."""
        return f"CRON_TZ={self.timezone} {self.cron}"

    def ticks(self, after: dt.datetime) -> Iterator[dt.datetime]:
        """Ticks strictly after ``after``, in the schedule's zone."""
        return self.expr.ticks(after, self.zone)

    def latest_before(self, t: dt.datetime) -> dt.datetime | None:
        return self.expr.latest_before(t, self.zone)


def schedule_of(plan: Plan, pb: Playbook) -> Schedule | None:
    text = pb.trigger.schedule
    if text is None:
        return None
    name = pb.trigger.timezone or plan.settings.timezone
    zone = load_zone(name) or dt.UTC  # the compiler reports unknown zones; a plan holds known ones
    return Schedule(pb.name, text, name, pb.trigger.missed, parse_cron(text), zone)


def schedules(plan: Plan) -> list[Schedule]:
    return [s for pb in plan.playbooks if (s := schedule_of(plan, pb)) is not None]


def upcoming(plan: Plan, after: dt.datetime, n: int) -> list[tuple[Schedule, list[dt.datetime]]]:
    """The next ``n`` ticks of every schedule after ``after`` (fewer if a schedule ends)."""
    return [(s, list(islice(s.ticks(after), n))) for s in schedules(plan)]
