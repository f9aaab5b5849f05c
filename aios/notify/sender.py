"""Sending what the outbox holds: once, even across a crash.

Each due row goes through an intent/result protocol, as a side-effecting step does:

1. **intent**: in one transaction the row becomes ``sending`` with a lease and one more attempt;
2. the channel delivers it with the notification id as idempotency key (`aios.notify.channels`),
   which checks the effect journal first and notes the target's acceptance there;
3. **result**: the row becomes ``sent`` (or ``pending`` again after a transient failure, with a
   backoff; ``failed`` after a permanent one or `MAX_ATTEMPTS`).

A crash before 1 leaves the row ``pending``; between 1 and 2, or during 2 before the target
accepted, the row stays ``sending`` and is taken up again when its lease ends (at once when a server
or ``aios notify flush`` starts: `recover`): nothing is lost. A crash after the journal's note
finds the note and sends nothing again. The one window left is between the target's acceptance and
the journal's note: the notification is then sent again with the same id, the same Message-ID
(mail stores keep one copy) and the same ``X-Aios-Delivery``/``Idempotency-Key`` (a receiver that
dedupes keeps one): at-least-once at the wire for that window, exactly-once for receivers that dedupe.

Fault injection for tests: ``AIOS_NOTIFY_FAULT=kill-before-send`` or ``kill-after-send`` (optionally
``:<channel>``, for that channel's notifications only) makes the process SIGKILL itself after the
intent is committed, or after the delivery was accepted and journaled but before the result is
committed. Never set it outside tests.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aios.notify import outbox
from aios.notify.channels import deliver
from aios.notify.links import DEFAULT_TTL_S, approval_link
from aios.plan.notify import NotifyChannel, NotifyEvent
from aios.plan.plan import Plan
from aios.runtime import approvals, log
from aios.runtime.connectors import ConnectorFailed
from aios.runtime.interpreter import Runtime
from aios.runtime.store import Store

__all__ = ["Sender", "SenderThread", "FlushReport", "MAX_ATTEMPTS", "LEASE_S", "recover", "DEFAULT_BASE_URL"]

MAX_ATTEMPTS = 8
LEASE_S = 120.0
DEFAULT_BASE_URL = "http://127.0.0.1:8787"
FAULT_ENV = "AIOS_NOTIFY_FAULT"
_APPROVAL_EVENTS = (NotifyEvent.APPROVAL_REQUESTED, NotifyEvent.APPROVAL_REMINDER)


@dataclass
class FlushReport:
    sent: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _fault(point: str, channel: str) -> None:
    wanted = os.environ.get(FAULT_ENV)
    if wanted and wanted in (point, f"{point}:{channel}"):
        os.kill(os.getpid(), signal.SIGKILL)


def recover(store: Store) -> int:
    """End the leases of rows left ``sending`` by a process that is gone (call when no other sender
    runs: the server at start, ``aios notify flush`` when no server runs). Returns how many."""
    with store.transaction() as conn:
        outbox.ensure(conn)
        cur = conn.execute("UPDATE notifications SET lease_until = NULL WHERE status = 'sending'")
        return cur.rowcount


class Sender:
    """Delivers due notifications of one workspace (one `Runtime` gives the store, secrets and settings)."""

    def __init__(self, runtime: Runtime, *, base_url: str | None = None) -> None:
        self.rt = runtime
        self.base_url = base_url

    @property
    def plan(self) -> Plan:
        return self.rt.plan

    def flush(self, *, now: datetime | None = None) -> FlushReport:
        report = FlushReport()
        settings = self.plan.settings.notify
        if settings is None:
            return report
        store = self.rt.store
        with store.transaction() as conn:
            outbox.ensure(conn)
        stamp = _iso(now or datetime.now(UTC))
        due = store.conn.execute(
            "SELECT id FROM notifications WHERE due_at <= ? AND (status = 'pending' OR (status = 'sending' AND "
            "(lease_until IS NULL OR lease_until <= ?))) ORDER BY due_at, id LIMIT 200", (stamp, stamp)).fetchall()
        channels = {c.name: c for c in settings.channels}
        for (nid,) in due:
            self._one(str(nid), channels, report, now)
        return report

    def _one(self, nid: str, channels: dict[str, NotifyChannel], report: FlushReport, now: datetime | None) -> None:
        store = self.rt.store
        at = now or datetime.now(UTC)
        with store.transaction() as conn:  # the intent
            n = outbox.get(conn, nid)
            if n is None or n.status not in ("pending", "sending"):
                return
            channel = channels.get(n.channel)
            if channel is None:
                conn.execute("UPDATE notifications SET status = 'failed', error = ? WHERE id = ?",
                             (f"channel `{n.channel}` is no longer in aios.yaml", nid))
                report.failed.append(nid)
                return
            if n.event is NotifyEvent.APPROVAL_REMINDER:
                a = approvals.get(conn, n.subject)
                if a is None or a.status is not approvals.ApprovalStatus.PENDING:
                    conn.execute("UPDATE notifications SET status = 'skipped', error = ? WHERE id = ?",
                                 ("the approval was decided before the reminder was due", nid))
                    report.skipped.append(nid)
                    return
            conn.execute("UPDATE notifications SET status = 'sending', attempts = attempts + 1, lease_until = ? "
                         "WHERE id = ?", (_iso(at + timedelta(seconds=LEASE_S)), nid))
        _fault("kill-before-send", n.channel)
        url = self._link(n.id, n.event, n.data, n.created_at)
        try:
            out = deliver(channel, nid=n.id, event=n.event.value, title=n.title, text=n.text, url=url, data=n.data,
                          workspace=self.rt.root, storage=self.rt.storage_dir, plan_hash=self.plan.content_hash,
                          email_settings=self.rt.connector_settings(self.plan, "email.send"),
                          secret=lambda name: self.rt.secret_value(self.plan, name))
        except Exception as err:  # noqa: BLE001 - every failure is recorded on the row
            transient = isinstance(err, ConnectorFailed) and err.transient
            message = str(err) if isinstance(err, ConnectorFailed) else f"{type(err).__name__}: {err}"
            attempts = n.attempts + 1
            final = not transient or attempts >= MAX_ATTEMPTS
            retry_at = _iso(at + timedelta(seconds=min(600.0, 2.0 ** attempts)))
            with store.transaction() as conn:
                conn.execute("UPDATE notifications SET status = ?, error = ?, due_at = ?, lease_until = NULL "
                             "WHERE id = ? AND status = 'sending'",
                             ("failed" if final else "pending", message, n.due_at if final else retry_at, nid))
            (report.failed if final else report.retrying).append(nid)
            return
        _fault("kill-after-send", n.channel)
        with store.transaction() as conn:  # the result
            conn.execute("UPDATE notifications SET status = 'sent', sent_at = ?, error = NULL, lease_until = NULL, "
                         "output = ? WHERE id = ?", (log.now_iso(), json.dumps(out, default=str), nid))
        report.sent.append(nid)

    def _link(self, nid: str, event: NotifyEvent, data: dict[str, object], created_at: str) -> str | None:
        if event not in _APPROVAL_EVENTS or not data.get("approval"):
            return None
        settings = self.plan.settings.notify
        base = (settings.base_url if settings else None) or self.base_url or DEFAULT_BASE_URL
        expires_at = data.get("expires_at")
        expiry = (_parse(str(expires_at)) if expires_at
                  else _parse(created_at) + timedelta(seconds=DEFAULT_TTL_S))
        return approval_link(self.rt.storage_dir, base, str(data["approval"]), nid, int(expiry.timestamp()))



class SenderThread:
    """The server's sender: a thread that flushes the outbox about every second, with the live plan
    (a reloaded plan brings its ``notify:`` settings in on the next round)."""

    def __init__(self, root: Path, storage_dir: Path, plan: Callable[[], Plan], base_url: str) -> None:
        self.root, self.storage_dir, self.plan, self.base_url = root, storage_dir, plan, base_url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aios-notify", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        rt: Runtime | None = None
        try:
            while not self._stop.is_set():
                plan = self.plan()
                if plan.settings.notify is not None:
                    if rt is None or rt.plan is not plan:
                        if rt is not None:
                            rt.close()
                        else:
                            recover_store = Store.open(self.storage_dir)
                            try:
                                recover(recover_store)  # this server is the one sender: take up the rest
                            finally:
                                recover_store.close()
                        rt = Runtime(plan, self.root, storage=self.storage_dir)
                    try:
                        Sender(rt, base_url=self.base_url).flush()
                    except Exception as err:  # noqa: BLE001 - the next round tries again
                        print(f"notifications: {type(err).__name__}: {err}", flush=True)
                self._stop.wait(1.0)
        finally:
            if rt is not None:
                rt.close()
