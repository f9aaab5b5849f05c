"""The index and its ranking on a real Tantivy index: provenance, filters, typo tolerance, phrases,
recency, replacement, robustness to any query text."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aios.errors import UsageError
from aios.memory.index import MemoryIndex
from aios.memory.model import (
    ArchiveSource,
    DocKind,
    FieldFilter,
    FileSource,
    Query,
    RecordSource,
    RunSource,
)
from aios.memory.schema import SCHEMA_VERSION

from .conftest import doc

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _corpus(index: MemoryIndex) -> None:
    index.write([
        doc("n1", "Pricing › Day rates", "Writing and editing costs 650 EUR per day.", tags=("pricing", "sales"),
            provenance=FileSource("knowledge/pricing.md", 10, 18)),
        doc("n2", "Pricing › Rush jobs", "Delivery in under five working days adds 50 percent to the price.",
            tags=("pricing",), provenance=FileSource("knowledge/pricing.md", 20, 24)),
        doc("r1", "Acme Ltd", "Customer Acme Ltd status open, asked for a heat pump article series.",
            kind=DocKind.RECORD, provenance=RecordSource("Customer", "c-1", 3, "run_1", "write"),
            fields={"status": "open", "amount": 1250.5, "country": "NO", "since": "2024-03-01T00:00:00Z"}),
        doc("r2", "Fjord Tech", "Customer Fjord Tech status closed, heat pump retrofit articles delivered.",
            kind=DocKind.RECORD, provenance=RecordSource("Customer", "c-2", 1),
            fields={"status": "closed", "amount": -20, "country": "SE"}),
        doc("s1", "Run run_9: onboard completed", "Onboarded Acme Ltd; wrote Customer c-1.", kind=DocKind.SUMMARY,
            provenance=RunSource("run_9", None, 1, 12)),
        doc("e1", "onboard · check · step waiting", "Gate: keep Acme Ltd on the heat pump series?",
            kind=DocKind.EPISODE, provenance=RunSource("run_10", "check", 14, 14)),
    ])


def test_every_hit_carries_its_provenance_and_a_snippet(index: MemoryIndex) -> None:
    _corpus(index)
    hits = index.search(Query("acme heat pump pricing", limit=10))
    assert {h.id for h in hits} >= {"r1", "s1", "e1"}
    by_id = {h.id: h for h in hits}
    assert by_id["r1"].provenance == RecordSource("Customer", "c-1", 3, "run_1", "write")
    assert by_id["s1"].provenance == RunSource("run_9", None, 1, 12)
    for h in hits:
        assert h.provenance is not None
        assert h.snippet
        assert h.score > 0
    # The provenance survives the JSON form that goes into the episodic log.
    assert by_id["r1"].to_json()["provenance"] == {"type": "record", "schema": "Customer", "record_id": "c-1",
                                                   "version": 3, "run_id": "run_1", "step_id": "write"}
    note = index.search(Query("rush", limit=1))[0]
    assert note.provenance == FileSource("knowledge/pricing.md", 20, 24)


def test_archive_provenance_round_trips(index: MemoryIndex) -> None:
    index.write([doc("a1", "archived", "an archived supplier order", kind=DocKind.EPISODE,
                     provenance=ArchiveSource("archive/log-1-9.jsonl.gz", 7, "run_1", "place"))])
    assert index.search(Query("supplier order"))[0].provenance == ArchiveSource(
        "archive/log-1-9.jsonl.gz", 7, "run_1", "place")


def test_filters_select_without_changing_relevance(index: MemoryIndex) -> None:
    _corpus(index)

    def ids(**kw: object) -> set[str]:
        return {h.id for h in index.search(Query(**kw))}  # type: ignore[arg-type]

    assert ids(text="heat pump", kinds=(DocKind.RECORD,)) == {"r1", "r2"}
    assert ids(text="heat pump", kinds=(DocKind.RECORD, DocKind.EPISODE)) == {"r1", "r2", "e1"}
    assert ids(text="price pricing rate", tags=("pricing",)) == {"n1", "n2"}
    assert ids(text="price pricing rate", tags=("pricing", "SALES")) == {"n1"}  # all tags, case-insensitive
    assert ids(text="heat pump", schemas=("Customer",)) == {"r1", "r2"}
    assert ids(text="heat pump", fields=(FieldFilter("status", equals=("open",)),)) == {"r1"}
    assert ids(text="heat pump", fields=(FieldFilter("status", equals=("open", "closed")),)) == {"r1", "r2"}
    assert ids(text="heat pump", fields=(FieldFilter("amount", gte=1000),)) == {"r1"}
    assert ids(text="heat pump", fields=(FieldFilter("amount", lte=0),)) == {"r2"}
    assert ids(text="heat pump", fields=(FieldFilter("amount", gte=-20.5, lte=1250.5),)) == {"r1", "r2"}
    assert ids(text="heat pump", fields=(FieldFilter("amount", gte=1250.6),)) == set()
    assert ids(text="heat pump", fields=(FieldFilter("amount", equals=(1250.5,)),)) == {"r1"}
    # An ISO date string stays a string (tantivy would otherwise turn it into a date).
    assert ids(text="heat pump", fields=(FieldFilter("since", equals=("2024-03-01T00:00:00Z",)),)) == {"r1"}
    assert ids(text="heat pump", fields=(FieldFilter("status", equals=("open",)), FieldFilter("country", equals=("SE",)))) == set()
    # Scores with and without a filter are the same for the documents both return.
    plain = {h.id: h.score for h in index.search(Query("heat pump", expand=False))}
    filtered = {h.id: h.score for h in index.search(Query("heat pump", kinds=(DocKind.RECORD,), expand=False))}
    assert filtered == {k: plain[k] for k in filtered}


def test_date_range_filters(index: MemoryIndex) -> None:
    index.write([doc(f"d{i}", f"report {i}", "quarterly report", updated=NOW - timedelta(days=30 * i))
                 for i in range(5)])
    recent = {h.id for h in index.search(Query("report", since=NOW - timedelta(days=65)))}
    assert recent == {"d0", "d1", "d2"}
    old = {h.id for h in index.search(Query("report", until=NOW - timedelta(days=65)))}
    assert old == {"d3", "d4"}
    window = {h.id for h in index.search(Query("report", since=NOW - timedelta(days=95), until=NOW - timedelta(days=25)))}
    assert window == {"d1", "d2", "d3"}


def test_typo_tolerance(index: MemoryIndex) -> None:
    _corpus(index)
    assert index.search(Query("pricng"))[0].id in {"n1", "n2"}
    assert index.search(Query("slipstream editng"))[0].id == "n1"
    assert index.search(Query("retrofitt"))[0].id == "r2"  # distance 1 on the written word
    assert index.search(Query("deliverd retroffit"))[0].id == "r2"
    # Typo tolerance never replaces an exact match: an existing word is matched exactly.
    assert index.search(Query("pricng", fuzzy=False)) == []


def test_phrases_must_match_in_order(index: MemoryIndex) -> None:
    index.write([
        doc("a", "one", "the supplier sends the invoice after delivery"),
        doc("b", "two", "the invoice supplier was late"),
    ])
    assert {h.id for h in index.search(Query('"supplier sends the invoice"'))} == {"a"}
    assert {h.id for h in index.search(Query('"invoice supplier"'))} == {"b"}
    assert {h.id for h in index.search(Query("invoice supplier"))} == {"a", "b"}
    # Stop words inside a phrase keep their place.
    assert {h.id for h in index.search(Query('"sends the invoice"'))} == {"a"}


def test_recency_orders_equal_matches_newest_first(index: MemoryIndex) -> None:
    index.write([doc(f"v{i}", "status update", "supplier delivery status update",
                     updated=NOW - timedelta(days=10 * i)) for i in range(4)])
    plain = index.search(Query("supplier status"))
    assert len({round(h.score, 6) for h in plain}) == 1  # same text: same relevance
    ranked = index.search(Query("supplier status", half_life_days=30), now=NOW)
    assert [h.id for h in ranked] == ["v0", "v1", "v2", "v3"]
    # A document one half-life old scores half as much.
    assert ranked[3].score == pytest.approx(ranked[0].score * 0.5, rel=1e-3)


def test_recency_does_not_bury_a_much_better_match(index: MemoryIndex) -> None:
    index.write([
        doc("old", "refund policy for double charges", "refund double charge refund card charge",
            updated=NOW - timedelta(days=20)),
        doc("new", "weekly note", "the weekly note mentions a refund once and many other things besides",
            updated=NOW),
    ])
    assert [h.id for h in index.search(Query("refund double charge", half_life_days=90), now=NOW)][0] == "old"  # type: ignore[call-arg]


def test_browse_without_text_returns_newest_first(index: MemoryIndex) -> None:
    index.write([doc(f"b{i}", f"item {i}", "x", updated=NOW - timedelta(days=i), kind=DocKind.RECORD,
                     provenance=RecordSource("Item", str(i), 1)) for i in range(3)])
    assert [h.id for h in index.search(Query("", kinds=(DocKind.RECORD,)))] == ["b0", "b1", "b2"]
    assert [h.id for h in index.search(Query("   ", limit=1))] == ["b0"]


def test_update_replaces_by_id_and_groups_delete_together(index: MemoryIndex) -> None:
    index.write([doc("x", "first", "alpha"), doc("y", "other", "alpha")])
    index.write([doc("x", "second", "beta")])
    assert index.get("x") is not None and index.get("x").title == "second"  # type: ignore[union-attr]
    assert {h.id for h in index.search(Query("alpha"))} == {"y"}
    assert index.count() == 2
    index.write(delete_ids=["y"])
    assert index.ids() == {"x"}
    index.write([doc("g1", "g", "gamma", provenance=FileSource("k.md", 1, 2)),
                 doc("g2", "g", "gamma", provenance=FileSource("k.md", 3, 4))])
    index.write(delete_groups=["file:k.md"])
    assert index.ids() == {"x"}


def test_a_failed_batch_commits_nothing(index: MemoryIndex) -> None:
    index.write([doc("keep", "keep", "kept")])
    with pytest.raises(RuntimeError), index.batch() as b:
        b.add(doc("lost", "lost", "never committed"))
        b.delete("keep")
        raise RuntimeError("boom")
    assert index.ids() == {"keep"}
    index.write([doc("after", "after", "the writer is usable again")])
    assert index.ids() == {"keep", "after"}


def test_reader_sees_a_commit_from_another_process_at_once(index: MemoryIndex, tmp_path: Path) -> None:
    assert index.search(Query("zebra")) == []
    code = ("import sys; from datetime import datetime, timezone; from pathlib import Path\n"
            "from aios.memory.index import MemoryIndex\n"
            "from aios.memory.model import IndexDocument, DocKind, FileSource\n"
            "MemoryIndex(Path(sys.argv[1])).write([IndexDocument('z', DocKind.NOTE, 'zebra', 'zebra crossing',"
            " FileSource('z.md', 1, 1))])\n")
    subprocess.run([sys.executable, "-c", code, str(index.directory)], check=True, timeout=120)
    assert [h.id for h in index.search(Query("zebra"))] == ["z"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=80) | st.sampled_from([
    '"', '""', '"unbalanced', 'a AND OR NOT', 'title:foo', 'body:[1 TO 2]', '*', '?', '~2', '(((', '\\',
    'fields.amount:>3', '-', '+-+', '"  "', "'", '^3', '{}', 'NOT', '\x00', 'ǅ ß ﬁ', '1e309']))
def test_no_query_text_is_a_syntax_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    idx = _shared_index(tmp_path_factory)
    hits = idx.search(Query(text, limit=5))
    assert all(h.provenance is not None for h in hits)


_SHARED: dict[str, MemoryIndex] = {}


def _shared_index(factory: pytest.TempPathFactory) -> MemoryIndex:
    if "idx" not in _SHARED:
        idx = MemoryIndex(factory.mktemp("fuzz") / "index")
        _corpus(idx)
        _SHARED["idx"] = idx
    return _SHARED["idx"]


def test_query_values_are_checked() -> None:
    with pytest.raises(UsageError):
        Query("x", limit=0)
    with pytest.raises(UsageError):
        Query("x", half_life_days=0)
    with pytest.raises(UsageError):
        FieldFilter("bad path!", equals=("x",))
    with pytest.raises(UsageError):
        FieldFilter("status")


def test_an_index_from_another_schema_version_is_rebuilt(tmp_path: Path) -> None:
    first = MemoryIndex(tmp_path / "index")
    assert first.rebuilt
    first.write([doc("a", "a", "apple")])
    again = MemoryIndex(tmp_path / "index")
    assert not again.rebuilt and again.ids() == {"a"}
    state = (tmp_path / "index" / "state.json").read_text()
    (tmp_path / "index" / "state.json").write_text(state.replace(f'"schema_version": {SCHEMA_VERSION}',
                                                                 '"schema_version": 0'))
    rebuilt = MemoryIndex(tmp_path / "index")
    assert rebuilt.rebuilt and rebuilt.ids() == set()


def test_a_cleared_batch_still_replaces_a_repeated_id(index: MemoryIndex) -> None:
    index.write([doc("old", "old", "gone after clear")])
    with index.batch(bulk=True) as b:
        b.clear()
        b.add(doc("x", "first", "alpha"))
        b.add(doc("x", "second", "beta"))
        b.add(doc("y", "fresh", "gamma"), replace=False)
    assert index.ids() == {"x", "y"}
    assert index.get("x").title == "second"  # type: ignore[union-attr]
