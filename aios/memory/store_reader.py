"""Read-only access to the runtime's state store (``<storage>/state.db``), the source of truth.

The memory layer follows two monotonic positions there:

- ``records.rowid``: record versions are inserted, never updated or deleted (triggers refuse it), and
  SQLite serializes writers, so every committed version has a larger rowid than every version
  committed before it. "Everything after rowid W" is therefore exactly what the index has not seen.
- ``log.seq``: the episodic log's own gap-free sequence.

All reads of one sync happen in one read transaction, so the log, the runs and the records it sees
are one consistent snapshot (WAL readers never block the writer).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aios.errors import StorageError

__all__ = ["RecordRow", "LogRow", "RunRow", "StoreReader", "TERMINAL_STATUSES"]

TERMINAL_STATUSES = frozenset({"completed", "failed", "rejected", "cancelled"})


@dataclass(frozen=True, slots=True)
class RecordRow:
    rowid: int
    schema: str
    id: str
    version: int
    data: dict[str, Any] = field(hash=False)
    run_id: str | None
    step_id: str | None
    plan_hash: str | None
    written_at: str


@dataclass(frozen=True, slots=True)
class LogRow:
    seq: int
    run_id: str | None
    step_id: str | None
    type: str
    at: str
    body_text: str  # exactly as stored (hashed as written)
    prev: bytes
    hash: bytes

    @property
    def body(self) -> dict[str, Any]:
        value = json.loads(self.body_text)
        return value if isinstance(value, dict) else {"value": value}


@dataclass(frozen=True, slots=True)
class RunRow:
    id: str
    playbook: str
    status: str
    event_id: str
    event_type: str | None
    created_at: str
    finished_at: str | None
    updated_at: str
    error: str | None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


_RECORD_COLS = "rowid, schema, id, version, data, run_id, step_id, plan_hash, written_at"
_LOG_COLS = "seq, run_id, step_id, type, at, body, prev, hash"


def _record(row: sqlite3.Row | tuple[Any, ...]) -> RecordRow:
    data = json.loads(row[4])
    return RecordRow(int(row[0]), str(row[1]), str(row[2]), int(row[3]), data if isinstance(data, dict) else {},
                     row[5], row[6], row[7], str(row[8]))


def _log(row: sqlite3.Row | tuple[Any, ...]) -> LogRow:
    return LogRow(int(row[0]), row[1], row[2], str(row[3]), str(row[4]), str(row[5]), bytes(row[6]), bytes(row[7]))


class StoreReader:
    """A short-lived read-only connection; use as a context manager (one snapshot per ``with``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def __enter__(self) -> StoreReader:
        if self.exists:
            try:
                self.conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
                self.conn.execute("PRAGMA query_only=1")
                self.conn.execute("BEGIN")
            except sqlite3.Error as err:
                if self.conn is not None:
                    self.conn.close()
                    self.conn = None
                raise StorageError(f"cannot read the state store {self.path}: {err}") from err
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.conn is not None:
            try:
                self.conn.execute("COMMIT")
            finally:
                self.conn.close()
                self.conn = None

    def _has(self, table: str) -> bool:
        if self.conn is None:
            return False
        row = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        return row is not None

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        assert self.conn is not None
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise StorageError(f"cannot read the state store {self.path}: {err}") from err

    # -- records --------------------------------------------------------------------------------

    def max_record_rowid(self) -> int:
        if not self._has("records"):
            return 0
        return int(self._rows("SELECT coalesce(max(rowid), 0) FROM records")[0][0])

    def records_after(self, rowid: int) -> list[RecordRow]:
        """Record versions committed after ``rowid``, oldest first."""
        if not self._has("records"):
            return []
        return [_record(r) for r in self._rows(
            f"SELECT {_RECORD_COLS} FROM records WHERE rowid > ? ORDER BY rowid", (rowid,))]

    def current_records(self) -> Iterator[RecordRow]:
        if not self._has("records"):
            return
        yield from (_record(r) for r in self._rows(
            f"SELECT {_RECORD_COLS} FROM records r WHERE version = (SELECT max(version) FROM records m "
            "WHERE m.schema = r.schema AND m.id = r.id) ORDER BY rowid"))

    def record_history(self, schema: str, record_id: str) -> list[RecordRow]:
        if not self._has("records"):
            return []
        return [_record(r) for r in self._rows(
            f"SELECT {_RECORD_COLS} FROM records WHERE schema = ? AND id = ? ORDER BY version",
            (schema, record_id))]

    def is_current(self, row: RecordRow) -> bool:
        found = self._rows("SELECT max(version) FROM records WHERE schema = ? AND id = ?", (row.schema, row.id))
        return bool(found) and found[0][0] == row.version

    # -- the episodic log -----------------------------------------------------------------------

    def max_log_seq(self) -> int:
        if not self._has("log"):
            return 0
        top = int(self._rows("SELECT coalesce(max(seq), 0) FROM log")[0][0])
        if top == 0 and self._has("log_segments"):
            top = int(self._rows("SELECT coalesce(max(last_seq), 0) FROM log_segments")[0][0])
        return top

    def log_after(self, seq: int) -> list[LogRow]:
        if not self._has("log"):
            return []
        return [_log(r) for r in self._rows(f"SELECT {_LOG_COLS} FROM log WHERE seq > ? ORDER BY seq", (seq,))]

    def log_range(self, first: int, last: int) -> list[LogRow]:
        if not self._has("log"):
            return []
        return [_log(r) for r in self._rows(
            f"SELECT {_LOG_COLS} FROM log WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last))]

    def log_for_run(self, run_id: str) -> list[LogRow]:
        if not self._has("log"):
            return []
        return [_log(r) for r in self._rows(
            f"SELECT {_LOG_COLS} FROM log WHERE run_id = ? ORDER BY seq", (run_id,))]

    def segments(self) -> list[tuple[int, int, bytes, str]]:
        """Sealed archive segments: (first_seq, last_seq, last_hash, path), oldest first."""
        if not self._has("log_segments"):
            return []
        return [(int(r[0]), int(r[1]), bytes(r[2]), str(r[3])) for r in self._rows(
            "SELECT first_seq, last_seq, last_hash, path FROM log_segments ORDER BY first_seq")]

    # -- runs -----------------------------------------------------------------------------------

    def runs(self, ids: set[str] | None = None) -> dict[str, RunRow]:
        if not self._has("runs"):
            return {}
        sql = ("SELECT r.id, r.playbook, r.status, r.event_id, e.type, r.created_at, r.finished_at, "
               "r.updated_at, r.error FROM runs r LEFT JOIN events e ON e.id = r.event_id")
        if ids is None:
            rows = self._rows(sql)
        else:
            wanted = sorted(ids)
            rows = []
            for i in range(0, len(wanted), 500):
                part = wanted[i:i + 500]
                rows += self._rows(f"{sql} WHERE r.id IN ({','.join('?' * len(part))})", tuple(part))
        return {str(r[0]): RunRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4], str(r[5]), r[6], str(r[7]),
                                  r[8]) for r in rows}
