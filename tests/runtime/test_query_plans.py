"""Read paths cost what they return: each listing's real SQL (captured as the library runs it) is an
index search, never a table scan or a sort of the whole table, and keyset pages return every row
exactly once. Speed itself is measured in bench/scale.py, not here."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from aios.errors import UsageError
from aios.runtime import approvals
from aios.runtime.approvals import ApprovalKind, ApprovalStatus
from aios.runtime.queries import records_page, runs_page, runs_with_prefix
from aios.runtime.records import RecordStore
from aios.runtime.store import Store

from .planbuild import record

NOTE = record("Note", title="str")
STAMP = "2026-01-01T00:00:{:02d}.000Z"


def _run(conn: sqlite3.Connection, run_id: str, *, status: str = "completed", playbook: str = "pb",
         at: str = STAMP.format(0)) -> None:
    conn.execute("INSERT INTO runs(id, playbook, plan_hash, event_id, status, created_at, updated_at) "
                 "VALUES (?, ?, 'ph', 'ev', ?, ?, ?)", (run_id, playbook, status, at, at))


def _approval(conn: sqlite3.Connection, run_id: str, *, at: str, expires: str | None = None) -> approvals.Approval:
    return approvals.request(conn, run_id=run_id, step_id="ok", site="ok", kind=ApprovalKind.GATE, message="?",
                             rule=None, approvers=(), at=at, expires_at=expires)


@contextmanager
def _statements(conn: sqlite3.Connection) -> Iterator[list[str]]:
    """The SQL the connection runs, with its parameters bound (SQLite's expanded text)."""
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def _plan_of(conn: sqlite3.Connection, call: Callable[[], object], table: str) -> str:
    """The query plan of the one statement ``call`` runs against ``table``."""
    with _statements(conn) as seen:
        call()
    (sql,) = [s for s in seen if f"FROM {table}" in s and s.lstrip().upper().startswith("SELECT")]
    return " | ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql))


def _searches(plan: str, index: str) -> bool:
    return "SCAN" not in plan and "TEMP B-TREE" not in plan and f"INDEX {index} (" in plan


@pytest.fixture
def filled(store: Store) -> Store:
    with store.transaction() as conn:
        for i in range(30):
            _run(conn, f"run_{i:03d}", status="waiting" if i % 3 else "completed", playbook=f"pb{i % 2}",
                 at=STAMP.format(i // 4))  # four runs per timestamp: ties the key must break
            _approval(conn, f"run_{i:03d}", at=STAMP.format(i // 5), expires=STAMP.format(50 + i % 7))
    return store


def test_runs_list_pages_are_index_searches(filled: Store) -> None:
    conn = filled.conn
    first, cursor = runs_page(conn, limit=5)
    assert cursor is not None
    head = _plan_of(conn, lambda: runs_page(conn, limit=5), "runs")  # the first page: the index in order
    assert "INDEX runs_created" in head and "TEMP B-TREE" not in head, head
    assert len(first) == 5
    assert _searches(_plan_of(conn, lambda: runs_page(conn, before=cursor, limit=5), "runs"), "runs_created")
    assert _searches(_plan_of(conn, lambda: runs_page(conn, status="waiting", before=cursor), "runs"),
                     "runs_status_created")
    assert _searches(_plan_of(conn, lambda: runs_page(conn, playbook="pb1", before=cursor), "runs"),
                     "runs_playbook_created")


@pytest.mark.parametrize("filters", [{}, {"status": "waiting"}, {"playbook": "pb0"},
                                     {"playbook": "pb1", "status": "completed"}])
@pytest.mark.parametrize("limit", [1, 4, 7, 50])
def test_runs_pages_return_every_run_once_newest_first(filled: Store, filters: dict[str, str], limit: int) -> None:
    expected = [dict(r) for r in filled.query(
        "SELECT id, created_at FROM runs" + ("" if not filters else " WHERE " + " AND ".join(
            f"{k} = '{v}'" for k, v in filters.items())) + " ORDER BY created_at DESC, id DESC")]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        rows, cursor = runs_page(filled.conn, before=cursor, limit=limit, **filters)
        assert len(rows) <= limit
        seen += [r["id"] for r in rows]
        if cursor is None:
            break
    assert seen == [r["id"] for r in expected]


def test_approvals_of_a_run_use_the_run_index_not_the_status_one(filled: Store) -> None:
    conn = filled.conn
    plan = _plan_of(conn, lambda: approvals.listing(conn, run_id="run_007"), "approvals")
    assert _searches(plan, "approvals_run_status"), plan


def test_approval_pages_are_index_searches_and_return_every_row_once(filled: Store) -> None:
    conn = filled.conn
    with filled.transaction() as c:
        approvals.decide(c, approvals.listing(c)[3].id, approve=True, actor="op", note=None, at=STAMP.format(9))
    _, cursor = approvals.page(conn, limit=5)
    assert _searches(_plan_of(conn, lambda: approvals.page(conn, after=cursor, limit=5), "approvals"),
                     "approvals_status_requested")
    assert _searches(_plan_of(conn, lambda: approvals.page(conn, include_decided=True, after=cursor), "approvals"),
                     "approvals_requested")
    for kwargs in ({}, {"include_decided": True}, {"status": ApprovalStatus.APPROVED}):
        everything = approvals.listing(conn, **kwargs)  # type: ignore[arg-type]
        for limit in (1, 4, 29, 100):
            seen, cursor = [], None
            while True:
                items, cursor = approvals.page(conn, after=cursor, limit=limit, **kwargs)  # type: ignore[arg-type]
                seen += items
                if cursor is None:
                    break
            assert [a.id for a in seen] == [a.id for a in everything]
    assert len(approvals.listing(conn)) == 29 and len(approvals.listing(conn, include_decided=True)) == 30


def test_expiry_reads_only_what_is_due(filled: Store) -> None:
    conn = filled.conn
    now = STAMP.format(52)  # expiries cycle over :50 to :56, so three in seven are due
    plan = _plan_of(conn, lambda: approvals.due(conn, now, limit=10), "approvals")
    assert _searches(plan, "approvals_due") and "expires_at<" in plan, plan
    due = approvals.due(conn, now, limit=1000)
    assert {a.id for a in due} == {a.id for a in approvals.listing(conn) if a.expires_at and a.expires_at <= now}
    assert [a.expires_at for a in due] == sorted(a.expires_at or "" for a in due)
    pages, cursor = [], None
    while True:
        items, cursor = approvals.due_page(conn, now, after=cursor, limit=4)
        pages += items
        if cursor is None:
            break
    assert [a.id for a in pages] == [a.id for a in due]
    assert len(approvals.due(conn, now, limit=3)) == 3


def test_current_records_page_by_the_head_index_and_never_repeat(store: Store) -> None:
    rs = RecordStore(store.conn)
    with store.transaction():
        for i in range(40):
            rid = f"n{i % 13:02d}"  # 13 records, up to 4 versions each, written at 8 distinct times
            rs.write(NOTE, rid, {"title": f"v{i}"}, run_id="r", step_id="s", plan_hash="ph", at=STAMP.format(i // 5))
    conn = store.conn
    _, cursor = records_page(conn, "Note", limit=3)
    plan = _plan_of(conn, lambda: records_page(conn, "Note", before=cursor, limit=3), "records_head")
    assert _searches(plan, "records_head_written") and "sqlite_autoindex_records_1" in plan, plan
    newest = {}
    for row in store.query("SELECT id, max(version) AS v FROM records GROUP BY id"):
        newest[row["id"]] = row["v"]
    for limit in (1, 5, 13, 20):
        seen, cursor = [], None
        while True:
            rows, cursor = rs.page("Note", before=cursor, limit=limit)
            seen += rows
            if cursor is None:
                break
        assert sorted((r.id, r.version) for r in seen) == sorted(newest.items())
        keys = [(r.written_at, r.id) for r in seen]
        assert keys == sorted(keys, reverse=True)
    assert [r.id for r in rs.current("Note", limit=5)] == [r.id for r in seen[:5]]
    assert rs.schemas() == [("Note", 13)]


def test_a_run_id_prefix_is_a_primary_key_range(filled: Store) -> None:
    conn = filled.conn
    plan = _plan_of(conn, lambda: runs_with_prefix(conn, "run_01"), "runs")
    assert "sqlite_autoindex_runs_1 (id>? AND id<?)" in plan, plan
    assert runs_with_prefix(conn, "run_01", limit=20) == [f"run_{i:03d}" for i in range(10, 20)]
    assert runs_with_prefix(conn, "run_029") == ["run_029"]
    assert runs_with_prefix(conn, "run%") == [] and runs_with_prefix(conn, "RUN_0") == []  # no LIKE wildcards
    assert runs_with_prefix(conn, "runX") == []  # `_` is a character, not a wildcard
    assert len(runs_with_prefix(conn, "")) == 2


def test_a_cursor_from_elsewhere_is_a_usage_error(filled: Store) -> None:
    for bad in ("not-a-cursor", "WyJhIl0", "e30"):  # garbage, a one-element key, an object
        with pytest.raises(UsageError, match="not a cursor"):
            runs_page(filled.conn, before=bad)
        with pytest.raises(UsageError, match="not a cursor"):
            approvals.page(filled.conn, after=bad)
