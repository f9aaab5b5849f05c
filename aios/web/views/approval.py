"""One approval on its own page, ``/approvals/ID``: the inbox's card (exactly what will happen) and
its decision form, or its decision once made. Notifications link here.

With ``?t=TOKEN`` (a notification's signed, single-use link) the page redeems the token
(`aios.notify.links.redeem_link`) and says so; a used, expired or forged link is only a notice: the
page itself is behind the login like every other, and deciding still needs an approver.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from aios.notify.links import LinkRefused, redeem_link
from aios.runtime import approvals as approval_store
from aios.web.auth import actor_of
from aios.web.host import Host
from aios.web.pages import Context, PageError, Pages
from aios.web.views.approvals import item

__all__ = ["routes", "build"]

_REFUSED = {
    "used": "This link was already used. Each notification link opens the approval once; "
            "the approval is shown below all the same.",
    "expired": "This link has expired. The approval is shown below all the same.",
    "forged": "This link is not valid (its signature does not match, or it names another approval). "
              "It was ignored; the approval is shown below all the same.",
}


def _link(host: Host, approval_id: str, token: str | None) -> dict[str, Any] | None:
    """The notice for a notification link (None without one): ``{status, message}``."""
    if token is None:
        return None
    try:
        redeem_link(host.store(), token, approval_id=approval_id)
    except LinkRefused as err:
        return {"status": err.reason, "message": _REFUSED.get(err.reason, str(err)), "detail": str(err)}
    return {"status": "ok", "message": "Opened from a notification link (now used)."}


def build(host: Host, request: Request) -> Context:
    approval_id = str(request.path_params["ident"])
    conn = host.store().conn
    current = approval_store.get(conn, approval_id)
    if current is None:
        raise PageError(404, f"no approval `{approval_id}`")
    link = _link(host, approval_id, request.query_params.get("t"))
    actor = actor_of(request.scope)
    return {"title": f"Approval {approval_id}", "link": link,
            "approval": item(current, actor.name if actor else None, conn, host.plan())}


def routes(pages: Pages) -> list[Route]:
    return pages.page("/approvals/{ident}", "approval.html", build)
