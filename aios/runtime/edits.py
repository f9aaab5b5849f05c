"""Edit then approve: an approver replaces the input of a connector call that waits for a policy
approval, and approves the edited call.

Before anything is recorded, the edited input is checked like a rendered one: against the
connector's contract (`validate_record`, the runtime's own validation) and by the policies again
(`PolicyGate.connector`). A contract error or a deny refuses the edit (`EditRefused`; the approval
stays pending). A ``require approval`` of the edited input is covered by this approval only when the
approver may give it (the rule names no approvers, or names this one); otherwise it is refused too.

Accepted, the edit goes into the log in the approval's ``approval.decided`` entry, with both
versions, the actor and the new decision (``edit: {original, input, by, dec}``), in the transaction
that records the approval. The run then reads it from there (`edited_input`) when it comes back to
the step, before it logs the intent: the intent carries the edited input, so a resume after a crash
replays the edited call, and the idempotency key stays the step's.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from aios.errors import RunError
from aios.plan.plan import Plan
from aios.runtime.approvals import Approval, ApprovalKind
from aios.runtime.policy_gate import Effect, PolicyGate, RunFacts, denial_text
from aios.runtime.runstate import T
from aios.runtime.validation import validate_record

__all__ = ["EditRefused", "Edit", "check_edit", "edited_input", "original_input"]


class EditRefused(RunError):
    """The edited input cannot be used: not an object, off its contract, denied, or it needs an
    approval this approver cannot give. ``problems`` lists each reason."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


@dataclass(frozen=True, slots=True)
class Edit:
    connector: str
    original: Any
    input: dict[str, Any]
    by: str
    effect: str  # the policies' effect on the edited input: allow or require_approval
    rule: str
    reason: str
    dec: dict[str, Any] = field(default_factory=dict)

    def log_body(self) -> dict[str, Any]:
        return {"connector": self.connector, "original": self.original, "input": self.input, "by": self.by,
                "effect": self.effect, "rule": self.rule, "reason": self.reason, "dec": self.dec}


def _waiting(conn: sqlite3.Connection, a: Approval) -> dict[str, Any]:
    for (body,) in conn.execute("SELECT body FROM log WHERE run_id = ? AND step_id = ? AND type = ? ORDER BY seq DESC",
                                (a.run_id, a.step_id, T.STEP_WAITING)):
        data = json.loads(body)
        if data.get("approval") == a.id:
            return dict(data)
    return {}


def original_input(conn: sqlite3.Connection, a: Approval) -> Any:
    """The connector input the policies asked approval for (as recorded when the run began waiting)."""
    dec = _waiting(conn, a).get("dec") or {}
    action = (dec.get("input") or {}).get("action") if isinstance(dec.get("input"), dict) else None
    return action.get("input") if isinstance(action, dict) else None


def _facts(conn: sqlite3.Connection, run_id: str) -> RunFacts:
    row = conn.execute("SELECT playbook, cost_usd, created_at FROM runs WHERE id = ?", (run_id,)).fetchone()
    done = conn.execute("SELECT count(*) FROM log WHERE run_id = ? AND type IN (?, ?)",
                        (run_id, T.STEP_COMPLETED, T.STEP_REUSED)).fetchone()[0]
    return RunFacts(run_id, str(row["playbook"]), float(row["cost_usd"] or 0.0), int(done),
                    str(row["created_at"]))


def check_edit(conn: sqlite3.Connection, plan: Plan, a: Approval, edited: Any, *, actor: str,
               policy_commit: str | None = None) -> Edit:
    """Check ``edited`` as the new input of the call ``a`` waits for, on the run's plan; raises
    `EditRefused` with every reason it cannot be used."""
    if a.kind is not ApprovalKind.POLICY:
        raise EditRefused(f"approval `{a.id}` is a gate: only a connector call that waits for a policy approval "
                          "can be edited")
    pb_name = conn.execute("SELECT playbook FROM runs WHERE id = ?", (a.run_id,)).fetchone()
    pb = plan.playbook_map.get(str(pb_name[0])) if pb_name else None
    step = next((s for s in pb.steps if s.id == a.step_id), None) if pb is not None else None
    name = step.connector if step is not None else None
    contract = plan.connector_map.get(name) if name else None
    if contract is None or name is None:
        raise EditRefused(f"approval `{a.id}` is not about a connector call: only a connector's input can be edited")
    if not isinstance(edited, dict):
        raise EditRefused(f"the edited input must be a JSON object (the input of `{name}`), got "
                          f"{type(edited).__name__}")
    clean, errors = validate_record(contract.input, edited, extra="keep")
    if errors:
        raise EditRefused(f"the edited input does not match the contract of `{name}`: " + "; ".join(errors), errors)
    verdict = PolicyGate(plan, actor, policy_commit).connector(name, clean, contract.side_effect.value, a.step_id,
                                                               _facts(conn, a.run_id))
    if verdict.effect is Effect.DENY:
        text = denial_text(verdict.record) if verdict.record.get("errors") else \
            f"denied by policy rule `{verdict.rule}`: {verdict.reason}"
        raise EditRefused(f"the policies refuse the edited input: {text}")
    if verdict.effect is Effect.REQUIRE_APPROVAL and verdict.approvers and actor not in verdict.approvers:
        raise EditRefused(f"the edited input needs another approval (rule `{verdict.rule}`: {verdict.reason}) "
                          f"by {', '.join(verdict.approvers)}; `{actor}` cannot give it")
    return Edit(name, original_input(conn, a), clean, actor, verdict.effect.value, verdict.rule, verdict.reason,
                dict(verdict.record))


def edited_input(conn: sqlite3.Connection, a: Approval) -> dict[str, Any] | None:
    """The edit an approval was given with (its ``approval.decided`` entry), or None."""
    for (body,) in conn.execute("SELECT body FROM log WHERE run_id = ? AND step_id = ? AND type = ? ORDER BY seq DESC",
                                (a.run_id, a.step_id, T.APPROVAL_DECIDED)):
        data = json.loads(body)
        if data.get("approval") == a.id:
            edit = data.get("edit")
            return dict(edit) if isinstance(edit, dict) else None
    return None
