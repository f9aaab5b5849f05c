"""The durable event journal: every accepted event is a row here before anything processes it.

The tables live in the workspace's state database (``<storage>/state.db``), next to the runtime's, and
are created by this module (``CREATE … IF NOT EXISTS``), so the runtime's schema is untouched:

``live_events``
    the canonical stream in arrival order (``seq``), unique by event ``id``. ``status`` is
    ``pending`` until the dispatcher has admitted the event's runs (``dispatched``), found no playbook
    for it (``unrouted``) or had every admission refused (``rejected``, with the reason in ``note``).
    A redelivery of a known id only increments ``deliveries``. ``held``: every playbook it triggers is
    paused (`aios.live.pauses`).
``live_schedules``
    per scheduled playbook, the last tick that was handled (for the missed-run policy).

Processing is at-least-once: an event stays ``pending`` until its runs are admitted, and admission
looks for an existing run of the same (event, playbook) first, which makes it idempotent. The index
``live_runs_event`` on the runtime's ``runs(event_id, playbook)`` keeps that look-up cheap.

`GroupCommitter` is the write path of the webhook intake: callers hand it events and wait; a single
thread writes whatever is queued in one transaction, so concurrent deliveries share one fsync.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from aios.limits import PayloadError, read_json
from aios.live.events import LiveEvent, now_iso
from aios.live.pauses import DDL as PAUSE_DDL
from aios.runtime.store import Store

__all__ = ["ensure_live_schema", "accept", "pending", "mark", "JournalRow", "EventStatus", "open_store",
           "GroupCommitter", "event_counts"]

_DDL = (
    """CREATE TABLE IF NOT EXISTS live_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
        source TEXT NOT NULL, time TEXT NOT NULL, payload TEXT NOT NULL, received_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending', runs TEXT, note TEXT, dispatched_at TEXT,
        deliveries INTEGER NOT NULL DEFAULT 1)""",
    "CREATE INDEX IF NOT EXISTS live_events_status ON live_events(status, seq)",
    """CREATE TABLE IF NOT EXISTS live_schedules (
        playbook TEXT PRIMARY KEY, cron TEXT NOT NULL, last_tick TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS live_runs_event ON runs(event_id, playbook)",
)


class EventStatus:
    PENDING = "pending"
    DISPATCHED = "dispatched"
    UNROUTED = "unrouted"
    REJECTED = "rejected"
    HELD = "held"  # every playbook it triggers is paused: kept in `live_held` until they resume


@dataclass(frozen=True, slots=True)
class JournalRow:
    seq: int
    event: LiveEvent
    status: str
    deliveries: int


def ensure_live_schema(conn: sqlite3.Connection) -> None:
    for statement in (*_DDL, *PAUSE_DDL):
        conn.execute(statement)


def open_store(storage_dir: Path) -> Store:
    """The state store with the live tables in place."""
    store = Store.open(storage_dir)
    try:
        with store.transaction() as conn:
            ensure_live_schema(conn)
    except BaseException:
        store.close()
        raise
    return store


def accept(conn: sqlite3.Connection, events: Iterable[LiveEvent], at: str | None = None) -> list[bool]:
    """Insert events (inside the caller's transaction); True for each that is new, False for a redelivery."""
    at = at or now_iso()
    out = []
    for ev in events:
        cur = conn.execute("INSERT OR IGNORE INTO live_events(id, type, source, time, payload, received_at) "
                           "VALUES (?,?,?,?,?,?)", (ev.id, ev.type, ev.source, ev.time, ev.payload_json(), at))
        new = cur.rowcount == 1
        if not new:
            conn.execute("UPDATE live_events SET deliveries = deliveries + 1 WHERE id = ?", (ev.id,))
        out.append(new)
    return out


def _row(r: sqlite3.Row) -> JournalRow:
    """Raises `PayloadError` for a stored payload beyond the limits (kept by an older version)."""
    ev = LiveEvent(r["id"], r["type"], r["source"], r["time"], read_json(r["payload"], what="the stored payload"))
    return JournalRow(int(r["seq"]), ev, r["status"], int(r["deliveries"]))


def pending(conn: sqlite3.Connection, limit: int = 100,
            unreadable: list[tuple[str, str, str]] | None = None) -> list[JournalRow]:
    """Pending events in arrival order. One whose stored payload cannot be read is left out and, when
    ``unreadable`` is given, listed there as (id, type, reason) for the caller to reject."""
    rows = conn.execute("SELECT * FROM live_events WHERE status = 'pending' ORDER BY seq LIMIT ?",
                        (limit,)).fetchall()
    out = []
    for r in rows:
        try:
            out.append(_row(r))
        except PayloadError as err:
            if unreadable is not None:
                unreadable.append((str(r["id"]), str(r["type"]), f"{err} [{err.code}]"))
    return out


def mark(conn: sqlite3.Connection, event_id: str, status: str, runs: Sequence[str] = (),
         note: str | None = None, at: str | None = None) -> None:
    conn.execute("UPDATE live_events SET status = ?, runs = ?, note = ?, dispatched_at = ? WHERE id = ?",
                 (status, json.dumps(list(runs)), note, at or now_iso(), event_id))


def event_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {r[0]: int(r[1]) for r in conn.execute("SELECT status, count(*) FROM live_events GROUP BY status")}


_Item = tuple[LiveEvent, "Future[bool]"]


class GroupCommitter:
    """One writer thread; each transaction carries every event queued while the previous one committed.

    ``submit`` returns a future that resolves (True new / False redelivery) only after the COMMIT that
    made the event durable, which is when the webhook may answer 202.
    """

    def __init__(self, storage_dir: Path, *, on_commit: Callable[[int], None] | None = None,
                 max_batch: int = 256) -> None:
        self._storage_dir = storage_dir
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._thread = threading.Thread(target=self._loop, name="aios-journal", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._closed = False

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def submit(self, event: LiveEvent) -> Future[bool]:
        fut: Future[bool] = Future()
        if self._closed:
            fut.set_exception(RuntimeError("the event journal is closed"))
        else:
            self._queue.put((event, fut))
        return fut

    def close(self) -> None:
        """Write what is queued, then stop."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        try:
            store = open_store(self._storage_dir)
        except BaseException as err:  # reported by start()
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                self._write(store, batch)
        finally:
            store.close()

    def _write(self, store: Store, batch: list[_Item]) -> None:
        try:
            with store.transaction() as conn:
                results = accept(conn, [ev for ev, _ in batch])
        except BaseException as err:
            for _, fut in batch:
                fut.set_exception(err)
            return
        for (_, fut), new in zip(batch, results, strict=True):
            fut.set_result(new)
        if self._on_commit is not None and any(results):
            self._on_commit(sum(results))
