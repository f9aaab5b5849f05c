"""Approvals: a gate step or a ``require approval`` decision pauses a run until a human decides.

The row is the current state (pending, approved, rejected, expired); the who, when and why of every decision
also go into the episodic log, in the same transaction, where they can never change.
"""

from __future__ import annotations

import enum
import json
import secrets
import sqlite3
from dataclasses import dataclass

from aios.errors import RunError
from aios.runtime import hooks

__all__ = ["ApprovalStatus", "ApprovalKind", "Approval", "request", "get", "for_site", "pending", "listing",
           "decide"]


class ApprovalStatus(enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"  # nobody decided before its timeout, and its on_timeout rule is reject


class ApprovalKind(enum.Enum):
    GATE = "gate"
    POLICY = "policy"


@dataclass(frozen=True, slots=True)
class Approval:
    id: str
    run_id: str
    step_id: str
    site: str  # the step id, or ``step#index`` for one item of a map step
    kind: ApprovalKind
    message: str
    rule: str | None
    approvers: tuple[str, ...]
    requested_at: str
    expires_at: str | None
    on_timeout: str
    status: ApprovalStatus
    decided_by: str | None
    decided_at: str | None
    note: str | None


def _from_row(row: sqlite3.Row) -> Approval:
    return Approval(row["id"], row["run_id"], row["step_id"], row["site"], ApprovalKind(row["kind"]),
                    row["message"], row["rule"], tuple(json.loads(row["approvers"])), row["requested_at"],
                    row["expires_at"], row["on_timeout"], ApprovalStatus(row["status"]), row["decided_by"],
                    row["decided_at"], row["note"])


def request(conn: sqlite3.Connection, *, run_id: str, step_id: str, site: str, kind: ApprovalKind,
            message: str, rule: str | None, approvers: tuple[str, ...], at: str, expires_at: str | None,
            on_timeout: str = "reject") -> Approval:
    """Create a pending approval; call inside the transaction that pauses the run."""
    approval_id = "apv_" + secrets.token_hex(5)
    conn.execute("INSERT INTO approvals(id, run_id, step_id, site, kind, message, rule, approvers, "
                 "requested_at, expires_at, on_timeout, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                 (approval_id, run_id, step_id, site, kind.value, message, rule, json.dumps(list(approvers)),
                  at, expires_at, on_timeout, ApprovalStatus.PENDING.value))
    made = Approval(approval_id, run_id, step_id, site, kind, message, rule, approvers, at, expires_at,
                    on_timeout, ApprovalStatus.PENDING, None, None, None)
    for listener in list(hooks.approval_requested):
        listener(conn, made)
    return made


def get(conn: sqlite3.Connection, approval_id: str) -> Approval | None:
    row = conn.execute("SELECT * FROM approvals WHERE id = ?", (approval_id,)).fetchone()
    return _from_row(row) if row else None


def for_site(conn: sqlite3.Connection, run_id: str, site: str) -> Approval | None:
    """The latest approval asked for at ``site`` of ``run_id``."""
    row = conn.execute("SELECT * FROM approvals WHERE run_id = ? AND site = ? ORDER BY requested_at DESC, "
                       "rowid DESC LIMIT 1", (run_id, site)).fetchone()
    return _from_row(row) if row else None


def pending(conn: sqlite3.Connection) -> list[Approval]:
    return [_from_row(r) for r in conn.execute(
        "SELECT * FROM approvals WHERE status = 'pending' ORDER BY requested_at, rowid")]


def listing(conn: sqlite3.Connection, *, include_decided: bool = False, run_id: str | None = None,
            ) -> list[Approval]:
    clauses, args = [], []
    if not include_decided:
        clauses.append("status = 'pending'")
    if run_id:
        clauses.append("run_id = ?")
        args.append(run_id)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    return [_from_row(r) for r in conn.execute(
        f"SELECT * FROM approvals {where} ORDER BY requested_at, rowid", args)]


def decide(conn: sqlite3.Connection, approval_id: str, *, approve: bool, actor: str, note: str | None,
           at: str) -> Approval:
    """Record a decision; call inside a write transaction (the caller logs it in the same one)."""
    current = get(conn, approval_id)
    if current is None:
        raise RunError(f"no approval `{approval_id}` (see `aios approvals list`)")
    if current.status is not ApprovalStatus.PENDING:
        raise RunError(f"approval `{approval_id}` was already {current.status.value} by {current.decided_by} "
                       f"at {current.decided_at}")
    if current.approvers and actor not in current.approvers:
        raise RunError(f"`{actor}` may not decide approval `{approval_id}`; approvers: "
                       f"{', '.join(current.approvers)}")
    status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    conn.execute("UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, note = ? WHERE id = ?",
                 (status.value, actor, at, note, approval_id))
    return Approval(current.id, current.run_id, current.step_id, current.site, current.kind, current.message,
                    current.rule, current.approvers, current.requested_at, current.expires_at,
                    current.on_timeout, status, actor, at, note)
