"""A full disk (and the other ways SQLite storage fails) is a clear message and an exit status,
never a traceback; what was committed stays intact and the run stays recoverable.

Two real failures: a small tmpfs filled to the brim (when this process may mount one), and SQLite's
own page limit (`PRAGMA max_page_count`, which fails a write with SQLITE_FULL exactly as a full disk
does), set by a bootstrap that then runs the real CLI in a separate process."""

from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aios.errors import StorageError
from aios.storage_failures import storage_error

from .workspace import write_workspace

# the CLI, with every connection to a state.db limited to the pages it has now (a "full" database)
FULL_DB_BOOTSTRAP = """\
import sqlite3, sys

_connect = sqlite3.connect


def connect(database, *args, **kwargs):
    conn = _connect(database, *args, **kwargs)
    if str(database).endswith("state.db"):
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
    return conn


sqlite3.connect = connect
from aios.cli.main import main

sys.argv[0] = "aios"
main()
"""


def aios(ws: Path, *args: str, full_db: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("AIOS_ACTOR", None)
    head = [sys.executable, "-c", FULL_DB_BOOTSTRAP] if full_db else [sys.executable, "-m", "aios"]
    return subprocess.run([*head, *args, "-w", str(ws)], capture_output=True, text=True, env=env, timeout=120)


def _waiting_run(ws: Path) -> tuple[str, str]:
    started = aios(ws, "run", "flow", "--event", str(ws / "event.json"), "--json")
    assert started.returncode == 3, started.stderr
    out = json.loads(started.stdout)
    return out["run_id"], out["approval"]


def _verified(ws: Path) -> int:
    proc = aios(ws, "log", "verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    match = re.search(r"log verified: (\d+) entries", proc.stdout)
    assert match, proc.stdout
    return int(match.group(1))


def _log_rows(ws: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(ws / ".aios" / "state.db") as conn:
        return conn.execute("SELECT seq, hash FROM log ORDER BY seq").fetchall()


def _assert_clean_failure(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    assert "aios: error: " in proc.stderr, proc.stderr
    assert any(w in proc.stderr for w in words), proc.stderr
    assert "aios runs resume" in proc.stderr, proc.stderr  # says how to continue


def test_a_full_database_is_a_message_and_the_run_recovers(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    run_id, approval = _waiting_run(ws)
    before = _log_rows(ws)
    assert _verified(ws) == len(before)

    failed = aios(ws, "approve", approval, "--as", "boss", "--note", "x" * 120_000, full_db=True)
    _assert_clean_failure(failed, "full")
    assert _log_rows(ws) == before  # nothing lost, nothing half-written
    assert _verified(ws) == len(before)

    done = aios(ws, "approve", approval, "--as", "boss", "--note", "ship it", "--json")  # space again
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "completed"
    assert [f.read_text() for f in (ws / "outbox").glob("*.md")] == ["All is well."]
    assert _log_rows(ws)[: len(before)] == before and _verified(ws) > len(before)


def test_a_full_database_when_a_run_starts_keeps_nothing_half_done(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    _waiting_run(ws)
    before = _log_rows(ws)
    event = json.loads((ws / "event.json").read_text())
    event.update(id="n-2", payload={"title": "Long", "body": "y" * 200_000})
    (ws / "big.json").write_text(json.dumps(event))
    failed = aios(ws, "run", "flow", "--event", str(ws / "big.json"), full_db=True)
    _assert_clean_failure(failed, "full")
    assert _log_rows(ws) == before and _verified(ws) == len(before)
    runs = json.loads(aios(ws, "runs", "list", "--json").stdout)
    assert len(runs) == 1  # the run that could not be admitted left no trace


# -- a real full file system ----------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs mounted for this test (skipped where mounting is not permitted)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(disk: Path, leave: int) -> Path:
    """Fill the file system until only about ``leave`` bytes are free."""
    filler = disk / "filler"
    st = os.statvfs(disk)
    target = max(st.f_bavail * st.f_frsize - leave, 0)
    chunk = b"\0" * (1 << 20)
    with filler.open("wb") as fh:
        written = 0
        while written < target:
            try:
                written += fh.write(chunk[: min(len(chunk), target - written)])
                fh.flush()
            except OSError as err:
                assert err.errno == errno.ENOSPC
                break
    return filler


def test_a_full_file_system_is_a_message_and_the_run_recovers(small_disk: Path) -> None:
    ws = write_workspace(small_disk / "ws")
    run_id, approval = _waiting_run(ws)
    before = _log_rows(ws)
    filler = _fill(small_disk, leave=64 * 1024)

    failed = aios(ws, "approve", approval, "--as", "boss", "--note", "x" * 120_000)
    _assert_clean_failure(failed, "full", "disk I/O error")
    assert _log_rows(ws) == before
    assert _verified(ws) == len(before)

    filler.unlink()
    done = aios(ws, "approve", approval, "--as", "boss", "--note", "ship it", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "completed"
    assert _log_rows(ws)[: len(before)] == before and _verified(ws) > len(before)


# -- what each SQLite failure says -------------------------------------------------------------------

def _raise(conn: sqlite3.Connection, sql: str) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as info:
        conn.execute(sql)
    return info.value


def test_each_sqlite_failure_says_what_happened_and_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE t (x TEXT)")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    full = storage_error(_raise(conn, "INSERT INTO t VALUES (zeroblob(100000))"))
    assert isinstance(full, StorageError)
    assert "full" in str(full) and "aios runs resume" in str(full) and "database or disk is full" in str(full)

    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    locked = storage_error(_raise(other, "INSERT INTO t VALUES ('a')"))
    conn.execute("ROLLBACK")
    assert "locked" in str(locked) and "another process" in str(locked)

    readonly = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert "read-only" in str(storage_error(_raise(readonly, "INSERT INTO t VALUES ('a')")))

    with pytest.raises(sqlite3.Error) as cant:
        sqlite3.connect(tmp_path / "missing" / "state.db")
    assert "cannot open" in str(storage_error(cant.value))

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    assert "damaged" in str(storage_error(_raise(sqlite3.connect(junk), "SELECT * FROM sqlite_master")))

    assert "no space left" in str(storage_error(OSError(errno.ENOSPC, "No space left on device", "f")))


MID_RUN_STEPS = """\
  - id: note
    connector: files.write
    input: {path: "note-{{ event.id }}.md", content: "hello"}
    idempotency_key: "note-{{ event.id }}"
  - id: big
    needs: [note]
    transform: "{{ 'x' * event.payload.n }}"
"""

# the CLI, with a state.db allowed only a few pages more than it has (small commits fit, a big one not)
NEARLY_FULL_DB_BOOTSTRAP = FULL_DB_BOOTSTRAP.replace("max_page_count = {pages}", "max_page_count = {pages + 12}")


def test_a_run_interrupted_by_a_full_database_resumes_once_there_is_space(tmp_path: Path) -> None:
    from tests.connectors.workspace import write_workspace as write_connector_workspace

    ws = write_connector_workspace(tmp_path / "ws", MID_RUN_STEPS, connectors={"files.write": {"outbox": "outbox"}})
    (ws / "small.json").write_text(json.dumps({"type": "go", "id": "e-1", "payload": {"n": 10}}))
    (ws / "large.json").write_text(json.dumps({"type": "go", "id": "e-2", "payload": {"n": 300_000}}))
    assert aios(ws, "run", "p", "--event", str(ws / "small.json")).returncode == 0
    before = _log_rows(ws)

    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    failed = subprocess.run([sys.executable, "-c", NEARLY_FULL_DB_BOOTSTRAP, "run", "p", "--event",
                             str(ws / "large.json"), "-w", str(ws)], capture_output=True, text=True, env=env,
                            timeout=120)
    _assert_clean_failure(failed, "full")
    rows = _log_rows(ws)
    assert rows[: len(before)] == before and len(rows) > len(before)  # the run got as far as its last commit
    assert _verified(ws) == len(rows)
    [interrupted] = [r for r in json.loads(aios(ws, "runs", "list", "--json").stdout) if r["status"] != "completed"]
    assert interrupted["status"] == "running"
    assert (ws / "outbox" / "note-e-2.md").read_text() == "hello"  # the effect before the failure happened

    resumed = aios(ws, "runs", "resume", "--all")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"run {interrupted['id']} completed" in resumed.stdout
    assert _verified(ws) > len(rows)
    assert sorted(p.name for p in (ws / "outbox").iterdir()) == ["note-e-1.md", "note-e-2.md"]
