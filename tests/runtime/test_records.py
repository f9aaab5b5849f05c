"""Canonical records: versions, provenance, current view, history, validation, immutability."""

from __future__ import annotations

import sqlite3

import pytest

from aios.runtime.records import RecordInvalid, RecordStore
from aios.runtime.store import Store

from .planbuild import record

PROJECT = record("Project", title="str", budget_eur="decimal", topics="list[str]", status="enum[open, done]",
                 deadline="date?")


def _write(rs: RecordStore, store: Store, rid: str, data: dict[str, object], run: str = "r1") -> int:
    with store.transaction():
        return rs.write(PROJECT, rid, data, run_id=run, step_id="intake", plan_hash="ph",
                        at="2025-01-01T00:00:00Z").version


def test_every_write_is_a_new_version_with_provenance(store: Store) -> None:
    rs = RecordStore(store.conn)
    base = {"title": "A", "budget_eur": 10, "topics": ["x"], "status": "open"}
    assert _write(rs, store, "p1", base) == 1
    assert _write(rs, store, "p1", {**base, "status": "done"}, run="r2") == 2
    assert _write(rs, store, "p2", base) == 1
    cur = rs.get("Project", "p1")
    assert cur is not None and cur.version == 2 and cur.data["status"] == "done" and cur.run_id == "r2"
    assert cur.step_id == "intake" and cur.plan_hash == "ph" and cur.written_at == "2025-01-01T00:00:00Z"
    assert [v.data["status"] for v in rs.history("Project", "p1")] == ["open", "done"]
    assert rs.get("Project", "p1", version=1).data["status"] == "open"  # type: ignore[union-attr]
    assert sorted((r.id, r.version) for r in rs.current("Project")) == [("p1", 2), ("p2", 1)]
    assert rs.schemas() == [("Project", 2)]
    assert [r.id for r in rs.written_by_run("r2")] == ["p1"]


def test_invalid_records_are_refused_with_every_problem(store: Store) -> None:
    rs = RecordStore(store.conn)
    with pytest.raises(RecordInvalid) as err:
        _write(rs, store, "p1", {"title": 3, "budget_eur": "lots", "topics": "x", "status": "maybe", "colour": 1})
    text = str(err.value)
    for needle in ("`title`", "`budget_eur`", "`topics`", "`status`", "`colour`"):
        assert needle in text
    assert store.query("SELECT count(*) FROM records")[0][0] == 0


def test_versions_are_immutable(store: Store) -> None:
    rs = RecordStore(store.conn)
    _write(rs, store, "p1", {"title": "A", "budget_eur": "10.50", "topics": [], "status": "open"})
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store.conn.execute("UPDATE records SET data = '{}'")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store.conn.execute("DELETE FROM records")


def test_context_view_has_id_and_version(store: Store) -> None:
    rs = RecordStore(store.conn)
    _write(rs, store, "p9", {"title": "A", "budget_eur": 1.5, "topics": [], "status": "open", "deadline": None})
    ctx = rs.get("Project", "p9").as_context()  # type: ignore[union-attr]
    assert ctx["id"] == "p9" and ctx["_version"] == 1 and ctx["title"] == "A"
