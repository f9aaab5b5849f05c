"""The approvals inbox: each pending approval with exactly what will happen, and Approve / Reject.

A decision goes through `Runtime.decide` as `aios approve` / `aios reject` do (with ``input``, edit
then approve, as `aios approve --input`), acting as the
request's actor (the token's), so the approvers a gate or rule names are enforced the same way and
who, when and why are logged. The run then continues on the server's executor.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from aios.errors import RunError
from aios.plan.plan import Plan, Playbook
from aios.runtime import approvals
from aios.runtime.approvals import Approval, ApprovalStatus
from aios.runtime.edits import EditRefused
from aios.runtime.trace import load_trace
from aios.web.auth import Actor, actor_of
from aios.web.host import Host
from aios.web.pages import Context, PageError, Pages, Params
from aios.web.views.run import approval_json

__all__ = ["routes", "build", "decide", "item"]


def _waiting_entry(conn: Any, a: Approval) -> dict[str, Any]:
    """The body of the ``step.waiting`` entry that asked for ``a`` (its decision record, map item)."""
    for row in conn.execute("SELECT body FROM log WHERE run_id = ? AND step_id = ? AND type = 'step.waiting' "
                            "ORDER BY seq DESC", (a.run_id, a.step_id)):
        body = json.loads(row[0])
        if body.get("approval") == a.id:
            return dict(body)
    return {}


def _playbook(plan: Plan, name: str, plan_hash: str) -> Playbook | None:
    if plan.content_hash != plan_hash:
        return None  # pinned to an older plan: the steps shown come from the log only
    return plan.playbook_map.get(name)


def _after(pb: Playbook | None, step_id: str) -> list[dict[str, Any]]:
    """The steps that wait on ``step_id`` (directly or not), with the side effects they will have."""
    if pb is None:
        return []
    later = {step_id}
    out = []
    for s in pb.steps:
        if any(n in later for n in s.needs):
            later.add(s.id)
            out.append({"step": s.id, "kind": s.kind.value, "connector": s.connector,
                        "writes": s.writes.schema if s.writes is not None else None})
    return out


def _item(a: Approval, actor: str | None, conn: Any, plan: Plan) -> dict[str, Any]:
    trace = load_trace(conn, a.run_id)
    waiting = _waiting_entry(conn, a)
    dec = waiting.get("dec") or {}
    pb = _playbook(plan, trace.playbook, trace.plan_hash)
    step = next((s for s in pb.steps if s.id == a.step_id), None) if pb is not None else None
    action = dec.get("input", {}).get("action") if isinstance(dec.get("input"), dict) else None
    record = dec.get("input", {}).get("record") if isinstance(dec.get("input"), dict) else None
    return {
        **approval_json(a),
        "may_decide": not a.approvers or actor in a.approvers,
        "run": {"id": trace.run_id, "playbook": trace.playbook, "status": trace.status,
                "created_at": trace.created_at, "cost_usd": trace.cost_usd, "event": trace.event},
        # what will happen when it is approved
        "step": {"id": a.step_id, "kind": step.kind.value if step else None,
                 "connector": step.connector if step else None,
                 "writes": step.writes.schema if step is not None and step.writes is not None else None},
        "action": action,  # a policy approval: the connector call as decided (its full input)
        # edit then approve: a connector call waiting for a policy approval can be approved with another input
        "editable": a.kind.value == "policy" and action is not None and step is not None and bool(step.connector),
        "record": record,  # a policy approval of a record write: the record to be written
        "item": {"index": waiting["i"], "value": waiting.get("item")} if "i" in waiting else None,
        "decision": {"rule": a.rule, "reason": dec.get("reason") or a.message,
                     "rules": [{k: r.get(k) for k in ("id", "file", "line", "column", "reason")}
                               for r in dec.get("rules", []) if isinstance(r, dict)]},
        "then": _after(pb, a.step_id),
        "so_far": [{"step": s.step_id, "status": s.status, "output": s.output} for s in trace.steps
                   if s.step_id != a.step_id],
    }


def item(a: Approval, actor: str | None, conn: Any, plan: Plan) -> dict[str, Any]:
    """One approval with exactly what will happen (the inbox's card; the approval page's context)."""
    return _item(a, actor, conn, plan)


def build(host: Host, request: Request) -> Context:
    actor = actor_of(request.scope)
    conn = host.store().conn
    plan = host.plan()
    items = [_item(a, actor.name if actor else None, conn, plan) for a in approvals.pending(conn)]
    recent = [approval_json(a) for a in approvals.listing(conn, include_decided=True) if a.status is not
              ApprovalStatus.PENDING][-20:][::-1]
    return {"title": "Approvals", "pending": items, "recent": recent}


def decide(host: Host, actor: Actor, approval_id: str, params: Params, *, approve: bool) -> Context:
    conn = host.store().conn
    current = approvals.get(conn, approval_id)
    if current is None:
        raise PageError(404, f"no approval `{approval_id}`")
    if current.approvers and actor.name not in current.approvers:  # the library refuses it the same way
        raise PageError(403, f"`{actor.name}` may not decide approval `{approval_id}`; approvers: "
                             f"{', '.join(current.approvers)}")
    edited = _edited(params) if approve else None
    with host.runtime(actor.name) as rt:
        try:
            decided, _ = rt.decide(approval_id, approve=approve, note=params.get("note") or None, actor=actor.name,
                                   resume=False, edited_input=edited)
        except EditRefused as err:
            raise PageError(422, f"Edit refused, approval `{approval_id}` still pending: {err}") from None
        except RunError as err:
            raise PageError(409, str(err)) from None
    host.continue_run(decided.run_id, actor.name)
    return {"approval": decided.id, "status": decided.status.value, "by": decided.decided_by,
            "at": decided.decided_at, "note": decided.note, "run": decided.run_id,
            **({"edited": True} if edited is not None else {})}


def _edited(params: Params) -> Any:
    """Edit then approve: the ``input`` field (JSON text from the form's textarea, or an object in the
    API's body), or None when there is no edit."""
    text = (params.get("input") or "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as err:
        raise PageError(400, f"the edited input is not valid JSON: {err}") from None


def approve(host: Host, actor: Actor, approval_id: str, params: Params) -> Context:
    return decide(host, actor, approval_id, params, approve=True)


def reject(host: Host, actor: Actor, approval_id: str, params: Params) -> Context:
    return decide(host, actor, approval_id, params, approve=False)


def routes(pages: Pages) -> list[Route]:
    def back(_: str) -> str:
        return "/approvals"

    return [*pages.page("/approvals", "approvals.html", build),
            *pages.action("/approvals/{ident}/approve", approve, back=back),
            *pages.action("/approvals/{ident}/reject", reject, back=back)]
