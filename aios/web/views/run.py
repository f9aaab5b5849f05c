"""One run: its causal trace per step (`aios.runtime.trace.load_trace`, as `aios runs show`), its
approvals, and the interventions: cancel, resume and re-run from a step (`interventions.rerun`), through the runtime calls the CLI makes."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from aios.errors import AiosError, RunError
from aios.runtime import approvals
from aios.runtime.runstate import TERMINAL, RunStatus
from aios.runtime.trace import load_trace
from aios.web.auth import Actor
from aios.web.graphs import playbook_graph
from aios.web.host import Host
from aios.web.pages import Context, PageError, Pages, Params

__all__ = ["routes", "build", "approval_json"]

_RESUMABLE = frozenset({RunStatus.ADMITTED, RunStatus.RUNNING, RunStatus.COMPENSATING})


def approval_json(a: approvals.Approval) -> dict[str, Any]:
    return {**dataclasses.asdict(a), "kind": a.kind.value, "status": a.status.value, "approvers": list(a.approvers)}


def _step(s: Any) -> dict[str, Any]:
    out: dict[str, Any] = s.to_json()
    dec = s.decision or {}
    out["rule"] = s.rule
    # the deciding rules with their source positions (file, 1-based line and column)
    out["rules"] = [{k: r.get(k) for k in ("id", "effect", "file", "line", "column", "reason")}
                    for r in dec.get("rules", []) if isinstance(r, dict)]
    return out


def _rerun_steps(host: Host, playbook: str) -> list[str]:
    pb = host.plan().playbook_map.get(playbook)
    return [s.id for s in pb.steps] if pb is not None else []


def build(host: Host, request: Request) -> Context:
    run_id = str(request.path_params["ident"])
    conn = host.store().conn
    try:
        trace = load_trace(conn, run_id)
    except RunError as err:
        raise PageError(404, str(err)) from None
    run = {k: v for k, v in trace.to_json().items() if k not in ("steps", "run_entries")}
    status = RunStatus(trace.status)
    # the graph of the plan the run is pinned to; the current plan (said so) when no snapshot is stored
    pinned = host.plan_for(trace.plan_hash)
    graph = playbook_graph(pinned or host.plan(), trace.playbook, id_prefix="run-graph",
                           highlight=[s.step_id for s in trace.steps if s.status != "skipped"],
                           statuses={s.step_id: s.status for s in trace.steps})
    if graph is not None:
        graph["plan"] = trace.plan_hash if pinned is not None else host.plan().content_hash
        graph["pinned"] = pinned is not None
    return {
        "title": f"Run {trace.run_id}",
        "run": run,
        "steps": [_step(s) for s in trace.steps],
        "entries": trace.run_entries,
        "approvals": [approval_json(a) for a in approvals.listing(conn, include_decided=True, run_id=trace.run_id)],
        # resume: a run nobody is executing (after a crash); a waiting run needs its approval instead
        # rerun: the steps a finished run can be re-run from (`aios runs rerun`), on the current plan
        "actions": {"cancel": status not in TERMINAL, "resume": status in _RESUMABLE,
                    "rerun": _rerun_steps(host, trace.playbook) if status in TERMINAL else []},
        # the playbook graph, this run's path lit and each step's status (templates/_run_graph.html)
        "graph": graph,
    }


def cancel(host: Host, actor: Actor, run_id: str, params: Params) -> Context:
    with host.runtime(actor.name) as rt:
        try:
            outcome = rt.cancel(run_id, note=params.get("note") or None, actor=actor.name)
        except RunError as err:
            raise PageError(404 if "no run" in str(err) else 409, str(err)) from None
    return {"run": outcome.run_id, "status": outcome.status.value, "by": actor.name}


def resume(host: Host, actor: Actor, run_id: str, params: Params) -> Context:
    row = host.store().conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise PageError(404, f"no run `{run_id}`")
    if RunStatus(row["status"]) not in _RESUMABLE:
        raise PageError(409, f"run `{run_id}` is {row['status']}: " + (
            "it resumes when its approval is decided" if row["status"] == "waiting" else "nothing to resume"))
    try:
        with host.runtime(actor.name) as rt:  # logged (`run.resumed`) with the actor, as `aios runs resume RUN`
            rt.log_resumed(run_id, actor=actor.name, note=params.get("note") or None)
        host.continue_run(run_id, actor.name)
    except AiosError as err:
        raise PageError(409, str(err)) from None
    now = host.store().conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    return {"run": run_id, "status": now["status"], "by": actor.name}


def routes(pages: Pages) -> list[Route]:
    def back(run_id: str) -> str:
        return f"/runs/{run_id}"

    return [*pages.page("/runs/{ident}", "run.html", build),
            *pages.action("/runs/{ident}/cancel", cancel, back=back),
            *pages.action("/runs/{ident}/resume", resume, back=back)]
