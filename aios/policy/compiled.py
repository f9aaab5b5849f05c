"""The compiled policy set: rule functions indexed by action kind and connector, and `decide`.

Semantics (docs/policies.md, "How a decision is made"):

* Only rules whose guards can match the action run (the index is built from each rule's guards).
* deny beats require-approval beats allow. The deciding rules are every fired rule with the winning
  effect.
* Fail closed: a deny or require-approval rule whose evaluation raises counts as fired; an allow
  rule that raises grants nothing. Every such error is in ``Decision.errors``.
* With no rule fired, the strictest ``default`` of the rules files decides; without any, actions with
  a side effect are denied and actions without one (model calls, record writes, connectors declared
  ``side_effect: none``) are allowed. A connector the plan does not know counts as irreversible.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aios.policy.codegen import RuleFn
from aios.policy.context import ActionKind, DecisionContext
from aios.policy.decision import Decision, Effect, RuleError, RuleRef
from aios.policy.facts import ANY_ACTION, Reach
from aios.span import Span

__all__ = ["CompiledRule", "CompiledPolicySet"]

_EFFECTS = (Effect.ALLOW, Effect.REQUIRE_APPROVAL, Effect.DENY)
_NO_DEFAULT_DENY = "no rule allows this side effect (side-effecting actions are denied by default)"
_NO_DEFAULT_ALLOW = "no rule matched; actions without side effects are allowed by default"


@dataclass(frozen=True, eq=False, slots=True)
class CompiledRule:
    ref: RuleRef
    fn: RuleFn
    kinds: frozenset[str] | None  # action kinds the rule can match (None: any)
    connectors: frozenset[str] | None  # for connector actions: which connectors (None: any)
    clauses: tuple[Span, ...] = ()  # spans of the condition's clauses, numbered from clause_base
    clause_base: int = 0
    rank: int = field(init=False)  # int(effect), read in the hot loop
    fn_index: int = -1  # position among the generated functions (-1: the rule did not compile)
    guards: tuple[tuple[int, frozenset[str] | None, frozenset[str] | None], ...] = ()  # see checker
    reach: Reach = ANY_ACTION  # what the rule can match in the interpreter's contexts (compile-time checks)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rank", int(self.ref.effect))

    def clause_items(self) -> tuple[tuple[int, Span], ...]:
        return tuple((self.clause_base + i, span) for i, span in enumerate(self.clauses))

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def effect(self) -> Effect:
        return self.ref.effect

    def applies_to(self, kind: str, connector: str | None) -> bool:
        if self.kinds is not None and kind not in self.kinds:
            return False
        return not (kind == "connector" and self.connectors is not None and connector not in self.connectors)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError):
        return f"missing field {text}"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True, eq=False)
class CompiledPolicySet:
    """Decides actions. Immutable; safe to share between threads and runs."""

    content_hash: str
    rules: tuple[CompiledRule, ...]
    side_effects: Mapping[str, str]
    default: RuleRef | None = None  # the strictest `default` of the rules files, if any
    git_commit: str | None = None
    source: str = field(default="", repr=False)  # the generated Python, for `aios policy eval --source`
    _by_connector: dict[str, tuple[CompiledRule, ...]] = field(init=False, repr=False)
    _other_connector: tuple[CompiledRule, ...] = field(init=False, repr=False)
    _by_kind: dict[str, tuple[CompiledRule, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_connector = {name: self._select("connector", name) for name in self.side_effects}
        for rule in self.rules:
            for name in rule.connectors or ():
                by_connector.setdefault(name, self._select("connector", name))
        object.__setattr__(self, "_by_connector", by_connector)
        object.__setattr__(self, "_other_connector", self._select("connector", None))
        object.__setattr__(self, "_by_kind", {k.value: self._select(k.value, None) for k in ActionKind})

    def _select(self, kind: str, connector: str | None) -> tuple[CompiledRule, ...]:
        return tuple(r for r in self.rules if r.applies_to(kind, connector))

    # -- public API -----------------------------------------------------------------------------
    def rules_for(self, ctx: DecisionContext) -> tuple[CompiledRule, ...]:
        action = ctx.action
        if action.kind is ActionKind.CONNECTOR:
            return self._by_connector.get(action.connector or "", self._other_connector)
        return self._by_kind[action.kind]

    def decide(self, ctx: DecisionContext) -> Decision:
        """Decide one action. Never raises for a rule's failure: it fails closed and is recorded."""
        action = ctx.action
        kind = action.kind
        if kind is ActionKind.CONNECTOR:
            rules = self._by_connector.get(action.connector, self._other_connector)  # type: ignore[arg-type]
        else:
            rules = self._by_kind[kind]
        top = -1
        fired: list[RuleRef] = []
        errors: list[RuleError] | None = None
        for rule in rules:
            try:
                if not rule.fn(ctx):
                    continue
            except Exception as exc:  # fail closed: record, then deny/approval rules count as fired
                if errors is None:
                    errors = []
                errors.append(RuleError(rule.ref, _describe(exc)))
                if rule.rank == 0:
                    continue
            rank = rule.rank
            if rank > top:
                top = rank
                fired = [rule.ref]
            elif rank == top:
                fired.append(rule.ref)
        errs = tuple(errors) if errors else ()
        if top < 0:
            return self._default(ctx, errs)
        if len(fired) == 1:
            ref = fired[0]
            reason = ref.reason or f"{ref.effect.label} by {ref.id}"
        else:
            reasons = [r.reason for r in fired if r.reason]
            reason = "; ".join(reasons) if reasons else f"{fired[0].effect.label} by {', '.join(r.id for r in fired)}"
        return Decision(_EFFECTS[top], tuple(fired), errs, reason, self.content_hash, ctx, self.git_commit)

    def _default(self, ctx: DecisionContext, errors: tuple[RuleError, ...]) -> Decision:
        if self.default is not None:
            d = self.default
            reason = d.reason or f"no rule matched; default {d.effect.label} ({d.span.show()})"
            return Decision(d.effect, (), errors, reason, self.content_hash, ctx, self.git_commit, by_default=True)
        if self.side_effect_of(ctx) == "none":
            return Decision(Effect.ALLOW, (), errors, _NO_DEFAULT_ALLOW, self.content_hash, ctx, self.git_commit,
                            by_default=True)
        return Decision(Effect.DENY, (), errors, _NO_DEFAULT_DENY, self.content_hash, ctx, self.git_commit,
                        by_default=True)

    def side_effect_of(self, ctx: DecisionContext) -> str:
        """The plan's word on a connector's side effect beats the context's; unknown means irreversible."""
        action = ctx.action
        if action.kind is not ActionKind.CONNECTOR:
            return "none"
        declared = self.side_effects.get(action.connector or "")
        return declared or action.side_effect or "irreversible"

    def context_from_json(self, data: Any) -> DecisionContext:
        """`DecisionContext.from_json`, with side effects filled in from the plan's contracts."""
        return DecisionContext.from_json(data, side_effects=self.side_effects)

    def with_git_commit(self, commit: str | None) -> CompiledPolicySet:
        """The same set, stamping ``commit`` on every decision (see `aios.policy.gitinfo.head_commit`)."""
        return dataclasses.replace(self, git_commit=commit)

    def rule(self, rule_id: str) -> CompiledRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)
