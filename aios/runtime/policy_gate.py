"""Put every model call, connector call and record write to the policy plane; return a verdict to
act on and the JSON to record.

When the plan carries compiled policies (``plan.policies.compiled`` with a ``decide(context)``
method returning an ``aios.policy.decision.Decision``), they decide. Without them, one default
decides (allow), recorded in the same shape so the log reads the same either way. Any error while
deciding is a deny (fail closed).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aios.plan.plan import Plan

__all__ = ["Verdict", "Effect", "PolicyGate", "DEFAULT_RULE"]

DEFAULT_RULE = "default"


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

        return self._decide(build, run)

    def model(self, route: str, model: str, agent: str, step: str, run: RunFacts) -> Verdict:
        if not self.active:
            return self._default

        def build(ctx_cls: Any, now: datetime, run_info: Any) -> Any:
            return ctx_cls.for_model(route, now=now, model=model, agent=agent, step=step, run=run_info,
                                     actor=self.actor)

        return self._decide(build, run)

    def record(self, schema: str, record_id: str, fields: Mapping[str, Any], step: str, run: RunFacts) -> Verdict:
        if not self.active:
            return self._default

        def build(ctx_cls: Any, now: datetime, run_info: Any) -> Any:
            return ctx_cls.for_record(schema, fields, now=now, id=record_id, step=step, run=run_info,
                                      actor=self.actor)

        return self._decide(build, run)

    def _decide(self, build: Any, run: RunFacts) -> Verdict:
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
            return Verdict(Effect.DENY, "error", reason,
                           record={"effect": "deny", "rule": "error", "reason": reason, "by_default": False})
