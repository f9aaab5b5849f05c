"""The alerts feed (failed runs, failed compensations, open circuit breakers) and acknowledge."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from aios.runtime import alerts, log
from aios.web.auth import Actor
from aios.web.host import Host
from aios.web.pages import Context, PageError, Pages, Params

__all__ = ["routes", "build", "acknowledge"]


def build(host: Host, request: Request) -> Context:
    show_all = request.query_params.get("all") in ("1", "true", "yes")
    items = alerts.listing(host.store().conn, include_acknowledged=show_all)
    return {"title": "Alerts", "all": show_all,
            "alerts": [{"id": a.id, "run_id": a.run_id, "step_id": a.step_id, "severity": a.severity.value,
                        "message": a.message, "created_at": a.created_at, "acknowledged_at": a.acknowledged_at,
                        "acknowledged_by": a.acknowledged_by}
                       for a in reversed(items)]}


def acknowledge(host: Host, actor: Actor, ident: str, params: Params) -> Context:
    try:
        alert_id = int(ident)
    except ValueError:
        raise PageError(404, f"no alert `{ident}`") from None
    store = host.store()
    with store.transaction() as conn:
        done = alerts.acknowledge(conn, alert_id, log.now_iso(), actor=actor.name)
    if not done:
        raise PageError(409, f"no unacknowledged alert {alert_id}")
    return {"alert": alert_id, "acknowledged": True, "by": actor.name}


def routes(pages: Pages) -> list[Route]:
    return [*pages.page("/alerts", "alerts.html", build),
            *pages.action("/alerts/{ident}/ack", acknowledge, back=lambda _: "/alerts")]
