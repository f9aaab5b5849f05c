"""``sqlite.upsert`` (and its compensation ``sqlite.restore``): a row of the operator's own SQLite
table, e.g. the inventory.

Settings: ``database`` (workspace-relative path, required), ``key_column`` (default ``key``),
``tables`` (optional: the only tables the connector may touch, as a list or as
``{table: {key_column: …}}``), ``busy_timeout_s`` (30: how long to wait for a lock; a lock still
held then is a transient failure).

Each upsert is recorded in a small bookkeeping table, ``aios_upserts``, in the same transaction as
the row it writes: a second call with the same idempotency key finds it and returns the first
output without writing again (even if the row changed since), reconciliation asks it whether the
upsert happened, and the row's previous values come back in the output so ``sqlite.restore`` can
put them back. A table that does not exist yet is created with the row's columns; an existing
table must already have them.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from aios.connectors.api import Context, Preview, Reconciliation, connector
from aios.runtime.connectors import ConnectorFailed

__all__ = ["upsert", "restore", "UpsertInput", "UpsertOutput", "RestoreInput", "RestoreOutput", "BOOKKEEPING"]

BOOKKEEPING = "aios_upserts"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UpsertInput(BaseModel):
    table: str
    key: str
    row: Any = None


class UpsertOutput(BaseModel):
    table: str
    key: str
    previous: dict[str, Any] | None = None  # the row's values before (null: the row was new)
    changed: bool = True


class RestoreInput(BaseModel):
    table: str
    key: str
    previous: dict[str, Any] | None = None


class RestoreOutput(BaseModel):
    restored: bool


def _ident(name: str, what: str) -> str:
    if not _IDENT.match(name) or name.lower().startswith("sqlite_") or name == BOOKKEEPING:
        raise ConnectorFailed(f"{what} `{name}` is not a plain SQL name (letters, digits, _)", transient=False)
    return f'"{name}"'


def _key_column(table: str, ctx: Context) -> str:
    tables = ctx.settings.get("tables")
    default = str(ctx.settings.get("key_column", "key"))
    if tables is None:
        return default
    if isinstance(tables, list):
        allowed: Mapping[str, Any] = {str(t): {} for t in tables}
    elif isinstance(tables, Mapping):
        allowed = tables
    else:
        raise ConnectorFailed("setting `tables` must be a list of table names or a mapping", transient=False)
    if table not in allowed:
        raise ConnectorFailed(f"table `{table}` is not one of the tables this workspace allows "
                              f"({', '.join(sorted(map(str, allowed)))})", transient=False)
    conf = allowed[table]
    return str(conf.get("key_column", default)) if isinstance(conf, Mapping) else default


def _database(ctx: Context) -> Path:
    db = ctx.settings.get("database")
    if not db:
        raise ConnectorFailed("no `database:` in the aios.yaml settings of sqlite.upsert (sqlite.restore, its "
                              "compensation, uses the same unless it has settings of its own)", transient=False)
    return ctx.path_in_workspace(str(db))


@contextlib.contextmanager
def _open(path: Path, ctx: Context, *, readonly: bool = False) -> Iterator[sqlite3.Connection]:
    timeout = float(ctx.settings.get("busy_timeout_s", 30.0))
    if readonly:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=timeout, isolation_level=None)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    try:
        yield conn
    except sqlite3.OperationalError as err:
        locked = "locked" in str(err) or "busy" in str(err)
        raise ConnectorFailed(f"SQLite {path.name}: {err}", transient=locked) from err
    except sqlite3.DatabaseError as err:
        raise ConnectorFailed(f"SQLite {path.name}: {err}", transient=False) from err
    finally:
        conn.close()


def _sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def _row(input: UpsertInput) -> dict[str, Any]:
    if not isinstance(input.row, Mapping) or not input.row:
        raise ConnectorFailed("`row` must be an object of column values", transient=False)
    out = {}
    for name, value in input.row.items():
        _ident(str(name), "column")
        out[str(name)] = _sql_value(value)
    return out


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({_ident(table, 'table')})")]


def _current(conn: sqlite3.Connection, table: str, key_col: str, key: str, cols: list[str],
             ) -> dict[str, Any] | None:
    sel = ", ".join(_ident(c, "column") for c in cols) or _ident(key_col, "column")
    row = conn.execute(f"SELECT {sel} FROM {_ident(table, 'table')} WHERE {_ident(key_col, 'column')} = ?",
                       (key,)).fetchone()
    return None if row is None else dict(zip(cols, row[:len(cols)], strict=True))


def _ensure_bookkeeping(conn: sqlite3.Connection) -> None:
    conn.execute(f"CREATE TABLE IF NOT EXISTS {BOOKKEEPING} (idempotency_key TEXT PRIMARY KEY, "
                 "tbl TEXT NOT NULL, row_key TEXT NOT NULL, output TEXT NOT NULL, run_id TEXT, step_id TEXT, "
                 "at TEXT NOT NULL)")


def _journaled(conn: sqlite3.Connection, key: str) -> dict[str, Any] | None:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (BOOKKEEPING,)).fetchone()
    if not exists:
        return None
    row = conn.execute(f"SELECT output FROM {BOOKKEEPING} WHERE idempotency_key = ?", (key,)).fetchone()
    return None if row is None else dict(json.loads(row[0]))


@connector
def upsert(input: UpsertInput, ctx: Context) -> UpsertOutput:
    """Insert or update the row whose key column equals ``key``; once per idempotency key."""
    key_col = _key_column(input.table, ctx)
    row = _row(input)
    table = _ident(input.table, "table")
    kc = _ident(key_col, "column")
    with _open(_database(ctx), ctx) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _ensure_bookkeeping(conn)
            done = _journaled(conn, ctx.idempotency_key)
            if done is not None:
                conn.execute("COMMIT")
                return UpsertOutput.model_validate(done)
            cols = _columns(conn, input.table)
            if not cols:
                defs = ", ".join([f"{kc} TEXT PRIMARY KEY"] + [_ident(c, "column") for c in row if c != key_col])
                conn.execute(f"CREATE TABLE {table} ({defs})")
                cols = _columns(conn, input.table)
            missing = [c for c in [key_col, *row] if c not in cols]
            if missing:
                raise ConnectorFailed(f"table `{input.table}` has no column {', '.join(f'`{m}`' for m in missing)} "
                                      f"(it has {', '.join(cols)})", transient=False)
            names = [c for c in row if c != key_col]
            before = _current(conn, input.table, key_col, input.key, names)
            changed = before != {c: row[c] for c in names}
            if changed:
                assign = ", ".join(f"{_ident(c, 'column')} = excluded.{_ident(c, 'column')}" for c in names)
                conn.execute(f"INSERT INTO {table} ({', '.join([kc, *(_ident(c, 'column') for c in names)])}) "
                             f"VALUES ({', '.join('?' * (len(names) + 1))}) ON CONFLICT({kc}) DO "
                             + (f"UPDATE SET {assign}" if assign else "NOTHING"),
                             (input.key, *(row[c] for c in names)))
            out = UpsertOutput(table=input.table, key=input.key, previous=before, changed=changed)
            conn.execute(f"INSERT INTO {BOOKKEEPING}(idempotency_key, tbl, row_key, output, run_id, step_id, at) "
                         "VALUES (?,?,?,?,?,?,?)",
                         (ctx.idempotency_key, input.table, input.key, out.model_dump_json(), ctx.provenance.run_id,
                          ctx.provenance.step_id, datetime.now(UTC).isoformat(timespec="milliseconds")))
            conn.execute("COMMIT")
            return out
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


@upsert.preview
def _preview_upsert(input: UpsertInput, ctx: Context) -> Preview:
    key_col = _key_column(input.table, ctx)
    row = _row(input)
    path = _database(ctx)
    rel = path.relative_to(ctx.workspace.resolve()).as_posix()
    target = f"sqlite {rel} table {input.table}"
    names = [c for c in row if c != key_col]
    payload = {"table": input.table, "key": input.key, "row": dict(input.row or {})}
    predicted = {"table": input.table, "key": input.key}
    if not path.exists():
        return Preview(target, f"would create {rel} and table {input.table}, and insert row {input.key}", payload,
                       predicted)
    with _open(path, ctx, readonly=True) as conn:
        done = _journaled(conn, ctx.idempotency_key)
        if done is not None:
            return Preview(target, f"already done for key {ctx.idempotency_key}; nothing would change", payload, done)
        cols = _columns(conn, input.table)
        if not cols:
            return Preview(target, f"would create table {input.table} and insert row {input.key}", payload, predicted)
        missing = [c for c in [key_col, *row] if c not in cols]
        if missing:
            raise ConnectorFailed(f"table `{input.table}` has no column {', '.join(f'`{m}`' for m in missing)}",
                                  transient=False)
        before = _current(conn, input.table, key_col, input.key, names)
    if before is None:
        return Preview(target, f"would insert row {input.key}", payload, {**predicted, "previous": None})
    diff = {c: {"from": before[c], "to": row[c]} for c in names if before[c] != row[c]}
    if not diff:
        return Preview(target, f"row {input.key} already holds these values; nothing would change", payload,
                       {**predicted, "previous": before, "changed": False})
    return Preview(target, f"would update row {input.key}: " + ", ".join(f"{c} {d['from']!r} → {d['to']!r}"
                                                                         for c, d in diff.items()),
                   {**payload, "changes": diff}, {**predicted, "previous": before})


@upsert.reconcile
def _reconcile_upsert(input: UpsertInput, ctx: Context) -> Reconciliation:
    path = _database(ctx)
    if not path.exists():
        return Reconciliation.not_happened(f"{path.name} does not exist")
    with _open(path, ctx, readonly=True) as conn:
        done = _journaled(conn, ctx.idempotency_key)
    if done is None:
        return Reconciliation.not_happened(f"no upsert with key {ctx.idempotency_key} in {path.name}")
    return Reconciliation.happened(done, f"row {input.key} of {input.table} was written with this key")


@connector
def restore(input: RestoreInput, ctx: Context) -> RestoreOutput:
    """Put back the values a ``sqlite.upsert`` replaced, or delete the row it inserted."""
    key_col = _key_column(input.table, ctx)
    table, kc = _ident(input.table, "table"), _ident(key_col, "column")
    path = _database(ctx)
    if not path.exists():
        return RestoreOutput(restored=False)
    with _open(path, ctx) as conn:
        if not _columns(conn, input.table):
            return RestoreOutput(restored=False)
        if input.previous is None:
            cur = conn.execute(f"DELETE FROM {table} WHERE {kc} = ?", (input.key,))
            return RestoreOutput(restored=cur.rowcount > 0)
        names = [c for c in input.previous if c != key_col]
        if not names:
            return RestoreOutput(restored=False)
        assign = ", ".join(f"{_ident(c, 'column')} = ?" for c in names)
        cur = conn.execute(f"UPDATE {table} SET {assign} WHERE {kc} = ?",
                           (*(_sql_value(input.previous[c]) for c in names), input.key))
        return RestoreOutput(restored=cur.rowcount > 0)


@restore.preview
def _preview_restore(input: RestoreInput, ctx: Context) -> Preview:
    what = f"delete row {input.key}" if input.previous is None else f"put back the previous values of row {input.key}"
    return Preview(f"sqlite table {input.table}", f"would {what}", input.model_dump(mode="json"), {"restored": True})
