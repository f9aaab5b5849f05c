"""Retrieval quality and speed: aios memory vs SQLite FTS5 vs bm25s, side by side in one process.

    python bench/retrieval.py [COLLECTION_DIR] [--json] [--docs 100000] [--repeat 3]

COLLECTION_DIR holds a collection in the Cranfield format (``cran.all.1400``, ``cran.qry``,
``cranqrel``; default ``../shared/data/cranfield`` next to the repository). All three systems index
the same title + abstract text and answer the same queries; nDCG@10 uses the judgments with graded
gain ``5 - code`` for codes 1..4 (linear gain, log2 discount, ideal ranking from all judged
documents). Latency is wall time per query as a caller sees it (aios: ``MemoryIndex.search`` up to
``Hit`` values with provenance; FTS5: the SQL query up to row ids; bm25s: tokenize + retrieve).

The filtered run indexes a generated corpus of ``--docs`` documents (words drawn from the collection,
kinds, tags, dates and record fields) and times searches with a kind + tag + date + record-field filter.

The fused run attaches vectors from the offline embedding route (a feature-hashing sketch, see
``aios.models.offline_embedding``) to the same Cranfield index and ranks by reciprocal rank fusion of
the keyword and vector rankings, as a workspace with ``memory.embedding: <offline route>`` does; the
vector ranking alone is reported too. Nothing in it is tuned to this collection.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aios.memory import DocKind, FieldFilter, FileSource, IndexDocument, Query, RecordSource  # noqa: E402
from aios.memory.index import MemoryIndex  # noqa: E402

DEFAULT_COLLECTION = ROOT.parent / "shared" / "data" / "cranfield"


# -- the collection --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    id: int
    title: str
    body: str
    line_start: int
    line_end: int


def read_docs(path: Path) -> list[Doc]:
    docs: list[Doc] = []
    cur: int | None = None
    start = 0
    fields: dict[str, list[str]] = {}
    field: str | None = None
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()

    def flush(end: int) -> None:
        if cur is not None:
            text = {k: " ".join(v).strip() for k, v in fields.items()}
            docs.append(Doc(cur, text.get("T", ""), text.get("W", ""), start, end))

    for n, line in enumerate(lines, 1):
        if line.startswith(".I "):
            flush(n - 1)
            cur, start, fields, field = int(line[3:].strip()), n, {}, None
        elif line.strip() in (".T", ".A", ".B", ".W"):
            field = line.strip()[1]
            fields.setdefault(field, [])
        elif field is not None:
            fields[field].append(line)
    flush(len(lines))
    return docs


def read_queries(path: Path) -> list[str]:
    queries: list[str] = []
    buf: list[str] | None = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(".I "):
            if buf is not None:
                queries.append(" ".join(buf).strip())
            buf = []
        elif line.strip() == ".W":
            continue
        elif buf is not None:
            buf.append(line)
    if buf is not None:
        queries.append(" ".join(buf).strip())
    return queries


def read_qrels(path: Path) -> dict[int, dict[int, int]]:
    """Query position (1-based) -> {doc id: gain}; gain = 5 - code for codes 1..4."""
    out: dict[int, dict[int, int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        q, d, code = int(parts[0]), int(parts[1]), int(parts[2])
        if 1 <= code <= 4:
            out.setdefault(q, {})[d] = 5 - code
    return out


def ndcg_at_10(ranked: list[int], gains: dict[int, int]) -> float:
    dcg = sum(gains.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(gains.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


@dataclass
class Result:
    name: str
    ndcg10: float
    p50_ms: float
    p95_ms: float
    index_docs_per_s: float


def evaluate(name: str, search: Any, queries: list[str], qrels: dict[int, dict[int, int]], repeat: int,
             index_s: float, n_docs: int) -> Result:
    scores = [ndcg_at_10(search(q), qrels.get(i, {})) for i, q in enumerate(queries, 1)]  # also warms up
    latencies: list[float] = []
    for _ in range(repeat):
        for q in queries:
            t0 = time.perf_counter()
            search(q)
            latencies.append((time.perf_counter() - t0) * 1000)
    return Result(name, statistics.fmean(scores), percentile(latencies, 0.5), percentile(latencies, 0.95),
                  n_docs / index_s if index_s > 0 else 0.0)


# -- the three systems -----------------------------------------------------------------------------


def run_aios(docs: list[Doc], work: Path, source: str) -> tuple[MemoryIndex, float]:
    index = MemoryIndex(work / "aios-index")
    t0 = time.perf_counter()
    with index.batch(bulk=True) as batch:
        for d in docs:
            batch.add(IndexDocument(id=str(d.id), kind=DocKind.NOTE, title=d.title, body=d.body,
                                    provenance=FileSource(source, d.line_start, d.line_end)), replace=False)
    return index, time.perf_counter() - t0


def attach_offline_vectors(index: MemoryIndex) -> tuple[Any, float]:
    """Vectors from the offline route for every document of ``index``; (vectors, seconds to embed)."""
    from aios.memory.embedder import Vectors
    from aios.memory.settings import EmbeddingSettings
    from aios.plan.plan import ModelRoute

    # No query-vector cache: every timed search embeds its query, as a first search would.
    vectors = Vectors(index, EmbeddingSettings(ModelRoute("embed", "offline")), query_cache=0)
    t0 = time.perf_counter()
    vectors.catch_up()  # the store is new: every document is embedded
    return vectors, time.perf_counter() - t0


def run_fts5(docs: list[Doc]) -> tuple[sqlite3.Connection, float]:
    conn = sqlite3.connect(":memory:")
    t0 = time.perf_counter()
    conn.execute("CREATE VIRTUAL TABLE docs USING fts5(title, body, tokenize='porter')")
    conn.executemany("INSERT INTO docs(rowid, title, body) VALUES (?, ?, ?)",
                     [(d.id, d.title, d.body) for d in docs])
    conn.commit()
    return conn, time.perf_counter() - t0


_FTS_WORD = re.compile(r"[a-z0-9]+")


def fts5_search(conn: sqlite3.Connection, text: str) -> list[int]:
    terms = _FTS_WORD.findall(text.lower())
    if not terms:
        return []
    match = " OR ".join(f'"{t}"' for t in terms)
    rows = conn.execute("SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT 10", (match,))
    return [int(r[0]) for r in rows]


def run_bm25s(docs: list[Doc]) -> tuple[Any, float]:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    t0 = time.perf_counter()
    tokens = bm25s.tokenize([f"{d.title} {d.body}" for d in docs], stopwords="en", stemmer=stemmer,
                            show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    elapsed = time.perf_counter() - t0
    ids = [d.id for d in docs]

    def search(text: str) -> list[int]:
        q = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)
        if not q.vocab:
            return []
        found, _ = retriever.retrieve(q, k=min(10, len(ids)), show_progress=False)
        return [ids[j] for j in found[0]]

    return search, elapsed


# -- the generated corpus with filters --------------------------------------------------------------

STATUSES = ("open", "waiting", "closed", "draft")
TAGS = tuple(f"tag{i:02d}" for i in range(20))
SCHEMAS = ("Customer", "Project", "Order", "SupportTicket")


def generated_run(docs: list[Doc], queries: list[str], work: Path, n: int, repeat: int) -> dict[str, float]:
    rng = random.Random(20240521)
    vocab = [w for d in docs for w in _FTS_WORD.findall(f"{d.title} {d.body}".lower())]
    now = datetime(2025, 6, 1, tzinfo=UTC)
    kinds = (DocKind.RECORD, DocKind.NOTE, DocKind.SUMMARY, DocKind.EPISODE)
    index = MemoryIndex(work / "aios-100k")
    t0 = time.perf_counter()
    with index.batch(bulk=True) as batch:
        for i in range(n):
            kind = kinds[i % 4]
            words = [vocab[rng.randrange(len(vocab))] for _ in range(rng.randint(30, 120))]
            updated = now - timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
            schema = SCHEMAS[i % len(SCHEMAS)]
            prov = (RecordSource(schema, f"r{i}", 1 + i % 5) if kind is DocKind.RECORD
                    else FileSource(f"knowledge/gen{i // 50}.md", 1 + (i % 50) * 10, 10 + (i % 50) * 10))
            batch.add(IndexDocument(
                id=f"g{i}", kind=kind, title=" ".join(words[:6]), body=" ".join(words),
                provenance=prov, tags=tuple(rng.sample(TAGS, 2)), created=updated, updated=updated,
                fields={"status": STATUSES[rng.randrange(4)], "amount": rng.randrange(10_000) / 100,
                        "customer": f"c{rng.randrange(500)}"}), replace=False)
    index_s = time.perf_counter() - t0
    short = [" ".join(_FTS_WORD.findall(q.lower())[:6]) for q in queries]
    since = now - timedelta(days=365)

    def filtered(i: int, text: str, expand: bool | None = None) -> Query:
        return Query(text, kinds=(DocKind.RECORD,), tags=(TAGS[i % len(TAGS)],), since=since,
                     fields=(FieldFilter("status", equals=(STATUSES[i % 4],)),), limit=10, half_life_days=90.0,
                     expand=expand)

    variants = {
        # kind + tag + date + record field, recency on: a lookup (feedback off by default).
        "filtered": [filtered(i, t) for i, t in enumerate(short)],
        # the same with pseudo-relevance feedback forced on.
        "filtered_feedback": [filtered(i, t, expand=True) for i, t in enumerate(short)],
        # only a kind filter, recency on: an open-ended search (feedback on by default).
        "kind_filtered": [Query(t, kinds=(DocKind.NOTE,), limit=10, half_life_days=90.0) for t in short],
        "unfiltered": [Query(text, limit=10) for text in short],
    }
    out: dict[str, float] = {"docs_100k": float(n), "index_docs_per_s_100k": n / index_s}
    for name, qs in variants.items():
        for q in qs:  # warm up
            index.search(q, now=now)
        lat: list[float] = []
        nonempty = 0
        for _ in range(repeat):
            for q in qs:
                t = time.perf_counter()
                hits = index.search(q, now=now)
                lat.append((time.perf_counter() - t) * 1000)
                nonempty += bool(hits)
        out[f"{name}_p50_ms_100k"] = percentile(lat, 0.5)
        out[f"{name}_p95_ms_100k"] = percentile(lat, 0.95)
        out[f"{name}_nonempty_share_100k"] = nonempty / len(lat)
    return out


# -- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("collection", nargs="?", type=Path, default=DEFAULT_COLLECTION)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--docs", type=int, default=100_000, help="size of the generated filtered corpus")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the queries")
    args = parser.parse_args(argv)
    coll: Path = args.collection
    missing = [f for f in ("cran.all.1400", "cran.qry", "cranqrel") if not (coll / f).is_file()]
    if missing:
        print(f"{coll}: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    docs, queries, qrels = read_docs(coll / "cran.all.1400"), read_queries(coll / "cran.qry"), \
        read_qrels(coll / "cranqrel")
    work = Path(tempfile.mkdtemp(prefix="aios-bench-retrieval-"))
    try:
        index, aios_s = run_aios(docs, work, "cran.all.1400")
        conn, fts_s = run_fts5(docs)
        bm25_search, bm25_s = run_bm25s(docs)

        def aios_ids(text: str) -> list[int]:
            return [int(h.id) for h in index.search(Query(text, limit=10, snippets=False))]

        def aios_snippets(text: str) -> list[int]:
            return [int(h.id) for h in index.search(Query(text, limit=10))]

        results = [
            evaluate("aios", aios_ids, queries, qrels, args.repeat, aios_s, len(docs)),
            evaluate("fts5", lambda t: fts5_search(conn, t), queries, qrels, args.repeat, fts_s, len(docs)),
            evaluate("bm25s", bm25_search, queries, qrels, args.repeat, bm25_s, len(docs)),
        ]
        with_snippets = evaluate("aios+snippets", aios_snippets, queries, qrels, 1, aios_s, len(docs))
        plain = evaluate("aios-plain", lambda t: [int(h.id) for h in index.search(
            Query(t, limit=10, snippets=False, expand=False))], queries, qrels, 1, aios_s, len(docs))
        from aios.memory.ranking import search as ranked_search

        vectors, embed_s = attach_offline_vectors(index)
        fused = evaluate("aios-fused", lambda t: [int(h.id) for h in ranked_search(
            index, Query(t, limit=10, snippets=False), vectors=vectors)], queries, qrels, args.repeat, embed_s,
            len(docs))
        vector_only = evaluate("aios-vector", lambda t: [int(d) for d, _ in vectors.rank(t, (), 10).hits],
                               queries, qrels, 1, embed_s, len(docs))
        vectors.close()
        conn.close()
        generated = generated_run(docs, queries, work, args.docs, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    by = {r.name: r for r in results}
    out: dict[str, Any] = {
        "collection": str(coll), "documents": len(docs), "queries": len(queries),
        "ndcg_gain": "5-code (codes 1..4), linear, log2 discount",
    }
    for r in results:
        out[f"{r.name}_ndcg10"] = round(r.ndcg10, 4)
        out[f"{r.name}_p50_ms"] = round(r.p50_ms, 3)
        out[f"{r.name}_p95_ms"] = round(r.p95_ms, 3)
        out[f"{r.name}_index_docs_per_s"] = round(r.index_docs_per_s, 1)
    out["aios_p50_ms_with_snippets"] = round(with_snippets.p50_ms, 3)
    out["aios_no_feedback_ndcg10"] = round(plain.ndcg10, 4)
    out["aios_no_feedback_p50_ms"] = round(plain.p50_ms, 3)
    out["aios_fused_ndcg10"] = round(fused.ndcg10, 4)
    out["aios_fused_p50_ms"] = round(fused.p50_ms, 3)
    out["aios_fused_p95_ms"] = round(fused.p95_ms, 3)
    out["aios_offline_embed_docs_per_s"] = round(fused.index_docs_per_s, 1)
    out["aios_vector_only_ndcg10"] = round(vector_only.ndcg10, 4)
    out["aios_vector_only_p50_ms"] = round(vector_only.p50_ms, 3)
    for k, v in generated.items():
        out[k] = round(v, 3)
    best_peer = max(by["fts5"].ndcg10, by["bm25s"].ndcg10)
    out["ndcg10_ratio_vs_best_peer"] = round(by["aios"].ndcg10 / best_peer, 4) if best_peer else None
    out["ndcg10_ratio_vs_fts5"] = round(by["aios"].ndcg10 / by["fts5"].ndcg10, 4) if by["fts5"].ndcg10 else None
    out["ndcg10_ratio_vs_bm25s"] = round(by["aios"].ndcg10 / by["bm25s"].ndcg10, 4) if by["bm25s"].ndcg10 else None
    out["p50_ratio_vs_fts5"] = round(by["aios"].p50_ms / by["fts5"].p50_ms, 4)
    out["p50_ratio_vs_bm25s"] = round(by["aios"].p50_ms / by["bm25s"].p50_ms, 4)
    out["targets_met"] = bool(by["aios"].ndcg10 >= 0.40 and by["aios"].ndcg10 > best_peer
                              and by["aios"].p50_ms <= 2.0 and out["filtered_p50_ms_100k"] <= 2.0)

    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        print(f"Cranfield-format collection {coll}: {len(docs)} documents, {len(queries)} queries")
        print(f"{'system':<14}{'nDCG@10':>9}{'p50 ms':>9}{'p95 ms':>9}{'index docs/s':>14}")
        for r in [*results, with_snippets, plain, fused, vector_only]:
            print(f"{r.name:<14}{r.ndcg10:>9.4f}{r.p50_ms:>9.3f}{r.p95_ms:>9.3f}{r.index_docs_per_s:>14.0f}")
        print(f"generated corpus: {int(generated['docs_100k'])} documents, indexed at "
              f"{generated['index_docs_per_s_100k']:.0f} docs/s")
        for name, label in (("filtered", "kind+tag+date+field filters, recency"),
                            ("filtered_feedback", "same, feedback forced on"),
                            ("kind_filtered", "kind filter only, recency, feedback"),
                            ("unfiltered", "no filter, feedback")):
            print(f"  {label:<40} p50 {generated[name + '_p50_ms_100k']:.3f} ms, "
                  f"p95 {generated[name + '_p95_ms_100k']:.3f} ms")
        print(f"targets met: {out['targets_met']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
