"""Document vectors kept in step with the index, and the vector ranking of a query.

``Vectors(index, settings)`` attaches to a ``MemoryIndex``: every batch written to the index is
followed, under the same writer lock, by the same operations on the vector store (adds embedded,
deletes by id, group and kind, clears), applied right after the Tantivy commit, which stamps the
store with that commit's opstamp. A text embedded once is not embedded again: vectors are reused by
the digest of their text, so a reindex or an unchanged re-add costs no model call.

The store is *in step* when it carries the index's current opstamp and the configured model's id.
It is not when a crash came between the two commits, when something wrote the index without the
vectors attached, when the embedding route changed, or the first time. Then the next batch (and
``catch_up``, which every search's sync runs) reconciles: it reads every document of the index, drops
vectors of documents that are gone, and embeds the ones missing or changed.

Embedding never fails a write or a search. When the route fails, new documents get a row without a
vector (found by keywords only; their vectors are made by a later write or search once the route
answers), searches rank by keywords only and say so, and the route is left alone for
``retry_after_s``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aios.errors import AiosError
from aios.memory.model import DocKind, IndexDocument
from aios.memory.schema import to_micros
from aios.memory.vectors import FILE_NAME, VectorRow, VectorStore, encode

if TYPE_CHECKING:
    from aios.memory.index import MemoryIndex
    from aios.memory.settings import EmbeddingSettings
    from aios.models.adapter import ModelAdapter

__all__ = ["Vectors", "VectorRanking", "EmbeddingUnavailable", "embed_text", "text_digest"]

log = logging.getLogger("aios.memory")

_META_MODEL = "model"
_META_OPSTAMP = "opstamp"
_EMBED_CHUNK = 256  # texts embedded at a time while a batch is written
_PENDING_RETRY = 256  # vectors still missing that a batch retries
_MAX_CHARS = 8000  # of a document's text sent to the model


def embed_text(title: str, body: str) -> str:
    """What is embedded for a document: its body, with the title first unless the body starts with it."""
    text = body if body.startswith(title) else f"{title}\n{body}"
    return text[:_MAX_CHARS]


def text_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class EmbeddingUnavailable(AiosError):
    """The embedding route failed (or failed recently); the message says why, without secrets."""


@dataclass(frozen=True, slots=True)
class VectorRanking:
    hits: tuple[tuple[str, float], ...]  # (document id, cosine), best first
    note: str = ""  # set when there is no vector ranking, saying why


class Vectors:
    """``query_cache`` query vectors are kept (by text) so that a repeated search costs no model call."""

    def __init__(self, index: MemoryIndex, settings: EmbeddingSettings, adapter: ModelAdapter | None = None,
                 *, query_cache: int = 256) -> None:
        from aios.models.embedding import model_id

        self.index = index
        self.settings = settings
        self.model = model_id(settings.route)
        self.store = VectorStore(index.directory / FILE_NAME)
        self._adapter = adapter
        self._down_until = 0.0
        self._last_error = ""
        self._queries: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._query_cache = query_cache
        self._cache_lock = threading.Lock()
        self.problems: list[str] = []  # what went wrong while following the index (also logged)
        if index.rebuilt:  # a new index (another schema version) may reuse old opstamps
            with self.store.transaction() as st:
                st.set_meta(_META_OPSTAMP, "-1")
        index.listen = self._listener

    def close(self) -> None:
        if self.index.listen == self._listener:
            self.index.listen = None
        self.store.close()

    # -- embedding -----------------------------------------------------------------------------

    @property
    def adapter(self) -> ModelAdapter:
        if self._adapter is None:
            from aios.models.adapter import ModelAdapter

            self._adapter = ModelAdapter()
        return self._adapter

    def embed(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        """Vectors for ``texts``, or ``EmbeddingUnavailable``."""
        if not texts:
            return []
        if time.monotonic() < self._down_until:
            raise EmbeddingUnavailable(f"embedding route `{self.settings.route.name}` failed recently "
                                       f"({self._last_error}); retrying in at most "
                                       f"{self._down_until - time.monotonic():.0f} s")
        from aios.models.embedding import EmbeddingRequest

        key = self.settings.api_key()
        try:
            result = self.adapter.embed(EmbeddingRequest(self.settings.route, tuple(texts), key))
        except AiosError as err:  # ModelError, or a route litellm cannot resolve
            message = str(err).replace(key, "***") if key else str(err)
            self._last_error = message
            self._down_until = time.monotonic() + self.settings.retry_after_s
            raise EmbeddingUnavailable(f"embedding route `{self.settings.route.name}` failed: {message}") from err
        return list(result.vectors)

    def rank(self, text: str, kinds: Sequence[str], depth: int, half_life_days: float | None = None,
             now: datetime | None = None) -> VectorRanking:
        """The documents nearest to ``text`` (among ``kinds``; recency applied with a half-life), or
        no ranking and a note saying why."""
        with self._cache_lock:
            vec = self._queries.get(text)
            if vec is not None:
                self._queries.move_to_end(text)
        if vec is None:
            try:
                (vec,) = self.embed([text[:_MAX_CHARS]])
            except EmbeddingUnavailable as err:
                note = f"{err}; ranked by keywords only"
                log.warning("%s", note)
                return VectorRanking((), note)
            if self._query_cache > 0:
                with self._cache_lock:
                    self._queries[text] = vec
                    while len(self._queries) > self._query_cache:
                        self._queries.popitem(last=False)
        now_us = to_micros(now or datetime.now(UTC)) if half_life_days else None
        return VectorRanking(tuple(self.store.top(vec, depth, kinds, half_life_days, now_us)))

    # -- following the index -------------------------------------------------------------------

    def in_step(self, opstamp: int | None = None) -> bool:
        stamp = self.index.opstamp() if opstamp is None else opstamp
        return self.store.meta(_META_MODEL) == self.model and self.store.meta(_META_OPSTAMP) == str(stamp)

    def catch_up(self) -> bool:
        """Reconcile with the index if out of step (an empty batch: its commit triggers it), else make
        vectors an earlier failure left missing, if the route may be tried again. True if out of step."""
        if self.in_step():
            if self.store.has_pending() and time.monotonic() >= self._down_until:
                try:
                    self._retry_pending()
                except Exception as err:  # a busy or broken store: the next search tries again
                    self._problem(f"missing vectors not made ({type(err).__name__}: {err})")
            return False
        with self.index.batch():
            pass
        return True

    def _listener(self) -> _BatchVectors:
        try:
            in_step = self.in_step()
        except Exception:  # an unreadable store must not stop the index write: reconcile after it
            in_step = False
        return _BatchVectors(self, in_step)

    def _problem(self, text: str) -> None:
        self.problems.append(text)
        log.warning("%s", text)

    def _vectors_for(self, texts: dict[str, str]) -> dict[str, bytes | None]:
        """digest -> vector for these texts (digest -> text): reused where the store has one, else
        embedded; None where the route failed."""
        out: dict[str, bytes | None] = dict(self.store.vectors_by_digest(texts))
        missing = [d for d in texts if d not in out]
        if missing:
            try:
                made = self.embed([texts[d] for d in missing])
            except EmbeddingUnavailable as err:
                self._problem(f"{err}; {len(missing)} document(s) wait for their vectors")
                made = None
            for i, d in enumerate(missing):
                out[d] = encode(made[i]) if made is not None else None
        return out

    def _apply(self, ops: list[tuple[str, object]], made: dict[str, bytes | None], opstamp: int) -> None:
        with self.store.transaction() as st:
            for op, arg in ops:
                if op == "add":
                    assert isinstance(arg, _Added)
                    st.put(VectorRow(arg.id, arg.grp, arg.kind, arg.updated, arg.digest, made.get(arg.digest)))
                elif op == "delete":
                    st.delete(str(arg))
                elif op == "group":
                    st.delete_group(str(arg))
                elif op == "kind":
                    st.delete_kind(str(arg))
                elif op == "clear":
                    st.clear()
            st.set_meta(_META_MODEL, self.model)
            st.set_meta(_META_OPSTAMP, str(opstamp))

    def _reconcile(self, opstamp: int) -> None:
        """Bring the store level with every document of the index, as of commit ``opstamp``."""
        docs = _index_documents(self.index)
        fresh = self.store.meta(_META_MODEL) != self.model
        have = {} if fresh else self.store.digests()
        stale = [i for i in have if i not in docs]
        wanted = {i: d for i, d in docs.items() if have.get(i) != (d.digest, True, d.updated)}
        made: dict[str, bytes | None] = {}
        texts = {d.digest: d.text for d in wanted.values()}
        if not fresh:
            made.update(self.store.vectors_by_digest(texts))
        todo = [dg for dg in texts if dg not in made]
        for start in range(0, len(todo), _EMBED_CHUNK):
            part = todo[start:start + _EMBED_CHUNK]
            try:
                vecs = self.embed([texts[dg] for dg in part])
            except EmbeddingUnavailable as err:
                self._problem(f"{err}; {len(todo) - start} document(s) wait for their vectors")
                break
            made.update({dg: encode(v) for dg, v in zip(part, vecs, strict=True)})
        with self.store.transaction() as st:
            if fresh:
                st.clear()
            st.delete_ids(stale)
            for i, d in wanted.items():
                st.put(VectorRow(i, d.grp, d.kind, d.updated, d.digest, made.get(d.digest)))
            st.set_meta(_META_MODEL, self.model)
            st.set_meta(_META_OPSTAMP, str(opstamp))

    def _retry_pending(self) -> None:
        """Make vectors that an earlier failure left missing (a few per batch)."""
        if time.monotonic() < self._down_until:
            return
        pending = self.store.pending(_PENDING_RETRY)
        if not pending:
            return
        docs = _index_documents(self.index, [i for i, _ in pending])
        rows = [(i, dg) for i, dg in pending if i in docs and docs[i].digest == dg]
        if not rows:
            return
        try:
            vecs = self.embed([docs[i].text for i, _ in rows])
        except EmbeddingUnavailable as err:
            self._problem(f"{err}; {len(rows)} document(s) still wait for their vectors")
            return
        with self.store.transaction() as st:
            for (i, dg), v in zip(rows, vecs, strict=True):
                st.set_vector(i, dg, encode(v))


@dataclass(frozen=True, slots=True)
class _Added:
    id: str
    grp: str
    kind: str
    updated: int | None
    digest: str


class _BatchVectors:
    """The vector side of one index batch (see ``aios.memory.index.BatchListener``)."""

    def __init__(self, vectors: Vectors, in_step: bool) -> None:
        self.v = vectors
        self.in_step = in_step
        self.ops: list[tuple[str, object]] = []
        self.made: dict[str, bytes | None] = {}
        self._texts: dict[str, str] = {}  # digest -> text, not yet embedded

    def added(self, doc: IndexDocument) -> None:
        if not self.in_step:
            return  # the commit reconciles from the index itself
        text = embed_text(doc.title, doc.body)
        digest = text_digest(text)
        stamp = doc.updated or doc.created  # as the index stores it
        self.ops.append(("add", _Added(doc.id, doc.source_group(), doc.kind.value,
                                       to_micros(stamp) if stamp is not None else None, digest)))
        if digest not in self.made:
            self._texts[digest] = text
            if len(self._texts) >= _EMBED_CHUNK:
                self._flush()

    def deleted(self, doc_id: str) -> None:
        self.ops.append(("delete", doc_id))

    def deleted_group(self, group: str) -> None:
        self.ops.append(("group", group))

    def deleted_kind(self, kind: DocKind) -> None:
        self.ops.append(("kind", kind.value))

    def cleared(self) -> None:
        self.ops.append(("clear", None))

    def _flush(self) -> None:
        texts, self._texts = self._texts, {}
        self.made.update(self.v._vectors_for(texts))

    def committed(self, opstamp: int) -> None:
        """After the index commit: a failure here leaves the store out of step (to be reconciled),
        never the index broken."""
        try:
            if self.in_step:
                self._flush()
                self.v._apply(self.ops, self.made, opstamp)
                self.v._retry_pending()
            else:
                self.v._reconcile(opstamp)
        except (AiosError, OSError, ValueError) as err:
            self.v._problem(f"vectors not updated ({err}); they are rebuilt from the index later")
        except Exception as err:  # sqlite3.Error and friends: same outcome
            self.v._problem(f"vectors not updated ({type(err).__name__}: {err}); they are rebuilt later")


@dataclass(frozen=True, slots=True)
class _IndexedText:
    grp: str
    kind: str
    updated: int | None
    text: str
    digest: str


def _index_documents(index: MemoryIndex, ids: Sequence[str] | None = None) -> dict[str, _IndexedText]:
    """Every document of the index (or those of ``ids``) with the text its vector is made from."""
    import tantivy

    from aios.memory.schema import F_BODY, F_GROUP, F_ID, F_KIND, F_TITLE, F_UPDATED

    searcher = index.searcher()
    Q = tantivy.Query
    query = Q.all_query() if ids is None else Q.term_set_query(index.schema, F_ID, list(ids))
    total = int(searcher.num_docs) if ids is None else len(ids)
    out: dict[str, _IndexedText] = {}
    if total == 0:
        return out
    for _, addr in searcher.search(query, total, count=False).hits:
        doc = searcher.doc(addr)
        text = embed_text(str(doc.get_first(F_TITLE) or ""), str(doc.get_first(F_BODY) or ""))
        updated = doc.get_first(F_UPDATED)
        out[str(doc.get_first(F_ID))] = _IndexedText(str(doc.get_first(F_GROUP)), str(doc.get_first(F_KIND)),
                                                     None if updated is None else int(updated), text,
                                                     text_digest(text))
    return out
