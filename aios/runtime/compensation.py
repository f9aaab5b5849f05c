"""Compensation: after a terminal failure or a rejection, undo completed side effects in reverse
order, each logged like a step (intent with key ``<key>:compensate``, then completed or failed), so a
crash in the middle resumes compensating. A compensation that keeps failing raises an alert."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from aios.plan.plan import RetryPolicy, StepKind
from aios.runtime import alerts
from aios.runtime.commits import Commit, backoff_delay, compact
from aios.runtime.connectors import ConnectorCall, Provenance, is_transient
from aios.runtime.outcome import Progress, RunOutcome
from aios.runtime.runstate import RunStatus, T

if TYPE_CHECKING:
    from aios.runtime.execution import Execution

__all__ = ["pending", "compensate_and_close"]


def pending(ex: Execution) -> list[tuple[str, int | None, str]]:
    """Completed effects still to undo, newest first: (step, map item, compensating connector)."""
    out = []
    for sid, item in reversed(ex.state.effects):
        if (sid, item) in ex.state.compensated:
            continue
        step = ex.pb.step(sid)
        comp = step.compensate
        if comp is None and step.kind is StepKind.CONNECTOR and step.connector:
            contract = ex.plan.connector_map.get(step.connector)
            comp = contract.compensation if contract else None
        if comp:
            out.append((sid, item, comp))
    return out


def compensate_and_close(ex: Execution, final: RunStatus | None = None) -> RunOutcome:
    """Undo what is pending, then end the run as ``final`` (its recorded final status by default)."""
    st = ex.state
    if final is None:
        final = st.final_status
    for sid, item, comp in pending(ex):
        _compensate_one(ex, sid, item, comp)
    ex.commit(
        Commit(
            [(None, T.RUN_FAILED, {"error": st.error, "step": st.failed_step, "status": final.value})],
            status=final,
            check_cancel=False,
        )
    )
    return RunOutcome(st.run_id, final, st.error, st.failed_step, cost_usd=st.cost_usd)


def _compensate_one(ex: Execution, sid: str, item: int | None, comp: str) -> None:
    st = ex.state
    ss = st.step(sid)
    if (sid, item) in st.comp_intents:
        comp, inp, key = st.comp_intents[(sid, item)]
    else:
        if item is None:
            orig_in, orig_key, orig_out = ss.input or {}, ss.key or f"{st.run_id}:{sid}", ss.output or {}
        else:
            orig_in, orig_key = ss.item_intents.get(item, ({}, f"{st.run_id}:{sid}#{item}"))
            orig_out = ss.items.get(item) or {}
        merged = {
            **(orig_in if isinstance(orig_in, dict) else {}),
            **(orig_out if isinstance(orig_out, dict) else {}),
        }
        contract = ex.plan.connector_map.get(comp)
        inp = {k: v for k, v in merged.items() if contract is None or contract.input.field(k) is not None}
        key = f"{orig_key}:compensate"
        ex.commit(
            Commit(
                [(sid, T.COMP_INTENT, compact({"i": item, "connector": comp, "in": inp, "key": key}))],
                check_cancel=False,
            )
        )
        st.comp_intents[(sid, item)] = (comp, inp, key)
    step = ex.pb.step(sid)
    ex.rt.emit(Progress(st.run_id, sid, "compensation", "running", comp))
    contract = ex.plan.connector_map.get(comp)
    policy = contract.retry if contract and contract.retry else RetryPolicy(max_retries=2, base_s=0.2)
    last_error = ""
    for attempt in range(1, policy.max_retries + 2):
        try:
            fn = ex.rt.connectors.resolve(ex.plan, comp)
            out = dict(
                fn(
                    ConnectorCall(
                        comp,
                        inp,
                        key,
                        Provenance(st.run_id, sid, st.plan_hash, st.playbook, attempt, item),
                        ex.rt.connector_settings(ex.plan, comp),
                        ex.rt.root,
                        ex.rt.storage_dir,
                        lambda s: ex.rt.secret_value(ex.plan, s),
                    )
                )
            )
        except Exception as err:  # every failure is logged and alerted below
            last_error = f"{type(err).__name__}: {err}"
            if not is_transient(err):  # a permanent failure is not retried (the same rule as for steps)
                break
            if attempt <= policy.max_retries:
                ex.rt.sleep(backoff_delay(policy, attempt))
            continue
        ex.commit(
            Commit(
                [(sid, T.COMP_COMPLETED, compact({"i": item, "connector": comp, "out": out}))],
                check_cancel=False,
            )
        )
        st.compensated.add((sid, item))
        ex.rt.emit(Progress(st.run_id, sid, "compensation", "completed", comp))
        return

    def work(conn: sqlite3.Connection, at: str) -> None:
        alerts.raise_alert(
            conn,
            run_id=st.run_id,
            step_id=sid,
            severity=alerts.Severity.CRITICAL,
            message=f"compensation `{comp}` for step `{sid}` failed: {last_error}; "
            "the effect may still be in place",
            at=at,
        )

    ex.commit(
        Commit(
            [(sid, T.COMP_FAILED, compact({"i": item, "connector": comp, "error": last_error}))],
            work=work,
            check_cancel=False,
        )
    )
    st.compensated.add((sid, item))
    ex.rt.emit(Progress(st.run_id, step.id, "compensation", "failed", last_error))
