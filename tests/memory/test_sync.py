"""The index kept in step with the state store: incremental sync, reindex equivalence, crashes between
a record write and its indexing, concurrent writers, the retrieve step."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aios.errors import UsageError
from aios.memory.index import MemoryIndex
from aios.memory.memory import Memory, query_from_filter
from aios.memory.model import DocKind, FieldFilter, Query, RecordSource, RunSource
from aios.memory.sync import reindex
from aios.runtime.log import entries_for_run

from .conftest import customer, dump, event

CHILD = str(Path(__file__).with_name("writer_child.py"))


def _child(*args: str) -> list[str]:
    return [sys.executable, CHILD, *args]


def test_records_are_indexed_with_run_and_step_provenance(workspace: Path, plan: Any, runtime: Any) -> None:
    out = runtime.start("onboard", event("customer.received", customer("c-1", "Acme Ltd", "heat pump articles")))
    mem = Memory.for_workspace(workspace, plan)
    hit = mem.search(Query("acme", kinds=(DocKind.RECORD,)))[0]
    assert hit.provenance == RecordSource("Customer", "c-1", 1, out.run_id, "write")
    assert hit.fields["status"] == "open"

    runtime.start("onboard", {"type": "customer.received", "id": "evt-c-1-again",
                              "payload": customer("c-1", "Acme Ltd", "wind turbine brochure", status="closed")})
    hits = mem.search(Query("acme", kinds=(DocKind.RECORD,)))
    assert len(hits) == 1 and isinstance(hits[0].provenance, RecordSource)
    assert hits[0].provenance.version == 2 and hits[0].fields["status"] == "closed"
    assert mem.search(Query("heat pump", kinds=(DocKind.RECORD,))) == []  # only the current version
    history = mem.search(Query('acme "status open closed"', kinds=(DocKind.SUMMARY,)))
    assert [h.id for h in history] == ["summary:record:Customer:c-1"]
    assert history[0].provenance == RecordSource("Customer", "c-1", 2, hits[0].provenance.run_id, "write")
    assert mem.search(Query("", fields=(FieldFilter("status", equals=("closed",)),), kinds=(DocKind.RECORD,)))


def test_finished_runs_move_from_hot_episodes_to_a_warm_summary(workspace: Path, plan: Any, runtime: Any) -> None:
    waiting = runtime.start("held", event("customer.held", customer("h-1", "Harbor AS", "keep or drop")))
    assert waiting.approval is not None
    mem = Memory.for_workspace(workspace, plan)
    episodes = mem.search(Query("harbor", kinds=(DocKind.EPISODE,)))
    assert episodes and all(isinstance(h.provenance, RunSource) and h.provenance.run_id == waiting.run_id
                            for h in episodes)
    assert mem.search(Query("harbor", kinds=(DocKind.SUMMARY,))) == []

    runtime.decide(waiting.approval.id, approve=True, note="keep them")
    assert mem.search(Query("harbor", kinds=(DocKind.EPISODE,))) == []
    summary = mem.search(Query("harbor", kinds=(DocKind.SUMMARY,)))[0]
    assert summary.id == f"summary:run:{waiting.run_id}"
    last_seq = max(e.seq for e in entries_for_run(runtime.store.conn, waiting.run_id))
    assert summary.provenance == RunSource(waiting.run_id, None, summary.provenance.seq_start, last_seq)  # type: ignore[union-attr]
    assert "completed" in summary.title


def test_reindex_gives_the_same_documents_as_incremental_sync(workspace: Path, plan: Any, runtime: Any,
                                                             tmp_path: Path) -> None:
    mem = Memory.for_workspace(workspace, plan)
    for i in range(4):
        runtime.start("onboard", event("customer.received", customer(f"c-{i}", f"Client {i}", f"topic {i}")))
        mem.sync()  # interleave: incremental steps between writes
    held = runtime.start("held", event("customer.held", customer("h-1", "Harbor AS", "pending decision")))
    mem.sync()
    runtime.start("onboard", {"type": "customer.received", "id": "again",
                              "payload": customer("c-0", "Client 0", "second version", status="waiting")})
    assert held.approval is not None
    mem.sync()
    incremental = dump(mem.index)
    other = MemoryIndex(tmp_path / "rebuilt")
    reindex(other, mem.settings)
    assert dump(other) == incremental
    assert {k.split(":")[0] for k in incremental} == {"record", "summary", "episode", "note"}
    # Reindexing in place changes nothing either.
    mem.reindex()
    assert dump(mem.index) == incremental
    assert mem.index.state().watermarks == other.state().watermarks


def _write_records_without_indexing(workspace: Path, names: list[str]) -> None:
    from aios.plan.types import FieldDef, FieldType, RecordType, TypeKind
    from aios.runtime.log import now_iso
    from aios.runtime.records import RecordStore
    from aios.runtime.store import Store

    rt = RecordType("Customer", (FieldDef("name", FieldType(TypeKind.STR), True),))
    with Store.open(workspace / ".aios") as store, store.transaction():
        rs = RecordStore(store.conn)
        for name in names:
            rs.write(rt, name, {"name": f"customer {name}"}, run_id=None, step_id=None, plan_hash=None, at=now_iso())


def _current_record_ids(workspace: Path) -> set[str]:
    conn = sqlite3.connect(workspace / ".aios" / "state.db")
    try:
        return {f"record:{s}:{i}" for s, i in conn.execute("SELECT DISTINCT schema, id FROM records")}
    finally:
        conn.close()


def test_a_record_written_but_not_indexed_is_found_after_recovery(workspace: Path) -> None:
    mem = Memory.for_workspace(workspace)
    mem.sync()
    # The "crash": records committed to SQLite, the process gone before the index heard of them.
    _write_records_without_indexing(workspace, ["lost-1", "lost-2"])
    fresh = Memory.for_workspace(workspace)
    assert {h.id for h in fresh.search(Query("customer lost", kinds=(DocKind.RECORD,)))} == {
        "record:Customer:lost-1", "record:Customer:lost-2"}


def test_an_index_whose_watermark_lags_catches_up_without_duplicates(workspace: Path) -> None:
    mem = Memory.for_workspace(workspace)
    mem.sync()
    state = mem.index.directory / "state.json"
    stale = state.read_text()
    _write_records_without_indexing(workspace, ["w-1", "w-2"])
    mem.sync()
    # The crash window after a tantivy commit and before state.json is saved: the index holds the
    # documents, the watermark does not know it.
    state.write_text(stale)
    again = Memory.for_workspace(workspace)
    assert again.sync().records == 2  # indexed a second time ...
    assert again.index.count(DocKind.RECORD) == 2  # ... replacing, not duplicating


@pytest.mark.slow
def test_sigkill_between_record_writes_and_index_updates_loses_nothing(workspace: Path) -> None:
    rng = random.Random(7)
    Memory.for_workspace(workspace).sync()
    dirty = workspace / ".aios" / "index" / "writer.dirty"
    inside = 0
    for round_ in range(12):
        proc = subprocess.Popen(_child("records", str(workspace), f"k{round_}", "400", "slow"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.8 + rng.random())
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        inside += dirty.exists()  # killed inside an index batch, after its records were committed
        expected = _current_record_ids(workspace)
        assert expected, "the child wrote nothing before it was killed"
        mem = Memory.for_workspace(workspace)
        mem.sync()
        assert mem.index.ids(DocKind.RECORD) == expected
        assert not dirty.exists()
        # Searchable by content, at its current version.
        newest = max(expected, key=lambda k: (k.split(":")[-1].split("-")[0], int(k.split("-")[-1])))
        word = "token" + newest.split(":")[-1].replace("-", "x")
        assert mem.search(Query(word, kinds=(DocKind.RECORD,)))
        if inside >= 2 and round_ >= 2:
            break
    assert inside >= 2, "no kill landed inside an index batch"


@pytest.mark.slow
def test_two_processes_writing_at_once_lose_no_document(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    MemoryIndex(index_dir)
    procs = [subprocess.Popen(_child("docs", str(index_dir), name, "150", "3"), stderr=subprocess.PIPE)
             for name in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    ids = MemoryIndex(index_dir).ids()
    assert ids == {f"{n}-{i}" for n in ("a", "b") for i in range(150)}


@pytest.mark.slow
def test_two_processes_writing_records_and_syncing_lose_nothing(workspace: Path) -> None:
    Memory.for_workspace(workspace).sync()
    procs = [subprocess.Popen(_child("records", str(workspace), name, "25"), stderr=subprocess.PIPE)
             for name in ("p", "q")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    mem = Memory.for_workspace(workspace)
    assert not mem.sync().changed  # each writer's own syncs already covered everything
    assert mem.index.ids(DocKind.RECORD) == _current_record_ids(workspace)
    assert len(_current_record_ids(workspace)) == 50


def test_retrieve_step_records_hits_scores_and_provenance(workspace: Path, runtime: Any) -> None:
    out = runtime.start("onboard", event("customer.received", customer("c-9", "Nordlys", "rush jobs pricing")))
    entry = next(e for e in entries_for_run(runtime.store.conn, out.run_id) if e.step_id == "lookup"
                 and e.type == "step.completed")
    hits = entry.body["out"]["hits"]
    assert hits and hits[0]["provenance"] == {"type": "file", "path": "knowledge/pricing.md", "line_start": 7,
                                              "line_end": 9}
    assert all(h["kind"] == "note" and h["score"] > 0 and h["snippet"] for h in hits)


def test_retrieve_filters_map_to_queries() -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    q = query_from_filter("refund", 3, {"kind": ["note", "record"], "tags": "billing", "schema": "Customer",
                                        "since": "30d", "until": "2025-05-31", "status": ["open", "waiting"],
                                        "amount": {"gte": 10, "lte": 99.5}}, 45.0, now)
    assert q.kinds == (DocKind.NOTE, DocKind.RECORD) and q.tags == ("billing",) and q.schemas == ("Customer",)
    assert q.since == datetime(2025, 5, 2, tzinfo=UTC) and q.until == datetime(2025, 5, 31, tzinfo=UTC)
    assert q.fields == (FieldFilter("status", ("open", "waiting")), FieldFilter("amount", (), 10, 99.5))
    assert q.limit == 3 and q.half_life_days == 45.0
    for bad in ({"kind": "nope"}, {"since": "yesterday"}, {"amount": {"gt": 3}}, {"amount": {"gte": "x"}},
                {"tags": [1]}, {"status": None}, {"bad key!": 1}):
        with pytest.raises(UsageError):
            query_from_filter("x", 3, bad, None, now)


def test_a_missing_state_store_is_not_an_error(tmp_path: Path) -> None:
    from .conftest import write_workspace

    ws = write_workspace(tmp_path / "fresh")
    mem = Memory.for_workspace(ws)
    assert mem.search(Query("rush jobs"))
    assert not (ws / ".aios" / "state.db").exists()
    assert mem.stats().documents == 3


def test_a_bad_retrieve_filter_fails_the_step_with_its_reason(workspace: Path, plan: Any) -> None:
    from aios.errors import RunError
    from aios.memory import runtime_retriever

    retriever = runtime_retriever(workspace, plan)
    assert retriever("rush jobs", 2, {"kind": "note"}, None)
    with pytest.raises(RunError, match="unknown kind `notes`"):
        retriever("rush jobs", 2, {"kind": "notes"}, None)
