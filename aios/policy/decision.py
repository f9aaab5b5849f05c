"""Decisions are values: what was decided, by which rules, on what input, under which policy.

This module is what the interpreter records; it imports neither the parser nor the checker.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, NamedTuple

from aios.durations import show_duration
from aios.policy.context import DecisionContext
from aios.span import Span

__all__ = ["Effect", "RuleRef", "RuleError", "Decision"]


class Effect(enum.IntEnum):
    """Ordered by strength: a stronger effect wins (deny beats require-approval beats allow)."""

    ALLOW = 0
    REQUIRE_APPROVAL = 1
    DENY = 2

    @property
    def label(self) -> str:
        return _LABELS[self.value]

    @classmethod
    def parse(cls, text: str) -> Effect:
        """Accepts ``allow``, ``deny``, ``require_approval``, ``require approval``, ``require-approval``."""
        key = " ".join(text.strip().lower().replace("-", " ").replace("_", " ").split())
        if key in ("require approval", "require", "approval"):
            return cls.REQUIRE_APPROVAL
        if key in ("allow", "deny"):
            return cls[key.upper()]
        raise ValueError(f"unknown effect {text!r}; expected allow, deny or require_approval")


_LABELS = ("allow", "require_approval", "deny")


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A rule as a decision names it: its id (``policy.rule``), effect, reason and where it is."""

    id: str
    effect: Effect
    span: Span
    reason: str | None = None
    approvers: tuple[str, ...] = ()
    timeout_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "effect": self.effect.label,
            "file": self.span.file,
            "line": self.span.line + 1,
            "column": self.span.col + 1,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.approvers:
            out["approvers"] = list(self.approvers)
        if self.timeout_s is not None:
            out["timeout_s"] = self.timeout_s
        return out


@dataclass(frozen=True, slots=True)
class RuleError:
    """A rule whose condition raised. Deny and require-approval rules that error count as firing."""

    rule: RuleRef
    error: str

    def to_json(self) -> dict[str, Any]:
        return {**self.rule.to_json(), "error": self.error}


class Decision(NamedTuple):
    """One policy decision (immutable; a named tuple because the evaluator makes one per action).

    ``rules`` are the deciding rules: every rule that fired with the winning effect (empty when no
    rule fired and the default decided; then ``by_default`` is true). ``errors`` lists every rule
    whose evaluation failed, whether or not it decided. ``input`` is the context that was decided on.
    """

    effect: Effect
    rules: tuple[RuleRef, ...]
    errors: tuple[RuleError, ...]
    reason: str
    policy_hash: str
    input: DecisionContext
    git_commit: str | None = None
    by_default: bool = False

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW

    @property
    def denied(self) -> bool:
        return self.effect is Effect.DENY

    @property
    def requires_approval(self) -> bool:
        return self.effect is Effect.REQUIRE_APPROVAL

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    @property
    def approvers(self) -> tuple[str, ...]:
        """Who may approve (union over the deciding rules; empty means anyone with approval rights)."""
        seen: dict[str, None] = {}
        for r in self.rules:
            for who in r.approvers:
                seen[who] = None
        return tuple(seen)

    @property
    def timeout_s(self) -> float | None:
        """The shortest approval timeout among the deciding rules, if any sets one."""
        values = [r.timeout_s for r in self.rules if r.timeout_s is not None]
        return min(values) if values else None

    def errored(self, rule_id: str) -> bool:
        return any(e.rule.id == rule_id for e in self.errors)

    def to_json(self, *, include_input: bool = True) -> dict[str, Any]:
        errored = {e.rule.id for e in self.errors}
        out: dict[str, Any] = {
            "effect": self.effect.label,
            "reason": self.reason,
            "by_default": self.by_default,
            "rules": [{**r.to_json(), "errored": r.id in errored} for r in self.rules],
            "errors": [e.to_json() for e in self.errors],
            "policy_hash": self.policy_hash,
            "git_commit": self.git_commit,
        }
        if self.requires_approval:
            out["approvers"] = list(self.approvers)
            out["timeout_s"] = self.timeout_s
        if include_input:
            out["input"] = self.input.to_json()
        return out

    def explain(self) -> str:
        """A few lines for people: the effect, the deciding rules with positions, the errors."""
        lines = [f"{self.effect.label}: {self.reason}"]
        errored = {e.rule.id for e in self.errors}
        for r in self.rules:
            note = " (evaluation failed: fails closed)" if r.id in errored else ""
            lines.append(f"  decided by {r.id} at {r.span.show()}{note}")
        if self.by_default:
            lines.append("  decided by the default (no rule matched)")
        for e in self.errors:
            lines.append(f"  error in {e.rule.id} at {e.rule.span.show()}: {e.error}")
        if self.requires_approval:
            who = ", ".join(self.approvers) or "any approver"
            timeout = f", timeout {show_duration(self.timeout_s)}" if self.timeout_s is not None else ""
            lines.append(f"  approval by {who}{timeout}")
        commit = f" @ {self.git_commit[:12]}" if self.git_commit else ""
        lines.append(f"  policy {self.policy_hash[:12]}{commit}")
        return "\n".join(lines)
