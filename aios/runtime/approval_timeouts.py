"""Approvals nobody decided in time.

A gate's ``timeout`` or a rule's ``require approval … timeout`` gives an approval an ``expires_at``.
The runtime looks at it when it next touches the run (`Runtime.recover`, a resume, the live
dispatcher's sweep) and, past that time, `expire` decides it by its ``on_timeout`` rule, in one
transaction:

- the approval's status becomes ``expired`` (``on_timeout: reject``, the default; the run then ends
  ``rejected`` with an error that says the approval timed out) or ``approved`` (``on_timeout:
  approve``), decided by ``timeout``, with the note ``timed out: nobody decided before …``;
- an ``approval.decided`` entry with ``timed_out: true`` goes into the run's log, so the trace says
  "timed out" rather than "rejected by";
- an alert is raised (`aios alerts`): a warning when the run stops, info when it goes on;
- every function in `listeners` is called with the connection, the decided approval and the
  alert's id. This is the hook point for notifications: a notifier should write its own durable
  outbox row here, in the same transaction, and send from that row (once, even across a crash),
  never send from inside the hook.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from aios.runtime import alerts, approvals, log
from aios.runtime.approvals import Approval, ApprovalStatus
from aios.runtime.runstate import T

__all__ = ["expire", "listeners", "timeout_note", "Listener"]

Listener = Callable[[sqlite3.Connection, Approval, int], None]

#: called inside the transaction that decides an expired approval (see the module's docstring)
listeners: list[Listener] = []


def timeout_note(approval: Approval) -> str:
    return f"timed out: nobody decided before {approval.expires_at}"


def expire(conn: sqlite3.Connection, approval: Approval, at: str | None = None) -> Approval:
    """Decide a pending, expired approval by its ``on_timeout`` rule; call inside a write transaction.
    Returns the approval as it now stands (unchanged when it was no longer pending)."""
    current = approvals.get(conn, approval.id)
    if current is None or current.status is not ApprovalStatus.PENDING:
        return current or approval
    at = at or log.now_iso()
    goes_on = current.on_timeout == "approve"
    status = ApprovalStatus.APPROVED if goes_on else ApprovalStatus.EXPIRED
    note = timeout_note(current)
    conn.execute("UPDATE approvals SET status = ?, decided_by = 'timeout', decided_at = ?, note = ? "
                 "WHERE id = ? AND status = 'pending'", (status.value, at, note, current.id))
    decided = approvals.get(conn, current.id)
    assert decided is not None
    log.append(conn, [(decided.run_id, decided.step_id, T.APPROVAL_DECIDED, {
        "approval": decided.id, "site": decided.site, "kind": decided.kind.value, "decision": status.value,
        "by": "timeout", "at": at, "note": note, "timed_out": True, "expires_at": decided.expires_at,
        "on_timeout": decided.on_timeout})], at)
    conn.execute("UPDATE runs SET status = 'running', updated_at = ? WHERE id = ? AND status = 'waiting'",
                 (at, decided.run_id))
    row = conn.execute("SELECT playbook FROM runs WHERE id = ?", (decided.run_id,)).fetchone()
    playbook = f" ({row[0]})" if row is not None else ""
    where = decided.site if decided.site != decided.step_id else f"step `{decided.step_id}`"
    outcome = ("it was approved by its on_timeout rule and the run goes on" if goes_on
               else "the run stops as rejected (on_timeout: reject)")
    alert_id = alerts.raise_alert(
        conn, run_id=decided.run_id, step_id=decided.step_id,
        severity=alerts.Severity.INFO if goes_on else alerts.Severity.WARNING,
        message=f"approval {decided.id} of run {decided.run_id}{playbook} at {where} {note}: {decided.message}; "
                f"{outcome}", at=at)
    for listener in list(listeners):
        listener(conn, decided, alert_id)
    return decided
