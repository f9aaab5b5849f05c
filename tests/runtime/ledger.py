"""A connector that applies effects to a real on-disk SQLite ledger, keyed by idempotency key.

``calls`` counts every call per key; ``effects`` holds one row per key that was applied. Used as a
workspace connector (``module: ledger:apply``) by the crash test, and directly by unit tests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["apply", "undo", "open_ledger", "counts"]


def open_ledger(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, n INTEGER NOT NULL)")
    conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, amount INTEGER NOT NULL, "
                 "run_id TEXT NOT NULL, step_id TEXT NOT NULL, undone INTEGER NOT NULL DEFAULT 0)")
    return conn


def _ledger_path(call: Any) -> Path:
    return call.path_in_workspace(str(call.settings.get("db", "ledger.db")))


def apply(call: Any) -> Mapping[str, Any]:
    conn = open_ledger(_ledger_path(call))
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO calls(key, n) VALUES (?, 1) ON CONFLICT(key) DO UPDATE SET n = n + 1",
                     (call.idempotency_key,))
        row = conn.execute("SELECT rowid FROM effects WHERE key = ?", (call.idempotency_key,)).fetchone()
        if row is None:
            cur = conn.execute("INSERT INTO effects(key, amount, run_id, step_id) VALUES (?,?,?,?)",
                               (call.idempotency_key, int(call.input.get("amount", 1)), call.provenance.run_id,
                                call.provenance.step_id))
            ref = cur.lastrowid
        else:
            ref = row[0]
        conn.execute("COMMIT")
    finally:
        conn.close()
    return {"ref": f"L{ref}"}


def undo(call: Any) -> Mapping[str, Any]:
    conn = open_ledger(_ledger_path(call))
    try:
        cur = conn.execute("UPDATE effects SET undone = 1 WHERE 'L' || rowid = ?", (str(call.input.get("ref")),))
        return {"undone": cur.rowcount > 0}
    finally:
        conn.close()


def counts(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """(calls per key, applied effects per key)."""
    conn = open_ledger(path)
    try:
        calls = {k: n for k, n in conn.execute("SELECT key, n FROM calls")}
        effects: dict[str, int] = {}
        for (k,) in conn.execute("SELECT key FROM effects"):
            effects[k] = effects.get(k, 0) + 1
        return calls, effects
    finally:
        conn.close()
