"""Ranking: how a ``Query`` becomes tantivy queries, and how their results become ``Hit`` values.

The score of a document is BM25 (tantivy's, k1 = 1.2, b = 0.75), built term by term so that user
text never meets a query parser:

1. **Terms.** Each query word is analyzed like the index (stemmed, stop words dropped; question
   words dropped first). A term scores ``body`` BM25 plus ``title_boost`` × ``title`` BM25. Documents
   put their title in the body too, so the title field is an extra weight on title words.
2. **Typo tolerance.** A word whose stem is in no document matches words within edit distance 1
   (2 for words longer than 7 letters) in the unstemmed ``words`` field, scored like one rare term.
3. **Phrases.** A quoted part must match as a phrase (stop-word gaps kept as written).
4. **Pseudo-relevance feedback** (RM3 style). The top ``feedback_docs`` documents of a first pass
   vote for their terms (term frequency share × a soft weight of the document's score), the best
   ``feedback_terms`` by vote × IDF are mixed into the query with ``feedback_weight`` of the total
   weight, and the expanded query is run again. Terms found in more than ``feedback_max_df`` of
   all documents are not added: they say little and cost the most (every posting is scored); and
   the added terms may read at most ``feedback_budget`` times the postings the query's own terms
   read, so feedback at most doubles a search's work.
   Lookups narrowed by tags, schemas, fields or dates skip feedback unless asked (``Query.expand``).
5. **Filters** are constant-score clauses (they select, never rank).
6. **Recency.** With a half-life, the best ``recency_candidates`` are rescored by
   ``score × 0.5 ** (age / half_life)`` on their update time and re-sorted.
7. **Vector fusion** (when the memory has ``Vectors``): this keyword ranking and the vector ranking
   of the query text are merged by reciprocal rank (see ``aios.memory.fusion``).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aios.memory.analysis import STEMMED, WORDS, parse_text
from aios.memory.model import Hit, Query
from aios.memory.schema import (
    F_BODY,
    F_FIELDS,
    F_ID,
    F_KIND,
    F_SCHEMA,
    F_TAGS,
    F_TITLE,
    F_UPDATED,
    F_WORDS,
    encode_number,
    encode_scalar,
    to_micros,
)
from aios.memory.snippets import SnippetMaker

if TYPE_CHECKING:
    from aios.memory.embedder import Vectors
    from aios.memory.index import MemoryIndex

__all__ = ["RankingConfig", "DEFAULT_RANKING", "search"]

_DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True, slots=True)
class RankingConfig:
    title_boost: float = 0.5
    feedback_docs: int = 5
    feedback_terms: int = 20
    feedback_weight: float = 0.5
    feedback_max_df: float = 0.1
    feedback_budget: float = 1.0
    fuzzy_min_length: int = 4
    recency_candidates: int = 50
    snippet_chars: int = 200


DEFAULT_RANKING = RankingConfig()


@dataclass(frozen=True, slots=True)
class _TextPlan:
    terms: dict[str, float]  # stemmed term -> weight
    fuzzy: tuple[tuple[str, int], ...]  # (unstemmed word, edit distance)
    phrases: tuple[tuple[tuple[int, str], ...], ...]  # (position, stemmed token) per phrase
    fuzzy_scale: float = 1.0

    @property
    def empty(self) -> bool:
        return not self.terms and not self.fuzzy and not self.phrases


def search(index: MemoryIndex, query: Query, config: RankingConfig = DEFAULT_RANKING,
           now: datetime | None = None, vectors: Vectors | None = None) -> list[Hit]:
    """Run ``query`` on the latest committed state of ``index`` (fused with the vector ranking of
    its text when ``vectors`` is given)."""
    import tantivy

    searcher = index.searcher()
    ctx = _Context(tantivy, index, searcher, config)
    plan = ctx.text_plan(query)
    filters = ctx.filters(query)
    if plan.empty:
        return ctx.browse(query, filters, now)

    want = max(query.limit, config.recency_candidates) if query.half_life_days else query.limit
    if vectors is not None:
        from aios.memory.fusion import fusion_depth

        want = max(want, fusion_depth(query.limit))
    expand = query.feedback and bool(plan.terms) and config.feedback_docs > 0
    first_n = max(want, config.feedback_docs) if expand else want
    hits = ctx.run(plan, filters, first_n)
    if expand and len(hits) >= config.feedback_docs:
        expanded = ctx.feedback(plan, hits[:config.feedback_docs])
        if expanded is not None:
            hits = ctx.run(expanded, filters, want)
    hits = hits[:want]
    if query.half_life_days:
        hits = ctx.recency(hits, query.half_life_days, now)
    if vectors is not None:
        from aios.memory.fusion import fused_search

        return fused_search(ctx, plan, query, filters, hits, vectors, now)
    return ctx.to_hits(hits[:query.limit], plan, query.snippets)


class _Context:
    """The per-search state: one searcher, a document cache, query builders."""

    def __init__(self, tantivy: Any, index: MemoryIndex, searcher: Any, config: RankingConfig) -> None:
        self.t = tantivy
        self.Q = tantivy.Query
        self.index = index
        self.schema = index.schema
        self.searcher = searcher
        self.config = config
        self.num_docs = int(searcher.num_docs)
        self._docs: dict[tuple[int, int], Any] = {}

    # -- query text -----------------------------------------------------------------------------

    def text_plan(self, query: Query) -> _TextPlan:
        parsed = parse_text(query.text)
        stem = self.index.analyzers[STEMMED]
        words = self.index.analyzers[WORDS]
        terms: dict[str, float] = {}
        fuzzy: list[tuple[str, int]] = []
        for word in parsed.words:
            tokens = stem.analyze(word)
            if not tokens:
                continue
            for token in tokens:
                if terms.get(token) is None and query.fuzzy and len(word) >= self.config.fuzzy_min_length \
                        and self._doc_freq(token) == 0:
                    plain = words.analyze(word)
                    if plain and (plain[0], 1) not in fuzzy and (plain[0], 2) not in fuzzy:
                        fuzzy.append((plain[0], 1 if len(plain[0]) <= 7 else 2))
                    continue
                terms[token] = terms.get(token, 0.0) + 1.0
        phrases = []
        for text in parsed.phrases:
            toks = stem.pre_tokenize(text).tokens
            if toks:
                first = toks[0].position
                phrases.append(tuple((tok.position - first, tok.text) for tok in toks))
        return _TextPlan(terms, tuple(fuzzy), tuple(phrases))

    def _doc_freq(self, term: str) -> int:
        return int(self.searcher.doc_freq(F_BODY, term)) + int(self.searcher.doc_freq(F_TITLE, term))

    def _idf(self, df: int) -> float:
        n = max(self.num_docs, 1)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    # -- query building -------------------------------------------------------------------------

    def _term(self, term: str, weight: float) -> Any:
        Q, Occur = self.Q, self.t.Occur
        both = Q.boolean_query([
            (Occur.Should, Q.term_query(self.schema, F_BODY, term, index_option="freq")),
            (Occur.Should, Q.boost_query(Q.term_query(self.schema, F_TITLE, term, index_option="freq"),
                                         self.config.title_boost)),
        ])
        return both if weight == 1.0 else Q.boost_query(both, weight)

    def _text_query(self, plan: _TextPlan) -> tuple[list[Any], list[Any]]:
        """(required clauses, optional clauses)."""
        Q = self.Q
        should = [self._term(t, w) for t, w in plan.terms.items()]
        boost = self._idf(1) * plan.fuzzy_scale
        for word, distance in plan.fuzzy:
            should.append(Q.boost_query(
                Q.fuzzy_term_query(self.schema, F_WORDS, word, distance, True, False), boost))
        must = []
        for phrase in plan.phrases:
            if len(phrase) == 1:
                must.append(Q.term_query(self.schema, F_BODY, phrase[0][1]))
            else:
                must.append(Q.phrase_query(self.schema, F_BODY, list(phrase)))
        return must, should

    def run(self, plan: _TextPlan, filters: list[Any], limit: int) -> list[tuple[float, Any]]:
        Q, Occur = self.Q, self.t.Occur
        must, should = self._text_query(plan)
        clauses: list[tuple[Any, Any]] = [(Occur.Must, m) for m in must]
        if should:
            either = should[0] if len(should) == 1 else Q.boolean_query([(Occur.Should, s) for s in should])
            clauses.append((Occur.Should if must else Occur.Must, either))
        clauses.extend((Occur.Must, Q.const_score_query(f, 0.0)) for f in filters)
        result = self.searcher.search(Q.boolean_query(clauses), limit, count=False)
        return [(float(score), addr) for score, addr in result.hits]

    def feedback(self, plan: _TextPlan, top: list[tuple[float, Any]]) -> _TextPlan | None:
        """The RM3-style expanded plan, or None when the top documents offer no terms."""
        from aios.memory.index import terms_of

        best = top[0][0]
        votes: dict[str, float] = {}
        get = votes.get
        for score, addr in top:
            tokens = terms_of(self.doc(addr))
            if not tokens:
                continue
            share = math.exp(score - best) / len(tokens)
            for term, count in Counter(tokens).items():
                votes[term] = get(term, 0.0) + count * share
        if not votes:
            return None
        m = self.config.feedback_terms
        doc_freq, idf = self.searcher.doc_freq, self._idf
        max_df = self.config.feedback_max_df * self.num_docs
        candidates = heapq.nlargest(2 * m, votes.items(), key=lambda kv: kv[1])
        dfs = {t: int(doc_freq(F_BODY, t)) for t, _ in candidates}
        scored = [(t, v * idf(dfs[t])) for t, v in candidates if dfs[t] <= max_df or t in plan.terms]
        ranked = heapq.nlargest(m, scored, key=lambda kv: kv[1])
        # Scoring reads every posting of every term: new terms may add at most `feedback_budget`
        # times the postings the original terms read.
        budget = self.config.feedback_budget * sum(int(doc_freq(F_BODY, t)) for t in plan.terms)
        chosen, spent = [], 0
        for t, v in ranked:
            if t not in plan.terms:
                if spent + dfs[t] > budget:
                    continue
                spent += dfs[t]
            chosen.append((t, v))
        total_fb = sum(v for _, v in chosen)
        if total_fb <= 0:
            return None
        beta = self.config.feedback_weight
        total = sum(plan.terms.values()) + len(plan.fuzzy)
        terms = {t: (1.0 - beta) * w / total for t, w in plan.terms.items()}
        for t, v in chosen:
            terms[t] = terms.get(t, 0.0) + beta * v / total_fb
        return _TextPlan(terms, plan.fuzzy, plan.phrases, (1.0 - beta) / total)

    # -- filters --------------------------------------------------------------------------------

    def filters(self, query: Query) -> list[Any]:
        Q, Occur = self.Q, self.t.Occur
        out: list[Any] = []
        if query.kinds:
            out.append(Q.term_set_query(self.schema, F_KIND, [k.value for k in query.kinds]))
        for tag in query.tags:
            out.append(Q.term_query(self.schema, F_TAGS, tag.strip().lower()))
        if query.schemas:
            out.append(Q.term_set_query(self.schema, F_SCHEMA, list(query.schemas)))
        if query.since is not None or query.until is not None:
            lo = to_micros(query.since) if query.since is not None else None
            hi = to_micros(query.until) if query.until is not None else None
            out.append(Q.range_query(self.schema, F_UPDATED, self.t.FieldType.Integer, lo, hi))
        for f in query.fields:
            path = f"{F_FIELDS}.{f.path}"
            if f.equals:
                values = [v for v in (encode_scalar(x) for x in f.equals) if v is not None]
                options = [Q.term_query(self.schema, path, v) for v in values]
                if not options:
                    out.append(Q.empty_query())
                else:
                    out.append(options[0] if len(options) == 1
                               else Q.boolean_query([(Occur.Should, o) for o in options]))
            if f.gte is not None or f.lte is not None:
                lo_s = "*" if f.gte is None else str(encode_number(f.gte, round_up=True))
                hi_s = "*" if f.lte is None else str(encode_number(f.lte, round_up=False))
                # Only our own validated path and integers reach the parser.
                out.append(self.index.raw.parse_query(f"{path}:[{lo_s} TO {hi_s}]", [F_BODY]))
        return out

    def addresses(self, ids: list[str], filters: list[Any]) -> dict[str, Any]:
        """id -> address of those ``ids`` that are in the index and pass ``filters``."""
        if not ids:
            return {}
        Q, Occur = self.Q, self.t.Occur
        clauses = [(Occur.Must, Q.term_set_query(self.schema, F_ID, ids))]
        clauses.extend((Occur.Must, f) for f in filters)
        found = self.searcher.search(Q.boolean_query(clauses), len(ids), count=False).hits
        return {str(self.doc(addr).get_first(F_ID)): addr for _, addr in found}

    def browse(self, query: Query, filters: list[Any], now: datetime | None) -> list[Hit]:
        """No query text: the newest documents that pass the filters."""
        Q, Occur = self.Q, self.t.Occur
        q = Q.boolean_query([(Occur.Must, f) for f in filters]) if filters else Q.all_query()
        found = self.searcher.search(q, query.limit, count=False, order_by_field=F_UPDATED).hits
        hits = [(1.0, addr) for _, addr in found]
        if query.half_life_days:
            hits = self.recency(hits, query.half_life_days, now)
        return self.to_hits(hits, None, query.snippets)

    # -- recency --------------------------------------------------------------------------------

    def recency(self, hits: list[tuple[float, Any]], half_life_days: float,
                now: datetime | None) -> list[tuple[float, Any]]:
        if not hits:
            return hits
        now_us = to_micros(now or datetime.now(UTC))
        stamps = self.searcher.fast_field_values(F_UPDATED, [addr for _, addr in hits])
        scale = half_life_days * _DAY_US
        rescored = []
        for (score, addr), stamp in zip(hits, stamps, strict=True):
            factor = 1.0 if stamp is None else 0.5 ** (max(0, now_us - int(stamp)) / scale)
            rescored.append((score * factor, addr))
        rescored.sort(key=lambda sa: -sa[0])
        return rescored

    # -- results --------------------------------------------------------------------------------

    def doc(self, addr: Any) -> Any:
        key = (int(addr.segment_ord), int(addr.doc))
        doc = self._docs.get(key)
        if doc is None:
            doc = self._docs[key] = self.searcher.doc(addr)
        return doc

    def to_hits(self, hits: list[tuple[float, Any]], plan: _TextPlan | None, snippets: bool) -> list[Hit]:
        from aios.memory.index import body_of, hit_from_doc

        maker = None
        if snippets:
            keys: list[str] = []
            if plan is not None:
                keys += list(plan.terms) + [w for w, _ in plan.fuzzy] + [t for p in plan.phrases for _, t in p]
            maker = SnippetMaker(keys, self.config.snippet_chars)
        return [hit_from_doc(self.doc(addr), score, maker.make(body_of(self.doc(addr))) if maker else "")
                for score, addr in hits]
