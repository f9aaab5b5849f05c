"""Canonical records: versioned rows with provenance, a current view and full history.

Every write is a new version (versions are append-only, like the log: triggers refuse UPDATE and
DELETE); ``records_head`` (kept by a trigger in the writing transaction) names the newest version of
each record and the ``records_current`` view joins it to the versions. A version carries
where it came from: run, step, plan hash and time. Tables are defined and queried through
sqlite-utils on the store's own connection, so a record write joins the step's transaction (the write
itself is one plain INSERT).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aios.plan.types import RecordType
from aios.runtime.log import dumps
from aios.runtime.queries import records_page
from aios.runtime.validation import validate_record

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["RecordVersion", "RecordStore", "RecordInvalid", "ensure_records_schema"]


class RecordInvalid(ValueError):
    def __init__(self, schema: str, errors: list[str]) -> None:
        self.schema = schema
        self.errors = errors
        super().__init__(f"{schema} record is invalid: " + "; ".join(errors))


@dataclass(frozen=True, slots=True)
class RecordVersion:
    schema: str
    id: str
    version: int
    data: dict[str, Any]
    run_id: str | None
    step_id: str | None
    plan_hash: str | None
    written_at: str
    sha256: str

    def as_context(self) -> dict[str, Any]:
        """What templates see as ``records.<Schema>``: the fields, plus ``id`` and ``_version``."""
        out = dict(self.data)
        out.setdefault("id", self.id)
        out["_version"] = self.version
        return out


def _db(conn: sqlite3.Connection) -> sqlite_utils.Database:
    # imported when records are first touched: sqlite-utils imports numpy when it is installed, which
    # costs commands that never read or write a record (`aios runs list`, `aios approve`) a tenth of a second
    import sqlite_utils

    return sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)


def ensure_records_schema(conn: sqlite3.Connection) -> None:
    db = _db(conn)
    table = db.table("records")
    if not table.exists():
        table.create({"schema": str, "id": str, "version": int, "data": str, "run_id": str,
                      "step_id": str, "plan_hash": str, "written_at": str, "sha256": str},
                     pk=("schema", "id", "version"), not_null={"schema", "id", "version", "data",
                                                                "written_at", "sha256"})
        table.create_index(["run_id"], index_name="records_run")
    conn.execute(_HEAD_DDL)
    conn.execute("CREATE INDEX IF NOT EXISTS records_head_written ON records_head(schema, written_at, id)")
    conn.execute(_HEAD_TRIGGER)
    if "records_current" in db.view_names() and "records_head" not in _view_sql(conn):
        conn.execute("DROP VIEW records_current")  # a v1 store: the view computed every record's max
    if "records_current" not in db.view_names():
        # a store written before records_head existed: fill it from the versions (idempotent)
        conn.execute("INSERT OR REPLACE INTO records_head(schema, id, version, written_at) "
                     "SELECT r.schema, r.id, r.version, r.written_at FROM records r WHERE r.version = "
                     "(SELECT max(version) FROM records m WHERE m.schema = r.schema AND m.id = r.id)")
        db.create_view("records_current", """
            SELECT r.* FROM records_head h
            JOIN records r ON r.schema = h.schema AND r.id = h.id AND r.version = h.version
        """)
    for op in ("UPDATE", "DELETE"):
        conn.execute(f"CREATE TRIGGER IF NOT EXISTS records_no_{op.lower()} BEFORE {op} ON records "
                     f"BEGIN SELECT RAISE(ABORT, 'record versions are immutable: {op} refused'); END")


# The newest version of each record, kept by a trigger in the transaction that writes the version, so
# the current view and its keyset listing never compute a max over every version.
_HEAD_DDL = """CREATE TABLE IF NOT EXISTS records_head (
    schema TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, written_at TEXT NOT NULL,
    PRIMARY KEY (schema, id)
) WITHOUT ROWID"""
_HEAD_TRIGGER = """CREATE TRIGGER IF NOT EXISTS records_head_track AFTER INSERT ON records
BEGIN
    INSERT INTO records_head(schema, id, version, written_at) VALUES (new.schema, new.id, new.version, new.written_at)
    ON CONFLICT(schema, id) DO UPDATE SET version = excluded.version, written_at = excluded.written_at
    WHERE excluded.version > records_head.version;
END"""


def _view_sql(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'records_current'").fetchone()
    return str(row[0]) if row else ""


def _row_to_version(row: dict[str, Any]) -> RecordVersion:
    return RecordVersion(row["schema"], row["id"], int(row["version"]), json.loads(row["data"]),
                         row["run_id"], row["step_id"], row["plan_hash"], row["written_at"], row["sha256"])


class RecordStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._db: sqlite_utils.Database | None = None

    @property
    def db(self) -> sqlite_utils.Database:
        if self._db is None:
            self._db = _db(self.conn)
        return self._db

    def write(self, rt: RecordType, record_id: str, data: Any, *, run_id: str | None, step_id: str | None,
              plan_hash: str | None, at: str) -> RecordVersion:
        """Validate and append a new version. Call inside the step's write transaction."""
        clean, errors = validate_record(rt, data)
        if errors:
            raise RecordInvalid(rt.name, errors)
        row = self.conn.execute("SELECT max(version) FROM records WHERE schema = ? AND id = ?",
                                (rt.name, record_id)).fetchone()
        version = int(row[0] or 0) + 1
        text = dumps(clean)
        sha = hashlib.sha256(text.encode()).hexdigest()
        # one prepared statement: this runs inside every step that writes a record, where sqlite-utils'
        # insert (which first inspects the table) costs more than the rest of the write
        self.conn.execute("INSERT INTO records(schema, id, version, data, run_id, step_id, plan_hash, written_at, "
                          "sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (rt.name, record_id, version, text, run_id, step_id, plan_hash, at, sha))
        return RecordVersion(rt.name, record_id, version, clean, run_id, step_id, plan_hash, at, sha)

    def get(self, schema: str, record_id: str, version: int | None = None) -> RecordVersion | None:
        if version is None:
            rows = list(self.db.table("records").rows_where("schema = ? AND id = ?", [schema, record_id],
                                                            order_by="version desc", limit=1))
        else:
            rows = list(self.db.table("records").rows_where("schema = ? AND id = ? AND version = ?",
                                                            [schema, record_id, version]))
        return _row_to_version(rows[0]) if rows else None

    def history(self, schema: str, record_id: str) -> list[RecordVersion]:
        return [_row_to_version(r) for r in self.db.table("records").rows_where(
            "schema = ? AND id = ?", [schema, record_id], order_by="version")]

    def current(self, schema: str | None = None, limit: int | None = None) -> Iterator[RecordVersion]:
        """Current versions, most recently written first (of one schema, or schema by schema)."""
        schemas = [schema] if schema else [name for name, _ in self.schemas()]
        left = limit
        for name in schemas:
            cursor: str | None = None
            while left is None or left > 0:
                rows, cursor = records_page(self.conn, name, before=cursor, limit=min(left or 500, 500))
                for row in rows:
                    yield _row_to_version(row)
                if left is not None:
                    left -= len(rows)
                if cursor is None:
                    break

    def page(self, schema: str, *, before: str | None = None, limit: int = 50,
             ) -> tuple[list[RecordVersion], str | None]:
        """One keyset page of `current` for ``schema`` and the cursor of the next (see `aios.runtime.queries`)."""
        rows, cursor = records_page(self.conn, schema, before=before, limit=limit)
        return [_row_to_version(r) for r in rows], cursor

    def written_by_run(self, run_id: str) -> list[RecordVersion]:
        return [_row_to_version(r) for r in self.db.table("records").rows_where(
            "run_id = ?", [run_id], order_by="written_at, schema, id")]

    def schemas(self) -> list[tuple[str, int]]:
        return [(r[0], int(r[1])) for r in self.conn.execute(
            "SELECT schema, count(*) FROM records_head GROUP BY schema ORDER BY schema")]
