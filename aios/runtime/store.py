"""The state store: one SQLite file (``<storage>/state.db``) in WAL mode.

Durability reasoning. ``journal_mode=WAL`` with ``synchronous=FULL`` makes every COMMIT append the
transaction's pages to the WAL and fsync the WAL once before COMMIT returns; a transaction is durable
exactly when that fsync completes, and a crash before it leaves the transaction invisible (SQLite
ignores WAL frames without a valid commit record and checksum). ``synchronous=NORMAL`` would skip that
fsync and survive process crashes but not power loss, so it is not used. The interpreter writes one
transaction per step, hence at most one fsync per step (two for a side-effecting connector step: the
intent must be durable before the effect, then the result). Checkpoints (copying the WAL back into
the database) happen every ``wal_autocheckpoint`` pages and cost extra fsyncs then, not per step.

Writers take the write lock up front (``BEGIN IMMEDIATE``) so two processes never deadlock on lock
upgrade; ``busy_timeout`` lets a second process wait instead of failing.

Secrets never reach the file: the connection masks (``aios.masking``) the text parameters of every
INSERT, UPDATE and REPLACE run through it or through its cursors, the one place every write passes.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from aios import masking
from aios.errors import StorageError

__all__ = ["Store", "SCHEMA_VERSION", "CommitProbe", "use_wal", "MaskingConnection", "MaskingCursor"]

SCHEMA_VERSION = 3  # 2: indexes for keyset listings and due expiry, the records_head table; 3: alerts.acknowledged_by

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plans (
    hash TEXT PRIMARY KEY, created_at TEXT NOT NULL, snapshot BLOB
);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, source TEXT, time TEXT NOT NULL, payload TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, playbook TEXT NOT NULL, plan_hash TEXT NOT NULL, event_id TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, finished_at TEXT,
    error TEXT, cost_usd REAL NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0, owner TEXT,
    rerun_of TEXT, rerun_from TEXT
);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at, id);
CREATE INDEX IF NOT EXISTS runs_status_created ON runs(status, created_at, id);
CREATE INDEX IF NOT EXISTS runs_playbook_created ON runs(playbook, created_at, id);
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY, run_id TEXT, step_id TEXT, type TEXT NOT NULL, at TEXT NOT NULL,
    body TEXT NOT NULL, prev BLOB NOT NULL, hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS log_run ON log(run_id, seq);
CREATE TABLE IF NOT EXISTS log_segments (
    id INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    last_hash BLOB NOT NULL, path TEXT NOT NULL, sealed_at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS log_no_update BEFORE UPDATE ON log
BEGIN SELECT RAISE(ABORT, 'the episodic log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS log_no_delete BEFORE DELETE ON log
WHEN old.seq > coalesce((SELECT max(last_seq) FROM log_segments), 0)
BEGIN SELECT RAISE(ABORT, 'the episodic log is append-only: DELETE refused (only archived segments may be dropped)'); END;
CREATE TRIGGER IF NOT EXISTS segments_no_update BEFORE UPDATE ON log_segments
BEGIN SELECT RAISE(ABORT, 'log segments are append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS segments_no_delete BEFORE DELETE ON log_segments
BEGIN SELECT RAISE(ABORT, 'log segments are append-only: DELETE refused'); END;
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY, run_id TEXT NOT NULL, step_id TEXT NOT NULL, site TEXT NOT NULL,
    kind TEXT NOT NULL, message TEXT NOT NULL, rule TEXT, approvers TEXT NOT NULL DEFAULT '[]',
    requested_at TEXT NOT NULL, expires_at TEXT, on_timeout TEXT NOT NULL DEFAULT 'reject',
    status TEXT NOT NULL, decided_by TEXT, decided_at TEXT, note TEXT
);
CREATE INDEX IF NOT EXISTS approvals_status_requested ON approvals(status, requested_at);
CREATE INDEX IF NOT EXISTS approvals_due ON approvals(status, expires_at);
CREATE INDEX IF NOT EXISTS approvals_run ON approvals(run_id, site);
CREATE INDEX IF NOT EXISTS approvals_run_status ON approvals(run_id, status, requested_at);
CREATE INDEX IF NOT EXISTS approvals_requested ON approvals(requested_at);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, run_id TEXT, step_id TEXT, severity TEXT NOT NULL, message TEXT NOT NULL,
    created_at TEXT NOT NULL, acknowledged_at TEXT, acknowledged_by TEXT
);
CREATE TABLE IF NOT EXISTS breakers (
    connector TEXT PRIMARY KEY, failures INTEGER NOT NULL, opened_until REAL NOT NULL DEFAULT 0
);
"""

# Upgrading a store in place: the DDL above only creates what is missing, so it and these drops (of
# indexes that later ones replace; the planner preferred them to the composite ones) bring a store of
# any earlier version up to date, and running them twice changes nothing.
_DROPPED = (
    "DROP INDEX IF EXISTS runs_status",  # v1: runs_status_created serves status filters and their order
    "DROP INDEX IF EXISTS approvals_status",  # v1: chosen over run_id for a run's approvals, scanning all
)


class CommitProbe:
    """Marks, in a memory-mapped byte, whether the process is inside a COMMIT.

    Enabled only when ``AIOS_COMMIT_PROBE`` names a file (the crash test does this): after a SIGKILL
    the file still says where the process died, which proves kills landed inside commits.
    """

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < 16:
                os.ftruncate(fd, 16)
            self._map = mmap.mmap(fd, 16)
        finally:
            os.close(fd)

    def set(self, phase: int) -> None:
        self._map[0] = phase

    def count(self) -> None:
        self._map[1] = (self._map[1] + 1) % 256

    def close(self) -> None:
        self._map.close()


_Params = Sequence[Any] | Mapping[str, Any]
_writes: dict[str, bool] = {}  # SQL text -> whether it writes (statements are few and reused)


def _masked(sql: str, params: _Params) -> _Params:
    """The parameters with secrets masked in their text, for a statement that writes."""
    masker = masking.active()
    if not masker.values or not params:
        return params
    writes = _writes.get(sql)
    if writes is None:
        if len(_writes) > 4096:
            _writes.clear()
        writes = _writes[sql] = sql.lstrip()[:7].upper().startswith(("INSERT", "UPDATE", "REPLACE"))
    if not writes:
        return params
    values = params.values() if isinstance(params, Mapping) else params
    if not masker.hit("\x00".join([v for v in values if type(v) is str])):  # one quick test per statement
        return params
    if isinstance(params, Mapping):
        return {k: masker.mask_json(v) if isinstance(v, str) else v for k, v in params.items()}
    return tuple(masker.mask_json(v) if isinstance(v, str) else v for v in params)


class MaskingCursor(sqlite3.Cursor):
    """A cursor whose writes are masked (see `_masked`)."""

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        return super().execute(sql, _masked(sql, parameters))

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Self:
        if masking.active().values:
            seq_of_parameters = [_masked(sql, p) for p in seq_of_parameters]
        return super().executemany(sql, seq_of_parameters)


class MaskingConnection(sqlite3.Connection):
    """A connection whose writes, its own and its cursors', are masked (see `_masked`)."""

    def cursor(self, factory: Any = MaskingCursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return super().execute(sql, _masked(sql, parameters))

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> sqlite3.Cursor:
        if masking.active().values:
            seq_of_parameters = [_masked(sql, p) for p in seq_of_parameters]
        return super().executemany(sql, seq_of_parameters)


class Store:
    """A connection to ``state.db`` with the schema in place. Not shared between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0,
                                        check_same_thread=False, factory=MaskingConnection)
        except sqlite3.Error as err:
            raise StorageError(f"cannot open the state store {path}: {err}") from err
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA busy_timeout=30000")
            mode = use_wal(self.conn)
            if str(mode).lower() != "wal":
                raise StorageError(f"the state store {path} could not switch to WAL (mode {mode})")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self._ensure_schema()
        except sqlite3.DatabaseError as err:
            self.conn.close()
            raise StorageError(f"the state store {path} is not usable: {err}") from err
        probe = os.environ.get("AIOS_COMMIT_PROBE")
        self._probe = CommitProbe(probe) if probe else None
        # one reusable cursor with plain tuple rows for the statements every step runs (a Row per
        # fetch and a new cursor per statement cost more than the statements themselves)
        self.cursor = self.conn.cursor()
        self.cursor.row_factory = None

    @classmethod
    def open(cls, storage_dir: Path) -> Store:
        return cls(storage_dir / "state.db")

    def _ensure_schema(self) -> None:
        row = None
        with contextlib.suppress(sqlite3.OperationalError):
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is not None and int(row[0]) == SCHEMA_VERSION:
            return
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise StorageError(f"the state store {self.path} was written by a newer aios "
                               f"(schema {row[0]}, this is {SCHEMA_VERSION})")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if row is not None and self.conn.execute(  # another process upgraded it while this one waited
                    "SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION):
                self.conn.execute("COMMIT")
                return
            for statement in _split(_DDL):
                self.conn.execute(statement)
            from aios.runtime.records import ensure_records_schema

            ensure_records_schema(self.conn)
            for statement in _DROPPED:
                self.conn.execute(statement)
            if "acknowledged_by" not in {r[1] for r in self.conn.execute("PRAGMA table_info(alerts)")}:
                self.conn.execute("ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT")  # v3
            self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                              (str(SCHEMA_VERSION),))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def transaction(self) -> _Transaction:
        """One write transaction: the lock is taken at BEGIN, the one fsync happens at COMMIT."""
        return _Transaction(self.conn, self.cursor, self._probe)

    def probe_phase(self, phase: int) -> None:
        if self._probe is not None:
            self._probe.set(phase)

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def use_wal(conn: sqlite3.Connection, timeout_s: float = 30.0) -> str:
    """Put the database in WAL mode (a property of the file, so usually it already is).

    Switching needs the database to itself, and SQLite answers "database is locked" at once, without
    waiting on the busy timeout, when another process holds it at that moment: two processes opening
    a new database together (a server and a CLI command, two tests) would see one fail. So wait and
    retry. Every SQLite file aios keeps (state, effect journal, vectors) opens through this.
    """
    mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    if mode.lower() == "wal":
        return mode
    deadline = time.monotonic() + timeout_s
    delay = 0.002
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) and "busy" not in str(err) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


class _Transaction:
    """``with store.transaction() as conn``: BEGIN IMMEDIATE, then COMMIT, or ROLLBACK on any exception.

    A class rather than a generator context manager: it runs on every step's commit."""

    __slots__ = ("conn", "cursor", "probe")

    def __init__(self, conn: sqlite3.Connection, cursor: sqlite3.Cursor, probe: CommitProbe | None) -> None:
        self.conn = conn
        self.cursor = cursor
        self.probe = probe

    def __enter__(self) -> sqlite3.Connection:
        self.cursor.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        conn = self.conn
        if exc_type is not None:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return
        probe = self.probe
        if probe is not None:
            probe.set(1)
        try:
            self.cursor.execute("COMMIT")
        except BaseException:  # e.g. the disk is full: nothing of this transaction is kept
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if probe is not None:
            probe.set(0)
            probe.count()


def _split(ddl: str) -> list[str]:
    """Split the DDL into statements, keeping trigger bodies (``BEGIN … END;``) whole."""
    out: list[str] = []
    buf: list[str] = []
    for line in ddl.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            out.append(text)
            buf = []
    if buf and "\n".join(buf).strip():
        out.append("\n".join(buf).strip())
    return out
