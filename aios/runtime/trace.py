"""The causal trace of a run, folded from its log entries: for each step, what went in, what the
policy decided and by which rule, what came out, what it cost, how long it took, who approved it."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from aios.errors import RunError
from aios.runtime.log import LogEntry, entries_for_run
from aios.runtime.policy_gate import denial_text
from aios.runtime.queries import runs_with_prefix
from aios.runtime.runstate import T

__all__ = ["StepTrace", "RunTrace", "load_trace", "format_trace"]


@dataclass
class StepTrace:
    step_id: str
    status: str = "pending"
    input: Any = None
    output: Any = None
    decision: dict[str, Any] | None = None
    cost: dict[str, Any] | None = None
    ms: float | None = None
    key: str | None = None
    attempts: list[str] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    compensation: list[dict[str, Any]] = field(default_factory=list)
    items: int = 0
    rejected_items: list[dict[str, Any]] = field(default_factory=list)  # map items a human (or a timeout) refused
    error: str | None = None
    note: str | None = None  # skip reason, reuse origin, variant
    first_seq: int = 0
    at: str = ""

    @property
    def rule(self) -> str | None:
        if not self.decision:
            return None
        return str(self.decision.get("rule") or ",".join(r.get("id", "") for r in self.decision.get("rules", []))
                   or "default")

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, [], 0, "") or k in ("status", "step_id")}


@dataclass
class RunTrace:
    run_id: str
    playbook: str
    plan_hash: str
    status: str
    event: dict[str, Any]
    created_at: str
    finished_at: str | None
    cost_usd: float
    tokens: int
    error: str | None
    rerun_of: str | None
    steps: list[StepTrace]
    run_entries: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("steps", "run_entries")}
        out["steps"] = [s.to_json() for s in self.steps]
        out["run_entries"] = self.run_entries
        return out


def load_trace(conn: sqlite3.Connection, run_id: str) -> RunTrace:
    row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        matches = runs_with_prefix(conn, run_id)
        if len(matches) != 1:
            raise RunError(f"no run `{run_id}` (see `aios runs list`)")
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (matches[0],)).fetchone()
    ev = conn.execute("SELECT * FROM events WHERE id = ?", (row["event_id"],)).fetchone()
    event = {"id": row["event_id"]}
    if ev is not None:
        event = {"id": ev["id"], "type": ev["type"], "source": ev["source"], "time": ev["time"],
                 "payload": json.loads(ev["payload"])}
    steps: dict[str, StepTrace] = {}
    run_entries: list[dict[str, Any]] = []
    for e in entries_for_run(conn, row["id"]):
        if e.step_id is None:
            run_entries.append({"seq": e.seq, "type": e.type, "at": e.at, **e.body})
            continue
        st = steps.get(e.step_id)
        if st is None:
            st = steps[e.step_id] = StepTrace(e.step_id, first_seq=e.seq, at=e.at)
        _fold(st, e)
    return RunTrace(row["id"], row["playbook"], row["plan_hash"], row["status"], event, row["created_at"],
                    row["finished_at"], float(row["cost_usd"]), int(row["tokens"]), row["error"], row["rerun_of"],
                    sorted(steps.values(), key=lambda s: s.first_seq), run_entries)


def _fold(st: StepTrace, e: LogEntry) -> None:
    b = e.body
    t = e.type
    if t in (T.STEP_COMPLETED, T.STEP_REUSED):
        st.status = "completed" if t == T.STEP_COMPLETED else "reused"
        st.input = b.get("in", st.input)
        st.output = b.get("out")
        st.decision = b.get("dec") or st.decision
        st.cost = b.get("cost")
        st.ms = b.get("ms")
        st.key = b.get("key", st.key)
        st.records.extend(b.get("rec", []))
        if t == T.STEP_REUSED:
            st.note = f"reused from {b.get('from')}"
        elif b.get("dedup"):  # the key was applied with the same input before: nothing was sent again
            st.note = f"deduplicated (sent by run {b['dedup'].get('run')})"
        elif b.get("variant"):
            st.note = f"variant {b['variant']}"
    elif t == T.STEP_SKIPPED:
        st.status, st.note = "skipped", b.get("why")
    elif t == T.STEP_INTENT:
        st.status, st.input, st.key, st.decision = "intent", b.get("in"), b.get("key"), b.get("dec")
    elif t == T.STEP_ATTEMPT_FAILED:
        st.attempts.append(f"attempt {b.get('attempt')}: {b.get('error')}")
    elif t == T.STEP_WAITING:
        st.status = "waiting"
        st.decision = b.get("dec") or st.decision
        st.approvals.append({"approval": b.get("approval"), "requested": e.at, "message": b.get("message"),
                             "rule": b.get("rule")})
    elif t == T.APPROVAL_DECIDED:
        st.approvals.append(_without_none({"approval": b.get("approval"), "decision": b.get("decision"),
                                           "by": b.get("by"), "at": b.get("at"), "note": b.get("note"),
                                           "timed_out": b.get("timed_out"),
                                           "site": b.get("site") if b.get("site") != st.step_id else None,
                                           "edited": _edit_view(b.get("edit"))}))
    elif t == T.STEP_FAILED:
        st.status, st.error = "failed", b.get("error")
        st.decision = b.get("dec") or (b.get("write") or {}).get("dec") or st.decision  # a deny's decision
    elif t == T.ITEM_COMPLETED:
        st.items += 1
    elif t == T.ITEM_REJECTED:
        st.rejected_items.append({k: v for k, v in b.items() if k != "status"})
    elif t in (T.COMP_INTENT, T.COMP_COMPLETED, T.COMP_FAILED):
        st.compensation.append({"type": t.split(".")[1], "at": e.at, **b})


def _without_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None or k in ("approval", "decision", "by", "at", "note")}


def _short(value: Any, width: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace("\n", "⏎ ")
    return text if len(text) <= width else text[: width - 1] + "…"


def format_trace(trace: RunTrace, width: int = 110) -> str:
    """The trace as text: one block per step (the one rendering `aios runs show` and the demo use)."""
    out = [f"run {trace.run_id}  {trace.playbook}  {trace.status}",
           f"  plan {trace.plan_hash[:12]}  event {trace.event.get('type', '?')} {trace.event['id']}"
           + (f"  rerun of {trace.rerun_of}" if trace.rerun_of else ""),
           f"  started {trace.created_at}" + (f"  finished {trace.finished_at}" if trace.finished_at else "")
           + f"  cost ${trace.cost_usd:.6f}  tokens {trace.tokens}"]
    if trace.error:
        out.append(f"  error: {trace.error}")
    for e in trace.run_entries:
        if e.get("type") == T.RUN_RESUMED:
            out.append(f"  resumed by {e.get('by')} at {e.get('at')}" + (f": {e['note']}" if e.get("note") else ""))
    for i, s in enumerate(trace.steps, 1):
        ms = f"{s.ms:.1f} ms" if s.ms is not None else ""
        note = s.note
        if s.rejected_items:
            note = (f"{note}; " if note else "") + f"{s.items} items completed, {len(s.rejected_items)} rejected"
        out.append(f"\n{i:>2}. {s.step_id}  [{s.status}]  {ms}" + (f"  ({note})" if note else ""))
        if s.decision and s.decision.get("effect") == "deny":
            out.append(f"    decision: {_short(denial_text(s.decision), max(width, 300))}")
        elif s.decision:
            out.append(f"    decision: {s.decision.get('effect')} by rule {s.rule}: "
                       f"{_short(s.decision.get('reason', ''), width)}")
        for a in s.approvals:
            if a.get("timed_out"):
                then = "approved by its on_timeout rule" if a.get("decision") == "approved" else "the step stops"
                out.append(f"    approval {a['approval']}: timed out at {a['at']} ({a.get('note')}); {then}")
            elif "decision" in a:
                out.append(f"    approval {a['approval']}: {a['decision']} by {a['by']} at {a['at']}"
                           + (f": {a['note']}" if a.get("note") else ""))
            else:
                out.append(f"    approval {a['approval']} requested: {_short(a.get('message') or '', width)}")
        if s.key:
            out.append(f"    idempotency key: {s.key}")
        if s.input is not None:
            out.append(f"    in:  {_short(s.input, width)}")
        if s.output is not None:
            out.append(f"    out: {_short(s.output, width)}")
        if s.cost:
            c = s.cost
            out.append(f"    cost: {c.get('model')} {c.get('pt', 0)}+{c.get('ct', 0)} tokens ${c.get('usd', 0):.6f}")
        for rec in s.records:
            out.append(f"    record: {rec['schema']} {rec['id']} v{rec['v']}")
        for attempt in s.attempts:
            out.append(f"    {_short(attempt, width)}")
        for comp in s.compensation:
            detail = comp.get("out") or comp.get("error") or comp.get("in")
            out.append(f"    compensation {comp['type']}: {comp.get('connector')} {_short(detail, width)}")
        for r in s.rejected_items:
            out.append(f"    item {r.get('i')}: rejected: {_short(r.get('reason') or '', width)}")
        if s.error:
            out.append(f"    error: {s.error}")
    return "\n".join(out)


def _edit_view(edit: Any) -> dict[str, Any] | None:
    """Edit then approve: both versions of the input, who edited it, and the policies' word on the edit."""
    if not isinstance(edit, dict):
        return None
    return {k: edit.get(k) for k in ("original", "input", "by", "effect", "rule", "reason")}
