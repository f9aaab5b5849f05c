"""The state store and the hash-chained, append-only episodic log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aios.errors import StorageError
from aios.runtime import log
from aios.runtime.records import RecordStore
from aios.runtime.store import SCHEMA_VERSION, Store


def _fill(store: Store, n: int, run: str = "r1") -> None:
    for i in range(n):
        with store.transaction() as conn:
            log.append(conn, [(run, f"s{i}", "step.completed", {"i": i, "out": {"v": i * 2}})])


def test_store_uses_wal_and_full_sync(store: Store) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_chain_verifies_and_links_entries(store: Store) -> None:
    _fill(store, 5)
    v = log.verify(store.conn)
    assert v.ok and v.entries == 5
    rows = store.query("SELECT seq, prev, hash FROM log ORDER BY seq")
    assert bytes(rows[0]["prev"]) == log.GENESIS
    for a, b in zip(rows, rows[1:], strict=False):
        assert bytes(b["prev"]) == bytes(a["hash"])
    assert v.head == bytes(rows[-1]["hash"]).hex()


def test_update_and_delete_are_refused(store: Store) -> None:
    _fill(store, 2)
    with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE refused"):
        store.conn.execute("UPDATE log SET body = '{}' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE refused"):
        store.conn.execute("DELETE FROM log WHERE seq = 2")
    assert log.verify(store.conn).ok


def test_verify_reports_the_altered_entry(store: Store) -> None:
    _fill(store, 6)
    store.conn.execute("DROP TRIGGER log_no_update")  # what an attacker with file access could do
    store.conn.execute("UPDATE log SET body = '{\"i\":3,\"out\":{\"v\":999}}' WHERE seq = 4")
    v = log.verify(store.conn)
    assert not v.ok
    assert v.broken_at == 4 and v.run_id == "r1" and v.step_id == "s3"
    assert "altered" in (v.reason or "")
    assert v.entries == 3
    assert "seq 4" in v.describe()


def test_verify_reports_a_rehashed_entry_at_the_next_link(store: Store) -> None:
    _fill(store, 4)
    row = store.query("SELECT * FROM log WHERE seq = 2")[0]
    body = '{"i":1,"out":{"v":-1}}'
    forged = log.entry_hash(bytes(row["prev"]), 2, row["run_id"], row["step_id"], row["type"], row["at"], body)
    store.conn.execute("DROP TRIGGER log_no_update")
    store.conn.execute("UPDATE log SET body = ?, hash = ? WHERE seq = 2", (body, forged))
    v = log.verify(store.conn)
    assert not v.ok and v.broken_at == 3
    assert "previous entry" in (v.reason or "")


def test_verify_reports_a_removed_entry(store: Store) -> None:
    _fill(store, 5)
    store.conn.execute("DROP TRIGGER log_no_delete")
    store.conn.execute("DELETE FROM log WHERE seq = 3")
    v = log.verify(store.conn)
    assert not v.ok and v.broken_at == 4
    assert "missing" in (v.reason or "")


def test_archived_prefix_may_be_dropped_and_the_rest_still_verifies(store: Store) -> None:
    _fill(store, 6)
    anchor = store.query("SELECT hash FROM log WHERE seq = 3")[0][0]
    with store.transaction() as conn:
        conn.execute("INSERT INTO log_segments(first_seq, last_seq, last_hash, path, sealed_at) "
                     "VALUES (1, 3, ?, 'archive/seg-1.jsonl', '2025-01-01T00:00:00Z')", (anchor,))
        conn.execute("DELETE FROM log WHERE seq <= 3")
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("DELETE FROM log WHERE seq = 4")
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("DELETE FROM log_segments")
    v = log.verify(store.conn)
    assert v.ok and v.entries == 3
    _fill(store, 1, run="r2")
    assert store.query("SELECT min(seq), max(seq) FROM log")[0][:] == (4, 7)
    assert log.verify(store.conn).ok


def test_a_rolled_back_transaction_leaves_no_entry(store: Store) -> None:
    _fill(store, 1)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        log.append(conn, [("r1", "x", "step.completed", {})])
        raise RuntimeError("crash before commit")
    assert store.query("SELECT count(*) FROM log")[0][0] == 1
    assert log.verify(store.conn).ok


def test_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    s = Store.open(tmp_path)
    s.conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    s.close()
    with pytest.raises(StorageError, match="newer aios"):
        Store.open(tmp_path)


def test_garbage_file_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError):
        Store.open(tmp_path)


def test_two_connections_see_one_chain(tmp_path: Path) -> None:
    a, b = Store.open(tmp_path), Store.open(tmp_path)
    try:
        for i in range(10):
            s = a if i % 2 else b
            with s.transaction() as conn:
                log.append(conn, [(f"r{i % 2}", None, "x", {"i": i})])
        assert log.verify(a.conn).ok and log.verify(a.conn).entries == 10
    finally:
        a.close()
        b.close()


def test_timestamps_are_utc_milliseconds_and_follow_the_clock() -> None:
    import re
    import time
    from datetime import UTC, datetime

    seen = []
    for _ in range(6):  # crosses at least one whole second (the formatted second is cached)
        before = datetime.now(UTC)
        stamp = log.now_iso()
        after = datetime.now(UTC)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= parsed <= after
        seen.append(stamp)
        time.sleep(0.23)
    assert seen == sorted(seen) and len({s[:19] for s in seen}) >= 2


def test_processes_opening_a_new_store_at_the_same_moment_all_get_it(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    storage = tmp_path / ".aios"
    start = time.time() + 1.5  # every child waits for the same moment, then opens the store that does not exist yet
    child = ("import sys, time; from pathlib import Path; from aios.runtime import log; "
             "from aios.runtime.store import Store\n"
             "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
             "with Store.open(Path(sys.argv[1])) as s:\n"
             "    with s.transaction() as conn:\n"
             "        log.append(conn, [(None, None, 'test.opened', {'pid': sys.argv[3]})])\n")
    procs = [subprocess.Popen([sys.executable, "-c", child, str(storage), str(start), str(i)],
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, "\n".join(e for e in errors if e)[-3000:]
    with Store.open(storage) as s:
        assert s.query("SELECT count(*) FROM log WHERE type = 'test.opened'")[0][0] == 8
        assert log.verify(s.conn).ok


def _as_v1(path: Path) -> None:
    """Turn a new store into what schema 1 wrote: its indexes, its records view, no records_head."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        DROP INDEX runs_created; DROP INDEX runs_status_created; DROP INDEX runs_playbook_created;
        DROP INDEX approvals_status_requested; DROP INDEX approvals_due; DROP INDEX approvals_run_status;
        DROP INDEX approvals_requested;
        CREATE INDEX runs_status ON runs(status); CREATE INDEX approvals_status ON approvals(status);
        DROP TRIGGER records_head_track; DROP TABLE records_head; DROP VIEW records_current;
        CREATE VIEW records_current AS SELECT r.* FROM records r WHERE r.version =
            (SELECT max(version) FROM records m WHERE m.schema = r.schema AND m.id = r.id);
        UPDATE meta SET value = '1' WHERE key = 'schema_version';
    """)
    rows = [("Note", f"n{i % 3}", i // 3 + 1, "{}", f"2026-01-01T00:00:0{i}.000Z", "x") for i in range(7)]
    conn.executemany("INSERT INTO records(schema, id, version, data, written_at, sha256) VALUES (?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()


def test_a_schema_1_store_is_upgraded_in_place_and_twice_is_harmless(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    _as_v1(tmp_path / "state.db")
    for _ in range(2):
        with Store.open(tmp_path) as s:
            indexes = {r[0] for r in s.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
            assert {"runs_created", "runs_status_created", "approvals_due", "approvals_run_status",
                    "records_head_written"} <= indexes
            assert not {"runs_status", "approvals_status"} & indexes
            assert s.query("SELECT value FROM meta WHERE key = 'schema_version'")[0][0] == str(SCHEMA_VERSION)
            head = [tuple(r) for r in s.query("SELECT id, version FROM records_head ORDER BY id")]
            assert head == [("n0", 3), ("n1", 2), ("n2", 2)]
            assert [tuple(r) for r in s.query("SELECT id, version FROM records_current ORDER BY id")] == head
            assert [(r.id, r.version) for r in RecordStore(s.conn).current("Note")] == [("n0", 3), ("n2", 2), ("n1", 2)]
