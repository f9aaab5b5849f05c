"""The runtime: admit runs, execute them, pause and resume them, and recover after a crash.

A `Runtime` binds a compiled plan to a workspace's state store. Each method is one operator action
(`aios run`, `aios runs resume`, `aios approve`, …); the step loop itself is in `execution`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import secrets
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aios import limits, masking
from aios.errors import AiosError, RunError
from aios.models.adapter import ModelAdapter
from aios.plan.hashing import canonical
from aios.plan.plan import Plan, Step, StepKind
from aios.runtime import alerts, approval_timeouts, approvals, edits, hooks, log
from aios.runtime.approvals import Approval
from aios.runtime.breaker import CircuitBreakers
from aios.runtime.connectors import ConnectorRegistry
from aios.runtime.execution import Admission, Execution
from aios.runtime.outcome import Progress, RunOutcome
from aios.runtime.ownership import owner_alive, owner_token
from aios.runtime.records import RecordStore
from aios.runtime.runstate import TERMINAL, Event, RunState, RunStatus, StepStatus, T
from aios.runtime.store import Store
from aios.runtime.templates import Renderer
from aios.runtime.validation import validate_record

__all__ = ["Runtime", "RunOutcome", "Progress", "Retriever", "new_run_id"]

#: (query, top_k, filter, half_life_days) -> hits; each hit a JSON object carrying its provenance.
Retriever = Callable[[str, int, Mapping[str, Any], "float | None"], list[dict[str, Any]]]


def new_run_id() -> str:
    """Sortable by admission time: milliseconds in hex, then randomness."""
    return f"run_{int(time.time() * 1000):011x}{secrets.token_hex(3)}"


class Runtime:
    def __init__(self, plan: Plan, root: Path | str, *, storage: Path | None = None, store: Store | None = None,
                 connectors: ConnectorRegistry | None = None, models: ModelAdapter | None = None,
                 retriever: Retriever | None = None, actor: str | None = None,
                 progress: Callable[[Progress], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not plan.content_hash:
            raise RunError("the plan has no content hash; compile it with aios.compiler.compile_workspace")
        self.plan = plan
        masking.watch(masking.plan_secrets(plan))  # before anything is written: the store masks them
        self.root = Path(root).resolve()
        self.storage_dir = storage or (self.root / plan.settings.storage)
        self._own_store = store is None
        self.store = store or Store.open(self.storage_dir)
        self.records = RecordStore(self.store.conn)
        self.connectors = connectors or ConnectorRegistry(self.root)
        self.sleep = sleep
        self.models = models or ModelAdapter(sleep=sleep)
        self.retriever = retriever
        self.actor = actor or os.environ.get("AIOS_ACTOR") or plan.settings.actor
        self.progress = progress
        self.renderer = Renderer()
        self.breakers = CircuitBreakers(self.store)
        self.owner = owner_token()
        self._plans: dict[str, Plan] = {plan.content_hash: plan}
        self._settings: dict[tuple[str, str], dict[str, Any]] = {}
        self._policy_commit: tuple[str | None] | None = None
        if plan.settings.notify is not None:  # the notifier's hooks enqueue in this store's transactions
            from aios.notify.hooks import attach

            attach(self.store.conn, plan.settings.notify)

    @property
    def policy_commit(self) -> str | None:
        """The git commit the workspace is at, stamped on policy decisions; read once per runtime."""
        if self._policy_commit is None:
            from aios.policy.gitinfo import head_commit

            self._policy_commit = (head_commit(self.root),)
        return self._policy_commit[0]

    def close(self) -> None:
        if self._own_store:
            self.store.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- services used by the execution -----------------------------------------------------------

    def emit(self, p: Progress) -> None:
        if self.progress is not None:
            self.progress(p)

    def secret_value(self, plan: Plan, name: str) -> str | None:
        secret = plan.secret_map.get(name)
        if secret is None:
            return None
        value = os.environ.get(secret.env)
        if value is None and secret.required:
            raise RunError(f"secret `{name}` is not set (environment variable {secret.env})")
        if value:
            masking.watch((value,))  # set after this runtime started: masked from now on
        return value

    def connector_settings(self, plan: Plan, name: str) -> dict[str, Any]:
        """The connector's settings from aios.yaml. A compensation with none of its own uses those of
        the connector it undoes (`sqlite.restore` those of `sqlite.upsert`): it acts on the same
        database, site or folder."""
        key = (plan.content_hash, name)
        cached = self._settings.get(key)
        if cached is None:
            configured = dict(plan.settings.connector_settings)
            tv = configured.get(name)
            if tv is None:
                tv = next((configured[c.name] for c in plan.connectors
                           if c.compensation == name and c.name in configured), None)
            value = self.renderer.value(tv, {}) if tv is not None else {}
            cached = self._settings[key] = value if isinstance(value, dict) else {}
        return cached

    def retrieve(self, query: str, top_k: int, filters: Mapping[str, Any], half_life_days: float | None,
                 ) -> list[dict[str, Any]]:
        if self.retriever is None:
            return []
        return list(self.retriever(query, top_k, filters, half_life_days))

    # -- admission --------------------------------------------------------------------------------

    def admit(self, playbook: str, event: Event | Mapping[str, Any], *, claim: bool = False,
              rerun_of: str | None = None, rerun_from: str | None = None) -> str:
        return self._admit(playbook, event, claim=claim, rerun_of=rerun_of, rerun_from=rerun_from).run_id

    def _admit(self, playbook: str, event: Event | Mapping[str, Any], *, claim: bool = False,
               rerun_of: str | None = None, rerun_from: str | None = None) -> RunState:
        """Record the run durably (event, run row, log entry) and only then return its id.

        With ``claim`` the run is admitted already owned by this process (``running``), so starting
        it costs no second commit.
        """
        state, admission = self._prepare(playbook, event, claim=claim, rerun_of=rerun_of, rerun_from=rerun_from)
        with self.store.transaction() as conn:
            admission.write(conn)
        self.emit(admission.progress)
        return state

    def _prepare(self, playbook: str, event: Event | Mapping[str, Any], *, claim: bool,
                 rerun_of: str | None = None, rerun_from: str | None = None) -> tuple[RunState, Admission]:
        """Check the event against the playbook and build the admission's writes (not yet durable)."""
        plan = self.plan
        pb = plan.playbook_map.get(playbook)
        if pb is None:
            import difflib

            close = difflib.get_close_matches(playbook, list(plan.playbook_map), n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise RunError(f"no playbook `{playbook}` in the workspace{hint}")
        try:
            limits.check_value(event.payload if isinstance(event, Event) else event, what="the event")
        except limits.PayloadError as err:
            raise RunError(f"{err} [{err.code}]") from None
        ev = event if isinstance(event, Event) else Event.from_json(event, pb.trigger.event)
        if pb.trigger.event and ev.type != pb.trigger.event:
            raise RunError(f"playbook `{playbook}` is triggered by `{pb.trigger.event}` events, "
                           f"not `{ev.type}`")
        if pb.trigger.payload_schema:
            _, errors = validate_record(plan.schema_map[pb.trigger.payload_schema], ev.payload, extra="keep")
            if errors:
                raise RunError(f"the event payload does not match {pb.trigger.payload_schema}: " + "; ".join(errors))
        run_id = new_run_id()
        status = RunStatus.RUNNING if claim else RunStatus.ADMITTED
        at = log.now_iso()
        payload = log.dumps(ev.payload)
        ev = self._event_identity(self.store.conn, ev, payload)
        state = RunState(run_id, playbook, plan.content_hash, ev, status, at)

        def write(conn: sqlite3.Connection) -> None:
            self._snapshot(conn, plan, at)
            if self._event_identity(conn, ev, payload) is not ev:
                raise RunError(f"event `{ev.id}` was stored with other content while this run was admitted; "
                               "run it again")
            conn.execute("INSERT OR IGNORE INTO events(id, type, source, time, payload, received_at) "
                         "VALUES (?,?,?,?,?,?)", (ev.id, ev.type, ev.source, ev.time, payload, at))
            conn.execute("INSERT INTO runs(id, playbook, plan_hash, event_id, status, created_at, updated_at, owner, "
                         "rerun_of, rerun_from) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (run_id, playbook, plan.content_hash, ev.id, status.value, at, at,
                          self.owner if claim else None, rerun_of, rerun_from))
            body: dict[str, Any] = {"playbook": playbook, "plan": plan.content_hash, "event": ev.id,
                                    "event_type": ev.type, "actor": self.actor}
            if rerun_of:
                body.update({"rerun_of": rerun_of, "from": rerun_from})
            if claim:
                body["owner"] = self.owner
            log.append(conn, [(run_id, None, T.RUN_ADMITTED, body)], at)

        return state, Admission(write, Progress(run_id, None, "run", "admitted", f"{playbook} on {ev.type} {ev.id}"))

    @staticmethod
    def _event_identity(conn: sqlite3.Connection, ev: Event, payload: str) -> Event:
        """The event as it is stored: the same id with other content is another event (events are
        immutable), so it gets the content's digest appended to its id."""
        known = conn.execute("SELECT type, payload FROM events WHERE id = ?", (ev.id,)).fetchone()
        if known is None or (known[0], known[1]) == (ev.type, payload):
            return ev
        digest = hashlib.sha256(f"{ev.type}\x1f{payload}".encode()).hexdigest()[:8]
        return dataclasses.replace(ev, id=f"{ev.id}@{digest}")

    def _snapshot(self, conn: sqlite3.Connection, plan: Plan, at: str) -> None:
        """Keep the plan a run is pinned to, so the run can resume after the workspace changes."""
        if conn.execute("SELECT 1 FROM plans WHERE hash = ?", (plan.content_hash,)).fetchone():
            return
        try:
            blob: bytes | None = _dump_plan(plan)
        except Exception:  # something in the plan cannot be pickled: resume then needs the same plan
            blob = None
        conn.execute("INSERT INTO plans(hash, created_at, snapshot) VALUES (?,?,?)", (plan.content_hash, at, blob))

    def plan_for(self, plan_hash: str) -> Plan:
        cached = self._plans.get(plan_hash)
        if cached is not None:
            return cached
        row = self.store.conn.execute("SELECT snapshot FROM plans WHERE hash = ?", (plan_hash,)).fetchone()
        if row is None or row[0] is None:
            raise RunError(f"the run is pinned to plan {plan_hash[:12]}, but the workspace now compiles to "
                           f"{self.plan.content_hash[:12]} and no snapshot of the old plan is stored")
        plan = load_plan_snapshot(row[0], self.plan)
        masking.watch(masking.plan_secrets(plan))
        self._plans[plan_hash] = plan
        return plan

    # -- execution --------------------------------------------------------------------------------

    def start(self, playbook: str, event: Event | Mapping[str, Any]) -> RunOutcome:
        """Admit a run (durably, already claimed) and execute it until it ends or waits.

        The admission commits together with the run's first commit when the steps before it are
        pure (transforms and branches: no model, connector, retrieval or approval), which saves a
        commit per run; anything else makes the admission durable on its own first. Either way the
        run is durable before its id is returned, and a crash before that commit leaves no trace
        but an unanswered caller.
        """
        state, admission = self._prepare(playbook, event, claim=True)
        execution = Execution(self, self.plan, state, admission)  # nothing to replay: the state is the admission
        try:
            return execution.run()
        except _EXPECTED:
            raise
        except Exception as err:
            return self._fail_internal(state.run_id, err, execution.admission)

    def resume(self, run_id: str, *, force: bool = False, actor: str | None = None,
               note: str | None = None) -> RunOutcome:
        """Continue a run from its last durable point (after a crash, an approval, or a restart).

        With ``actor`` (an operator's resume, `aios runs resume RUN` or the dashboard), a
        ``run.resumed`` entry names who resumed it and why; automatic recovery passes none."""
        if actor is not None:
            self.log_resumed(run_id, actor=actor, note=note)
        with self.store.transaction() as conn:
            row = conn.execute("SELECT status, owner FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunError(f"no run `{run_id}` (see `aios runs list`)")
            status = RunStatus(row["status"])
            if status in TERMINAL:
                return self._outcome_of(run_id)
            if row["owner"] and row["owner"] != self.owner and owner_alive(row["owner"]) and not force:
                raise RunError(f"run `{run_id}` is being executed by another process ({row['owner']})")
            new_status = RunStatus.RUNNING if status is RunStatus.ADMITTED else status
            conn.execute("UPDATE runs SET owner = ?, status = ?, updated_at = ? WHERE id = ?",
                         (self.owner, new_status.value, log.now_iso(), run_id))
            log.append(conn, [(run_id, None, T.RUN_STARTED, {"pre": status.value, "owner": self.owner,
                                                             "previous_owner": row["owner"]})])
        self.emit(Progress(run_id, None, "run", "resumed", status.value))
        return self._execute(run_id)

    def log_resumed(self, run_id: str, *, actor: str, note: str | None = None) -> None:
        """Log an operator's resume of an unfinished run (``run.resumed``: pre, by, note), before the
        run is handed to whichever executor continues it."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunError(f"no run `{run_id}` (see `aios runs list`)")
            if RunStatus(row["status"]) in TERMINAL:
                return
            log.append(conn, [(run_id, None, T.RUN_RESUMED, {"pre": row["status"], "by": actor, "note": note})])

    def _execute(self, run_id: str) -> RunOutcome:
        try:
            state = RunState.replay(self.store.conn, run_id)
            plan = self.plan_for(state.plan_hash)
            return Execution(self, plan, state).run()
        except _EXPECTED:
            raise
        except Exception as err:
            return self._fail_internal(run_id, err)

    def _fail_internal(self, run_id: str, err: Exception, admission: Admission | None = None) -> RunOutcome:
        """An unexpected exception (a bug, or stored data the runtime cannot handle) fails this run
        alone: status failed, a ``run.failed`` entry and a critical alert, so nothing retries it
        forever and the runs after it still run. Completed effects are not compensated (the run's
        state may not even be readable); the alert says so."""
        message = _short(f"internal error: {type(err).__name__}: {err}")
        with self.store.transaction() as conn:
            if admission is not None and conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                admission.write(conn)  # the run failed before its admission was committed: record both
            row = conn.execute("SELECT status, playbook FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None or RunStatus(row["status"]) in TERMINAL:
                raise err
            at = log.now_iso()
            conn.execute("UPDATE runs SET status = 'failed', owner = NULL, updated_at = ?, finished_at = ?, error = ? "
                         "WHERE id = ?", (at, at, message, run_id))
            log.append(conn, [(run_id, None, T.RUN_FAILED, {"error": message, "status": "failed",
                                                            "pre": row["status"], "internal": True})], at)
            alerts.raise_alert(conn, run_id=run_id, step_id=None, severity=alerts.Severity.CRITICAL,
                               message=f"run {run_id} ({row['playbook']}) failed with an {message}; effects it "
                                       "completed were not compensated", at=at)
            for listener in list(hooks.run_failed):
                listener(conn, run_id, row["playbook"], message)
        self.emit(Progress(run_id, None, "run", "failed", message))
        return self._outcome_of(run_id)

    def _outcome_of(self, run_id: str) -> RunOutcome:
        row = self.store.conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunError(f"no run `{run_id}`")
        status = RunStatus(row["status"])
        approval = None
        if status is RunStatus.WAITING:
            pend = approvals.listing(self.store.conn, run_id=run_id)
            approval = pend[0] if pend else None
        failed = None
        if status in (RunStatus.FAILED, RunStatus.REJECTED):
            f = self.store.conn.execute("SELECT step_id FROM log WHERE run_id = ? AND type = ? ORDER BY seq DESC "
                                        "LIMIT 1", (run_id, T.STEP_FAILED)).fetchone()
            failed = f[0] if f else None
        return RunOutcome(run_id, status, row["error"], failed, approval, float(row["cost_usd"]))

    def outcome(self, run_id: str) -> RunOutcome:
        return self._outcome_of(run_id)

    def recover(self) -> list[RunOutcome]:
        """Resume every run whose executing process is gone, and expired approvals' runs.

        One run that cannot resume never stops the others: an unexpected exception fails that run
        (see `_fail_internal`); a run refused for a reason the operator can fix (its plan's policies
        are gone, another process took it) keeps its status and is reported with the error."""
        out = []
        # runs that were executing, and waiting runs with an approval past its timeout (found through
        # the `approvals_due` index): a waiting run nobody has to decide for costs nothing here
        due: dict[str, list[Approval]] = {}
        cursor: str | None = None
        while True:
            chunk, cursor = approvals.due_page(self.store.conn, log.now_iso(), after=cursor, limit=500)
            for a in chunk:
                due.setdefault(a.run_id, []).append(a)
            if cursor is None:
                break
        rows = self.store.conn.execute(
            "SELECT id, status, owner, created_at FROM runs WHERE status IN ('admitted', 'running', 'compensating') "
            "ORDER BY created_at").fetchall()
        if due:
            rows += [r for r in self.store.conn.execute(
                "SELECT id, status, owner, created_at FROM runs WHERE id IN (SELECT value FROM json_each(?)) "
                "AND status = 'waiting'", (json.dumps(list(due)),))]
            rows.sort(key=lambda r: r["created_at"])
        for row in rows:
            if row["owner"] and owner_alive(row["owner"]):
                continue
            if row["status"] == RunStatus.WAITING.value:
                for a in due[row["id"]]:
                    self.decide_expired(a)
            try:
                out.append(self.resume(row["id"]))
            except RunError as err:
                now = self.store.conn.execute("SELECT status FROM runs WHERE id = ?", (row["id"],)).fetchone()
                out.append(RunOutcome(row["id"], RunStatus(now["status"] if now else row["status"]), str(err)))
        return out

    # -- approvals and cancellation ---------------------------------------------------------------

    def decide(self, approval_id: str, *, approve: bool, note: str | None = None, actor: str | None = None,
               resume: bool = True, edited_input: Any = None) -> tuple[Approval, RunOutcome | None]:
        """Approve or reject; who, when and why go into the log. Then resume the run (optional).

        ``edited_input`` (approve only): the connector call waiting for this policy approval is made
        with this input instead, once it passes the contract and the policies again (`aios.runtime.edits`;
        `EditRefused` otherwise, and nothing is recorded); both versions are logged with the decision."""
        who = actor or self.actor
        with self.store.transaction() as conn:
            edit = None
            if edited_input is not None:
                if not approve:
                    raise RunError("only an approval can carry an edited input")
                current = approvals.get(conn, approval_id)
                if current is None:
                    raise RunError(f"no approval `{approval_id}` (see `aios approvals list`)")
                pinned = conn.execute("SELECT plan_hash FROM runs WHERE id = ?", (current.run_id,)).fetchone()
                plan = self.plan_for(str(pinned[0])) if pinned else self.plan
                edit = edits.check_edit(conn, plan, current, edited_input, actor=who, policy_commit=self.policy_commit)
            decided = approvals.decide(conn, approval_id, approve=approve, actor=who, note=note, at=log.now_iso())
            self._log_decision(conn, decided, edit.log_body() if edit is not None else None)
        self.emit(Progress(decided.run_id, decided.step_id, "approval", decided.status.value,
                           f"by {who}" + (f": {note}" if note else "")))
        if not resume:
            return decided, None
        return decided, self.resume(decided.run_id)

    def _log_decision(self, conn: sqlite3.Connection, a: Approval, edit: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"approval": a.id, "site": a.site, "kind": a.kind.value, "decision": a.status.value,
                                "by": a.decided_by, "at": a.decided_at, "note": a.note}
        if edit is not None:
            body["edit"] = edit
        log.append(conn, [(a.run_id, a.step_id, T.APPROVAL_DECIDED, body)])
        conn.execute("UPDATE runs SET status = 'running', updated_at = ? WHERE id = ? AND status = 'waiting'",
                     (a.decided_at, a.run_id))

    def decide_expired(self, approval: Approval) -> Approval:
        """An approval past its timeout is decided by its ``on_timeout`` rule: logged as timed out, with
        an alert (`approval_timeouts.expire`)."""
        with self.store.transaction() as conn:
            return approval_timeouts.expire(conn, approval)

    def cancel(self, run_id: str, *, note: str | None = None, actor: str | None = None) -> RunOutcome:
        who = actor or self.actor
        with self.store.transaction() as conn:
            row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunError(f"no run `{run_id}` (see `aios runs list`)")
            status = RunStatus(row["status"])
            if status in TERMINAL:
                raise RunError(f"run `{run_id}` is already {status.value}")
            at = log.now_iso()
            conn.execute("UPDATE runs SET status = 'cancelled', owner = NULL, updated_at = ?, finished_at = ?, "
                         "error = ? WHERE id = ?", (at, at, f"cancelled by {who}" + (f": {note}" if note else ""),
                                                    run_id))
            conn.execute("UPDATE approvals SET status = 'rejected', decided_by = ?, decided_at = ?, note = ? "
                         "WHERE run_id = ? AND status = 'pending'", (who, at, "run cancelled", run_id))
            log.append(conn, [(run_id, None, T.RUN_CANCELLED, {"pre": status.value, "by": who, "note": note})], at)
        self.emit(Progress(run_id, None, "run", "cancelled", f"by {who}"))
        return self._outcome_of(run_id)

    # -- rerun ------------------------------------------------------------------------------------

    def rerun(self, run_id: str, from_step: str, *, actor: str | None = None, note: str | None = None) -> RunOutcome:
        """A new run on the current plan with the same event, reusing every step that neither is
        ``from_step`` nor depends on it (and is unchanged since the original run)."""
        return self._execute(self.rerun_admit(run_id, from_step, actor=actor, note=note))

    def rerun_admit(self, run_id: str, from_step: str, *, actor: str | None = None, note: str | None = None) -> str:
        """`rerun` without executing: the new run is admitted, its reused steps and who asked for it
        (``run.rerun``: of, from, by, note) logged; returns its id."""
        old = RunState.replay(self.store.conn, run_id)
        pb = self.plan.playbook_map.get(old.playbook)
        if pb is None:
            raise RunError(f"playbook `{old.playbook}` is no longer in the workspace")
        if from_step not in {s.id for s in pb.steps}:
            import difflib

            close = difflib.get_close_matches(from_step, [s.id for s in pb.steps], n=1)
            raise RunError(f"no step `{from_step}` in `{pb.name}`" + (f"; did you mean `{close[0]}`?" if close else ""))
        downstream = {from_step}
        for s in pb.steps:
            if any(n in downstream for n in s.needs):
                downstream.add(s.id)
        try:
            old_plan: Plan | None = self.plan_for(old.plan_hash)
        except RunError:
            old_plan = None
        reuse: list[tuple[Step, dict[str, Any]]] = []
        for s in pb.steps:
            ss = old.steps.get(s.id)
            if s.id in downstream or ss is None or ss.status is not StepStatus.COMPLETED:
                continue
            if s.kind is StepKind.GATE:
                continue  # a human decision is asked again
            if old_plan is None or not _same_step(old_plan, old.playbook, s):
                continue
            body: dict[str, Any] = {"from": run_id, "out": ss.output, "post": "completed"}
            if ss.input is not None:
                body["in"] = ss.input
            refs = [{"schema": r.schema, "id": r.id, "v": r.version} for r in self.records.written_by_run(run_id)
                    if r.step_id == s.id]
            if refs:
                body["rec"] = refs
            reuse.append((s, body))
        new_id = self.admit(old.playbook, old.event, claim=True, rerun_of=run_id, rerun_from=from_step)
        with self.store.transaction() as conn:
            log.append(conn, [(new_id, None, T.RUN_RERUN, {"of": run_id, "from": from_step, "by": actor or self.actor,
                                                            "note": note}),
                              *((new_id, s.id, T.STEP_REUSED, body) for s, body in reuse)])
        return new_id


_EXPECTED = (AiosError, sqlite3.Error, OSError)
"""Errors with a meaning of their own (a run refused, the store unavailable, a full disk): they
propagate and the run stays resumable. Anything else in a run is a failure of that run."""


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _PlanPickler(pickle.Pickler):
    """Compiled policies hold generated code; they are stored by content hash, not by value."""

    def persistent_id(self, obj: Any) -> Any:
        if type(obj).__name__ == "CompiledPolicySet" and hasattr(obj, "content_hash"):
            return ("policies", obj.content_hash)
        return None


class _PlanUnpickler(pickle.Unpickler):
    def __init__(self, data: io.BytesIO, current: Plan) -> None:
        super().__init__(data)
        self.current = current

    def persistent_load(self, pid: Any) -> Any:
        kind, digest = pid
        if kind == "policies" and self.current.policies.content_hash == digest:
            return self.current.policies.compiled
        raise RunError(f"the run is pinned to a plan whose policies ({str(digest)[:12]}) the workspace no longer "
                       "has; restore them to resume it, or cancel it (`aios runs cancel`) and start it again "
                       "(`aios runs rerun`)")


def _dump_plan(plan: Plan) -> bytes:
    buf = io.BytesIO()
    _PlanPickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(plan)
    return buf.getvalue()


def _load_plan(blob: bytes, current: Plan) -> Any:
    return _PlanUnpickler(io.BytesIO(blob), current).load()


def load_plan_snapshot(blob: bytes, current: Plan) -> Plan:
    """A plan snapshot from the store's ``plans`` table, read as `Runtime.plan_for` reads it."""
    plan = _load_plan(blob, current)
    if not isinstance(plan, Plan):
        raise RunError("the stored snapshot is not a plan")
    return plan


def _same_step(old_plan: Plan, playbook: str, step: Step) -> bool:
    old_pb = old_plan.playbook_map.get(playbook)
    if old_pb is None:
        return False
    try:
        before = old_pb.step(step.id)
    except KeyError:
        return False
    return json.dumps(canonical(before), sort_keys=True) == json.dumps(canonical(step), sort_keys=True)
