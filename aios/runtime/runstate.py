"""Run state: statuses, the event a run answers, and the state of a run rebuilt from its log.

The episodic log is the source of truth. ``RunState.replay`` folds a run's entries into the state
the interpreter continues from, so recovery is the same code path as a normal resume: completed
steps keep their recorded outputs, an intent without a result is called again with its key.
"""

from __future__ import annotations

import enum
import hashlib
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aios.errors import RunError
from aios.runtime.log import LogEntry, entries_for_run, now_iso
from aios.runtime.records import RecordStore

__all__ = ["RunStatus", "StepStatus", "Event", "StepState", "RunState", "T", "TERMINAL"]


class RunStatus(enum.Enum):
    ADMITTED = "admitted"  # durably recorded, not started
    RUNNING = "running"  # executing, or interrupted (no live owner) and resumable
    WAITING = "waiting"  # paused for an approval
    COMPENSATING = "compensating"  # undoing completed effects after a terminal failure
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"  # a human rejected a gate or an approval
    CANCELLED = "cancelled"


TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.REJECTED, RunStatus.CANCELLED})


class StepStatus(enum.Enum):
    PENDING = "pending"
    INTENT = "intent"  # a side effect is about to happen (or happened without its result logged)
    WAITING = "waiting"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    FAILED = "failed"


class T:
    """Log entry types."""

    RUN_ADMITTED = "run.admitted"
    RUN_STARTED = "run.started"
    RUN_WAITING = "run.waiting"
    RUN_COMPLETED = "run.completed"
    RUN_FAILED = "run.failed"
    RUN_CANCELLED = "run.cancelled"
    RUN_RERUN = "run.rerun"  # a re-run from a step: of which run, from which step, asked by whom
    RUN_RESUMED = "run.resumed"  # an operator's resume: who (`by`), why (`note`), from which status (`pre`)
    STEP_COMPLETED = "step.completed"
    STEP_REUSED = "step.reused"
    STEP_SKIPPED = "step.skipped"
    STEP_INTENT = "step.intent"
    STEP_ATTEMPT_FAILED = "step.attempt_failed"
    STEP_WAITING = "step.waiting"
    STEP_FAILED = "step.failed"
    ITEM_INTENT = "item.intent"
    ITEM_COMPLETED = "item.completed"
    ITEM_REJECTED = "item.rejected"
    APPROVAL_DECIDED = "approval.decided"
    COMP_INTENT = "compensation.intent"
    COMP_COMPLETED = "compensation.completed"
    COMP_FAILED = "compensation.failed"


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    source: str
    time: str
    payload: Any

    @classmethod
    def from_json(cls, data: Any, default_type: str | None = None) -> Event:
        """An event file is an envelope ``{type, id, source, time, payload}`` or a bare payload."""
        if isinstance(data, Mapping) and "payload" in data:
            envelope = dict(data)
            unknown = set(envelope) - {"type", "id", "source", "time", "payload"}
            if unknown:
                raise RunError(f"the event has unknown keys: {', '.join(sorted(unknown))} "
                               "(expected type, id, source, time, payload)")
            payload = envelope["payload"]
        else:
            envelope, payload = {}, data
        etype = envelope.get("type") or default_type
        if not etype:
            raise RunError("the event has no `type` and the playbook's trigger names none")
        canonical = json.dumps(payload, sort_keys=True, default=str)
        eid = envelope.get("id") or "evt_" + hashlib.sha256(f"{etype}\x1f{canonical}".encode()).hexdigest()[:16]
        return cls(str(eid), str(etype), str(envelope.get("source") or "cli"), str(envelope.get("time") or now_iso()),
                   payload)

    def as_context(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "source": self.source, "time": self.time, "payload": self.payload}


@dataclass
class StepState:
    status: StepStatus = StepStatus.PENDING
    output: Any = None
    input: Any = None
    key: str | None = None
    decision: dict[str, Any] | None = None
    failed_attempts: int = 0
    approval: str | None = None
    error: str | None = None
    items: dict[int, Any] = field(default_factory=dict)  # map items completed: index -> output
    item_intents: dict[int, tuple[Any, str]] = field(default_factory=dict)  # index -> (input, key)
    item_results: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> a rejected item's result
    item_statuses: list[dict[str, Any]] | None = None  # a completed map step's per-item statuses
    reused_from: str | None = None
    #: site -> the edit an approver approved there (edit then approve), with the approval's id
    edits: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class RunState:
    run_id: str
    playbook: str
    plan_hash: str
    event: Event
    status: RunStatus
    started_at: str
    steps: dict[str, StepState] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # schema -> context of the record written
    cost_usd: float = 0.0
    tokens: int = 0
    effects: list[tuple[str, int | None]] = field(default_factory=list)  # (step, item) in completion order
    compensated: set[tuple[str, int | None]] = field(default_factory=set)
    comp_intents: dict[tuple[str, int | None], tuple[str, Any, str]] = field(default_factory=dict)
    error: str | None = None
    failed_step: str | None = None
    final_status: RunStatus = RunStatus.FAILED  # what a failing run ends as once compensated
    last_seq: int = 0

    def step(self, step_id: str) -> StepState:
        st = self.steps.get(step_id)
        if st is None:
            st = self.steps[step_id] = StepState()
        return st

    @classmethod
    def replay(cls, conn: sqlite3.Connection, run_id: str) -> RunState:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunError(f"no run `{run_id}` (see `aios runs list`)")
        ev = conn.execute("SELECT * FROM events WHERE id = ?", (row["event_id"],)).fetchone()
        if ev is None:
            raise RunError(f"run `{run_id}`: its event `{row['event_id']}` is missing from the store")
        event = Event(ev["id"], ev["type"], ev["source"] or "", ev["time"], json.loads(ev["payload"]))
        state = cls(run_id, row["playbook"], row["plan_hash"], event, RunStatus(row["status"]), row["created_at"],
                    cost_usd=float(row["cost_usd"]), tokens=int(row["tokens"]), error=row["error"])
        records = RecordStore(conn)
        for entry in entries_for_run(conn, run_id):
            state.apply(entry, records)
        return state

    def apply(self, e: LogEntry, records: RecordStore) -> None:
        b = e.body
        self.last_seq = e.seq
        sid = e.step_id
        if e.type in (T.STEP_COMPLETED, T.STEP_REUSED):
            assert sid is not None
            st = self.step(sid)
            st.status = StepStatus.COMPLETED
            st.output = b.get("out")
            st.input = b.get("in", st.input)
            st.reused_from = b.get("from")
            st.item_statuses = b.get("items")
            for ref in b.get("rec", ()):
                rv = records.get(ref["schema"], ref["id"], ref["v"])
                if rv is not None:
                    self.records[rv.schema] = rv.as_context()
            if b.get("effect") and e.type == T.STEP_COMPLETED:
                self.effects.append((sid, None))
        elif e.type == T.STEP_SKIPPED:
            assert sid is not None
            self.step(sid).status = StepStatus.SKIPPED
        elif e.type == T.STEP_INTENT:
            assert sid is not None
            st = self.step(sid)
            st.status = StepStatus.INTENT
            st.input, st.key, st.decision = b.get("in"), b.get("key"), b.get("dec")
        elif e.type == T.STEP_ATTEMPT_FAILED:
            assert sid is not None
            if b.get("i") is None:
                self.step(sid).failed_attempts = int(b.get("attempt", 0))
        elif e.type == T.STEP_WAITING:
            assert sid is not None
            st = self.step(sid)
            st.status = StepStatus.WAITING
            st.approval = b.get("approval")
        elif e.type == T.APPROVAL_DECIDED and sid is not None:
            site = str(b.get("site") or sid)
            if isinstance(b.get("edit"), dict):
                self.step(sid).edits[site] = {**b["edit"], "approval": b.get("approval")}
            else:
                self.step(sid).edits.pop(site, None)
        elif e.type == T.STEP_FAILED:
            assert sid is not None
            st = self.step(sid)
            st.status = StepStatus.FAILED
            st.error = b.get("error")
            self.failed_step = sid
            self.error = b.get("error")
            self.final_status = RunStatus(b.get("final", "failed"))
        elif e.type == T.ITEM_INTENT:
            assert sid is not None
            self.step(sid).item_intents[int(b["i"])] = (b.get("in"), str(b.get("key")))
        elif e.type == T.ITEM_COMPLETED:
            assert sid is not None
            self.step(sid).items[int(b["i"])] = b.get("out")
            if b.get("effect"):
                self.effects.append((sid, int(b["i"])))
        elif e.type == T.ITEM_REJECTED:
            assert sid is not None
            st = self.step(sid)
            st.items[int(b["i"])] = None
            st.item_results[int(b["i"])] = {k: v for k, v in b.items() if k != "i"}
        elif e.type == T.COMP_INTENT:
            assert sid is not None
            target = (sid, b.get("i"))
            self.comp_intents[target] = (str(b["connector"]), b.get("in"), str(b["key"]))
        elif e.type in (T.COMP_COMPLETED, T.COMP_FAILED):
            assert sid is not None
            self.compensated.add((sid, b.get("i")))
