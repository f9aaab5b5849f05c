"""The notifier's listeners on the runtime's hooks: each enqueues outbox rows in the event's own
transaction (never sends). A store connection notifies once `attach` bound it to the workspace's
``notify:`` settings (`aios.runtime.Runtime` does so when the plan has any)."""

from __future__ import annotations

import sqlite3
import weakref
from datetime import datetime, timedelta

from aios.notify import outbox
from aios.plan.notify import NotifyEvent, NotifySettings
from aios.runtime import approval_timeouts, hooks, log
from aios.runtime.alerts import Alert
from aios.runtime.approvals import Approval

__all__ = ["attach", "detach", "settings_for"]

_bound: weakref.WeakKeyDictionary[sqlite3.Connection, NotifySettings] = weakref.WeakKeyDictionary()
_installed = False


def attach(conn: sqlite3.Connection, settings: NotifySettings) -> None:
    """Notify for the events recorded through ``conn`` (the latest settings win: a reload re-attaches)."""
    global _installed
    _bound[conn] = settings
    if not _installed:
        hooks.approval_requested.append(_approval_requested)
        hooks.alert_raised.append(_alert_raised)
        hooks.run_failed.append(_run_failed)
        approval_timeouts.listeners.append(_approval_timed_out)
        _installed = True


def detach(conn: sqlite3.Connection) -> None:
    _bound.pop(conn, None)


def settings_for(conn: sqlite3.Connection) -> NotifySettings | None:
    return _bound.get(conn)


def _playbook(conn: sqlite3.Connection, run_id: str) -> str:
    row = conn.execute("SELECT playbook FROM runs WHERE id = ?", (run_id,)).fetchone()
    return str(row[0]) if row is not None else "?"


def _approval_data(conn: sqlite3.Connection, a: Approval) -> dict[str, object]:
    return {"run": a.run_id, "playbook": _playbook(conn, a.run_id), "approval": a.id, "site": a.site,
            "expires_at": a.expires_at, "approvers": list(a.approvers)}


def _approval_requested(conn: sqlite3.Connection, a: Approval) -> None:
    settings = _bound.get(conn)
    if settings is None:
        return
    data = _approval_data(conn, a)
    where = a.site if a.site != a.step_id else a.step_id
    text = (f"{a.message}\nRun {a.run_id} ({data['playbook']}) waits at `{where}`."
            + (f" It times out at {a.expires_at} (on timeout: {a.on_timeout})." if a.expires_at else ""))
    title = f"Approval needed: {data['playbook']} / {where}"
    outbox.enqueue(conn, settings, NotifyEvent.APPROVAL_REQUESTED, a.id, title=title, text=text, data=data,
                   at=a.requested_at)
    if a.expires_at:  # the reminder is enqueued now, due later; the sender skips it once decided
        due = _parse(a.expires_at) - timedelta(seconds=settings.reminder_before_s)
        due_at = _iso(max(due, _parse(a.requested_at)))
        outbox.enqueue(conn, settings, NotifyEvent.APPROVAL_REMINDER, a.id,
                       title=f"Reminder: approval needed: {data['playbook']} / {where}",
                       text=f"{a.message}\nNobody has decided yet; it times out at {a.expires_at} "
                            f"(on timeout: {a.on_timeout}).\nRun {a.run_id} ({data['playbook']}).",
                       data=data, at=a.requested_at, due_at=due_at)


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _approval_timed_out(conn: sqlite3.Connection, a: Approval, alert_id: int) -> None:
    settings = _bound.get(conn)
    if settings is None:
        return
    data = {**_approval_data(conn, a), "alert": alert_id, "decision": a.status.value}
    outbox.enqueue(conn, settings, NotifyEvent.APPROVAL_TIMED_OUT, a.id,
                   title=f"Approval timed out: {data['playbook']} / {a.site}",
                   text=f"{a.message}\nApproval {a.id} {a.note}; it was decided {a.status.value} by its "
                        f"on_timeout rule.\nRun {a.run_id} ({data['playbook']}).",
                   data=data, at=a.decided_at or log.now_iso())


def _alert_raised(conn: sqlite3.Connection, alert: Alert) -> None:
    settings = _bound.get(conn)
    if settings is None:
        return
    data: dict[str, object] = {"alert": alert.id, "severity": alert.severity.value, "run": alert.run_id,
                               "step": alert.step_id}
    outbox.enqueue(conn, settings, NotifyEvent.ALERT_RAISED, f"alert-{alert.id}",
                   title=f"Alert ({alert.severity.value})", text=alert.message, data=data, at=alert.created_at)


def _run_failed(conn: sqlite3.Connection, run_id: str, playbook: str, error: str | None) -> None:
    settings = _bound.get(conn)
    if settings is None:
        return
    outbox.enqueue(conn, settings, NotifyEvent.RUN_FAILED, run_id, title=f"Run failed: {playbook}",
                   text=f"Run {run_id} ({playbook}) failed: {error or 'no error recorded'}",
                   data={"run": run_id, "playbook": playbook}, at=log.now_iso())
