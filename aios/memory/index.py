"""The Tantivy adapter: one index directory, queued writers, a reader that sees every commit.

Layout of the index directory (normally ``<storage>/index``)::

    tantivy/      the tantivy index
    state.json    schema version, sync watermarks, knowledge file digests
    writer.lock   the cross-process writer queue (see aios.memory.lock)
    writer.dirty  present while a batch is being written: found by the next writer, it means the
                  last one died mid-batch, and tantivy's unreferenced files are collected first
    vectors.db    document vectors, when an embedding route is configured (see aios.memory.embedder)

``state.json`` is rewritten (atomically) only after a tantivy commit succeeded, while the writer lock
is still held. A crash between the two leaves it behind the index, never ahead, so recovery may
re-index a few documents (harmless: every write is delete-then-add) but never skips one.

tantivy is imported only inside this module's functions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from aios import masking
from aios.errors import StorageError
from aios.memory.analysis import STEMMED, analyzers
from aios.memory.lock import IndexBusy, WriterLock
from aios.memory.model import (
    ArchiveSource,
    DocKind,
    FileSource,
    Hit,
    IndexDocument,
    Provenance,
    Query,
    RecordSource,
    RunSource,
)
from aios.memory.schema import (
    F_BODY,
    F_CREATED,
    F_FIELDS,
    F_GROUP,
    F_ID,
    F_KIND,
    F_META,
    F_SCHEMA,
    F_TAGS,
    F_TERMS,
    F_TITLE,
    F_UPDATED,
    F_WORDS,
    SCHEMA_VERSION,
    build_schema,
    encode_filter_fields,
    from_micros,
    to_micros,
)

__all__ = ["MemoryIndex", "IndexState", "WriteBatch", "IndexStats", "BatchListener", "provenance_from_json",
           "provenance_to_json"]

_PROVENANCE_TYPES: dict[str, type[Any]] = {
    "file": FileSource, "record": RecordSource, "run": RunSource, "archive": ArchiveSource,
}


def provenance_to_json(p: Provenance) -> dict[str, Any]:
    out = asdict(p)
    out["type"] = type(p).__name__.removesuffix("Source").lower()
    return out


def provenance_from_json(data: Mapping[str, Any]) -> Provenance:
    values = dict(data)
    cls = _PROVENANCE_TYPES[str(values.pop("type"))]
    result: Provenance = cls(**values)
    return result


@dataclass(frozen=True, slots=True)
class IndexState:
    schema_version: int = SCHEMA_VERSION
    watermarks: Mapping[str, int] = field(default_factory=dict, hash=False)
    files: Mapping[str, str] = field(default_factory=dict, hash=False)  # knowledge path -> sha256

    @classmethod
    def read(cls, path: Path) -> IndexState | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(data["schema_version"]), {str(k): int(v) for k, v in data["watermarks"].items()},
                       {str(k): str(v) for k, v in data["files"].items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        payload = {"schema_version": self.schema_version, "watermarks": dict(sorted(self.watermarks.items())),
                   "files": dict(sorted(self.files.items()))}
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class IndexStats:
    documents: int
    by_kind: tuple[tuple[str, int], ...]
    segments: int
    size_bytes: int
    watermarks: tuple[tuple[str, int], ...]
    knowledge_files: int


class BatchListener(Protocol):
    """Told every operation of one batch, in order, then its commit (still under the writer lock)."""

    def added(self, doc: IndexDocument) -> None: ...
    def deleted(self, doc_id: str) -> None: ...
    def deleted_group(self, group: str) -> None: ...
    def deleted_kind(self, kind: DocKind) -> None: ...
    def cleared(self) -> None: ...
    def committed(self, opstamp: int) -> None: ...


class WriteBatch:
    """The operations of one commit. Obtained from ``MemoryIndex.batch()``; not thread-safe."""

    def __init__(self, writer: Any, state: IndexState, analyzer: Any, listener: BatchListener | None = None) -> None:
        self._listener = listener
        self._writer = writer
        self._analyzer = analyzer
        self.state = state
        self._watermarks = dict(state.watermarks)
        self._files = dict(state.files)
        self.added = 0
        self.deleted_terms = 0
        self._cleared: set[str] | None = None

    def add(self, doc: IndexDocument, *, replace: bool = True) -> None:
        """Insert or replace (by id). ``replace=False`` skips the delete when the caller knows the id
        is new (a batch after ``clear()``, a fresh index): bulk loads go about a fifth faster."""
        if self._cleared is not None:  # after clear(): only a repeated id needs its delete
            replace = doc.id in self._cleared
            self._cleared.add(doc.id)
        if replace:
            self._writer.delete_documents_by_term(F_ID, doc.id)
        doc = _masked(doc)
        self._writer.add_document(_to_tantivy(doc, self._analyzer))
        self.added += 1
        if self._listener is not None:
            self._listener.added(doc)

    def add_all(self, docs: Iterable[IndexDocument]) -> None:
        for doc in docs:
            self.add(doc)

    def delete(self, doc_id: str) -> None:
        self._writer.delete_documents_by_term(F_ID, doc_id)
        self.deleted_terms += 1
        if self._listener is not None:
            self._listener.deleted(doc_id)

    def delete_group(self, group: str) -> None:
        self._writer.delete_documents_by_term(F_GROUP, group)
        self.deleted_terms += 1
        if self._listener is not None:
            self._listener.deleted_group(group)

    def delete_kind(self, kind: DocKind) -> None:
        self._writer.delete_documents_by_term(F_KIND, kind.value)
        self.deleted_terms += 1
        if self._listener is not None:
            self._listener.deleted_kind(kind)

    def clear(self) -> None:
        """Delete everything; later adds in this batch need no per-id delete."""
        self._writer.delete_all_documents()
        self._cleared = set()
        if self._listener is not None:
            self._listener.cleared()
        self._watermarks.clear()
        self._files.clear()

    def watermark(self, name: str) -> int:
        return self._watermarks.get(name, 0)

    def set_watermark(self, name: str, value: int) -> None:
        self._watermarks[name] = value

    def file_digest(self, path: str) -> str | None:
        return self._files.get(path)

    def set_file(self, path: str, digest: str | None) -> None:
        if digest is None:
            self._files.pop(path, None)
        else:
            self._files[path] = digest

    def known_files(self) -> tuple[str, ...]:
        return tuple(sorted(self._files))

    def final_state(self) -> IndexState:
        return IndexState(SCHEMA_VERSION, dict(self._watermarks), dict(self._files))


class MemoryIndex:
    """A Tantivy index of ``IndexDocument`` values. Cheap to search from many threads; writes go
    through ``batch()`` one at a time across processes."""

    def __init__(self, directory: Path, *, lock_timeout_s: float = 120.0) -> None:
        import tantivy

        self.directory = directory
        self.lock_timeout_s = lock_timeout_s
        self._tdir = directory / "tantivy"
        self._state_path = directory / "state.json"
        self._lock_path = directory / "writer.lock"
        self._dirty_path = directory / "writer.dirty"
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create the index directory {directory}: {err}") from err
        self.schema = build_schema()
        self.analyzers = analyzers()
        self.rebuilt = self._ensure_current(tantivy)
        try:
            self._index = tantivy.Index(self.schema, path=str(self._tdir), reuse=True)
        except (OSError, ValueError) as err:
            raise StorageError(f"cannot open the index at {self._tdir}: {err}") from err
        for name, analyzer in self.analyzers.items():
            self._index.register_tokenizer(name, analyzer)
        self._index.config_reader("Manual")
        self._meta_stamp: tuple[int, int, int] | None = None
        #: Called under the writer lock at the start of every batch; its listener follows the batch.
        self.listen: Callable[[], BatchListener | None] | None = None

    # -- opening ------------------------------------------------------------------------------

    def _ensure_current(self, tantivy: Any) -> bool:
        """Create the index, or wipe one written under another schema version. True if (re)created."""
        state = IndexState.read(self._state_path)
        if state is not None and state.schema_version == SCHEMA_VERSION and self._exists(tantivy):
            return False
        with WriterLock(self._lock_path, self.lock_timeout_s):
            state = IndexState.read(self._state_path)
            if state is not None and state.schema_version == SCHEMA_VERSION and self._exists(tantivy):
                return False
            if self._tdir.exists():
                shutil.rmtree(self._tdir)
            self._tdir.mkdir(parents=True)
            created = tantivy.Index(self.schema, path=str(self._tdir), reuse=False)
            del created
            IndexState().write(self._state_path)
        return True

    def _exists(self, tantivy: Any) -> bool:
        try:
            return bool(self._tdir.is_dir() and tantivy.Index.exists(str(self._tdir)))
        except OSError:
            return False

    # -- writing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self, *, bulk: bool = False) -> Iterator[WriteBatch]:
        """Queue for the writer, apply the batch's operations, commit, then record the new state.

        On an exception nothing of the batch is committed. ``bulk`` gives the writer more memory and
        threads (reindexing).
        """
        with WriterLock(self._lock_path, self.lock_timeout_s):
            state = IndexState.read(self._state_path) or IndexState()
            writer = self._open_writer(bulk)
            if self._dirty_path.exists():
                # The previous writer died inside a batch. Its half-written files (segments, delete
                # bitsets named after the next opstamp) would collide with ours: remove every file
                # the last commit does not reference before writing anything.
                writer.garbage_collect_files()
            self._dirty_path.touch()
            listener = self.listen() if self.listen is not None else None
            batch = WriteBatch(writer, state, self.analyzers[STEMMED], listener)
            try:
                yield batch
                opstamp = int(writer.commit())
            except BaseException:
                with contextlib.suppress(Exception):
                    writer.rollback()
                raise
            finally:
                # Waits for merges and drops the writer, which releases tantivy's own lock.
                writer.wait_merging_threads()
            batch.final_state().write(self._state_path)
            self._dirty_path.unlink()
            if listener is not None:
                listener.committed(opstamp)

    def _open_writer(self, bulk: bool) -> Any:
        heap, threads = (256_000_000, 1) if bulk else (24_000_000, 1)
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.005
        while True:
            try:
                return self._index.writer(heap, threads)
            except ValueError as err:
                if "LockBusy" not in str(err) or time.monotonic() >= deadline:
                    if "LockBusy" in str(err):
                        raise IndexBusy(f"the index at {self._tdir} is locked by another writer") from err
                    raise StorageError(f"cannot open an index writer: {err}") from err
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    def write(self, docs: Iterable[IndexDocument] = (), *, delete_ids: Iterable[str] = (),
              delete_groups: Iterable[str] = ()) -> None:
        """One commit: deletions first, then the documents (each replacing its id)."""
        with self.batch() as b:
            for group in delete_groups:
                b.delete_group(group)
            for doc_id in delete_ids:
                b.delete(doc_id)
            b.add_all(docs)

    # -- reading ------------------------------------------------------------------------------

    @property
    def raw(self) -> Any:
        """The tantivy ``Index`` (for the ranking module)."""
        return self._index

    def state(self) -> IndexState:
        return IndexState.read(self._state_path) or IndexState()

    def opstamp(self) -> int:
        """The opstamp of the last commit (of any process); every commit moves it."""
        try:
            return int(json.loads((self._tdir / "meta.json").read_text(encoding="utf-8"))["opstamp"])
        except (OSError, ValueError, KeyError, TypeError):
            return -1

    def searcher(self) -> Any:
        """A searcher on the latest commit (of any process).

        tantivy replaces ``meta.json`` (write to a temp file, rename) on every commit, so an unchanged
        (inode, mtime, size) means nothing was committed since the last reload.
        """
        try:
            st = os.stat(self._tdir / "meta.json")
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp is None or stamp != self._meta_stamp:
            self._index.reload()
            self._meta_stamp = stamp
        return self._index.searcher()

    def search(self, query: Query, *, now: datetime | None = None) -> list[Hit]:
        """Search the latest commit. ``now`` anchors recency (default: the current time)."""
        from aios.memory.ranking import DEFAULT_RANKING, search

        return search(self, query, DEFAULT_RANKING, now)

    def get(self, doc_id: str) -> Hit | None:
        import tantivy

        searcher = self.searcher()
        found = searcher.search(tantivy.Query.term_query(self.schema, F_ID, doc_id), 1, count=False).hits
        if not found:
            return None
        return hit_from_doc(searcher.doc(found[0][1]), 0.0, "")

    def ids(self, kind: DocKind | None = None) -> set[str]:
        """Every document id (of one kind). For tests, stats and sync checks, not for hot paths."""
        import tantivy

        searcher = self.searcher()
        q = (tantivy.Query.all_query() if kind is None
             else tantivy.Query.term_query(self.schema, F_KIND, kind.value))
        total = searcher.search(q, 1, count=True).count or 0
        if total == 0:
            return set()
        return {str(searcher.doc(addr).get_first(F_ID)) for _, addr in searcher.search(q, total, count=False).hits}

    def count(self, kind: DocKind | None = None) -> int:
        import tantivy

        searcher = self.searcher()
        if kind is None:
            return int(searcher.num_docs)
        q = tantivy.Query.term_query(self.schema, F_KIND, kind.value)
        return int(searcher.search(q, 1, count=True).count or 0)

    def stats(self) -> IndexStats:
        searcher = self.searcher()
        by_kind = tuple((k.value, self.count(k)) for k in DocKind)
        size = sum(p.stat().st_size for p in self._tdir.iterdir() if p.is_file())
        state = self.state()
        return IndexStats(int(searcher.num_docs), by_kind, int(searcher.num_segments), size,
                          tuple(sorted(state.watermarks.items())), len(state.files))


# -- conversion ------------------------------------------------------------------------------


def _masked(doc: IndexDocument) -> IndexDocument:
    """The document with secrets masked in its text (every document written passes here)."""
    masker = masking.active()
    if not masker.values:
        return doc
    fields = dict(doc.fields)
    text = "\x1f".join((doc.title, doc.body, *doc.tags, json.dumps(fields, ensure_ascii=False, default=str)))
    if not masker.hit(text):
        return doc
    return dataclasses.replace(doc, title=masker.mask(doc.title), body=masker.mask(doc.body),
                   tags=tuple(masker.mask(t) for t in doc.tags), fields=masker.mask_value(fields))


def _to_tantivy(doc: IndexDocument, analyzer: Any) -> Any:
    import tantivy

    t = tantivy.Document()
    t.add_text(F_ID, doc.id)
    t.add_text(F_GROUP, doc.source_group())
    t.add_text(F_KIND, doc.kind.value)
    t.add_text(F_TITLE, doc.title)
    t.add_text(F_BODY, doc.body)
    t.add_text(F_WORDS, f"{doc.title}\n{doc.body}")
    for tag in sorted({tag.strip().lower() for tag in doc.tags if tag.strip()}):
        t.add_text(F_TAGS, tag)
    if isinstance(doc.provenance, RecordSource):
        t.add_text(F_SCHEMA, doc.provenance.schema)
    updated = doc.updated or doc.created
    if updated is not None:
        t.add_integer(F_UPDATED, to_micros(updated))
    if doc.created is not None:
        t.add_integer(F_CREATED, to_micros(doc.created))
    encoded = encode_filter_fields(doc.fields)
    if encoded:
        t.add_json(F_FIELDS, encoded)
    meta = {"provenance": provenance_to_json(doc.provenance), "fields": dict(doc.fields)}
    t.add_bytes(F_META, json.dumps(meta, ensure_ascii=False, default=_json_default).encode("utf-8"))
    t.add_bytes(F_TERMS, " ".join(analyzer.analyze(doc.body)).encode("utf-8"))
    return t


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime) or hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def hit_from_doc(doc: Any, score: float, snippet: str) -> Hit:
    meta = json.loads(bytes(doc.get_first(F_META)).decode("utf-8"))
    updated = doc.get_first(F_UPDATED)
    return Hit(
        id=str(doc.get_first(F_ID)),
        kind=DocKind(doc.get_first(F_KIND)),
        title=str(doc.get_first(F_TITLE) or ""),
        score=score,
        snippet=snippet,
        provenance=provenance_from_json(meta["provenance"]),
        tags=tuple(str(t) for t in doc.get_all(F_TAGS)),
        updated=from_micros(int(updated)) if updated is not None else None,
        fields=meta.get("fields") or {},
    )


def body_of(doc: Any) -> str:
    return str(doc.get_first(F_BODY) or "")


def terms_of(doc: Any) -> list[str]:
    """The body's analyzed tokens, as stored at indexing time."""
    raw = doc.get_first(F_TERMS)
    return bytes(raw).decode("utf-8").split() if raw else []

