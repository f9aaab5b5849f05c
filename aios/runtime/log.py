"""The episodic log: append-only (triggers refuse UPDATE and DELETE) and hash-chained.

Each entry's hash is ``sha256(prev_hash ‖ seq ‖ run ‖ step ‖ type ‖ at ‖ body)``, with the stored
JSON text of the body hashed as written, so verification needs no canonical re-encoding. One chain
runs through the whole store (entries of concurrent runs interleave in commit order), which makes
"nothing was removed or reordered anywhere" a single check. Archived prefixes are anchored by the
``log_segments`` table: the only rows the delete trigger lets go are those a sealed segment covers,
and verification starts from that segment's last hash.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aios import masking

__all__ = ["GENESIS", "LogEntry", "Verification", "append", "entries_for_run", "all_entries", "verify", "now_iso",
           "dumps", "entry_hash"]

GENESIS = b"\x00" * 32
_SEP = b"\x1f"


_second: tuple[int, str] = (-1, "")  # the last whole second formatted (one tuple: threads read it whole)


def now_iso() -> str:
    """UTC now as ``2026-11-21T09:30:00.123Z`` (the one timestamp format of the store)."""
    global _second
    ms = int(time.time() * 1000)
    sec, text = _second
    if sec != ms // 1000:
        sec = ms // 1000
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        _second = (sec, text)
    return f"{text}.{ms % 1000:03d}Z"


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default)


def dumps(value: Any) -> str:
    """The one JSON encoding used for log bodies and stored values (one encoder, built once).

    Secrets are masked here, string by string (``aios.masking``), so the log's hash and a record's
    digest are taken over the text as stored."""
    text = _ENCODER.encode(value)
    masker = masking.active()
    if masker.values and masker.hit(text):
        text = _ENCODER.encode(masker.mask_value(value))
    return text


def entry_hash(prev: bytes, seq: int, run_id: str | None, step_id: str | None, type_: str, at: str,
               body: str) -> bytes:
    h = hashlib.sha256(prev)
    h.update(_SEP.join((str(seq).encode(), (run_id or "").encode(), (step_id or "").encode(),
                        type_.encode(), at.encode(), body.encode())))
    return h.digest()


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    run_id: str | None
    step_id: str | None
    type: str
    at: str
    body: dict[str, Any]


#: what appends run on: the connection, or a cursor of it (the runtime's plain-tuple hot-path cursor)
Sql = sqlite3.Connection | sqlite3.Cursor


def _tail(conn: Sql) -> tuple[int, bytes]:
    row = conn.execute("SELECT seq, hash FROM log ORDER BY seq DESC LIMIT 1").fetchone()
    if row is not None:
        return int(row[0]), bytes(row[1])
    seg = conn.execute("SELECT last_seq, last_hash FROM log_segments ORDER BY last_seq DESC LIMIT 1").fetchone()
    if seg is not None:
        return int(seg[0]), bytes(seg[1])
    return 0, GENESIS


def append(conn: Sql, items: list[tuple[str | None, str | None, str, dict[str, Any]]],
           at: str | None = None) -> int:
    """Append ``(run_id, step_id, type, body)`` entries; call inside a write transaction.

    Returns the number of bytes of body text written (for accounting in the bench).
    """
    seq, prev = _tail(conn)
    stamp = at or now_iso()
    rows = []
    size = 0
    for run_id, step_id, type_, body in items:
        seq += 1
        text = dumps(body)
        size += len(text)
        digest = entry_hash(prev, seq, run_id, step_id, type_, stamp, text)
        rows.append((seq, run_id, step_id, type_, stamp, text, prev, digest))
        prev = digest
    if len(rows) == 1:
        conn.execute(_INSERT, rows[0])
    else:
        conn.executemany(_INSERT, rows)
    return size


_INSERT = "INSERT INTO log(seq, run_id, step_id, type, at, body, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def entries_for_run(conn: sqlite3.Connection, run_id: str) -> Iterator[LogEntry]:
    """A run's entries, oldest first: those archived by compaction (cold segments) and the live ones."""
    yield from _archived_entries(conn, run_id)
    for row in conn.execute("SELECT seq, run_id, step_id, type, at, body FROM log WHERE run_id = ? "
                            "ORDER BY seq", (run_id,)):
        yield LogEntry(int(row[0]), row[1], row[2], row[3], row[4], json.loads(row[5]))


def all_entries(conn: sqlite3.Connection) -> Iterator[LogEntry]:
    """Every entry ever written, oldest first: archived segments, then the live log."""
    yield from _archived_entries(conn, None)
    for row in conn.execute("SELECT seq, run_id, step_id, type, at, body FROM log ORDER BY seq"):
        yield LogEntry(int(row[0]), row[1], row[2], row[3], row[4], json.loads(row[5]))


def _archived_entries(conn: sqlite3.Connection, run_id: str | None) -> Iterator[LogEntry]:
    """Archived entries of one run (or of every run when ``run_id`` is None)."""
    segments = [(int(r[0]), int(r[1]), bytes(r[2]), str(r[3])) for r in conn.execute(
        "SELECT first_seq, last_seq, last_hash, path FROM log_segments ORDER BY first_seq")]
    if not segments:
        return
    from aios.memory.archive import iter_archived  # the cold-segment file format lives with memory tiers

    db_file = next((r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"), "")
    archive_dir = Path(db_file).parent / "archive"
    for _, row in iter_archived(archive_dir, segments):
        if run_id is None or row.run_id == run_id:
            yield LogEntry(row.seq, row.run_id, row.step_id, row.type, row.at, row.body)


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    entries: int
    head: str  # hex hash of the last verified entry
    broken_at: int | None = None
    run_id: str | None = None
    step_id: str | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.ok:
            return f"log verified: {self.entries} entries, head {self.head[:16]}"
        where = f"seq {self.broken_at}"
        if self.run_id:
            where += f" (run {self.run_id}" + (f", step {self.step_id})" if self.step_id else ")")
        return f"log chain broken at {where}: {self.reason}; {self.entries} entries before it verify"


def verify(conn: sqlite3.Connection, *, since: tuple[int, bytes] | None = None,
           limit: int | None = None) -> Verification:
    """Walk the chain from its anchor; report the first entry that does not fit.

    ``since`` is ``(seq, hash)`` of an entry an earlier walk verified: the walk continues after it
    (``entries`` then counts only the entries walked), unless it lies before the archived segments.
    ``limit`` stops the walk, verified so far, after that many entries."""
    seg = conn.execute("SELECT last_seq, last_hash FROM log_segments ORDER BY last_seq DESC LIMIT 1").fetchone()
    expected_seq, prev = (int(seg[0]), bytes(seg[1])) if seg is not None else (0, GENESIS)
    if since is not None and since[0] > expected_seq:
        expected_seq, prev = since
    count = 0
    cur = conn.execute("SELECT seq, run_id, step_id, type, at, body, prev, hash FROM log "
                       "WHERE seq > ? ORDER BY seq" + (" LIMIT ?" if limit is not None else ""),
                       (expected_seq,) if limit is None else (expected_seq, limit))
    for seq, run_id, step_id, type_, at, body, stored_prev, stored_hash in cur:
        expected_seq += 1
        if seq != expected_seq:
            return Verification(False, count, prev.hex(), seq, run_id, step_id,
                                f"entry {expected_seq} is missing (found {seq} next)")
        if bytes(stored_prev) != prev:
            return Verification(False, count, prev.hex(), seq, run_id, step_id,
                                "its link does not match the previous entry's hash (an entry before it "
                                "was removed or replaced)")
        digest = entry_hash(prev, seq, run_id, step_id, type_, at, body)
        if digest != bytes(stored_hash):
            return Verification(False, count, prev.hex(), seq, run_id, step_id,
                                "its content does not match its hash (the entry was altered)")
        prev = digest
        count += 1
    return Verification(True, count, prev.hex())
