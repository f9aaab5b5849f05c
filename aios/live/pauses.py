"""Paused playbooks (manual mode): their events are held durably, no run starts until they resume.

Two tables in the state store, created with the live ones (`aios.live.journal.ensure_live_schema`):

``live_paused``
    one row per paused playbook: who paused it, when and why. Pausing and resuming are also log
    entries (``playbook.paused`` / ``playbook.resumed``, run-less, with the actor), in the same
    transaction, as every intervention is.
``live_held``
    one row per (event, paused playbook) the event would have started: the event's journal ``seq``
    (arrival order), when it was held, and once released, when and which run it started.

The dispatcher holds an event for a paused playbook instead of admitting a run (the event is marked
``dispatched`` when some other playbook started a run for it, ``held`` when every playbook it
triggers is paused). Once a playbook is resumed, `release` admits its held events in arrival order:
admission looks for an existing run of the same (event, playbook) first, so a crash between the
admission and the row's release admits nothing twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from aios.errors import RunError
from aios.runtime import log
from aios.runtime.store import Store

__all__ = ["DDL", "Pause", "PlaybookState", "pause", "resume", "is_paused", "paused", "hold", "held",
           "releasable", "mark_released", "states", "states_of", "set_paused", "PAUSED", "RESUMED"]

PAUSED = "playbook.paused"
RESUMED = "playbook.resumed"

DDL = (
    """CREATE TABLE IF NOT EXISTS live_paused (
        playbook TEXT PRIMARY KEY, paused_by TEXT NOT NULL, paused_at TEXT NOT NULL, note TEXT)""",
    """CREATE TABLE IF NOT EXISTS live_held (
        event_id TEXT NOT NULL, playbook TEXT NOT NULL, seq INTEGER NOT NULL, held_at TEXT NOT NULL,
        released_at TEXT, run_id TEXT, PRIMARY KEY (event_id, playbook))""",
    "CREATE INDEX IF NOT EXISTS live_held_open ON live_held(seq) WHERE released_at IS NULL",
)


@dataclass(frozen=True, slots=True)
class Pause:
    playbook: str
    by: str
    at: str
    note: str | None


@dataclass(frozen=True, slots=True)
class PlaybookState:
    playbook: str
    paused: Pause | None
    queued: int  # events held for it, not yet released

    def to_json(self) -> dict[str, object]:
        p = self.paused
        return {"playbook": self.playbook, "status": "paused" if p else "active", "queued": self.queued,
                "paused_by": p.by if p else None, "paused_at": p.at if p else None, "note": p.note if p else None}


def _pause(row: sqlite3.Row | tuple[str, str, str, str | None]) -> Pause:
    return Pause(str(row[0]), str(row[1]), str(row[2]), row[3])


def is_paused(conn: sqlite3.Connection, playbook: str) -> Pause | None:
    row = conn.execute("SELECT playbook, paused_by, paused_at, note FROM live_paused WHERE playbook = ?",
                       (playbook,)).fetchone()
    return _pause(row) if row else None


def paused(conn: sqlite3.Connection) -> dict[str, Pause]:
    return {str(r[0]): _pause(r) for r in conn.execute(
        "SELECT playbook, paused_by, paused_at, note FROM live_paused ORDER BY playbook")}


def _queued(conn: sqlite3.Connection, playbook: str) -> int:
    row = conn.execute("SELECT count(*) FROM live_held WHERE playbook = ? AND released_at IS NULL",
                       (playbook,)).fetchone()
    return int(row[0])


def pause(conn: sqlite3.Connection, playbook: str, *, actor: str, note: str | None = None) -> tuple[Pause, bool]:
    """Pause ``playbook`` (inside the caller's write transaction); False when it was paused already
    (then nothing is written)."""
    found = is_paused(conn, playbook)
    if found is not None:
        return found, False
    at = log.now_iso()
    conn.execute("INSERT INTO live_paused(playbook, paused_by, paused_at, note) VALUES (?,?,?,?)",
                 (playbook, actor, at, note))
    log.append(conn, [(None, None, PAUSED, {"playbook": playbook, "by": actor, "note": note})], at)
    return Pause(playbook, actor, at, note), True


def resume(conn: sqlite3.Connection, playbook: str, *, actor: str, note: str | None = None) -> tuple[int, bool]:
    """Resume ``playbook`` (inside the caller's write transaction): its held events become
    releasable. Returns (events queued, whether it was paused)."""
    if is_paused(conn, playbook) is None:
        return _queued(conn, playbook), False
    queued = _queued(conn, playbook)
    conn.execute("DELETE FROM live_paused WHERE playbook = ?", (playbook,))
    log.append(conn, [(None, None, RESUMED, {"playbook": playbook, "by": actor, "note": note, "queued": queued})])
    return queued, True


def hold(conn: sqlite3.Connection, event_id: str, playbook: str, seq: int, at: str) -> None:
    conn.execute("INSERT OR IGNORE INTO live_held(event_id, playbook, seq, held_at) VALUES (?,?,?,?)",
                 (event_id, playbook, seq, at))


def held(conn: sqlite3.Connection, playbook: str, limit: int = 100) -> list[tuple[str, int, str]]:
    """Events held for ``playbook``, not yet released, oldest first: (event id, seq, held at)."""
    return [(str(r[0]), int(r[1]), str(r[2])) for r in conn.execute(
        "SELECT event_id, seq, held_at FROM live_held WHERE playbook = ? AND released_at IS NULL "
        "ORDER BY seq LIMIT ?", (playbook, limit))]


def releasable(conn: sqlite3.Connection, limit: int = 100) -> list[tuple[str, str]]:
    """Held (event id, playbook) pairs whose playbook is no longer paused, in arrival order."""
    return [(str(r[0]), str(r[1])) for r in conn.execute(
        "SELECT h.event_id, h.playbook FROM live_held h WHERE h.released_at IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM live_paused p WHERE p.playbook = h.playbook) ORDER BY h.seq LIMIT ?", (limit,))]


def mark_released(conn: sqlite3.Connection, event_id: str, playbook: str, run_id: str | None, at: str) -> None:
    conn.execute("UPDATE live_held SET released_at = ?, run_id = ? WHERE event_id = ? AND playbook = ?",
                 (at, run_id, event_id, playbook))
    row = conn.execute("SELECT status, runs FROM live_events WHERE id = ?", (event_id,)).fetchone()
    if row is not None and run_id is not None:
        runs = [*json.loads(row[1] or "[]"), run_id]
        status = "dispatched" if row[0] == "held" else row[0]
        conn.execute("UPDATE live_events SET runs = ?, status = ? WHERE id = ?", (json.dumps(runs), status, event_id))


def states(conn: sqlite3.Connection, playbooks: Iterable[str]) -> list[PlaybookState]:
    """Each playbook's pause and queue (for `aios playbooks list` and the dashboard), paused ones
    no longer in the plan included."""
    pauses = paused(conn)
    counts = {str(r[0]): int(r[1]) for r in conn.execute(
        "SELECT playbook, count(*) FROM live_held WHERE released_at IS NULL GROUP BY playbook")}
    names = sorted(set(playbooks) | set(pauses) | set(counts))
    return [PlaybookState(n, pauses.get(n), counts.get(n, 0)) for n in names]


def states_of(conn: sqlite3.Connection, playbooks: list[str]) -> list[PlaybookState]:
    """The state of exactly these playbooks."""
    return [PlaybookState(n, is_paused(conn, n), _queued(conn, n)) for n in playbooks]


def set_paused(store: Store, known: Iterable[str], playbook: str, *, paused_: bool, actor: str,
               note: str | None = None) -> tuple[PlaybookState, bool]:
    """Pause or resume ``playbook`` (one of ``known``, the plan's playbooks) as ``actor``, logged;
    returns its state and whether anything changed. The library call of `aios playbooks pause|resume`
    and of the dashboard's switch."""
    names = list(known)
    if playbook not in names:
        import difflib

        close = difflib.get_close_matches(playbook, names, n=1)
        raise RunError(f"no playbook `{playbook}`" + (f"; did you mean `{close[0]}`?" if close else "") +
                       " (see `aios playbooks list`)")
    with store.transaction() as conn:
        if paused_:
            changed = pause(conn, playbook, actor=actor, note=note)[1]
        else:
            changed = resume(conn, playbook, actor=actor, note=note)[1]
        return states_of(conn, [playbook])[0], changed
