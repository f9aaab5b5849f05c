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
from typing import Any

from aios.errors import RunError
from aios.runtime import hooks
from aios.runtime.cursor import decode_cursor, encode_cursor

__all__ = ["ApprovalStatus", "ApprovalKind", "Approval", "request", "get", "for_site", "pending", "listing",
           "page", "due", "due_page", "decide"]


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
    return listing(conn)


def listing(conn: sqlite3.Connection, *, include_decided: bool = False, run_id: str | None = None,
            status: ApprovalStatus | None = None) -> list[Approval]:
    """Every matching approval, oldest first. For a run, its few rows come through ``approvals_run_status``;
    unbounded listings page with `page`."""
    items: list[Approval] = []
    cursor: str | None = None
    while True:
        chunk, cursor = page(conn, include_decided=include_decided, run_id=run_id, status=status, after=cursor,
                             limit=1000)
        items.extend(chunk)
        if cursor is None:
            return items


def page(conn: sqlite3.Connection, *, include_decided: bool = False, run_id: str | None = None,
         status: ApprovalStatus | None = None, after: str | None = None, limit: int = 50,
         ) -> tuple[list[Approval], str | None]:
    """One page of approvals, oldest first (``requested_at``, then insertion order), and the opaque cursor
    of the next page (None on the last). A keyset page: it reads about ``limit`` rows of an index
    (``approvals_run_status``, ``approvals_status_requested`` or ``approvals_requested``), whatever the
    store holds."""
    clauses: list[str] = []
    args: list[Any] = []
    if status is not None:
        clauses.append("status = ?")
        args.append(status.value)
    elif not include_decided:
        clauses.append("status = 'pending'")
    if run_id:
        clauses.append("run_id = ?")
        args.append(run_id)
    if after is not None:
        requested_at, rowid = decode_cursor(after, 2)
        clauses.append("(requested_at, rowid) > (?, ?)")
        args.extend([requested_at, rowid])
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = conn.execute(f"SELECT rowid AS _rowid, * FROM approvals {where} ORDER BY requested_at, rowid LIMIT ?",
                        (*args, limit + 1)).fetchall()
    nxt = encode_cursor([rows[limit - 1]["requested_at"], rows[limit - 1]["_rowid"]]) if len(rows) > limit else None
    return [_from_row(r) for r in rows[:limit]], nxt


def due(conn: sqlite3.Connection, now: str, *, limit: int = 100) -> list[Approval]:
    """Pending approvals whose timeout is at or before ``now``, soonest first, at most ``limit``."""
    return due_page(conn, now, limit=limit)[0]


def due_page(conn: sqlite3.Connection, now: str, *, after: str | None = None, limit: int = 100,
             ) -> tuple[list[Approval], str | None]:
    """A page of `due` and the cursor of the next: a range of the ``approvals_due`` index (status,
    expires_at), so a poll costs what is due, not what waits."""
    key, args = "", list[Any]([now])
    if after is not None:
        key = " AND (expires_at, rowid) > (?, ?)"
        args.extend(decode_cursor(after, 2))
    rows = conn.execute(f"SELECT rowid AS _rowid, * FROM approvals WHERE status = 'pending' AND expires_at <= ?{key} "
                        "ORDER BY expires_at, rowid LIMIT ?", (*args, limit + 1)).fetchall()
    nxt = encode_cursor([rows[limit - 1]["expires_at"], rows[limit - 1]["_rowid"]]) if len(rows) > limit else None
    return [_from_row(r) for r in rows[:limit]], nxt


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
