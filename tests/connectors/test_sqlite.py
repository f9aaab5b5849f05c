"""sqlite.upsert / sqlite.restore on a real SQLite file: the operator's own table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from aios.connectors.api import Outcome
from aios.connectors.registry import builtin
from aios.connectors.sqlite_table import BOOKKEEPING
from aios.runtime.connectors import ConnectorFailed
from aios.runtime.runstate import RunStatus
from tests.connectors.conftest import MakeCall
from tests.connectors.workspace import log_types, run_playbook, write_workspace

UPSERT, RESTORE = builtin("sqlite.upsert"), builtin("sqlite.restore")
assert UPSERT and RESTORE
DB = {"database": "data/inventory.db"}


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return list(conn.execute(sql))


@pytest.fixture
def inventory(make_call: MakeCall) -> Iterator[Path]:
    db = make_call("x", {}).workspace / "data" / "inventory.db"
    db.parent.mkdir(parents=True)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE stock (sku TEXT PRIMARY KEY, quantity INTEGER, note TEXT)")
        conn.execute("INSERT INTO stock VALUES ('A5', 7, 'low')")
        conn.commit()
    yield db


def test_upsert_updates_and_inserts_rows_of_an_existing_table(make_call: MakeCall, inventory: Path) -> None:
    settings = {**DB, "key_column": "sku"}
    out = UPSERT(make_call("sqlite.upsert", {"table": "stock", "key": "A5", "row": {"quantity": 157}},
                           key="u1", settings=settings))
    assert out == {"table": "stock", "key": "A5", "previous": {"quantity": 7}, "changed": True}
    new = UPSERT(make_call("sqlite.upsert", {"table": "stock", "key": "B6", "row": {"quantity": 3, "note": "new"}},
                           key="u2", settings=settings))
    assert new["previous"] is None
    assert _rows(inventory, "SELECT * FROM stock ORDER BY sku") == [("A5", 157, "low"), ("B6", 3, "new")]


def test_a_missing_table_is_created_and_unknown_columns_are_permanent_failures(make_call: MakeCall) -> None:
    call = make_call("sqlite.upsert", {"table": "incoming_stock", "key": "A5", "row": {"quantity": 150,
                                                                                     "order": "PO-1"}},
                     settings=DB)
    UPSERT(call)
    db = call.workspace / "data" / "inventory.db"
    assert _rows(db, 'SELECT key, quantity, "order" FROM incoming_stock') == [("A5", 150, "PO-1")]
    with pytest.raises(ConnectorFailed) as err:
        UPSERT(make_call("sqlite.upsert", {"table": "incoming_stock", "key": "A5", "row": {"colour": "red"}},
                         key="k2", settings=DB))
    assert not err.value.transient and "no column `colour`" in str(err.value)
    with pytest.raises(ConnectorFailed):
        UPSERT(make_call("sqlite.upsert", {"table": "x; DROP TABLE y", "key": "A5", "row": {"a": 1}}, key="k3",
                         settings=DB))


def test_tables_setting_is_an_allow_list(make_call: MakeCall) -> None:
    with pytest.raises(ConnectorFailed) as err:
        UPSERT(make_call("sqlite.upsert", {"table": "users", "key": "1", "row": {"admin": True}},
                         settings={**DB, "tables": ["incoming_stock"]}))
    assert "not one of the tables" in str(err.value)


def test_duplicate_call_with_the_same_key_writes_once(make_call: MakeCall, inventory: Path) -> None:
    call = make_call("sqlite.upsert", {"table": "stock", "key": "A5", "row": {"quantity": 20}}, key="dup",
                     settings={**DB, "key_column": "sku"})
    first = UPSERT(call)
    with closing(sqlite3.connect(inventory)) as conn:  # the operator changes the row by hand meanwhile
        conn.execute("UPDATE stock SET quantity = 99 WHERE sku = 'A5'")
        conn.commit()
    assert UPSERT(call) == first  # the upsert with this key already happened: not again
    assert _rows(inventory, "SELECT quantity FROM stock WHERE sku = 'A5'") == [(99,)]
    assert _rows(inventory, f"SELECT idempotency_key, row_key FROM {BOOKKEEPING}") == [("dup", "A5")]


def test_preview_shows_the_change_and_writes_nothing(make_call: MakeCall, inventory: Path) -> None:
    settings = {**DB, "key_column": "sku"}
    call = make_call("sqlite.upsert", {"table": "stock", "key": "A5", "row": {"quantity": 50}}, settings=settings)
    preview = UPSERT.run_preview(call)
    assert preview is not None and preview.summary == "would update row A5: quantity 7 → 50"
    assert preview.payload["changes"] == {"quantity": {"from": 7, "to": 50}}
    assert _rows(inventory, "SELECT quantity FROM stock") == [(7,)]
    assert _rows(inventory, f"SELECT count(*) FROM sqlite_master WHERE name = '{BOOKKEEPING}'") == [(0,)]
    fresh = make_call("sqlite.upsert", {"table": "t", "key": "k", "row": {"a": 1}},
                      settings={"database": "data/new.db"})
    p2 = UPSERT.run_preview(fresh)
    assert p2 is not None and "would create data/new.db" in p2.summary
    assert not (fresh.workspace / "data" / "new.db").exists()


def test_reconcile_asks_the_bookkeeping_table(make_call: MakeCall, inventory: Path) -> None:
    call = make_call("sqlite.upsert", {"table": "stock", "key": "A5", "row": {"quantity": 8}}, key="r1",
                     settings={**DB, "key_column": "sku"})
    before = UPSERT.run_reconcile(call)
    assert before is not None and before.outcome is Outcome.NOT_HAPPENED
    out = UPSERT(call)
    after = UPSERT.run_reconcile(call)
    assert after is not None and after.outcome is Outcome.HAPPENED and after.output == out


def test_locked_database_is_retried_until_the_lock_goes(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", """\
  - id: book
    connector: sqlite.upsert
    input: {table: incoming_stock, key: A5, row: {quantity: 150}}
    idempotency_key: "book-{{ event.id }}"
""", connectors={"sqlite.upsert": {**DB, "busy_timeout_s": 0.05}})
    db = ws / "data" / "inventory.db"
    db.parent.mkdir(parents=True)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")

        def sleep(_: float) -> None:  # the other writer finishes while the run waits
            if holder.in_transaction:
                holder.execute("COMMIT")

        out = run_playbook(ws, sleep=sleep)
    finally:
        holder.close()
    assert out.status is RunStatus.COMPLETED, out.error
    failed = [b for _, t, b in log_types(ws, out.run_id) if t == "step.attempt_failed"]
    assert len(failed) == 1 and "locked" in failed[0]["error"]
    assert _rows(db, "SELECT key, quantity FROM incoming_stock") == [("A5", 150)]


def _stock_db(ws: Path, columns: str, row: tuple[object, ...]) -> Path:
    """The workspace's inventory database with a `stock` table holding one row."""
    db = ws / "data" / "inventory.db"
    db.parent.mkdir(parents=True)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(f"CREATE TABLE stock ({columns})")
        conn.execute(f"INSERT INTO stock VALUES ({', '.join('?' * len(row))})", row)
        conn.commit()
    return db


def test_permanent_failure_restores_the_previous_row(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", """\
  - id: book
    connector: sqlite.upsert
    input: {table: stock, key: A5, row: {quantity: 150, note: ordered}}
    idempotency_key: "book-{{ event.id }}"
  - id: add
    needs: [book]
    connector: sqlite.upsert
    input: {table: stock, key: C7, row: {quantity: 1}}
    idempotency_key: "add-{{ event.id }}"
  - id: broken
    needs: [add]
    connector: sqlite.upsert
    input: {table: stock, key: A5, row: {colour: red}}
    idempotency_key: "broken-{{ event.id }}"
""", connectors={n: {**DB, "key_column": "sku"} for n in ("sqlite.upsert", "sqlite.restore")})
    db = _stock_db(ws, "sku TEXT PRIMARY KEY, quantity INTEGER, note TEXT", ("A5", 7, "low"))
    out = run_playbook(ws)
    assert out.status is RunStatus.FAILED and out.failed_step == "broken" and "colour" in (out.error or "")
    assert _rows(db, "SELECT * FROM stock ORDER BY sku") == [("A5", 7, "low")]  # updated row back, new row gone
    comps = [(s, b["connector"], b.get("out")) for s, t, b in log_types(ws, out.run_id)
             if t == "compensation.completed"]
    assert comps == [("add", "sqlite.restore", {"restored": True}), ("book", "sqlite.restore", {"restored": True})]


def test_the_compensation_uses_the_settings_of_the_connector_it_undoes(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", """\
  - id: book
    connector: sqlite.upsert
    input: {table: stock, key: A5, row: {quantity: 150}}
    idempotency_key: "book-{{ event.id }}"
  - id: broken
    needs: [book]
    connector: sqlite.upsert
    input: {table: stock, key: A5, row: {colour: red}}
    idempotency_key: "broken-{{ event.id }}"
""", connectors={"sqlite.upsert": {**DB, "key_column": "sku"}})  # nothing configured for sqlite.restore
    db = _stock_db(ws, "sku TEXT PRIMARY KEY, quantity INTEGER", ("A5", 7))
    out = run_playbook(ws)
    assert out.status is RunStatus.FAILED and out.failed_step == "broken"
    assert _rows(db, "SELECT * FROM stock") == [("A5", 7)]  # restored in the database sqlite.upsert names
    comps = [(s, t) for s, t, _ in log_types(ws, out.run_id) if t.startswith("compensation.")]
    assert comps == [("book", "compensation.intent"), ("book", "compensation.completed")]


def test_restore_without_previous_values_deletes_the_inserted_row(make_call: MakeCall, inventory: Path) -> None:
    settings = {**DB, "key_column": "sku"}
    out = RESTORE(make_call("sqlite.restore", {"table": "stock", "key": "A5", "previous": None}, settings=settings))
    assert out == {"restored": True} and _rows(inventory, "SELECT count(*) FROM stock") == [(0,)]
