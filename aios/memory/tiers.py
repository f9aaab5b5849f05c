"""Moving material down the tiers (``aios memory compact``), verifying what went cold, and searching it.

Compaction, under the index's writer lock so no sync interleaves:

1. sync, so every finished run already has its warm summary (pointing at its log range) before any
   of its entries leave SQLite;
2. find the archivable prefix of the log after the last sealed segment: entries older than
   ``cold_after_days`` whose run is finished (or that belong to no run), up to the first entry that
   is not;
3. write it as segment files (at most ``SEGMENT_ENTRIES`` entries each), fsync'd and read back
   verified;
4. in one SQLite transaction, check the rows are still exactly those, register the segment in the
   runtime's ``log_segments`` table and delete the rows (its trigger lets only sealed rows go).

A crash before step 4 commits leaves an unregistered file that the next compaction overwrites; a
crash after leaves a sealed segment. Nothing is deleted without its archive, and the chain verifies
across the boundary either way.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from aios.errors import StorageError
from aios.memory.archive import (
    GENESIS,
    ArchiveVerification,
    iter_archived,
    segment_name,
    verify_segments,
    write_segment,
)
from aios.memory.documents import archived_document, parse_time
from aios.memory.index import MemoryIndex
from aios.memory.model import Hit, Query
from aios.memory.settings import MemorySettings
from aios.memory.store_reader import LogRow, StoreReader
from aios.memory.sync import SyncReport, sync_locked

if TYPE_CHECKING:
    from aios.runtime.store import Store

__all__ = ["CompactReport", "FullVerification", "compact", "verify_all", "search_cold", "SEGMENT_ENTRIES"]

SEGMENT_ENTRIES = 5000


@dataclass(frozen=True, slots=True)
class CompactReport:
    sync: SyncReport
    segments: tuple[str, ...]
    archived_entries: int
    cutoff: datetime


@dataclass(frozen=True, slots=True)
class FullVerification:
    ok: bool
    archive: ArchiveVerification
    live_entries: int
    message: str


def _archivable(st: StoreReader, cutoff: datetime) -> list[LogRow]:
    segments = st.segments()
    start = segments[-1][1] if segments else 0
    entries = st.log_after(start)
    runs = st.runs({e.run_id for e in entries if e.run_id})
    out: list[LogRow] = []
    for e in entries:
        at = parse_time(e.at)
        if at is None or at >= cutoff:
            break
        if e.run_id is not None:
            run = runs.get(e.run_id)
            done = parse_time(run.finished_at or run.updated_at) if run is not None else None
            if run is None or not run.terminal or done is None or done >= cutoff:
                break
        out.append(e)
    return out


def compact(index: MemoryIndex, settings: MemorySettings, *, cold_after_days: float | None = None,
            now: datetime | None = None) -> CompactReport:
    from aios.runtime.store import Store

    days = settings.cold_after_days if cold_after_days is None else cold_after_days
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    names: list[str] = []
    archived = 0
    with index.batch() as b:  # holds the writer lock: no other sync runs while rows leave SQLite
        report = sync_locked(b, settings)
        if not settings.state_db.is_file():
            return CompactReport(report, (), 0, cutoff)
        with StoreReader(settings.state_db) as st:
            todo = _archivable(st, cutoff)
            segments = st.segments()
        # Everything archived was indexed (summaries) by the sync just above, in this same lock.
        todo = [e for e in todo if e.seq <= b.watermark("log")]
        prev = segments[-1][2] if segments else GENESIS
        store = Store.open(settings.storage)
        try:
            for i in range(0, len(todo), SEGMENT_ENTRIES):
                part = todo[i:i + SEGMENT_ENTRIES]
                name = segment_name(part[0].seq, part[-1].seq)
                write_segment(settings.archive_dir / name, part, prev)
                _seal(store, part, name)
                names.append(name)
                archived += len(part)
                prev = part[-1].hash
        finally:
            store.close()
    return CompactReport(report, tuple(names), archived, cutoff)


def _seal(store: Store, part: list[LogRow], name: str) -> None:
    from aios.runtime.log import now_iso

    first, last = part[0].seq, part[-1].seq
    with store.transaction() as conn:
        row = conn.execute("SELECT count(*), max(hash) FILTER (WHERE seq = ?) FROM log WHERE seq BETWEEN ? AND ?",
                           (last, first, last)).fetchone()
        if int(row[0]) != len(part) or row[1] is None or bytes(row[1]) != part[-1].hash:
            raise StorageError(f"log entries {first}-{last} changed while they were archived; nothing was removed")
        conn.execute("INSERT INTO log_segments(first_seq, last_seq, last_hash, path, sealed_at) VALUES (?, ?, ?, ?, ?)",
                     (first, last, part[-1].hash, f"archive/{name}", now_iso()))
        conn.execute("DELETE FROM log WHERE seq BETWEEN ? AND ?", (first, last))


def verify_all(settings: MemorySettings) -> FullVerification:
    """The whole chain: every archived segment, then the live log from the last segment's hash."""
    from aios.runtime import log
    from aios.runtime.store import Store

    with StoreReader(settings.state_db) as st:
        segments = st.segments()
    archive = verify_segments(settings.archive_dir, segments)
    if not archive.ok:
        return FullVerification(False, archive, 0, archive.describe())
    if not settings.state_db.is_file():
        return FullVerification(True, archive, 0, archive.describe())
    store = Store.open(settings.storage)
    try:
        live = log.verify(store.conn)
    finally:
        store.close()
    message = f"{archive.describe()}; {live.describe()}"
    return FullVerification(live.ok and archive.ok, archive, live.entries, message)


def search_cold(settings: MemorySettings, query: Query) -> list[Hit]:
    """Search the archived segments: they are indexed into a throw-away index for this query."""
    with StoreReader(settings.state_db) as st:
        segments = st.segments()
    if not segments:
        return []
    work = Path(tempfile.mkdtemp(prefix="aios-cold-"))
    try:
        cold = MemoryIndex(work)
        with cold.batch(bulk=True) as b:
            for rel, entry in iter_archived(settings.archive_dir, segments):
                b.add(archived_document(entry, rel))
        hits = cold.search(query)
        del cold
        return hits
    finally:
        shutil.rmtree(work, ignore_errors=True)
