"""Put every model call, connector call and record write to the policy plane; return a verdict to
act on and the JSON to record.

When the plan carries compiled policies (``plan.policies.compiled`` with a ``decide(context)``
method returning an ``aios.policy.decision.Decision``), they decide. Without them, one default
decides (allow), recorded in the same shape so the log reads the same either way. Any error while
deciding is a deny (fail closed). A decision of the policies is recorded in one shape, whatever its effect: the
effect, the deciding rules with their positions, the evaluation errors, the policy hash and the input
(`aios policy diff --from-log` replays it); ``denial_text`` says how a recorded deny reads.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aios.plan.plan import Plan

__all__ = ["Verdict", "Effect", "PolicyGate", "DEFAULT_RULE", "ERROR_RULE", "denial_text"]

DEFAULT_RULE = "default"
ERROR_RULE = "error"  # the "rule" of a deny because deciding itself failed (not one rule's condition)


class Effect(enum.Enum):
    ALLOW = "allow"
    REQUIRE_APPROVAL = "require_approval"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Verdict:
    effect: Effect
    rule: str  # the deciding rule's id, or "default"
    reason: str
    approvers: tuple[str, ...] = ()
    timeout_s: float | None = None
    record: Mapping[str, Any] = field(default_factory=dict)  # what goes into the log entry

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW


@dataclass(frozen=True, slots=True)
class RunFacts:
    id: str
    playbook: str
    cost_usd: float
    steps_taken: int
    started_at: str


def _zone(name: str) -> ZoneInfo | Any:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # the compiler reports unknown zones; be safe here
        return UTC


class PolicyGate:
    """``commit`` (the workspace's git commit) is stamped on every decision; ``now`` is read in the
    workspace's time zone, so weekday and hour rules mean the operator's local time."""

    def __init__(self, plan: Plan, actor: str = "operator", commit: str | None = None) -> None:
        self.compiled = plan.policies.compiled
        self.policy_hash = plan.policies.content_hash
        self.actor = actor
        self.zone = _zone(plan.settings.timezone)
        if commit is not None and self.active and hasattr(self.compiled, "with_git_commit"):
            self.compiled = self.compiled.with_git_commit(commit)
        self._default = Verdict(Effect.ALLOW, DEFAULT_RULE, "no policy rules: default allow",
                                record={"effect": "allow", "rule": DEFAULT_RULE, "by_default": True,
                                        "reason": "no policy rules: default allow"})

    @property
    def active(self) -> bool:
        return self.compiled is not None and callable(getattr(self.compiled, "decide", None))

    def connector(self, name: str, input_value: Mapping[str, Any], side_effect: str, step: str,
                  run: RunFacts) -> Verdict:
        if not self.active:
            return self._default

        def build(ctx_cls: Any, now: datetime, run_info: Any) -> Any:
            return ctx_cls.for_connector(name, input_value, now=now, side_effect=side_effect, step=step,
                                         run=run_info, actor=self.actor)

        action = {"kind": "connector", "connector": name, "side_effect": side_effect, "step": step,
                  "input": input_value}
        return self._decide(build, run, action)

    def model(self, route: str, model: str, agent: str, step: str, run: RunFacts) -> Verdict:
        if not self.active:
            return self._default

        def build(ctx_cls: Any, now: datetime, run_info: Any) -> Any:
            return ctx_cls.for_model(route, now=now, model=model, agent=agent, step=step, run=run_info,
                                     actor=self.actor)

        return self._decide(build, run, {"kind": "model", "route": route, "model": model, "agent": agent,
                                         "step": step})

    def record(self, schema: str, record_id: str, fields: Mapping[str, Any], step: str, run: RunFacts) -> Verdict:
        if not self.active:
            return self._default

        def build(ctx_cls: Any, now: datetime, run_info: Any) -> Any:
            return ctx_cls.for_record(schema, fields, now=now, id=record_id, step=step, run=run_info,
                                      actor=self.actor)

        return self._decide(build, run, {"kind": "record", "step": step},
                            {"schema": schema, "id": record_id, "fields": fields})

    def _decide(self, build: Any, run: RunFacts, action: dict[str, Any],
                subject: dict[str, Any] | None = None) -> Verdict:
        """``action`` and ``subject`` (a record write's schema, id and fields) describe the input for
        the record of a decision that could not be made."""
        try:
            from aios.policy.context import DecisionContext, RunInfo, parse_datetime

            now = datetime.now(self.zone)
            run_info = RunInfo(run.id, run.playbook, run.cost_usd, run.steps_taken,
                               parse_datetime(run.started_at, "run.started_at"))
            decision = self.compiled.decide(build(DecisionContext, now, run_info))
            effect = Effect(decision.effect.label)
            rule = ",".join(decision.rule_ids) or DEFAULT_RULE
            record = decision.to_json(include_input=True)  # `aios policy diff` replays these inputs
            record["rule"] = rule
            return Verdict(effect, rule, str(decision.reason), tuple(decision.approvers), decision.timeout_s,
                           record)
        except Exception as err:  # fail closed: an error while deciding is a deny
            reason = f"policy evaluation failed: {type(err).__name__}: {err}"
            return Verdict(Effect.DENY, ERROR_RULE, reason, record=self._failed(reason, run, action, subject))

    def _failed(self, reason: str, run: RunFacts, action: dict[str, Any],
                subject: dict[str, Any] | None) -> dict[str, Any]:
        """The record of a deny because deciding failed: the shape of every other decision, with the
        input as far as it is known (it could not be built into a decision context)."""
        inp: dict[str, Any] = {"action": {k: v for k, v in action.items() if v is not None},
                               "run": {"id": run.id, "playbook": run.playbook, "cost_usd": run.cost_usd,
                                       "steps_taken": run.steps_taken, "started_at": run.started_at},
                               "actor": self.actor, "now": datetime.now(self.zone).isoformat()}
        if subject is not None:
            inp["record"] = subject
        try:
            from aios.policy.context import to_jsonable

            inp = to_jsonable(inp)
        except Exception:  # the input stays as given; the log's encoder writes what it can
            pass
        return {"effect": "deny", "reason": reason, "by_default": False, "rules": [],
                "errors": [{"id": ERROR_RULE, "effect": "deny", "error": reason}], "policy_hash": self.policy_hash,
                "git_commit": None, "input": inp, "rule": ERROR_RULE}


def _position(entry: Mapping[str, Any]) -> str:
    if entry.get("file") is None:
        return ""
    return f" at {entry['file']}:{entry.get('line', '?')}:{entry.get('column', '?')}"


def denial_text(dec: Mapping[str, Any]) -> str:
    """One line saying why a recorded decision denied, for people (`aios runs show`, a step's error).

    A deny that came from a failed evaluation says so: ``denied: evaluation error in rule X at
    file:line:col: <error>``; a plain one names its rule: ``denied by rule X at file:line:col: <reason>``.
    """
    rules = [r for r in dec.get("rules") or () if isinstance(r, Mapping)]
    errors = [e for e in dec.get("errors") or () if isinstance(e, Mapping)]
    deciding = {r.get("id") for r in rules}
    failed = [e for e in errors if e.get("id") in deciding or e.get("id") == ERROR_RULE]
    if failed:
        return "denied: " + "; ".join(
            str(e.get("error")) if e.get("id") == ERROR_RULE  # "policy evaluation failed: …"
            else f"evaluation error in rule {e.get('id')}{_position(e)}: {e.get('error')}" for e in failed)
    reason = dec.get("reason") or ""
    if rules:
        text = "; ".join(f"denied by rule {r.get('id')}{_position(r)}" for r in rules) + f": {reason}"
    else:
        text = f"denied by the default: {reason}"
    for e in errors:  # allow rules that failed grant nothing: without the error they might have allowed
        text += f"; evaluation error in rule {e.get('id')}{_position(e)}: {e.get('error')}"
    return text
