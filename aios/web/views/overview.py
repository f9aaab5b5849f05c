"""The overview: runs per day by status, cost per day by playbook, approvals waiting and their age,
manual handoffs per week (approvals a human decided), and the log's integrity.

Each figure is a range of an index over the last ``days`` days (default 30): runs per day per status
read ``runs_status_created`` alone (covering), cost per day per playbook a range of
``runs_playbook_created``, approvals their status and request-time indexes; the log's integrity is
verified incrementally (`aios.web.integrity`). The per-day figures are computed at most every
``CACHE_S`` seconds per window (their time is `figures_at`); approvals waiting and integrity are read
every time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from aios.runtime.log import now_iso
from aios.runtime.runstate import RunStatus
from aios.web.charts import STATUS_COLOURS, bar_chart, days
from aios.web.host import Host
from aios.web.integrity import integrity
from aios.web.pages import Context, PageError, Pages

__all__ = ["routes", "build", "window", "SYSTEM_DECIDERS", "CACHE_S"]

#: who decides an approval when no human does (an expiry); every other decider is a manual handoff
SYSTEM_DECIDERS = ("timeout",)
#: seconds the per-day figures are reused before they are computed again (the waiting approvals and
#: the log's integrity are read on every request)
CACHE_S = 30.0
_WAITING_SHOWN = 20
_cache: dict[tuple[str, str, int, str], tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def window(raw: str | None, default: int = 30) -> tuple[int, date, str]:
    """``days`` (1–366), the first day, and the lower bound of ``created_at`` as the store writes it."""
    try:
        n = int(raw) if raw else default
    except ValueError:
        n = 0
    if not 1 <= n <= 366:
        raise PageError(400, "`days` must be a number from 1 to 366")
    first = datetime.now(UTC).date() - timedelta(days=n - 1)
    return n, first, first.isoformat() + "T00:00:00.000Z"


def _age(requested_at: str, now: datetime) -> float:
    try:
        at = datetime.fromisoformat(requested_at.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max((now - at).total_seconds(), 0.0)


def _age_text(seconds: float) -> str:
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _iso_week(day: str) -> str:
    y, w, _ = date.fromisoformat(day[:10]).isocalendar()
    return f"{y}-W{w:02d}"


def _figures(host: Host, n: int, first: date, since: str) -> dict[str, Any]:
    """The window's aggregates: runs per day by status, cost per day by playbook, handoffs per week."""
    conn = host.store().conn
    labels = days(first, datetime.now(UTC).date())
    index = {d: i for i, d in enumerate(labels)}

    by_status: dict[str, list[float]] = {}
    for status in RunStatus:
        counts = [0.0] * len(labels)
        for day, count in conn.execute(
                "SELECT substr(created_at, 1, 10) AS day, count(*) FROM runs WHERE status = ? AND created_at >= ? "
                "GROUP BY day", (status.value, since)):
            if day in index:
                counts[index[day]] = float(count)
        by_status[status.value] = counts

    cost: dict[str, list[float]] = {}
    for playbook in sorted(host.plan().playbook_map):
        values = [0.0] * len(labels)
        for day, usd in conn.execute(
                "SELECT substr(created_at, 1, 10) AS day, sum(cost_usd) FROM runs WHERE playbook = ? "
                "AND created_at >= ? GROUP BY day", (playbook, since)):
            if day in index:
                values[index[day]] = round(float(usd or 0.0), 6)
        cost[playbook] = values

    weeks: dict[str, int] = {}
    for label in labels:
        weeks.setdefault(_iso_week(label), 0)
    marks = ",".join("?" * len(SYSTEM_DECIDERS))
    for decided_at, count in conn.execute(
            "SELECT substr(decided_at, 1, 10) AS day, count(*) FROM approvals WHERE requested_at >= ? "
            f"AND decided_by IS NOT NULL AND decided_by NOT IN ({marks}) GROUP BY day", (since, *SYSTEM_DECIDERS)):
        if decided_at:
            week = _iso_week(decided_at)
            weeks[week] = weeks.get(week, 0) + int(count)
    week_labels = sorted(weeks)
    return {
        "figures_at": now_iso(),
        "runs_per_day": {"days": labels, "by_status": by_status,
                         "total": int(sum(sum(v) for v in by_status.values()))},
        "cost_per_day": {"days": labels, "by_playbook": cost,
                         "total_usd": round(sum(sum(v) for v in cost.values()), 6)},
        "handoffs_per_week": {"weeks": week_labels, "counts": [weeks[w] for w in week_labels]},
        "charts": {
            "runs": bar_chart(labels, by_status, title=f"Runs per day by status, last {n} days",
                              colours=STATUS_COLOURS),
            "cost": bar_chart(labels, cost, title=f"Cost per day by playbook, last {n} days", unit="$"),
            "handoffs": bar_chart(week_labels, {"decided by a human": [float(weeks[w]) for w in week_labels]},
                                  title="Manual handoffs per week"),
        },
    }


def _cached_figures(host: Host, n: int, first: date, since: str) -> dict[str, Any]:
    key = (str(host.storage_dir), host.plan().content_hash, n, first.isoformat())
    with _lock:
        hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < CACHE_S:
        return hit[1]
    figures = _figures(host, n, first, since)
    with _lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = (time.monotonic(), figures)
    return figures


def build(host: Host, request: Request) -> Context:
    n, first, since = window(request.query_params.get("days"))
    conn = host.store().conn
    now = datetime.now(UTC)
    waiting_count = int(conn.execute("SELECT count(*) FROM approvals WHERE status = 'pending'").fetchone()[0])
    waiting = [{"id": r["id"], "run_id": r["run_id"], "step_id": r["step_id"], "message": r["message"],
                "requested_at": r["requested_at"], "expires_at": r["expires_at"],
                "age_s": round(_age(r["requested_at"], now), 1), "age": _age_text(_age(r["requested_at"], now))}
               for r in conn.execute("SELECT id, run_id, step_id, message, requested_at, expires_at FROM approvals "
                                     "WHERE status = 'pending' ORDER BY requested_at LIMIT ?", (_WAITING_SHOWN,))]
    return {
        "title": "Overview",
        "days": n,
        "since": since,
        **_cached_figures(host, n, first, since),
        "approvals_waiting": {"count": waiting_count, "oldest": waiting},
        "integrity": integrity(conn, host.storage_dir),
    }


def routes(pages: Pages) -> list[Route]:
    return pages.page("/overview", "overview.html", build)
