"""Keyword and vector rankings fused by reciprocal rank (offline embedding route): the fusion rule,
agreement with keyword-only search, keyword-only hits surviving, filters on both rankings, and the
vectors following the index through updates, deletes, reindex and writes made without them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aios.memory.embedder import Vectors, embed_text, text_digest
from aios.memory.fusion import fuse, reciprocal_rank
from aios.memory.index import MemoryIndex
from aios.memory.memory import Memory, interleave
from aios.memory.model import DocKind, FieldFilter, FileSource, Hit, IndexDocument, Query, RecordSource
from aios.memory.ranking import search
from aios.memory.settings import EmbeddingSettings, MemorySettings
from aios.memory.vectors import VectorStore
from aios.models.adapter import ModelAdapter
from aios.models.embedding import EmbeddingRequest, EmbeddingResult
from aios.plan.plan import ModelRoute

from .conftest import AIOS_YAML, customer, doc, event, write_workspace

OFFLINE = EmbeddingSettings(ModelRoute("embed", "offline"))


class CountingAdapter(ModelAdapter):
    """The real adapter, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        self.texts.extend(request.texts)
        return super().embed(request)


# -- the fusion rule --------------------------------------------------------------------------------


def test_reciprocal_rank_sums_over_rankings() -> None:
    scores = reciprocal_rank([["a", "b"], ["b", "c"]], k=60)
    assert scores == pytest.approx({"a": 1 / 61, "b": 1 / 62 + 1 / 61, "c": 1 / 62})


def test_fuse_keeps_the_keyword_order_when_the_rankings_agree() -> None:
    ids = ["a", "b", "c", "d", "e"]
    assert [d for d, _ in fuse(ids, ids, 5)] == ids
    assert [d for d, _ in fuse(ids, ids[:3], 5)] == ids  # a shorter vector ranking agrees too


def test_fuse_keeps_the_best_keyword_hits_that_plain_rrf_would_drop() -> None:
    keyword = ["exact", "b", "c", "d", "e", "f"]
    vector = ["b", "c", "d", "e", "f", "g"]
    plain = [d for d, _ in fuse(keyword, vector, 4, keep=0)]
    assert "exact" not in plain  # the case the rule is for: agreement elsewhere pushes it out
    fused = [d for d, _ in fuse(keyword, vector, 4)]
    assert "exact" in fused and fused[:2] == ["b", "c"] and len(fused) == 4
    assert {"exact", "b"} <= {d for d, _ in fuse(keyword, vector, 3)}  # ⌈3/2⌉ = 2 kept


def test_live_and_cold_interleave_still_merges_by_reciprocal_rank() -> None:
    def hit(i: str) -> Hit:
        return Hit(i, DocKind.EPISODE, i, 1.0, "", FileSource(f"{i}.md", 1, 1))

    merged = interleave([hit("a"), hit("b")], [hit("b"), hit("c")], 3)
    assert [h.id for h in merged] == ["b", "a", "c"]


# -- on an index --------------------------------------------------------------------------------------

FILLER = ["ledger", "harbor", "violet", "quartz", "meadow", "copper", "lantern", "orchid", "saddle", "timber"]


def graded_docs() -> list[IndexDocument]:
    """d1..d5 mention `geothermal` 5..1 times in texts of equal length; o1..o4 do not mention it."""
    docs = []
    for i in range(1, 6):
        words = ["geothermal"] * (6 - i) + FILLER[:4 + i]
        docs.append(doc(f"d{i}", f"Note {i}", " ".join(words)))
    for i, topic in enumerate(["invoice refund policy", "supplier lead times", "brand voice guide",
                               "geology survey notes"], 1):
        docs.append(doc(f"o{i}", topic.title(), topic + " " + " ".join(FILLER[i:i + 3])))
    return docs


@pytest.fixture
def fused_index(tmp_path: Path) -> Iterator[tuple[MemoryIndex, Vectors]]:
    index = MemoryIndex(tmp_path / "index")
    vectors = Vectors(index, OFFLINE)
    index.write(graded_docs())
    yield index, vectors
    vectors.close()


def test_fusion_on_and_off_give_the_same_hits_when_the_rankings_agree(fused_index: Any) -> None:
    index, vectors = fused_index
    plain = search(index, Query("geothermal", limit=5))
    nearest = [d for d, _ in vectors.rank("geothermal", (), 5).hits]
    assert [h.id for h in plain] == nearest == ["d1", "d2", "d3", "d4", "d5"]  # they agree
    fused = search(index, Query("geothermal", limit=5), vectors=vectors)
    assert [h.id for h in fused] == [h.id for h in plain]
    for f, p in zip(fused, plain, strict=True):  # same provenance and snippet; the score is the fused one
        assert (f.provenance, f.snippet, f.title) == (p.provenance, p.snippet, p.title)
        assert f.ranks == {"keyword": int(f.id[1]), "vector": int(f.id[1])}
        assert f.score == pytest.approx(2 / (60 + int(f.id[1])))
    assert all(not h.ranks and "ranks" not in h.to_json() for h in plain)


def test_vector_ranking_adds_what_keywords_miss(fused_index: Any) -> None:
    index, vectors = fused_index
    assert search(index, Query("geothrmal", limit=5, fuzzy=False)) == []
    fused = search(index, Query("geothrmal", limit=5, fuzzy=False), vectors=vectors)
    # A misspelling shares most of the word's trigrams: the notes that mention it come first.
    assert {h.id for h in fused[:4]} <= {"d1", "d2", "d3", "d4", "d5"}
    assert all(set(h.ranks) == {"vector"} and h.snippet for h in fused)
    assert {h.provenance for h in fused[:4]} <= {FileSource(f"d{i}.md", 1, 3) for i in range(1, 6)}


def test_a_document_without_a_vector_is_still_found_by_its_words(fused_index: Any) -> None:
    index, vectors = fused_index
    index.listen = None  # written without vectors (as an old process or a failed embedding would)
    index.write([doc("x1", "Geothermal geothermal borehole", "geothermal borehole " * 3)])
    index.listen = vectors._listener
    with vectors.store.transaction() as st:  # ...and keep the store claiming to be in step
        st.set_meta("opstamp", str(index.opstamp()))
    assert vectors.store.row("x1") is None
    assert search(index, Query("geothermal borehole", limit=4))[0].id == "x1"  # the best keyword hit
    for limit in (1, 2, 4):
        hits = search(index, Query("geothermal borehole", limit=limit), vectors=vectors)
        assert len(hits) == limit and any(h.id == "x1" and h.ranks == {"keyword": 1} for h in hits), limit
    # The notes both rankings agree on outscore a hit of one ranking: plain reciprocal rank fusion
    # would have dropped it below three hits; the kept keyword half holds it.
    assert [h.id for h in hits] == ["d1", "d2", "d3", "x1"]


def test_a_vector_of_a_document_no_longer_indexed_is_never_a_hit(fused_index: Any) -> None:
    index, vectors = fused_index
    index.listen = None  # deleted without the vectors, the store still claiming to be in step
    index.write(delete_ids=["d1", "d2"])
    index.listen = vectors._listener
    with vectors.store.transaction() as st:
        st.set_meta("opstamp", str(index.opstamp()))
    assert [d for d, _ in vectors.rank("geothermal", (), 3).hits] == ["d1", "d2", "d3"]
    hits = search(index, Query("geothermal", limit=3), vectors=vectors)
    assert [h.id for h in hits] == ["d3", "d4", "d5"]
    assert [h.ranks["keyword"] for h in hits] == [1, 2, 3] and all("vector" in h.ranks for h in hits)
    with vectors.store.transaction() as st:  # the truth: out of step
        st.set_meta("opstamp", "-1")
    assert vectors.catch_up()  # what every Memory search does first: the stale vectors go
    assert [d for d, _ in vectors.rank("geothermal", (), 3).hits] == ["d3", "d4", "d5"]


def test_recency_applies_to_the_vector_ranking(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    index = MemoryIndex(tmp_path / "index")
    vectors = Vectors(index, OFFLINE)
    try:
        text = "supplier lead times for printed mugs"
        index.write([doc("old", "Lead times", text, updated=datetime(2023, 1, 1, tzinfo=UTC)),
                     doc("new", "Lead times", text, updated=datetime(2025, 5, 1, tzinfo=UTC))])
        now = datetime(2025, 6, 1, tzinfo=UTC)
        plain = vectors.rank("lead times", (), 2)
        assert plain.hits[0][1] == pytest.approx(plain.hits[1][1])  # the same text: a tie, by id
        recent = vectors.rank("lead times", (), 2, half_life_days=90, now=now)
        assert [d for d, _ in recent.hits] == ["new", "old"]
        assert recent.hits[0][1] == pytest.approx(plain.hits[0][1] * 0.5 ** (31 / 90), rel=1e-5)
        hits = search(index, Query("lead times", limit=2, half_life_days=90), now=now, vectors=vectors)
        assert [h.id for h in hits] == ["new", "old"] and hits[0].ranks == {"keyword": 1, "vector": 1}
    finally:
        vectors.close()


def test_filters_apply_to_the_vector_ranking(tmp_path: Path) -> None:
    index = MemoryIndex(tmp_path / "index")
    vectors = Vectors(index, OFFLINE)
    try:
        index.write([doc("n1", "Heat pump sizing", "heat pump sizing for old houses", tags=("hvac",)),
                     doc("n2", "Heat pumps in winter", "heat pumps in cold winters", tags=("blog",)),
                     doc("r1", "Customer Heatwave", "heat pump installer", kind=DocKind.RECORD,
                         provenance=RecordSource("Customer", "c1", 1), fields={"status": "open"}),
                     doc("r2", "Customer Pumpworks", "heat pump reseller", kind=DocKind.RECORD,
                         provenance=RecordSource("Customer", "c2", 1), fields={"status": "closed"})])
        filtered = [Query("heated pumping", kinds=(DocKind.NOTE,)), Query("heated pumping", tags=("hvac",)),
                    Query("heated pumping", fields=(FieldFilter("status", ("open",)),))]
        for q in filtered:
            allowed = {h.id for h in search(index, dataclasses.replace(q, text=""))}  # the filters alone
            fused = search(index, q, vectors=vectors)
            assert fused and {h.id for h in fused} <= allowed, q
            assert all("vector" in h.ranks for h in fused)
        assert len(search(index, Query("heated pumping"), vectors=vectors)) == 4
    finally:
        vectors.close()


# -- following the index ------------------------------------------------------------------------------


def embedded_workspace(tmp_path: Path) -> Path:
    root = write_workspace(tmp_path / "ws")
    (root / "aios.yaml").write_text(AIOS_YAML + "  embedding: default\n")
    return root


def assert_in_step(mem: Memory) -> None:
    """Every indexed document has exactly the vector of its current text, and nothing else has one."""
    vectors = mem.vectors
    assert vectors is not None and vectors.in_step()
    rows = vectors.store.digests()
    assert set(rows) == mem.index.ids()
    searcher = mem.index.searcher()
    import tantivy

    for doc_id, (digest, has_vec, _) in rows.items():
        found = searcher.search(tantivy.Query.term_query(mem.index.schema, "id", doc_id), 1).hits
        stored = searcher.doc(found[0][1])
        assert digest == text_digest(embed_text(stored.get_first("title"), stored.get_first("body")))
        assert has_vec


def test_vectors_follow_updates_deletes_and_reindex(tmp_path: Path) -> None:
    from aios.compiler import compile_workspace
    from aios.memory import runtime_retriever
    from aios.runtime.interpreter import Runtime

    root = embedded_workspace(tmp_path)
    plan = compile_workspace(root).plan
    assert plan is not None and plan.settings.embedding_route == "default"
    settings = MemorySettings.from_plan(plan, root)
    assert settings.embedding == EmbeddingSettings(ModelRoute("default", "offline"))
    assert MemorySettings.from_workspace(root).embedding == settings.embedding  # the CLI reads aios.yaml
    adapter = CountingAdapter()
    mem = Memory(settings)
    assert mem.vectors is not None
    mem.vectors._adapter = adapter
    rt = Runtime(plan, root, retriever=runtime_retriever(root, plan))
    try:
        assert mem.search(Query("rush jobs"))
        assert_in_step(mem)
        assert mem.vectors.store.counts() == (3, 0)

        # A record and its new version: the record's vector is replaced, its history summary added.
        rt.start("onboard", event("customer.received", customer("c-1", "Acme Ltd", "heat pump articles")))
        rt.start("onboard", {"type": "customer.received", "id": "again",
                             "payload": customer("c-1", "Acme Ltd", "wind turbine brochure", status="closed")})
        hits = mem.search(Query("turbine brochure", kinds=(DocKind.RECORD,)))
        assert hits[0].ranks.get("vector") == 1 and hits[0].provenance.version == 2  # type: ignore[union-attr]
        assert_in_step(mem)

        # A knowledge file edited, another deleted: their chunks' vectors follow.
        pricing = root / "knowledge" / "pricing.md"
        pricing.write_text(pricing.read_text().replace("650 EUR", "700 EUR"))
        (root / "knowledge" / "support" / "faq.md").unlink()
        mem.search(Query("day rates"))
        assert_in_step(mem)
        assert not any(i.startswith("note:knowledge/support") for i in mem.vectors.store.digests())

        # Reindex: the same vectors, none of them embedded again.
        before = mem.vectors.store.digests()
        asked = len(adapter.texts)
        mem.reindex()
        assert_in_step(mem)
        assert mem.vectors.store.digests() == before and len(adapter.texts) == asked
    finally:
        rt.close()
        mem.close()


def test_a_write_without_the_vectors_is_caught_up_by_the_next_search(tmp_path: Path) -> None:
    root = embedded_workspace(tmp_path)
    mem = Memory.for_workspace(root)
    try:
        mem.search(Query("rush jobs"))
        assert mem.vectors is not None and mem.vectors.in_step()
        # Another process writes the index directly (no vectors attached), then deletes a note.
        other = MemoryIndex(mem.settings.index_dir)
        other.write([IndexDocument("note:extra", DocKind.NOTE, "Geothermal drilling",
                                   "Geothermal drilling\nborehole depth for ground source pumps",
                                   FileSource("extra.md", 1, 2))])
        other.write(delete_ids=[next(i for i in mem.index.ids() if "faq" in i)])
        assert not mem.vectors.in_step()
        hits = mem.search(Query("ground source borehole"))
        assert hits[0].id == "note:extra" and hits[0].ranks == {"keyword": 1, "vector": 1}
        assert_in_step(mem)
        # The vector file lost altogether: rebuilt from the index.
        mem.close()
        (mem.settings.index_dir / "vectors.db").unlink()
        for extra in ("vectors.db-wal", "vectors.db-shm"):
            (mem.settings.index_dir / extra).unlink(missing_ok=True)
        mem = Memory.for_workspace(root)
        assert mem.search(Query("ground source borehole"))[0].ranks == {"keyword": 1, "vector": 1}
        assert_in_step(mem)
    finally:
        mem.close()


def test_without_an_embedding_route_there_is_no_vector_file(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "plain")
    with Memory.for_workspace(root) as mem:
        hits = mem.search(Query("rush jobs"))
        assert hits and mem.vectors is None and all(not h.ranks for h in hits)
    assert not (root / ".aios" / "index" / "vectors.db").exists()


def test_an_unusable_vector_store_never_fails_an_index_write(tmp_path: Path) -> None:
    index = MemoryIndex(tmp_path / "index")
    vectors = Vectors(index, OFFLINE)
    index.write(graded_docs()[:2])
    vectors.store.close()  # every call on it now raises
    index.write([doc("late", "Late note", "written while the vectors cannot be")])
    assert "late" in index.ids()
    assert vectors.problems and "vectors not updated" in vectors.problems[-1]
    vectors.store = VectorStore(index.directory / "vectors.db")  # usable again: caught up, not lost
    assert vectors.catch_up() and "late" in vectors.store.digests()
    vectors.close()


CRASH_CHILD = """
import sys, time
from pathlib import Path
from aios.memory import embedder
from aios.memory.memory import Memory

marker = Path(sys.argv[2])
apply = embedder.Vectors._apply

def stalled(self, *args, **kwargs):
    marker.write_text("after the index commit, before the vectors'")
    time.sleep(60)
    return apply(self, *args, **kwargs)

embedder.Vectors._apply = stalled
Memory.for_workspace(Path(sys.argv[1])).sync()
"""


def test_a_crash_between_the_index_commit_and_the_vectors_is_caught_up(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    root = embedded_workspace(tmp_path)
    with Memory.for_workspace(root) as mem:
        mem.search(Query("rush jobs"))
        assert_in_step(mem)
    (root / "knowledge" / "drilling.md").write_text("# Drilling\n\nBorehole depth for ground source pumps.\n")
    marker = tmp_path / "inside"
    proc = subprocess.Popen([sys.executable, "-c", CRASH_CHILD, str(root), str(marker)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the child never reached the vectors"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    with Memory.for_workspace(root) as mem:
        assert mem.vectors is not None and not mem.vectors.in_step()
        assert "note:knowledge/drilling.md#L1" in mem.index.ids()  # the index commit landed
        hits = mem.search(Query("ground source borehole"))
        assert hits[0].title == "Drilling" and hits[0].ranks == {"keyword": 1, "vector": 1}
        assert_in_step(mem)


def test_two_processes_writing_records_keep_the_vectors_in_step(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = embedded_workspace(tmp_path)
    with Memory.for_workspace(root) as mem:
        mem.sync()
    child = str(Path(__file__).with_name("writer_child.py"))
    procs = [subprocess.Popen([sys.executable, child, "records", str(root), name, "15"], stderr=subprocess.PIPE)
             for name in ("p", "q")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    with Memory.for_workspace(root) as mem:
        assert mem.vectors is not None and mem.vectors.in_step()  # each writer's own batches kept it
        assert len(mem.index.ids(DocKind.RECORD)) == 30
        assert_in_step(mem)
        hits = mem.search(Query("tokenqx14", kinds=(DocKind.RECORD,)))
        assert hits[0].id == "record:Customer:q-14" and set(hits[0].ranks) == {"keyword", "vector"}
