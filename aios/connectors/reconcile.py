"""Reconciliation: for side effects whose intent is in the log but whose result is not (the
process died in between), ask the target whether the effect happened, and record the answer.

`open_intents` reads the runs nobody is executing any more (their owner process is gone) and
replays their logs; `reconcile` asks each connector that can reconcile and appends a
``connector.reconciled`` entry to the run's log (who asked, when, what the target said);
`resume_answered` resumes runs whose every open intent has a definite answer: an effect that
happened completes its step with the target's output (no second call), one that did not is called
again with the same idempotency key. The interpreter ignores the new entry type when it replays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aios.connectors.api import Outcome, Reconciliation
from aios.connectors.registry import reconcile_of
from aios.plan.plan import Plan, StepKind
from aios.runtime.connectors import ConnectorCall, ConnectorFn, ConnectorRegistry, Provenance

if TYPE_CHECKING:
    from aios.runtime.interpreter import Runtime
    from aios.runtime.outcome import RunOutcome

__all__ = ["RECONCILED", "OpenIntent", "Answer", "open_intents", "reconcile", "resume_answered"]

RECONCILED = "connector.reconciled"


@dataclass(frozen=True, slots=True)
class OpenIntent:
    run_id: str
    playbook: str
    plan_hash: str
    run_status: str
    step_id: str
    item: int | None
    connector: str
    key: str
    input: Mapping[str, Any]
    compensation: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run_id, "playbook": self.playbook, "step": self.step_id, "item": self.item,
                "connector": self.connector, "key": self.key, "compensation": self.compensation}


@dataclass(frozen=True, slots=True)
class Answer:
    intent: OpenIntent
    reconciliation: Reconciliation | None  # None: the connector cannot be asked
    reason: str = ""

    @property
    def definite(self) -> bool:
        r = self.reconciliation
        return r is not None and (r.outcome is Outcome.NOT_HAPPENED
                                  or (r.outcome is Outcome.HAPPENED and r.output is not None))

    def to_json(self) -> dict[str, Any]:
        out = self.intent.to_json()
        if self.reconciliation is None:
            out.update({"outcome": None, "detail": self.reason})
        else:
            out.update(self.reconciliation.to_json())
        return out


def open_intents(rt: Runtime, *, run_id: str | None = None) -> list[OpenIntent]:
    """Intents without results in runs that no live process is executing."""
    from aios.runtime.ownership import owner_alive
    from aios.runtime.runstate import RunState, StepStatus

    sql = "SELECT id, status, owner FROM runs WHERE status IN ('admitted', 'running', 'compensating')"
    args: tuple[Any, ...] = ()
    if run_id is not None:
        sql += " AND id = ?"
        args = (run_id,)
    out: list[OpenIntent] = []
    for row in rt.store.query(sql + " ORDER BY created_at, id", args):
        if row["owner"] and owner_alive(row["owner"]):
            continue
        state = RunState.replay(rt.store.conn, row["id"])
        plan = rt.plan_for(state.plan_hash)
        pb = plan.playbook_map.get(state.playbook)
        if pb is None:
            continue
        base = (state.run_id, state.playbook, state.plan_hash, row["status"])
        for step in pb.steps:
            ss = state.steps.get(step.id)
            if ss is None:
                continue
            if ss.status is StepStatus.INTENT and step.kind is StepKind.CONNECTOR and step.connector and ss.key:
                out.append(OpenIntent(*base, step.id, None, step.connector, ss.key, dict(ss.input or {})))
            if step.map is not None and step.map.connector:
                for idx, (inp, key) in sorted(ss.item_intents.items()):
                    if idx not in ss.items:
                        out.append(OpenIntent(*base, step.id, idx, step.map.connector, key, dict(inp or {})))
        for (sid, item), (comp, inp, key) in state.comp_intents.items():
            if (sid, item) not in state.compensated:
                out.append(OpenIntent(*base, sid, item, comp, key, dict(inp or {}), compensation=True))
    return out


def _call(rt: Runtime, plan: Plan, intent: OpenIntent) -> ConnectorCall:
    return ConnectorCall(intent.connector, intent.input, intent.key,
                         Provenance(intent.run_id, intent.step_id, intent.plan_hash, intent.playbook, 0, intent.item),
                         rt.connector_settings(plan, intent.connector), rt.root, rt.storage_dir,
                         lambda name: rt.secret_value(plan, name))


def _ask(rt: Runtime, intent: OpenIntent) -> Answer:
    plan = rt.plan_for(intent.plan_hash)
    contract = plan.connector_map.get(intent.connector)
    if contract is None:
        return Answer(intent, None, "the connector is no longer in the plan")
    if not contract.can_reconcile:
        return Answer(intent, None, "its contract says it cannot be reconciled (`reconcile: false`)")
    try:
        ask = reconcile_of(rt.connectors.resolve(plan, intent.connector))
    except Exception as err:  # a connector that cannot even be loaded: say so, do not stop
        return Answer(intent, None, f"cannot load it: {err}")
    if ask is None:
        return Answer(intent, None, "its implementation has no reconcile")
    try:
        result = ask(_call(rt, plan, intent))
    except Exception as err:  # the target could not be asked: the answer is "unknown"
        result = Reconciliation.unknown(f"{type(err).__name__}: {err}")
    return Answer(intent, result)


def reconcile(rt: Runtime, intents: list[OpenIntent], *, actor: str) -> list[Answer]:
    """Ask each target; log every answer it gave as ``connector.reconciled`` in the run's log."""
    from aios.runtime import log

    answers = [_ask(rt, i) for i in intents]
    entries: list[tuple[str | None, str | None, str, dict[str, Any]]] = []
    for a in answers:
        if a.reconciliation is None:
            continue
        body = {"connector": a.intent.connector, "key": a.intent.key, "i": a.intent.item, "by": actor,
                **a.reconciliation.to_json()}
        if a.intent.compensation:
            body["compensation"] = True
        entries.append((a.intent.run_id, a.intent.step_id, RECONCILED, {k: v for k, v in body.items()
                                                                         if v is not None}))
    if entries:
        with rt.store.transaction() as conn:
            log.append(conn, entries)
    return answers


class _Answered(ConnectorRegistry):
    """The workspace's connectors, except that keys the target says were done return its answer."""

    def __init__(self, inner: ConnectorRegistry, done: dict[tuple[str, str], Mapping[str, Any]]) -> None:
        super().__init__(inner.workspace)
        self.inner = inner
        self.done = done

    def resolve(self, plan: Plan, name: str) -> ConnectorFn:
        real = self.inner.resolve(plan, name)

        def answered(call: ConnectorCall) -> Mapping[str, Any]:
            known = self.done.get((call.connector, call.idempotency_key))
            return dict(known) if known is not None else real(call)

        return answered


def resume_answered(rt: Runtime, answers: list[Answer]) -> list[RunOutcome]:
    """Resume each run whose open intents all have a definite answer (see the module docstring)."""
    by_run: dict[str, list[Answer]] = {}
    for a in answers:
        by_run.setdefault(a.intent.run_id, []).append(a)
    done: dict[tuple[str, str], Mapping[str, Any]] = {}
    for a in answers:
        r = a.reconciliation
        if r is not None and r.outcome is Outcome.HAPPENED and r.output is not None:
            done[(a.intent.connector, a.intent.key)] = dict(r.output)
    inner = rt.connectors
    rt.connectors = _Answered(inner, done)
    try:
        return [rt.resume(run_id) for run_id, group in by_run.items() if all(a.definite for a in group)]
    finally:
        rt.connectors = inner
