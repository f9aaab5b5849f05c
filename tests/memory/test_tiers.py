"""Hot → warm → cold: compaction archives finished log entries into verifiable segment files, the
whole chain still verifies, and the archive is searchable on demand."""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aios.memory.archive import read_segment
from aios.memory.index import MemoryIndex
from aios.memory.memory import Memory
from aios.memory.model import ArchiveSource, DocKind, Query, RunSource
from aios.memory.sync import reindex
from aios.runtime import log

from .conftest import customer, dump, event

LATER = datetime.now(UTC) + timedelta(days=60)


def _log_count(workspace: Path) -> int:
    conn = sqlite3.connect(workspace / ".aios" / "state.db")
    try:
        return int(conn.execute("SELECT count(*) FROM log").fetchone()[0])
    finally:
        conn.close()


def _populate(runtime: Any) -> tuple[list[str], Any]:
    done = [runtime.start("onboard", event("customer.received", customer(f"c-{i}", f"Client {i}", note))).run_id
            for i, note in enumerate(["wind turbine brochure", "solar roof guide", "heat pump retrofit series"])]
    held = runtime.start("held", event("customer.held", customer("h-1", "Harbor AS", "undecided harbour client")))
    return done, held


def test_compact_verify_and_search_cold_round_trip(workspace: Path, plan: Any, runtime: Any,
                                                   tmp_path: Path) -> None:
    done, held = _populate(runtime)
    mem = Memory.for_workspace(workspace, plan)
    before = _log_count(workspace)

    report = mem.compact(now=LATER)
    assert report.segments and report.archived_entries > 0
    # Entries of the three finished runs went cold; the open run's stayed hot.
    assert _log_count(workspace) == before - report.archived_entries
    conn = runtime.store.conn
    assert [e.run_id for e in log.entries_for_run(conn, held.run_id)]
    for run_id in done:
        live = conn.execute("SELECT count(*) FROM log WHERE run_id = ?", (run_id,)).fetchone()[0]
        assert live == 0
        # ...but the run's history still reads whole, from the archive (runs show, rerun)
        archived = list(log.entries_for_run(conn, run_id))
        assert archived and all(e.run_id == run_id for e in archived)
        assert [e.seq for e in archived] == sorted(e.seq for e in archived)
    seg = workspace / ".aios" / "archive" / report.segments[0]
    header, rows = read_segment(seg)
    assert header.first_seq == 1 and len(rows) == report.archived_entries

    # The runtime's own check (live part, anchored at the segment) and the full one both pass.
    assert log.verify(conn).ok
    full = mem.verify()
    assert full.ok, full.message
    assert full.archive.entries == report.archived_entries and full.live_entries == before - report.archived_entries

    # Warm: each finished run still has its summary, pointing back at its (now archived) log range.
    for run_id in done:
        hit = mem.index.get(f"summary:run:{run_id}")
        assert hit is not None and isinstance(hit.provenance, RunSource)
        assert hit.provenance.seq_start is not None and hit.provenance.seq_start <= header.last_seq
    # Records are untouched by compaction.
    assert mem.search(Query("solar roof", kinds=(DocKind.RECORD,)))

    # Cold: the archived step outputs are found on demand, with the archive as provenance.
    assert all(not isinstance(h.provenance, ArchiveSource) for h in mem.search(Query("wind turbine brochure")))
    cold = [h for h in mem.search(Query("wind turbine brochure"), cold=True) if isinstance(h.provenance, ArchiveSource)]
    assert cold
    first = cold[0].provenance
    assert isinstance(first, ArchiveSource) and first.archive == f"archive/{seg.name}" and first.run_id == done[0]
    assert any(r.seq == first.seq and r.run_id == done[0] for r in rows)

    # A rebuild from the store plus the archive gives the same index as before.
    other = MemoryIndex(tmp_path / "rebuilt")
    reindex(other, mem.settings)
    assert dump(other) == dump(mem.index)

    # Compacting again moves nothing; the open run is finished and compacted later.
    assert mem.compact(now=LATER).archived_entries == 0


def test_a_tampered_or_missing_archive_fails_verification(workspace: Path, plan: Any, runtime: Any) -> None:
    _populate(runtime)
    mem = Memory.for_workspace(workspace, plan)
    report = mem.compact(now=LATER)
    seg = workspace / ".aios" / "archive" / report.segments[0]
    original = seg.read_bytes()

    lines = gzip.decompress(original).decode().splitlines()
    n = next(i for i, line in enumerate(lines) if "Client 1" in line)
    entry = json.loads(lines[n])
    entry["body"] = entry["body"].replace("Client 1", "Client 7")
    lines[n] = json.dumps(entry)
    seg.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    result = mem.verify()
    assert not result.ok and "does not match its hash" in result.message

    seg.write_bytes(original)
    assert mem.verify().ok
    seg.unlink()
    result = mem.verify()
    assert not result.ok and seg.name in result.message


def test_only_old_entries_of_finished_runs_go_cold(workspace: Path, plan: Any, runtime: Any) -> None:
    _populate(runtime)
    mem = Memory.for_workspace(workspace, plan)
    assert mem.compact().archived_entries == 0  # nothing is 30 days old yet
    assert mem.compact(cold_after_days=0, now=LATER).archived_entries > 0
    assert mem.verify().ok


def test_rank_fusion_keeps_the_top_of_each_ranking() -> None:
    from aios.memory.memory import interleave
    from aios.memory.model import FileSource, Hit

    def hits(prefix: str, n: int, score: float) -> list[Hit]:
        return [Hit(f"{prefix}{i}", DocKind.NOTE, "t", score - i, "", FileSource("f.md", 1, 1)) for i in range(n)]

    live, cold = hits("live", 5, 100.0), hits("cold", 5, 1.0)  # scales that do not compare
    merged = interleave(live, cold, 4)
    assert [h.id for h in merged] == ["live0", "cold0", "live1", "cold1"]
    assert merged[1].score == 1.0  # each hit keeps its own score
    both = interleave(live[:2], [live[1], *cold[:1]], 3)
    assert both[0].id == "live1"  # found by both rankings


def test_log_verify_command_covers_archived_segments(workspace: Path, plan: Any, runtime: Any) -> None:
    """`aios log verify` checks the archive too once compaction has moved entries out of the live log."""
    from click.testing import CliRunner

    from aios.cli.main import cli

    _populate(runtime)
    report = Memory.for_workspace(workspace, plan).compact(now=LATER)
    assert report.segments
    runtime.store.close()
    ok = CliRunner().invoke(cli, ["log", "verify", "--workspace", str(workspace)])
    assert ok.exit_code == 0, ok.output
    assert "archive" in ok.output.lower()
    seg = workspace / ".aios" / "archive" / report.segments[0]
    lines = gzip.decompress(seg.read_bytes()).decode().splitlines()
    n = next(i for i, line in enumerate(lines) if "Client 1" in line)
    entry = json.loads(lines[n])
    entry["body"] = entry["body"].replace("Client 1", "Client 7")
    lines[n] = json.dumps(entry)
    seg.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    bad = CliRunner().invoke(cli, ["log", "verify", "--workspace", str(workspace)])
    assert bad.exit_code == 1, bad.output
    assert "does not match its hash" in bad.output


def test_runs_show_reads_a_compacted_run_from_the_archive(workspace: Path, plan: Any, runtime: Any) -> None:
    from click.testing import CliRunner

    from aios.cli.main import cli

    done, _ = _populate(runtime)
    before = CliRunner().invoke(cli, ["runs", "show", done[0], "--workspace", str(workspace)])
    assert before.exit_code == 0, before.output
    Memory.for_workspace(workspace, plan).compact(now=LATER)
    runtime.store.close()
    after = CliRunner().invoke(cli, ["runs", "show", done[0], "--workspace", str(workspace)])
    assert after.exit_code == 0, after.output
    assert after.output == before.output
