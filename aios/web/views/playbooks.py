"""Playbooks: each with its last run's status, runs and cost over the last days, and whether it is
paused; one playbook's page adds runs and cost per day (server-rendered SVG charts), its graph, and
the pause/resume switch (``POST /playbooks/NAME/pause|resume``, the interventions' action).

Per playbook, the figures are a range of ``runs_playbook_created`` over the window; the last run
is the top entry of that index.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.routing import Route

from aios.live import pauses
from aios.plan.graph import build_graph
from aios.plan.plan import Playbook
from aios.runtime.runstate import RunStatus
from aios.web.charts import STATUS_COLOURS, bar_chart, days
from aios.web.graphs import playbook_graph
from aios.web.host import Host
from aios.web.pages import Context, PageError, Pages
from aios.web.views.overview import window

__all__ = ["routes", "listing", "detail", "pause_states"]


def pause_states(conn: sqlite3.Connection, names: list[str]) -> dict[str, dict[str, Any]]:
    """Each playbook's pause state (``aios.live.pauses``): ``{"status": "paused"|"active", "queued", …}``."""
    try:
        return {s.playbook: s.to_json() for s in pauses.states_of(conn, names)}
    except sqlite3.OperationalError:  # a store the live tables were never created in: nothing paused
        return {n: {"playbook": n, "status": "active", "queued": 0, "paused_by": None, "paused_at": None,
                    "note": None} for n in names}


def _last(conn: sqlite3.Connection, playbook: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT id, status, created_at, finished_at FROM runs WHERE playbook = ? "
                       "ORDER BY created_at DESC, id DESC LIMIT 1", (playbook,)).fetchone()
    return dict(row) if row else None


def _per_day(conn: sqlite3.Connection, playbook: str, since: str, labels: list[str],
             ) -> tuple[dict[str, list[float]], list[float]]:
    index = {d: i for i, d in enumerate(labels)}
    runs = {s.value: [0.0] * len(labels) for s in RunStatus}
    cost = [0.0] * len(labels)
    for day, status, count, usd in conn.execute(
            "SELECT substr(created_at, 1, 10) AS day, status, count(*), sum(cost_usd) FROM runs "
            "WHERE playbook = ? AND created_at >= ? GROUP BY day, status", (playbook, since)):
        i = index.get(day)
        if i is None:
            continue
        runs.setdefault(status, [0.0] * len(labels))[i] += float(count)
        cost[i] = round(cost[i] + float(usd or 0.0), 6)
    return runs, cost


def _summary(conn: sqlite3.Connection, name: str, since: str, labels: list[str]) -> dict[str, Any]:
    runs, cost = _per_day(conn, name, since, labels)
    return {"name": name, "url": f"/playbooks/{quote(name, safe='')}", "last_run": _last(conn, name),
            "runs": int(sum(sum(v) for v in runs.values())), "cost_usd": round(sum(cost), 6),
            "runs_per_day": runs, "cost_per_day": cost}


def listing(host: Host, request: Request) -> Context:
    n, first, since = window(request.query_params.get("days"))
    labels = days(first, datetime.now(UTC).date())
    conn = host.store().conn
    plan = host.plan()
    names = sorted(plan.playbook_map)
    states = pause_states(conn, names)
    items = []
    for name in names:
        item = _summary(conn, name, since, labels)
        item["trigger"] = _trigger(plan.playbook_map[name])
        item["pause"] = states.get(name)
        items.append(item)
    return {"title": "Playbooks", "days": n, "day_labels": labels, "playbooks": items}


def _trigger(pb: Playbook) -> str:
    return build_graph(pb, {}).trigger


def detail(host: Host, request: Request) -> Context:
    name = str(request.path_params["ident"])
    plan = host.plan()
    if name not in plan.playbook_map:
        raise PageError(404, f"no playbook `{name}` in the current plan")
    n, first, since = window(request.query_params.get("days"))
    labels = days(first, datetime.now(UTC).date())
    conn = host.store().conn
    item = _summary(conn, name, since, labels)
    states = pause_states(conn, [name])
    graph = playbook_graph(plan, name, id_prefix="pb-graph")
    return {
        "title": f"Playbook {name}",
        "name": name,
        "trigger": _trigger(plan.playbook_map[name]),
        "days": n,
        "day_labels": labels,
        "last_run": item["last_run"],
        "runs": item["runs"],
        "cost_usd": item["cost_usd"],
        "runs_per_day": item["runs_per_day"],
        "cost_per_day": item["cost_per_day"],
        "runs_url": "/runs?" + urlencode({"playbook": name}),
        "pause": states.get(name),
        "graph": graph,
        "charts": {
            "runs": bar_chart(labels, item["runs_per_day"], title=f"{name}: runs per day, last {n} days",
                              colours=STATUS_COLOURS),
            "cost": bar_chart(labels, {"cost": item["cost_per_day"]}, title=f"{name}: cost per day, last {n} days",
                              unit="$"),
        },
    }


def routes(pages: Pages) -> list[Route]:
    return [*pages.page("/playbooks", "playbooks.html", listing),
            *pages.page("/playbooks/{ident}", "playbook.html", detail)]
