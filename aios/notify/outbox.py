"""The ``notifications`` table in the state store: one row per (event, subject, channel).

A row is written in the transaction of the event that causes it, so it exists exactly when the event
does. Its id is derived from (event kind, subject id, channel), so a replay or a second listener
cannot enqueue it twice (``INSERT OR IGNORE``). The sender moves it ``pending`` → ``sending`` (the
intent, committed before anything goes out) → ``sent`` (the result), or ``failed`` after a permanent
error or too many attempts. No secret value is ever written here: the store masks every write.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from aios.plan.notify import NotifyChannel, NotifyEvent, NotifySettings

__all__ = ["Notification", "DDL", "ensure", "notification_id", "enqueue", "get", "listing"]

DDL = ("CREATE TABLE IF NOT EXISTS notifications (id TEXT PRIMARY KEY, event TEXT NOT NULL, subject TEXT NOT NULL, "
       "channel TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL, data TEXT NOT NULL, "
       "status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, "
       "due_at TEXT NOT NULL, lease_until TEXT, sent_at TEXT, error TEXT, output TEXT)",
       "CREATE INDEX IF NOT EXISTS notifications_due ON notifications(status, due_at)")


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    event: NotifyEvent
    subject: str  # the approval, run or alert it is about
    channel: str
    title: str
    text: str
    data: dict[str, Any]  # run, playbook, approval, alert ids; the approval's expiry
    status: str
    attempts: int
    created_at: str
    due_at: str
    sent_at: str | None
    error: str | None


def ensure(conn: sqlite3.Connection) -> None:
    for statement in DDL:
        conn.execute(statement)


def notification_id(event: NotifyEvent, subject: str, channel: str) -> str:
    digest = hashlib.sha256(f"{event.value}\x1f{subject}\x1f{channel}".encode()).hexdigest()[:24]
    return f"ntf_{digest}"


def enqueue(conn: sqlite3.Connection, settings: NotifySettings, event: NotifyEvent, subject: str, *, title: str,
            text: str, data: dict[str, Any], at: str, due_at: str | None = None) -> list[str]:
    """One row per channel that listens to ``event``; call inside the event's transaction. Returns the
    ids (existing rows are left as they are)."""
    channels: tuple[NotifyChannel, ...] = settings.channels_for(event)
    if not channels:
        return []
    ensure(conn)
    ids = []
    for ch in channels:
        nid = notification_id(event, subject, ch.name)
        conn.execute("INSERT OR IGNORE INTO notifications(id, event, subject, channel, title, text, data, created_at, "
                     "due_at) VALUES (?,?,?,?,?,?,?,?,?)",
                     (nid, event.value, subject, ch.name, title, text, json.dumps(data, sort_keys=True), at,
                      due_at or at))
        ids.append(nid)
    return ids


def _from_row(row: Any) -> Notification:
    data = json.loads(row[6])
    return Notification(row[0], NotifyEvent(row[1]), row[2], row[3], row[4], row[5],
                        data if isinstance(data, dict) else {}, row[7], int(row[8]), row[9], row[10], row[12],
                        row[13])


_COLUMNS = "id, event, subject, channel, title, text, data, status, attempts, created_at, due_at, lease_until, " \
           "sent_at, error"


def get(conn: sqlite3.Connection, nid: str) -> Notification | None:
    try:
        row = conn.execute(f"SELECT {_COLUMNS} FROM notifications WHERE id = ?", (nid,)).fetchone()
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return None
        raise
    return _from_row(row) if row else None


def listing(conn: sqlite3.Connection, *, status: str | None = None) -> list[Notification]:
    where, args = ("WHERE status = ?", (status,)) if status else ("", ())
    try:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM notifications {where} ORDER BY created_at, id", args).fetchall()
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return []
        raise
    return [_from_row(r) for r in rows]
