"""Executing one run: the step loop, durable commits, waiting, failure and compensation.

Durability protocol (see docs/runtime.md):

- a step without side effects computes, then commits one transaction: its log entry (inputs,
  policy decision, output, cost, timings, pre- and post-state) and its record writes;
- a side-effecting connector call first commits its intent (input, idempotency key, decision),
  then calls the connector, then commits the result; after a crash an intent without a result is
  called again with the same key and the same logged input;
- skipped steps are derived from logged branch outputs, so their entries ride along with the next
  commit, and the run's completion rides along with the last step's commit.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aios.durations import iso_plus_seconds
from aios.errors import PolicyError, RunError
from aios.models.adapter import ModelError, ModelRequest, Usage
from aios.plan.plan import Plan, RetryPolicy, SideEffect, Step, StepKind, Template, TValue, Variant
from aios.plan.types import RecordType
from aios.runtime import alerts, approvals, compensation, effect_keys, hooks, log, map_step
from aios.runtime.approvals import Approval, ApprovalKind, ApprovalStatus
from aios.runtime.breaker import CircuitOpen
from aios.runtime.commits import Commit, Entry, backoff_delay, compact
from aios.runtime.connectors import ConnectorCall, ConnectorFailed, Provenance, is_transient
from aios.runtime.outcome import Progress, RunOutcome
from aios.runtime.policy_gate import Effect, PolicyGate, RunFacts, Verdict, denial_text
from aios.runtime.records import RecordInvalid
from aios.runtime.runstate import RunState, RunStatus, StepStatus, T
from aios.runtime.step_signals import StepFailure as _StepFailure
from aios.runtime.step_signals import Wait as _Wait
from aios.runtime.templates import TemplateFailed
from aios.runtime.validation import validate_record

if TYPE_CHECKING:
    from aios.runtime.interpreter import Runtime

__all__ = ["Execution", "Admission"]



class _Cancelled(Exception):
    pass


class _Lost(Exception):
    """Another process took the run over (``runs resume --force``): stop without writing."""


class _JsonDict(dict[str, Any]):
    """A mapping that prints as JSON in a prompt (``{{ input }}``)."""

    def __str__(self) -> str:
        return json.dumps(self, indent=2, ensure_ascii=False, default=str)


class _JsonList(list[Any]):
    def __str__(self) -> str:
        return json.dumps(self, ensure_ascii=False, default=str)


def _json_view(value: Any) -> Any:
    if isinstance(value, dict):
        return _JsonDict({k: _json_view(v) for k, v in value.items()})
    if isinstance(value, list):
        return _JsonList(_json_view(v) for v in value)
    return value


@dataclass(frozen=True, slots=True)
class Admission:
    """A new run's admission (event, run row, ``run.admitted`` entry), written by the run's first commit."""

    write: Callable[[sqlite3.Connection], None]
    progress: Progress


_PURE = frozenset({StepKind.TRANSFORM, StepKind.BRANCH})  # steps that may run before the admission is durable


class Execution:
    def __init__(self, rt: Runtime, plan: Plan, state: RunState, admission: Admission | None = None) -> None:
        self.rt = rt
        self.plan = plan
        self.state = state
        self.admission = admission
        self.pb = plan.playbook_map[state.playbook]
        self.renderer = rt.renderer
        self.gate = PolicyGate(plan, rt.actor, rt.policy_commit)
        self.pending: list[Entry] = []
        self.cost_delta = 0.0
        self.tokens_delta = 0
        self.steps_ctx: dict[str, dict[str, Any]] = {}
        self.write_decision: dict[str, Any] | None = None
        self.dedup: dict[str, Any] | None = None  # the last connector call reused this earlier call's output
        self.untaken: set[str] = set()
        for s in self.pb.steps:
            st = state.steps.get(s.id)
            if st is None:
                continue
            if st.status is StepStatus.COMPLETED:
                self.steps_ctx[s.id] = {"output": st.output, "status": "completed"}
                if s.kind is StepKind.MAP:
                    self.steps_ctx[s.id]["results"] = map_step.results_view(st.output, st.item_statuses)
                if s.kind is StepKind.BRANCH and s.branch is not None and isinstance(st.output, dict):
                    self._mark_untaken(s, bool(st.output.get("value")))
            elif st.status is StepStatus.SKIPPED:
                self.steps_ctx[s.id] = {"output": None, "status": "skipped"}
        self.ctx: dict[str, Any] = {
            "event": state.event.as_context(), "steps": self.steps_ctx, "records": state.records,
            "run": {"id": state.run_id, "playbook": state.playbook, "started_at": state.started_at,
                    "plan_hash": state.plan_hash},
        }
        budget = self.pb.budget_usd if self.pb.budget_usd is not None else plan.settings.max_cost_usd_per_run
        self.budget = budget

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> RunOutcome:
        st = self.state
        steps = self.pb.steps
        try:
            if st.status is RunStatus.COMPENSATING:
                return compensation.compensate_and_close(self)
            for i, step in enumerate(steps):
                ss = st.steps.get(step.id)
                if ss is not None and ss.status in (StepStatus.COMPLETED, StepStatus.SKIPPED):
                    continue
                why = self._skip_reason(step, set())
                if why is not None:
                    self._skip(step, why)
                    continue
                if self.admission is not None and step.kind not in _PURE:
                    self.commit(Commit([]))  # durable before the first call that costs or touches the world
                try:
                    self._run_step(i, step)
                except _StepFailure as failure:
                    return self._fail(step, failure)
                except (TemplateFailed, RecordInvalid, RunError, PolicyError) as err:
                    return self._fail(step, _StepFailure(str(err)))  # e.g. a required secret is not set
            if st.status is not RunStatus.COMPLETED:
                self.commit(Commit([], status=RunStatus.COMPLETED, finish=True))
        except _Wait as wait:
            return self._waiting(wait)
        except _Cancelled:
            self.rt.emit(Progress(st.run_id, None, "run", "cancelled"))
            return RunOutcome(st.run_id, RunStatus.CANCELLED, cost_usd=st.cost_usd)
        except _Lost as lost:
            raise RunError(str(lost)) from None
        self.rt.emit(Progress(st.run_id, None, "run", "completed", f"${st.cost_usd:.4f}"))
        return RunOutcome(st.run_id, RunStatus.COMPLETED, cost_usd=st.cost_usd)

    def _mark_untaken(self, step: Step, value: bool) -> None:
        assert step.branch is not None
        self.untaken.update(step.branch.otherwise if value else step.branch.then)

    def _skip_reason(self, step: Step, simulated: set[str]) -> str | None:
        if step.id in self.untaken:
            return "branch arm not taken"
        if step.needs:
            for n in step.needs:
                ns = self.state.steps.get(n)
                if n not in simulated and (ns is None or ns.status is not StepStatus.SKIPPED):
                    return None
            return "all needs skipped"
        return None

    def _skip(self, step: Step, why: str) -> None:
        self.pending.append((step.id, T.STEP_SKIPPED, {"why": why}))
        self.state.step(step.id).status = StepStatus.SKIPPED
        self.steps_ctx[step.id] = {"output": None, "status": "skipped"}
        self.rt.emit(Progress(self.state.run_id, step.id, step.kind.value, "skipped", why))

    def _rest_skipped(self, i: int) -> list[tuple[Step, str]] | None:
        """The steps after ``i`` if all of them will be skipped (so the run ends with step ``i``)."""
        simulated: set[str] = set()
        out: list[tuple[Step, str]] = []
        for step in self.pb.steps[i + 1:]:
            ss = self.state.steps.get(step.id)
            if ss is not None and ss.status in (StepStatus.COMPLETED, StepStatus.SKIPPED):
                continue
            why = self._skip_reason(step, simulated)
            if why is None:
                return None
            simulated.add(step.id)
            out.append((step, why))
        return out

    # -- commits ---------------------------------------------------------------------------------

    def commit(self, c: Commit) -> None:
        st = self.state
        rt = self.rt
        admission = self.admission
        cur = rt.store.cursor
        with rt.store.transaction() as conn:
            if admission is not None:  # the run is new: no other process can have seen it yet
                admission.write(conn)
                cancelled = False
            else:
                status, owner = cur.execute("SELECT status, owner FROM runs WHERE id = ?", (st.run_id,)).fetchone()
                cancelled = status == RunStatus.CANCELLED.value
                if c.check_cancel and cancelled:
                    raise _Cancelled()
                if cancelled:  # the result of an effect is still recorded, but the run stays cancelled
                    c.finish, c.status = False, None
                if c.check_cancel and owner != rt.owner:
                    raise _Lost(f"run {st.run_id} was taken over by {owner or 'nobody'}; this process stops")
            at = log.now_iso()
            for rtype, rid, data, step_id, body in c.records:
                rv = rt.records.write(rtype, rid, data, run_id=st.run_id, step_id=step_id,
                                      plan_hash=st.plan_hash, at=at)
                body.setdefault("rec", []).append({"schema": rv.schema, "id": rv.id, "v": rv.version})
                st.records[rv.schema] = rv.as_context()
            if c.work is not None:
                c.work(conn, at)
            entries = self.pending + c.entries
            if c.finish:
                entries.append((None, T.RUN_COMPLETED, {"cost_usd": round(st.cost_usd + self.cost_delta, 6),
                                                       "tokens": st.tokens + self.tokens_delta}))
            log.append(cur, [(st.run_id, sid, typ, body) for sid, typ, body in entries], at)
            sets: list[str] = []
            args: list[Any] = []
            if self.cost_delta or self.tokens_delta:
                sets += ["cost_usd = cost_usd + ?", "tokens = tokens + ?"]
                args += [self.cost_delta, self.tokens_delta]
            if c.status is not None:
                sets += ["status = ?", "updated_at = ?"]
                args += [c.status.value, at]
                if c.status is not RunStatus.RUNNING and c.status is not RunStatus.COMPENSATING:
                    sets.append("owner = NULL")
                if c.status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.REJECTED):
                    sets.append("finished_at = ?")
                    args.append(at)
            if c.error is not None:
                sets.append("error = ?")
                args.append(c.error)
            if sets:  # a cancellation made by another process is never overwritten
                conn.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ? AND status != 'cancelled'",
                             (*args, st.run_id))
            if c.status is RunStatus.FAILED and not cancelled:
                for listener in list(hooks.run_failed):
                    listener(conn, st.run_id, st.playbook, c.error or st.error)
        self.pending = []
        if admission is not None:
            self.admission = None
            rt.emit(admission.progress)
        st.cost_usd += self.cost_delta
        st.tokens += self.tokens_delta
        self.cost_delta = 0.0
        self.tokens_delta = 0
        if c.status is not None:
            st.status = c.status
        if cancelled:
            raise _Cancelled()

    def _complete(self, i: int, step: Step, *, inp: Any, out: Any, t0: float, pre: str = "pending",
                  dec: dict[str, Any] | None = None, cost: dict[str, Any] | None = None, effect: bool = False,
                  key: str | None = None, extra: dict[str, Any] | None = None,
                  work: Callable[[sqlite3.Connection, str], None] | None = None) -> None:
        st = self.state
        ss = st.step(step.id)
        if effect:  # the effect happened: if writing its record fails, compensation must know of it
            ss.output = out
            st.effects.append((step.id, None))
        self.write_decision = None
        records = self._record_writes(step, out)
        body = compact({"pre": pre, "in": inp, "dec": dec, "out": out, "key": key, "cost": cost,
                         "effect": True if effect else None, "ms": round((time.perf_counter() - t0) * 1000, 3),
                         "write": self.write_decision, "post": "completed", **(extra or {})})
        ss.status, ss.output = StepStatus.COMPLETED, out
        if inp is not None:
            ss.input = inp
        self.steps_ctx[step.id] = {"output": out, "status": "completed"}
        if step.kind is StepKind.BRANCH and isinstance(out, dict):
            self._mark_untaken(step, bool(out.get("value")))
        commit = Commit([(step.id, T.STEP_COMPLETED, body)], work=work,
                         records=[(rt_, rid, data, step.id, body) for rt_, rid, data in records],
                         check_cancel=not effect)
        rest = self._rest_skipped(i)
        if rest is not None:
            for later, why in rest:
                commit.entries.append((later.id, T.STEP_SKIPPED, {"why": why}))
                st.step(later.id).status = StepStatus.SKIPPED
                self.steps_ctx[later.id] = {"output": None, "status": "skipped"}
            commit.status = RunStatus.COMPLETED
            commit.finish = True
        self.commit(commit)
        if self.rt.progress is not None:
            self.rt.emit(Progress(st.run_id, step.id, step.kind.value, "completed", "", body["ms"]))
        if rest:
            for later, why in rest:
                self.rt.emit(Progress(st.run_id, later.id, later.kind.value, "skipped", why))

    def _record_writes(self, step: Step, out: Any) -> list[tuple[RecordType, str, dict[str, Any]]]:
        w = step.writes
        if w is None:
            return []
        rtype = self.plan.schema_map[w.schema]
        scope = dict(self.ctx)
        scope["steps"] = {**self.steps_ctx, step.id: {"output": out, "status": "completed"}}
        scope["output"] = out
        data = self.renderer.value(w.fields, scope) if w.fields is not None else out
        clean, errors = validate_record(rtype, data)
        if errors:
            raise _StepFailure(f"{w.schema} record is invalid: " + "; ".join(errors))
        if w.id is not None:
            rid = str(self.renderer.template(w.id, scope))
        elif isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"]:
            rid = data["id"]
        else:
            seed = f"{self.state.event.id}\x1f{step.id}\x1f{w.schema}"
            rid = f"{w.schema.lower()}-{hashlib.sha256(seed.encode()).hexdigest()[:10]}"
        verdict = self.gate.record(w.schema, rid, clean, step.id, self._facts())
        # the record write's own decision goes into the step's log entry, like every other decision
        try:
            dec = self._policy(step, f"{step.id}/record", verdict)
        except _StepFailure as failure:
            if failure.detail is not None:  # a deny: recorded where an allowed write's decision is
                failure.detail = {"write": {"schema": w.schema, "id": rid, **failure.detail}}
            raise
        self.write_decision = {"schema": w.schema, "id": rid, "dec": dec}
        return [(rtype, rid, clean)]

    # -- policy ----------------------------------------------------------------------------------

    def _facts(self) -> RunFacts:
        done = sum(1 for s in self.state.steps.values() if s.status is StepStatus.COMPLETED)
        return RunFacts(self.state.run_id, self.state.playbook, self.state.cost_usd + self.cost_delta, done,
                        self.state.started_at)

    def _policy(self, step: Step, site: str, verdict: Verdict) -> dict[str, Any]:
        if verdict.effect is Effect.ALLOW:
            return dict(verdict.record)
        if verdict.effect is Effect.DENY:  # recorded in the step's failure as an allow is in its result
            detail: dict[str, Any] = {"dec": dict(verdict.record)}
            if site != step.id:
                detail["site"] = site
            message = denial_text(verdict.record) if verdict.record.get("errors") else \
                f"denied by policy rule `{verdict.rule}`: {verdict.reason}"
            raise _StepFailure(message, detail=detail)
        approval = self._approval_at(site)
        if approval is not None and approval.status is ApprovalStatus.APPROVED:
            return {**verdict.record, "approval": approval.id, "approved_by": approval.decided_by}
        if approval is not None and approval.status is ApprovalStatus.EXPIRED:
            raise _StepFailure(f"approval {approval.id} {approval.note} (rule `{verdict.rule}`)", rejected=True)
        if approval is not None and approval.status is ApprovalStatus.REJECTED:
            raise _StepFailure(f"rejected by {approval.decided_by}: {approval.note or 'no reason given'} "
                               f"(rule `{verdict.rule}`)", rejected=True)
        if approval is not None:
            raise _Wait(approval)
        raise _Wait(request={"step": step.id, "site": site, "kind": ApprovalKind.POLICY, "message": verdict.reason,
                             "rule": verdict.rule, "approvers": verdict.approvers, "timeout_s": verdict.timeout_s,
                             "on_timeout": "reject", "dec": dict(verdict.record)})

    def _approval_at(self, site: str) -> Approval | None:
        approval = approvals.for_site(self.rt.store.conn, self.state.run_id, site)
        if approval is not None and approval.status is ApprovalStatus.PENDING and approval.expires_at \
                and approval.expires_at <= log.now_iso():
            approval = self.rt.decide_expired(approval)
        return approval

    # -- steps -----------------------------------------------------------------------------------

    def _run_step(self, i: int, step: Step) -> None:
        t0 = time.perf_counter()
        k = step.kind
        if k is StepKind.TRANSFORM:
            source = step.transform if step.transform is not None else step.input
            out = self.renderer.value(source, self.ctx)
            if step.output_schema:
                out = self._validated(step.output_schema, out, "transform output")
            self._complete(i, step, inp=None, out=out, t0=t0)
        elif k is StepKind.BRANCH:
            assert step.branch is not None
            value = bool(self.renderer.template(_expr(step.branch.when), self.ctx))
            self._complete(i, step, inp=None, out={"taken": "then" if value else "else", "value": value}, t0=t0)
        elif k is StepKind.RETRIEVE:
            assert step.retrieve is not None
            query = str(self.renderer.template(step.retrieve.query, self.ctx))
            filters = self.renderer.value(step.retrieve.filter, self.ctx) or {}
            hits = self.rt.retrieve(query, step.retrieve.top_k, filters, step.retrieve.half_life_days)
            self._complete(i, step, inp={"query": query, "filter": filters, "top_k": step.retrieve.top_k},
                           out={"hits": hits, "query": query}, t0=t0)
        elif k is StepKind.GATE:
            self._gate(i, step, t0)
        elif k is StepKind.AGENT:
            assert step.agent is not None
            inp, out, dec, cost, variant = self._agent_call(step, step.agent, step.input, self.ctx, step.id,
                                                            step.output_schema)
            extra = {"variant": variant.name} if variant is not None else None
            self._complete(i, step, inp=inp, out=out, t0=t0, dec=dec, cost=cost, extra=extra)
        elif k is StepKind.CONNECTOR:
            assert step.connector is not None
            ss = self.state.step(step.id)
            pre = "intent" if ss.status is StepStatus.INTENT else "pending"
            inp, out, dec, key, effect = self._connector_call(step, step.connector, step.input,
                                                              step.idempotency_key, self.ctx, None)
            if self.dedup is not None:  # an earlier call's effect: not this run's, so not compensated by it
                self._complete(i, step, inp=inp, out=out, t0=t0, pre=pre, dec=dec, key=key,
                               extra={"dedup": self.dedup})
            else:
                done = self._effect_done(step.connector, key, step, None, out) if effect else None
                self._complete(i, step, inp=inp, out=out, t0=t0, pre=pre, dec=dec, effect=effect, key=key, work=done)
        elif k is StepKind.MAP:
            map_step.run_map(self, i, step, t0)
        else:  # pragma: no cover - the enum is closed
            raise _StepFailure(f"unknown step kind {k}")

    def _validated(self, schema_name: str, value: Any, what: str) -> dict[str, Any]:
        clean, errors = validate_record(self.plan.schema_map[schema_name], value)
        if errors:
            raise _StepFailure(f"{what} does not match {schema_name}: " + "; ".join(errors))
        return clean

    def _gate(self, i: int, step: Step, t0: float) -> None:
        assert step.gate is not None
        approval = self._approval_at(step.id)
        if approval is None:
            message = str(self.renderer.template(step.gate.message, self.ctx))
            raise _Wait(request={"step": step.id, "site": step.id, "kind": ApprovalKind.GATE, "message": message,
                                 "rule": None, "approvers": step.gate.approvers, "timeout_s": step.gate.timeout_s,
                                 "on_timeout": step.gate.on_timeout, "dec": None})
        if approval.status is ApprovalStatus.PENDING:
            raise _Wait(approval)
        if approval.status is ApprovalStatus.EXPIRED:
            raise _StepFailure(f"approval {approval.id} at gate `{step.id}` {approval.note}", rejected=True)
        if approval.status is ApprovalStatus.REJECTED:
            raise _StepFailure(f"rejected at gate `{step.id}` by {approval.decided_by}: "
                               f"{approval.note or 'no reason given'}", rejected=True)
        out = {"approved": True, "by": approval.decided_by, "note": approval.note or "", "at": approval.decided_at}
        self._complete(i, step, inp={"approval": approval.id, "message": approval.message}, out=out, t0=t0,
                       pre="approved")

    def _variant(self, flag_name: str | None) -> Variant | None:
        if not flag_name or flag_name not in self.plan.flag_map:
            return None
        flag = self.plan.flag_map[flag_name]
        digest = hashlib.sha256(f"{self.state.run_id}\x1f{flag.name}".encode()).digest()
        point = int.from_bytes(digest[:4], "big") % 10000 / 100.0
        acc = 0.0
        for v in flag.variants:
            acc += v.share
            if point < acc:
                return v
        return flag.variants[-1] if flag.variants else None

    def _agent_call(self, step: Step, agent_name: str, input_tv: TValue | None, ctx: dict[str, Any], site: str,
                    schema_name: str | None) -> tuple[Any, Any, dict[str, Any], dict[str, Any], Variant | None]:
        plan = self.plan
        agent = plan.agent_map[agent_name]
        variant = self._variant(agent.flag)
        route = plan.route_map[(variant.model_route if variant and variant.model_route else None)
                               or agent.model_route]
        prompt_file = (variant.prompt_file if variant and variant.prompt_file else None) or agent.prompt_file
        schema_name = schema_name or agent.output_schema
        schema = plan.schema_map.get(schema_name) if schema_name else None
        inp = self.renderer.value(input_tv, ctx) if input_tv is not None else self.state.event.payload
        dec = self._policy(step, site, self.gate.model(route.name, route.model, agent.name, step.id, self._facts()))
        prompt = self.renderer.text(plan.prompt_map.get(prompt_file, "{{ input }}"), {
            "input": _json_view(inp), "agent": {"name": agent.name, "role": agent.role},
            "output_schema": json.dumps(schema.to_json_schema(), indent=2) if schema else "",
            "event": ctx["event"], "run": ctx["run"]})
        api_key = self.rt.secret_value(plan, route.api_key_secret) if route.api_key_secret else None
        ss = self.state.step(step.id)
        policy = step.retry
        attempt = ss.failed_attempts
        while True:
            attempt += 1
            left = None if self.budget is None else self.budget - (self.state.cost_usd + self.cost_delta)
            if left is not None and left <= 0:
                raise _StepFailure(f"run budget of ${self.budget:.4f} is spent", attempts=attempt)
            try:
                result = self.rt.models.complete(ModelRequest(route, agent.role, prompt, inp, schema, api_key, left))
            except ModelError as err:
                self._charge(err.usage)
                self._attempt_failed(step, policy, attempt, str(err), err.transient, ss, err.usage)
                continue
            self._charge(result.usage)
            out = result.output
            if schema is not None:
                out = self._validated(schema.name, out, f"model output of `{agent.name}`")
            cost = compact({"route": route.name, "model": result.model, "pt": result.usage.prompt_tokens,
                             "ct": result.usage.completion_tokens, "usd": round(result.usage.cost_usd, 8),
                             "attempts": result.attempts if result.attempts > 1 else None,
                             "problems": list(result.problems) or None})
            return inp, out, dec, cost, variant

    def _charge(self, usage: Usage) -> None:
        self.cost_delta += usage.cost_usd
        self.tokens_delta += usage.prompt_tokens + usage.completion_tokens

    def _attempt_failed(self, step: Step, policy: RetryPolicy, attempt: int, error: str, transient: bool,
                        ss: Any, usage: Usage | None = None, item: int | None = None) -> None:
        """Log a failed attempt; sleep before the next one, or raise when none is left."""
        if not transient or attempt > policy.max_retries:
            raise _StepFailure(error, transient=transient, attempts=attempt)
        delay = backoff_delay(policy, attempt)
        body = compact({"attempt": attempt, "i": item, "error": error, "retry_in_s": round(delay, 3),
                         "cost": {"usd": round(usage.cost_usd, 8)} if usage and usage.cost_usd else None})
        self.commit(Commit([(step.id, T.STEP_ATTEMPT_FAILED, body)]))
        if item is None:
            ss.failed_attempts = attempt
        self.rt.emit(Progress(self.state.run_id, step.id, step.kind.value, "retrying",
                              f"attempt {attempt} failed: {error}; next in {delay:.2f}s"))
        self.rt.sleep(delay)

    def _connector_call(self, step: Step, name: str, input_tv: TValue | None, key_tpl: Template | None,
                        ctx: dict[str, Any], item: int | None) -> tuple[Any, Any, Any, str, bool]:
        """Call a connector durably; returns (input, output, decision, key, had_effect)."""
        contract = self.plan.connector_map.get(name)
        if contract is None:
            raise _StepFailure(f"no connector `{name}` in the plan")
        ss = self.state.step(step.id)
        effect = contract.side_effect is not SideEffect.NONE
        logged = ss.item_intents.get(item) if item is not None else (
            (ss.input, ss.key) if ss.status is StepStatus.INTENT else None)
        prior: effect_keys.Prior | None = None
        if logged is not None:  # resume: the same input and the same key as the intent
            inp, key = logged[0], str(logged[1])
            dec: Any = ss.decision
            if effect:
                prior = effect_keys.prior_for(self.rt.store.conn, connector=name, key=key, inp=inp,
                                              run_id=self.state.run_id, step_id=step.id, item=item)
        else:
            inp = self.renderer.value(input_tv, ctx) if input_tv is not None else {}
            if not isinstance(inp, dict):
                raise _StepFailure(f"the input of `{name}` must be an object, got {type(inp).__name__}")
            inp, errors = validate_record(contract.input, inp, extra="keep")
            if errors:
                raise _StepFailure(f"input of `{name}` does not match its contract: " + "; ".join(errors))
            suffix = "" if item is None else f"#{item}"
            key = str(self.renderer.template(key_tpl, ctx)) + suffix if key_tpl is not None \
                else f"{self.state.run_id}:{step.id}{suffix}"
            site = step.id if item is None else f"{step.id}#{item}"
            edit = ss.edits.get(site)
            if edit is not None:  # edit then approve: the approved edit replaces the rendered input
                inp, errors = validate_record(contract.input, edit.get("input"), extra="keep")
                if errors:
                    raise _StepFailure(f"edited input of `{name}` does not match its contract: " + "; ".join(errors))
            dec = self._policy(step, site, self.gate.connector(name, inp, contract.side_effect.value, step.id,
                                                               self._facts()))
            if edit is not None:
                dec = {**dec, "edited": {"approval": edit.get("approval"), "by": edit.get("by"),
                                         "original": edit.get("original")}}
            if effect:
                found: list[effect_keys.Prior | None] = []

                def claim(conn: sqlite3.Connection, at: str) -> None:  # in the intent's transaction
                    found.append(effect_keys.claim(conn, connector=name, key=key, inp=inp, run_id=self.state.run_id,
                                                   step_id=step.id, item=item, at=at))

                try:
                    if item is None:
                        body = compact({"pre": "pending", "in": inp, "key": key, "dec": dec, "post": "intent"})
                        self.commit(Commit([(step.id, T.STEP_INTENT, body)], work=claim))
                        ss.status, ss.input, ss.key, ss.decision = StepStatus.INTENT, inp, key, dec
                    else:
                        self.commit(Commit([(step.id, T.ITEM_INTENT, {"i": item, "in": inp, "key": key, "dec": dec})],
                                           work=claim))
                        ss.item_intents[item] = (inp, key)
                except effect_keys.IdempotencyConflict as err:
                    detail: dict[str, Any] = {"conflict": compact(err.detail), "in": inp}
                    raise _StepFailure(str(err), detail=detail) from None
                prior = found[0] if found else None
                self.rt.emit(Progress(self.state.run_id, step.id, step.kind.value, "intent", key))
        if prior is not None:  # the same input was applied with this key: its output stands, nothing is sent
            self.dedup = prior.to_json()
            out: Any = prior.output
        else:
            self.dedup = None
            out = self._invoke(step, name, inp, key, item)
        out, _ = validate_record(contract.output, out, extra="keep")
        return inp, out, dec, key, effect

    def _effect_done(self, name: str, key: str, step: Step, item: int | None, out: Any,
                     ) -> Callable[[sqlite3.Connection, str], None]:
        """The work that marks a claimed key completed, in the transaction that logs the result."""

        def work(conn: sqlite3.Connection, at: str) -> None:
            effect_keys.complete(conn, connector=name, key=key, run_id=self.state.run_id, step_id=step.id,
                                 item=item, output=out, at=at)

        return work

    def _invoke(self, step: Step, name: str, inp: dict[str, Any], key: str, item: int | None) -> dict[str, Any]:
        rt = self.rt
        fn = None
        try:
            fn = rt.connectors.resolve(self.plan, name)
        except ConnectorFailed as err:
            raise _StepFailure(str(err)) from err
        policy = step.retry  # the step's `on_failure.retry`, else the contract's (resolved by the compiler)
        ss = self.state.step(step.id)
        attempt = ss.failed_attempts if item is None else 0
        while True:
            attempt += 1
            call = ConnectorCall(name, inp, key, Provenance(self.state.run_id, step.id, self.state.plan_hash,
                                                            self.state.playbook, attempt, item),
                                 rt.connector_settings(self.plan, name), rt.root, rt.storage_dir,
                                 lambda secret: rt.secret_value(self.plan, secret), step.timeout_s)
            try:
                rt.breakers.check(name)
                rt.store.probe_phase(2)
                result = fn(call)
                rt.store.probe_phase(0)
            except CircuitOpen as err:
                self._attempt_failed(step, policy, attempt, str(err), True, ss, item=item)
                continue
            except ConnectorFailed as err:
                rt.store.probe_phase(0)
                self._breaker_failure(name, step)
                self._attempt_failed(step, policy, attempt, f"{name}: {err}", err.transient, ss, item=item)
                continue
            except Exception as err:  # anything else: permanent, unless a timeout or a connection error
                rt.store.probe_phase(0)
                self._breaker_failure(name, step)
                self._attempt_failed(step, policy, attempt, f"{name}: {type(err).__name__}: {err}",
                                     is_transient(err), ss, item=item)
                continue
            rt.breakers.success(name)
            if not isinstance(result, dict):
                result = dict(result)
            return result

    def _breaker_failure(self, name: str, step: Step) -> None:
        if self.rt.breakers.failure(name):
            with self.rt.store.transaction() as conn:
                alerts.raise_alert(conn, run_id=self.state.run_id, step_id=step.id, severity=alerts.Severity.WARNING,
                                   message=f"circuit opened for connector `{name}` after repeated failures",
                                   at=log.now_iso())

    # -- waiting, failing, compensating ------------------------------------------------------------

    def _waiting(self, wait: _Wait) -> RunOutcome:
        st = self.state
        approval = wait.approval
        if wait.request is not None:
            req = wait.request
            holder: list[Approval] = []

            entries: list[Entry] = []

            def work(conn: sqlite3.Connection, at: str) -> None:
                expires = None
                if req["timeout_s"]:
                    expires = iso_plus_seconds(at, float(req["timeout_s"]))
                made = approvals.request(conn, run_id=st.run_id, step_id=req["step"], site=req["site"],
                                         kind=req["kind"], message=req["message"], rule=req["rule"],
                                         approvers=tuple(req["approvers"]), at=at, expires_at=expires,
                                         on_timeout=req["on_timeout"])
                holder.append(made)
                body = compact({"pre": "pending", "approval": made.id, "kind": req["kind"].value,
                                 "message": req["message"], "rule": req["rule"], "dec": req["dec"],
                                 "expires_at": expires, "post": "waiting"})
                entries.append((req["step"], T.STEP_WAITING, body))
                entries.append((None, T.RUN_WAITING, {"approval": made.id}))

            self.commit(Commit(entries, work=work, status=RunStatus.WAITING))
            approval = holder[0]
            st.step(req["step"]).status = StepStatus.WAITING
        else:
            self.commit(Commit([], status=RunStatus.WAITING))
        assert approval is not None
        self.rt.emit(Progress(st.run_id, approval.step_id, approval.kind.value, "waiting",
                              f"approval {approval.id}: {approval.message}"))
        return RunOutcome(st.run_id, RunStatus.WAITING, approval=approval, cost_usd=st.cost_usd)

    def _fail(self, step: Step, failure: _StepFailure) -> RunOutcome:
        st = self.state
        final = RunStatus.REJECTED if failure.rejected else RunStatus.FAILED
        body = {"error": failure.message, "attempts": failure.attempts, "final": final.value, "post": "failed",
                **(failure.detail or {})}
        pending_comp = compensation.pending(self)
        next_status = RunStatus.COMPENSATING if pending_comp else final

        def work(conn: sqlite3.Connection, at: str) -> None:
            if step.alert_on_failure and not failure.rejected:
                alerts.raise_alert(conn, run_id=st.run_id, step_id=step.id, severity=alerts.Severity.CRITICAL,
                                   message=f"run {st.run_id} ({st.playbook}) failed at step `{step.id}`: "
                                           f"{failure.message}", at=at)

        entries: list[Entry] = [(step.id, T.STEP_FAILED, body)]
        if not pending_comp:
            entries.append((None, T.RUN_FAILED, {"error": failure.message, "step": step.id, "status": final.value}))
        self.commit(Commit(entries, work=work, status=next_status, error=failure.message, check_cancel=False))
        st.failed_step, st.error = step.id, failure.message
        self.rt.emit(Progress(st.run_id, step.id, step.kind.value, final.value if failure.rejected else "failed",
                              failure.message))
        if pending_comp:
            return compensation.compensate_and_close(self, final)
        return RunOutcome(st.run_id, final, failure.message, step.id, cost_usd=st.cost_usd)

def _expr(tpl: Template) -> Template:
    return tpl if tpl.expression else Template(tpl.source, tpl.span, True)


