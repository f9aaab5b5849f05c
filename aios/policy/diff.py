"""Replay recorded decision inputs through two policy sets and report every decision that flips.

The review aid for a policy change in git: `aios policy diff REV` compiles the rules at REV and in
the working tree (both against the working tree's plan) and replays the same inputs through both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aios.limits import PayloadError, read_json
from aios.policy import ast
from aios.policy.compiled import CompiledPolicySet
from aios.policy.compiler import CheckedPolicies
from aios.policy.context import ContextError
from aios.policy.decision import Decision

__all__ = ["ReplayInput", "Flip", "RuleChanges", "DiffReport", "read_jsonl", "decisions_in_log", "replay", "rule_changes",
           "summarize_input", "flips_json"]


@dataclass(frozen=True, slots=True)
class ReplayInput:
    source: str  # "inputs.jsonl:4" or "policies/x.test.yaml: case name"
    data: Any  # the context's JSON form


@dataclass(frozen=True, slots=True)
class Flip:
    source: str
    old: Decision
    new: Decision

    @property
    def group(self) -> tuple[str, ...]:
        """The rules a reviewer should look at: the new deciding rules, else the old ones."""
        if self.new.rules:
            return self.new.rule_ids
        if self.old.rules:
            return self.old.rule_ids
        return ("(default)",)


@dataclass(frozen=True, slots=True)
class RuleChanges:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DiffReport:
    inputs: int
    flips: tuple[Flip, ...]
    errors: tuple[tuple[str, str], ...]  # (source, message) of inputs that could not be read

    def groups(self) -> dict[tuple[str, ...], list[Flip]]:
        out: dict[tuple[str, ...], list[Flip]] = {}
        for flip in self.flips:
            out.setdefault(flip.group, []).append(flip)
        return dict(sorted(out.items()))


def read_jsonl(path: Path, label: str | None = None) -> tuple[list[ReplayInput], list[tuple[str, str]]]:
    """Lines of a JSONL file: decision contexts, or recorded decisions (their ``input`` is used)."""
    name = label or str(path)
    inputs: list[ReplayInput] = []
    errors: list[tuple[str, str]] = []
    with path.open("rb") as fh:  # each line read within the payload limits (UTF-8, finite numbers, depth)
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            source = f"{name}:{number}"
            try:
                data = read_json(line, what="the line")
            except PayloadError as err:
                errors.append((source, f"{err} [{err.code}]"))
                continue
            if isinstance(data, dict) and "input" in data and "action" not in data:
                data = data["input"]
            inputs.append(ReplayInput(source, data))
    return inputs, errors


def decisions_in_log(entries: Iterable[Any]) -> list[ReplayInput]:
    """The input of every policy decision recorded in episodic log entries (``body["dec"]``)."""
    out: list[ReplayInput] = []
    for e in entries:
        body = e.body if isinstance(e.body, dict) else {}
        for dec in _decisions(body):
            where = f"log seq {e.seq}" + (f" (run {e.run_id}" + (f", step {e.step_id})" if e.step_id else ")")
                                          if e.run_id else "")
            out.append(ReplayInput(where, dec["input"]))
    return out


def _decisions(body: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for key, value in body.items():
        if key == "dec" and isinstance(value, dict) and isinstance(value.get("input"), dict):
            found.append(value)
        elif isinstance(value, dict):
            found.extend(_decisions(value))
    return found


def replay(inputs: Iterable[ReplayInput], old: CompiledPolicySet, new: CompiledPolicySet) -> DiffReport:
    flips: list[Flip] = []
    errors: list[tuple[str, str]] = []
    count = 0
    for item in inputs:
        try:
            ctx = new.context_from_json(item.data)
        except ContextError as err:
            errors.append((item.source, str(err)))
            continue
        count += 1
        before, after = old.decide(ctx), new.decide(ctx)
        if before.effect is not after.effect:
            flips.append(Flip(item.source, before, after))
    return DiffReport(count, tuple(flips), tuple(errors))


def _signature(rule: ast.Rule) -> tuple[str, str, str | None, tuple[str, ...], float | None]:
    e = rule.effect
    return (ast.unparse(rule.when) if rule.when else "", e.effect.label, e.reason, e.approvers, e.timeout_s)


def rule_changes(old: CheckedPolicies, new: CheckedPolicies) -> RuleChanges:
    before = {r.ref.id: _signature(r.rule) for r in old.rules}
    after = {r.ref.id: _signature(r.rule) for r in new.rules}
    return RuleChanges(
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=tuple(sorted(k for k in before.keys() & after.keys() if before[k] != after[k])),
    )


def summarize_input(ctx_json: Any) -> str:
    """One line naming the action, for listings."""
    if not isinstance(ctx_json, dict):
        return "?"
    action = ctx_json.get("action") or {}
    kind = action.get("kind") or ("connector" if "connector" in action else "model")
    target = action.get("connector") or action.get("route") or (ctx_json.get("record") or {}).get("schema") or ""
    playbook = (ctx_json.get("run") or {}).get("playbook")
    parts = [f"{kind} {target}".strip()]
    if playbook:
        parts.append(f"playbook {playbook}")
    if ctx_json.get("now"):
        parts.append(f"now {ctx_json['now']}")
    return ", ".join(parts)


def flips_json(report: DiffReport) -> list[dict[str, Any]]:
    return [
        {"source": f.source, "group": list(f.group), "old": f.old.to_json(include_input=False),
         "new": f.new.to_json(include_input=False), "input": f.new.input.to_json()}
        for f in report.flips
    ]
