"""Keeping the index in step with its sources: the state store (records, the episodic log, archived
segments) and the knowledge files.

``sync`` is incremental and idempotent. Under the index's writer lock it reads, in one SQLite
snapshot, every record version after the ``records`` watermark and every log entry after the
``log`` watermark, indexes them, and commits; the watermarks move forward only after that commit
(see ``aios.memory.index``). So a crash anywhere — between a record write and its indexing, inside
a tantivy commit, before the watermark is saved — leaves the index behind its sources, never ahead,
and the next ``sync`` (every search through ``aios.memory.memory`` runs one first) catches up.

``reindex`` rebuilds everything from the sources in one commit; readers see the old index until it
lands. Both apply the same pure functions (``aios.memory.documents``), so they agree document for
document.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from aios.memory.archive import iter_archived
from aios.memory.documents import (
    episode_document,
    episodes_group,
    history_document,
    record_document,
    run_summary_document,
)
from aios.memory.index import MemoryIndex, WriteBatch
from aios.memory.knowledge import file_digest, knowledge_files, note_documents, relative_path
from aios.memory.probe import SourceProbe, resolve
from aios.memory.settings import MemorySettings
from aios.memory.store_reader import LogRow, RecordRow, RunRow, StoreReader

__all__ = ["SyncReport", "sync", "sync_locked", "reindex", "add_path", "pending"]

W_RECORDS = "records"
W_LOG = "log"


@dataclass(frozen=True, slots=True)
class SyncReport:
    records: int = 0
    summaries: int = 0
    episodes: int = 0
    notes: int = 0
    files_removed: int = 0
    problems: tuple[str, ...] = field(default=())
    full: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.records or self.summaries or self.episodes or self.notes or self.files_removed)


@dataclass
class _Tally:
    records: int = 0
    summaries: int = 0
    episodes: int = 0
    notes: int = 0
    files_removed: int = 0
    problems: list[str] = field(default_factory=list)

    def report(self, full: bool = False) -> SyncReport:
        return SyncReport(self.records, self.summaries, self.episodes, self.notes, self.files_removed,
                          tuple(self.problems), full)


# -- what is pending --------------------------------------------------------------------------------


def pending(index: MemoryIndex, settings: MemorySettings, probe: SourceProbe | None = None) -> bool:
    """Whether the sources moved since the index last caught up. With a long-lived ``probe`` this
    costs a ``PRAGMA data_version`` and a ``stat`` per knowledge file when nothing changed."""
    own = probe is None
    probe = probe or SourceProbe(settings)
    try:
        state = index.state()
        rowid, seq = probe.maxima()
        if rowid > state.watermarks.get(W_RECORDS, 0) or seq > state.watermarks.get(W_LOG, 0):
            return True
        digests = probe.digests(state.files)
        return any(state.files.get(rel) != d for rel, d in digests.items())
    finally:
        if own:
            probe.close()


# -- incremental -------------------------------------------------------------------------------------


def sync(index: MemoryIndex, settings: MemorySettings, *, force: bool = False,
         probe: SourceProbe | None = None) -> SyncReport:
    """Index whatever the sources gained since the watermarks. A no-op (no lock taken) when nothing did."""
    if not force and not pending(index, settings, probe):
        return SyncReport()
    with index.batch() as b:
        return sync_locked(b, settings, probe)


def sync_locked(b: WriteBatch, settings: MemorySettings, probe: SourceProbe | None = None) -> SyncReport:
    """The sync's work inside a batch the caller holds (compaction archives in the same lock)."""
    tally = _Tally()
    # The snapshot starts after the lock is held: it includes everything any earlier sync saw.
    with StoreReader(settings.state_db) as st:
        _sync_records(b, st, tally)
        _sync_log(b, st, tally)
    _sync_files(b, settings, tally, probe)
    return tally.report()


def _sync_records(b: WriteBatch, st: StoreReader, tally: _Tally) -> None:
    mark = b.watermark(W_RECORDS)
    rows = st.records_after(mark)
    if not rows:
        return
    latest: dict[tuple[str, str], RecordRow] = {}
    for row in rows:
        latest[(row.schema, row.id)] = row
    for row in latest.values():
        _index_record(b, st, row, tally)
    b.set_watermark(W_RECORDS, max(mark, rows[-1].rowid))


def _index_record(b: WriteBatch, st: StoreReader, row: RecordRow, tally: _Tally) -> None:
    history = st.record_history(row.schema, row.id) if row.version > 1 else [row]
    b.add(record_document(row, created=history[0].written_at))
    tally.records += 1
    summary = history_document(history)
    if summary is not None:
        b.add(summary)
        tally.summaries += 1


def _sync_log(b: WriteBatch, st: StoreReader, tally: _Tally) -> None:
    mark = b.watermark(W_LOG)
    entries = st.log_after(mark)
    if not entries:
        return
    by_run: dict[str, list[LogRow]] = defaultdict(list)
    for e in entries:
        if e.run_id is not None:
            by_run[e.run_id].append(e)
    runs = st.runs(set(by_run))
    for run_id, new in by_run.items():
        run = runs.get(run_id)
        if run is not None and run.terminal:
            _summarize(b, run, st.log_for_run(run_id), tally)
        else:
            for e in new:
                doc = episode_document(e, run)
                if doc is not None:
                    b.add(doc)
                    tally.episodes += 1
    b.set_watermark(W_LOG, max(mark, entries[-1].seq))


def _summarize(b: WriteBatch, run: RunRow, entries: list[LogRow], tally: _Tally) -> None:
    """Hot to warm: a finished run's episodes give way to its summary."""
    b.delete_group(episodes_group(run.id))
    b.add(run_summary_document(run, entries))
    tally.summaries += 1


def _sync_files(b: WriteBatch, settings: MemorySettings, tally: _Tally, probe: SourceProbe | None = None) -> None:
    digests = (probe or SourceProbe(settings)).digests(b.known_files())
    for rel, digest in sorted(digests.items()):
        if digest == b.file_digest(rel):
            continue
        _index_file(b, settings, rel, digest, tally)


def _index_file(b: WriteBatch, settings: MemorySettings, rel: str, digest: str | None, tally: _Tally) -> None:
    b.delete_group(f"file:{rel}")
    if digest is None:
        if b.file_digest(rel) is not None:
            tally.files_removed += 1
        b.set_file(rel, None)
        return
    path = resolve(settings, rel)
    try:
        docs = note_documents(path, settings.root, settings.knowledge_dir)
    except (OSError, UnicodeDecodeError) as err:
        tally.problems.append(f"{rel}: not indexed ({'not UTF-8 text' if isinstance(err, UnicodeDecodeError) else err})")
        b.set_file(rel, None)
        return
    b.add_all(docs)
    b.set_file(rel, digest)
    tally.notes += len(docs)


# -- explicit additions ------------------------------------------------------------------------------


def add_path(index: MemoryIndex, settings: MemorySettings, path: Path) -> SyncReport:
    """Index a knowledge file, or every note under a folder; it is kept in step from then on."""
    path = path if path.is_absolute() else Path.cwd() / path
    files = [path] if path.is_file() else list(knowledge_files(path))
    tally = _Tally()
    with index.batch() as b:
        for f in files:
            rel = relative_path(f, settings.root)
            try:
                digest = file_digest(f.read_bytes())
            except OSError as err:
                tally.problems.append(f"{rel}: {err}")
                continue
            _index_file(b, settings, rel, digest, tally)
    return tally.report()


# -- full rebuild ------------------------------------------------------------------------------------


def reindex(index: MemoryIndex, settings: MemorySettings) -> SyncReport:
    """Rebuild the whole index from the state store, the archive and the knowledge files."""
    tally = _Tally()
    with index.batch(bulk=True) as b, StoreReader(settings.state_db) as st:
        extra = [rel for rel in b.known_files() if not _under(settings, rel)]
        b.clear()
        for row in st.current_records():
            _index_record(b, st, row, tally)
        b.set_watermark(W_RECORDS, st.max_record_rowid())
        by_run: dict[str, list[LogRow]] = defaultdict(list)
        for _, e in iter_archived(settings.archive_dir, st.segments()):
            if e.run_id is not None:
                by_run[e.run_id].append(e)
        for e in st.log_after(0):
            if e.run_id is not None:
                by_run[e.run_id].append(e)
        runs = st.runs()
        for run_id, entries in by_run.items():
            run = runs.get(run_id)
            if run is not None and run.terminal:
                _summarize(b, run, entries, tally)
            else:
                for e in entries:
                    doc = episode_document(e, run)
                    if doc is not None:
                        b.add(doc)
                        tally.episodes += 1
        b.set_watermark(W_LOG, st.max_log_seq())
        for rel in extra:
            b.set_file(rel, "")  # known, so _sync_files re-reads it
        _sync_files(b, settings, tally)
    return tally.report(full=True)


def _under(settings: MemorySettings, rel: str) -> bool:
    try:
        resolve(settings, rel).resolve().relative_to(settings.knowledge_dir.resolve())
        return True
    except ValueError:
        return False
