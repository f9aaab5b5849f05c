"""Reciprocal rank fusion: one ranking from several whose scores are not comparable.

A document's fused score is ``Σ 1 / (k + rank)`` over the rankings that hold it (k = 60, the usual
constant), so what counts is agreement between rankings, not the size of any one score. The live and
cold rankings of ``Memory.search(cold=True)`` merge this way, and so do the keyword (BM25) and vector
rankings when ``memory.embedding`` names a route.

Keyword hits are never crowded out by the vector ranking: the keyword ranking's first
``⌈limit / 2⌉`` documents always stay among the ``limit`` fused hits (if fusion would push one out,
it takes the place of the lowest fused hit that is not one of them). A document that has no vector,
or whose vector is far from the query's, but that matches the words of the query well, is therefore
still found; the vector ranking can reorder the hits and bring in documents that share no word with
the query, in the other half.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aios.memory.model import Hit, Query

if TYPE_CHECKING:
    from aios.memory.embedder import Vectors
    from aios.memory.ranking import _Context, _TextPlan

__all__ = ["K", "reciprocal_rank", "fuse", "fusion_depth", "fused_search"]

K = 60


def reciprocal_rank(rankings: Sequence[Sequence[str]], k: int = K) -> dict[str, float]:
    """id -> ``Σ 1 / (k + rank)`` over the rankings (ranks 1-based)."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, 1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (k + rank)
    return fused


def fuse(keyword: Sequence[str], vector: Sequence[str], limit: int, k: int = K,
         keep: int | None = None) -> list[tuple[str, float]]:
    """The fused ranking (id, fused score), best first, at most ``limit`` long. The first ``keep``
    keyword ids (default ``⌈limit / 2⌉``) are always in it. Ties go to the better keyword rank."""
    scores = reciprocal_rank([keyword, vector], k)
    kw_rank = {doc_id: r for r, doc_id in enumerate(keyword)}

    def order(doc_id: str) -> tuple[float, int, str]:
        return (-scores[doc_id], kw_rank.get(doc_id, len(keyword)), doc_id)

    ranked = sorted(scores, key=order)
    top = ranked[:limit]
    kept = list(keyword[:math.ceil(limit / 2) if keep is None else keep])
    missing = [d for d in kept if d not in top]
    if missing:
        protected = set(kept)
        for doc_id in missing:
            for j in range(len(top) - 1, -1, -1):
                if top[j] not in protected:
                    top[j] = doc_id
                    break
        top.sort(key=order)
    return [(d, scores[d]) for d in top]


def fusion_depth(limit: int) -> int:
    """How deep each ranking is read before fusing (fusion only ever looks at the top)."""
    return max(3 * limit, 30)


def fused_search(ctx: _Context, plan: _TextPlan, query: Query, filters: list[Any],
                 keyword: list[tuple[float, Any]], vectors: Vectors, now: datetime | None) -> list[Hit]:
    """The hits of ``query`` from its keyword ranking (``(score, address)``, best first, recency
    applied) fused with the vector ranking of its text; filters and recency apply to both.

    Kinds and recency are applied by the vector store itself; other filters (tags, schemas, record
    fields, dates) by looking the candidates up in the index. Only the keyword candidates and the
    final hits are read from the index otherwise."""
    from aios.memory.schema import F_ID

    depth = fusion_depth(query.limit)
    keyword = keyword[:depth]
    address = {str(ctx.doc(addr).get_first(F_ID)): addr for _, addr in keyword}
    keyword_ids = list(address)
    narrowed = bool(query.tags or query.schemas or query.fields or query.since or query.until)
    ranking = vectors.rank(query.text, [k.value for k in query.kinds], 2 * depth if narrowed else depth,
                           query.half_life_days, now)
    if ranking.note:
        hits = ctx.to_hits(keyword[:query.limit], plan, query.snippets)
        return [dataclasses.replace(h, ranks={"keyword": r}, note=ranking.note) for r, h in enumerate(hits, 1)]

    candidates = [doc_id for doc_id, _ in ranking.hits]
    if narrowed:
        address.update(ctx.addresses([d for d in candidates if d not in address], filters))
        candidates = [d for d in candidates if d in address]
    vector_ids = candidates[:depth]
    while True:
        fused = fuse(keyword_ids, vector_ids, query.limit)
        unknown = [d for d, _ in fused if d not in address]
        address.update(ctx.addresses(unknown, filters))
        gone = {d for d in unknown if d not in address}  # vectors of documents no longer indexed
        if not gone:
            break
        vector_ids = [d for d in vector_ids if d not in gone]

    kw_rank = {d: r for r, d in enumerate(keyword_ids, 1)}
    vec_rank = {d: r for r, d in enumerate(vector_ids, 1)}
    hits = ctx.to_hits([(score, address[d]) for d, score in fused], plan, query.snippets)
    out = []
    for (d, _), hit in zip(fused, hits, strict=True):
        ranks = {name: r for name, r in (("keyword", kw_rank.get(d)), ("vector", vec_rank.get(d))) if r}
        out.append(dataclasses.replace(hit, ranks=ranks))
    return out
