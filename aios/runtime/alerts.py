"""Operator alerts: terminal failures, failed compensations, open circuit breakers.

Written in the same transaction as the log entry that explains them; ``aios alerts`` shows them.
"""

from __future__ import annotations

import enum
import sqlite3
from dataclasses import dataclass

from aios.runtime import hooks

__all__ = ["Severity", "Alert", "raise_alert", "listing", "acknowledge"]


class Severity(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    run_id: str | None
    step_id: str | None
    severity: Severity
    message: str
    created_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None = None


def raise_alert(conn: sqlite3.Connection, *, run_id: str | None, step_id: str | None, severity: Severity,
                message: str, at: str) -> int:
    cur = conn.execute("INSERT INTO alerts(run_id, step_id, severity, message, created_at) VALUES (?,?,?,?,?)",
                       (run_id, step_id, severity.value, message, at))
    alert_id = int(cur.lastrowid or 0)
    if hooks.alert_raised:
        alert = Alert(alert_id, run_id, step_id, severity, message, at, None)
        for listener in list(hooks.alert_raised):
            listener(conn, alert)
    return alert_id


def listing(conn: sqlite3.Connection, *, include_acknowledged: bool = False) -> list[Alert]:
    where = "" if include_acknowledged else "WHERE acknowledged_at IS NULL"
    return [Alert(int(r["id"]), r["run_id"], r["step_id"], Severity(r["severity"]), r["message"],
                  r["created_at"], r["acknowledged_at"], r["acknowledged_by"])
            for r in conn.execute(f"SELECT * FROM alerts {where} ORDER BY id")]


def acknowledge(conn: sqlite3.Connection, alert_id: int, at: str, *, actor: str | None = None) -> bool:
    """Acknowledge an open alert, recording when and by whom (`aios alerts --ack`, the dashboard)."""
    cur = conn.execute("UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ? WHERE id = ? "
                       "AND acknowledged_at IS NULL", (at, actor, alert_id))
    return cur.rowcount > 0
