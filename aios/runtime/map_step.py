"""A ``map`` step: its body once per item, each item with its own key, decision and approval.

Each item stands alone:

- an item a policy allows runs at once, even while another item waits for a human;
- an item that needs approval asks for it alone (site ``step#index``; the approval's message names
  the item's index and value, the ``step.waiting`` entry carries ``i`` and ``item``); once every
  item that can run has run, the step waits for the first pending approval, and each decision
  resumes the run, which asks again for whatever is still pending;
- a rejected item (or one whose approval timed out) is logged as ``item.rejected`` (index, reason,
  approval, who) and the other items go on. If **every** item was rejected, the step ends rejected,
  as a single step would (the run is rejected and compensates).

The step's output is a list aligned with the items: an item's output, or ``null`` for a rejected
item. ``steps.<id>.results`` holds what happened to each item: ``{status: completed, output}`` or
``{status: rejected, reason, approval}``; the ``step.completed`` entry carries the statuses as
``items``. A policy **deny** of an item still fails the whole step (a deny is not a human's choice).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aios.durations import iso_plus_seconds
from aios.plan.plan import Step, StepKind, Template
from aios.runtime import approvals
from aios.runtime.approvals import Approval
from aios.runtime.commits import Commit, Entry, compact
from aios.runtime.outcome import Progress
from aios.runtime.runstate import StepStatus, T
from aios.runtime.step_signals import StepFailure, Wait

if TYPE_CHECKING:
    from aios.runtime.execution import Execution

__all__ = ["run_map", "results_view"]

_ITEM_CHARS = 300  # how much of an item's value an approval's message shows


def results_view(outputs: Any, statuses: Any) -> list[dict[str, Any]]:
    """``steps.<id>.results``: each item's status with its output (or why it was rejected)."""
    outs = outputs if isinstance(outputs, list) else []
    stats = statuses if isinstance(statuses, list) else [{"status": "completed"}] * len(outs)
    view = []
    for idx, st in enumerate(stats):
        entry = dict(st) if isinstance(st, dict) else {"status": "completed"}
        if entry.get("status") == "completed":
            entry["output"] = outs[idx] if idx < len(outs) else None
        view.append(entry)
    return view


def run_map(ex: Execution, i: int, step: Step, t0: float) -> None:
    m = step.map
    assert m is not None
    over = m.over if m.over.expression else Template(m.over.source, m.over.span, True)
    items = ex.renderer.template(over, ex.ctx)
    if not isinstance(items, list):
        raise StepFailure(f"map over `{m.over.source}` gave {type(items).__name__}, not a list")
    if len(items) > m.max_items:
        raise StepFailure(f"map over {len(items)} items exceeds max_items {m.max_items}")
    ss = ex.state.step(step.id)
    outputs: list[Any] = []
    waiting: list[Approval] = []
    for idx, item in enumerate(items):
        if idx in ss.items:
            outputs.append(ss.items[idx])
            continue
        ctx = {**ex.ctx, m.item: item}
        work: Callable[[sqlite3.Connection, str], None] | None = None
        try:
            if m.kind is StepKind.AGENT:
                assert m.agent is not None
                inp, out, dec, cost, _ = ex._agent_call(step, m.agent, m.input, ctx, f"{step.id}#{idx}",
                                                        m.output_schema)
                body = compact({"i": idx, "in": inp, "dec": dec, "out": out, "cost": cost})
            elif m.kind is StepKind.CONNECTOR:
                assert m.connector is not None
                inp, out, dec, key, effect = ex._connector_call(step, m.connector, m.input, m.idempotency_key,
                                                                ctx, idx)
                effect = effect and ex.dedup is None  # a dedupe reuses an earlier call's effect
                body = compact({"i": idx, "in": inp, "dec": dec, "out": out, "key": key,
                                "effect": True if effect else None, "dedup": ex.dedup})
                if effect:
                    ex.state.effects.append((step.id, idx))
                    work = ex._effect_done(m.connector, key, step, idx, out)
            else:
                out = ex.renderer.value(m.transform if m.transform is not None else m.input, ctx)
                if m.output_schema:
                    out = ex._validated(m.output_schema, out, "map item")
                outputs.append(out)
                continue
        except Wait as wait:  # this item waits; the others go on
            waiting.append(wait.approval if wait.approval is not None else _ask(ex, step, idx, item, wait))
            outputs.append(None)
            continue
        except StepFailure as failure:
            if not failure.rejected:
                raise
            _reject(ex, step, idx, failure)
            outputs.append(None)
            continue
        ex.commit(Commit([(step.id, T.ITEM_COMPLETED, body)], work=work, check_cancel=not body.get("effect")))
        ss.items[idx] = out
        outputs.append(out)
    if waiting:
        raise Wait(waiting[0])
    statuses = [ss.item_results.get(idx, {"status": "completed"}) for idx in range(len(items))]
    if items and all(s.get("status") == "rejected" for s in statuses):
        reasons = "; ".join(f"item {idx}: {s.get('reason')}" for idx, s in enumerate(statuses))
        raise StepFailure(f"every item of `{step.id}` was rejected ({reasons})", rejected=True)
    rejected = [s for s in statuses if s.get("status") == "rejected"]
    ex._complete(i, step, inp={"items": len(items)}, out=outputs, t0=t0,
                 extra={"items": statuses} if rejected else None)
    ex.steps_ctx[step.id]["results"] = results_view(outputs, statuses)


def _ask(ex: Execution, step: Step, idx: int, item: Any, wait: Wait) -> Approval:
    """Ask for one item's approval now (durably), so the items after it can go on."""
    req = wait.request
    assert req is not None
    st = ex.state
    shown = json.dumps(item, ensure_ascii=False, default=str)
    if len(shown) > _ITEM_CHARS:
        shown = shown[: _ITEM_CHARS - 1] + "…"
    message = f"{req['message']} (item {idx} of `{step.id}`: {shown})"
    holder: list[Approval] = []
    entries: list[Entry] = []

    def work(conn: sqlite3.Connection, at: str) -> None:
        expires = iso_plus_seconds(at, float(req["timeout_s"])) if req["timeout_s"] else None
        made = approvals.request(conn, run_id=st.run_id, step_id=req["step"], site=req["site"], kind=req["kind"],
                                 message=message, rule=req["rule"], approvers=tuple(req["approvers"]), at=at,
                                 expires_at=expires, on_timeout=req["on_timeout"])
        holder.append(made)
        entries.append((req["step"], T.STEP_WAITING, compact({
            "pre": "pending", "approval": made.id, "kind": req["kind"].value, "message": message,
            "rule": req["rule"], "dec": req["dec"], "expires_at": expires, "post": "waiting", "i": idx,
            "item": item})))

    ex.commit(Commit(entries, work=work))
    st.step(step.id).status = StepStatus.WAITING
    approval = holder[0]
    ex.rt.emit(Progress(st.run_id, step.id, step.kind.value, "waiting", f"approval {approval.id}: {message}"))
    return approval


def _reject(ex: Execution, step: Step, idx: int, failure: StepFailure) -> None:
    approval = approvals.for_site(ex.rt.store.conn, ex.state.run_id, f"{step.id}#{idx}")
    result = compact({"status": "rejected", "reason": failure.message,
                      "approval": approval.id if approval else None,
                      "by": approval.decided_by if approval else None})
    ex.commit(Commit([(step.id, T.ITEM_REJECTED, {"i": idx, **result})]))
    ss = ex.state.step(step.id)
    ss.items[idx] = None
    ss.item_results[idx] = result
    ex.rt.emit(Progress(ex.state.run_id, step.id, step.kind.value, "rejected", f"item {idx}: {failure.message}"))


