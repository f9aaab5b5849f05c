"""Hooks called inside the transactions that record an event someone may want to hear about.

Each list holds functions called with the transaction's connection, after the event's rows are
written and before the commit: a listener writes its own durable rows there (the notifier, in
`aios.notify`, enqueues its outbox rows), so they commit or vanish with the event. A listener never
does I/O beyond the connection, and never sends anything from inside the hook. Approvals that time
out have their own hook, `aios.runtime.approval_timeouts.listeners`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aios.runtime.alerts import Alert
    from aios.runtime.approvals import Approval

__all__ = ["approval_requested", "alert_raised", "run_failed"]

#: a pending approval was created (a gate, a require-approval decision, a map item)
approval_requested: list[Callable[[sqlite3.Connection, Approval], None]] = []
#: an alert was raised
alert_raised: list[Callable[[sqlite3.Connection, Alert], None]] = []
#: a run ended failed: (connection, run id, playbook, error)
run_failed: list[Callable[[sqlite3.Connection, str, str, str | None], None]] = []
