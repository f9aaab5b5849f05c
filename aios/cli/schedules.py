"""`aios schedules`: the coming ticks of every scheduled playbook, as the server will fire them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from aios.cli.common import workspace_root
from aios.cli.output_format import json_option
from aios.cli.state import echo_json, fail, workspace_option

__all__ = ["schedules"]


def _after(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"`{text}` is not an ISO 8601 time", param_hint="--after") from None
    if t.tzinfo is None:
        raise click.BadParameter(f"`{text}` has no UTC offset (write e.g. `2026-03-29T09:00+02:00`)", param_hint="--after")
    return t


@click.command()
@click.option("--next", "count", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="How many ticks to list per schedule.")
@click.option("--after", "after", metavar="TIME",
              help="List the ticks after this ISO 8601 time with an offset (default: now).")
@json_option("Print JSON.")
@workspace_option
def schedules(count: int, after: str | None, as_json: bool, workspace: str | None) -> None:
    """List the next ticks of every schedule, in each schedule's time zone.

    A schedule runs in its trigger's `timezone`, else in the workspace's `runtime.timezone` (UTC by
    default). Times are ISO 8601 with their UTC offset, so a daylight saving change shows.
    """
    from aios.compiler import compile_workspace
    from aios.diagnostics.render import SourceLines, render_text
    from aios.live.timetable import upcoming

    start = _after(after)
    result = compile_workspace(workspace_root(workspace))
    if result.plan is None:
        click.echo(render_text(result.diagnostics, SourceLines(result.root)), err=True)
        fail(f"the workspace does not compile ({result.errors} error(s)); see `aios validate`")
    rows: list[dict[str, Any]] = [
        {"playbook": s.playbook, "cron": s.cron, "timezone": s.timezone, "next": [t.isoformat() for t in ticks]}
        for s, ticks in upcoming(result.plan, start, count)]
    if as_json:
        echo_json({"schedules": rows})
        return
    if not rows:
        click.echo("no playbook has a schedule trigger")
        return
    from aios.cli.tables import print_table

    table = []
    for r in rows:
        ticks = r["next"] or ["(never)"]
        table.append((r["playbook"], r["cron"], r["timezone"], ticks[0]))
        table.extend(("", "", "", t) for t in ticks[1:])
    print_table(["PLAYBOOK", "CRON", "TIMEZONE", "NEXT"], table)
