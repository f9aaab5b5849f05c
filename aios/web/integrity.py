"""Log integrity for the overview, verified incrementally: the walk of the hash chain
(`aios.runtime.log.verify`) continues after the last entry an earlier walk verified, persisted in
``<storage>/web-integrity.json``, so a request costs the entries written since (at most ``STEP`` of
them; the rest on the next requests), not the whole log.

The cache is checked before use: the stored hash of its entry must still be that entry's hash, or
the walk starts over from the anchor. ``aios log verify`` remains the full check.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from aios.runtime.log import verify

__all__ = ["integrity", "STEP", "CACHE_FILE"]

STEP = 200_000
CACHE_FILE = "web-integrity.json"
_locks: dict[Path, threading.Lock] = {}
_guard = threading.Lock()


def _load(path: Path) -> tuple[int, str] | None:
    try:
        data = json.loads(path.read_text())
        return int(data["seq"]), str(data["head"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save(path: Path, seq: int, head: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"seq": seq, "head": head}))
    os.replace(tmp, path)


def _anchor(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT last_seq FROM log_segments ORDER BY last_seq DESC LIMIT 1").fetchone()
    return int(row[0]) if row else 0


def integrity(conn: sqlite3.Connection, storage_dir: Path, *, step: int = STEP) -> dict[str, Any]:
    """``{ok, verified_seq, head, last_seq, behind, walked, broken_at, reason, message}``."""
    path = storage_dir / CACHE_FILE
    with _guard:
        lock = _locks.setdefault(path, threading.Lock())
    with lock:
        cached = _load(path)
        anchor = _anchor(conn)
        if cached is not None and cached[0] > anchor:
            row = conn.execute("SELECT hash FROM log WHERE seq = ?", (cached[0],)).fetchone()
            if row is None or bytes(row[0]).hex() != cached[1]:
                cached = None  # the entry it vouched for is gone or changed: walk again from the anchor
        elif cached is not None:
            cached = None  # archived since: the segments' anchor is the start
        start = cached[0] if cached is not None else anchor
        since = (cached[0], bytes.fromhex(cached[1])) if cached is not None else None
        result = verify(conn, since=since, limit=step)
        seq = start + result.entries
        if result.ok and (cached is None or seq != cached[0]):
            with contextlib.suppress(OSError):
                _save(path, seq, result.head)
        last = conn.execute("SELECT max(seq) FROM log").fetchone()[0]
        last_seq = int(last) if last is not None else anchor
    behind = max(last_seq - seq, 0)
    if result.ok:
        message = f"verified up to seq {seq}, head {result.head[:16]}"
        if behind:
            message += f"; {behind} newer entries still to verify"
    else:
        message = result.describe()
    return {"ok": result.ok, "verified_seq": seq, "head": result.head, "last_seq": last_seq, "behind": behind,
            "walked": result.entries, "broken_at": result.broken_at, "reason": result.reason, "message": message}
