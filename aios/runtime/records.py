"""Canonical records: versioned rows with provenance, a current view and full history.

Every write is a new version (versions are append-only, like the log: triggers refuse UPDATE and
DELETE); the ``records_current`` view shows the newest version of each record. A version carries
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
    if "records_current" not in db.view_names():
        db.create_view("records_current", """
            SELECT r.* FROM records r
            WHERE r.version = (SELECT max(version) FROM records m WHERE m.schema = r.schema AND m.id = r.id)
        """)
    for op in ("UPDATE", "DELETE"):
        conn.execute(f"CREATE TRIGGER IF NOT EXISTS records_no_{op.lower()} BEFORE {op} ON records "
                     f"BEGIN SELECT RAISE(ABORT, 'record versions are immutable: {op} refused'); END")


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
        view = self.db.view("records_current")
        where, args = ("schema = ?", [schema]) if schema else (None, [])
        for row in view.rows_where(where, args, order_by="schema, written_at desc, id", limit=limit):
            yield _row_to_version(row)

    def written_by_run(self, run_id: str) -> list[RecordVersion]:
        return [_row_to_version(r) for r in self.db.table("records").rows_where(
            "run_id = ?", [run_id], order_by="written_at, schema, id")]

    def schemas(self) -> list[tuple[str, int]]:
        return [(r[0], int(r[1])) for r in self.conn.execute(
            "SELECT schema, count(*) FROM records_current GROUP BY schema ORDER BY schema")]
