"""The vector store: what a search sees follows every write, of this connection or another one, and
is the same whether it was loaded whole or brought up to date change by change."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios.memory.vectors import VectorRow, VectorStore, encode


def unit(rng: random.Random, dims: int = 8) -> list[float]:
    v = [rng.uniform(-1, 1) for _ in range(dims)]
    norm = sum(x * x for x in v) ** 0.5
    return [x / norm for x in v]


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[VectorStore, VectorStore]]:
    a, b = VectorStore(tmp_path / "vectors.db"), VectorStore(tmp_path / "vectors.db")
    yield a, b
    a.close()
    b.close()


def rounded(hits: list[tuple[str, float]]) -> list[tuple[str, float]]:
    return [(d, round(s, 5)) for d, s in hits]


def fresh_top(path: Path, query: list[float], kinds: tuple[str, ...] = ()) -> list[tuple[str, float]]:
    store = VectorStore(path)
    try:
        return rounded(store.top(query, 1000, kinds))
    finally:
        store.close()


def test_search_follows_writes_from_either_connection(stores: tuple[VectorStore, VectorStore],
                                                      tmp_path: Path) -> None:
    rng = random.Random(7)
    writer, reader = stores
    query = unit(rng)
    ids = [f"d{i}" for i in range(40)]
    for step in range(60):
        store = writer if step % 3 else reader  # both connections write; both read
        with store.transaction() as st:
            for _ in range(rng.randint(1, 6)):
                op = rng.random()
                doc_id = rng.choice(ids)
                if op < 0.55:
                    vec = None if rng.random() < 0.15 else encode(unit(rng))
                    st.put(VectorRow(doc_id, f"g{int(doc_id[1:]) % 5}", rng.choice(["note", "record"]),
                                     None, f"h{step}", vec))
                elif op < 0.75:
                    st.delete(doc_id)
                elif op < 0.85:
                    st.delete_group(f"g{rng.randrange(5)}")
                elif op < 0.9:
                    st.delete_kind("record")
                elif op < 0.92:
                    st.clear()
                else:
                    row = st.row(doc_id)
                    if row is not None and row.vec is None:
                        st.set_vector(doc_id, row.digest, encode(unit(rng)))
        expected = fresh_top(tmp_path / "vectors.db", query)
        for s in (writer, reader):
            assert rounded(s.top(query, 1000)) == expected, step
            assert rounded(s.top(query, 1000, ("note",))) == fresh_top(tmp_path / "vectors.db", query, ("note",))
        with_vec = {d for d, (_, has, _) in writer.digests().items() if has}
        assert {d for d, _ in expected} <= with_vec


def test_top_k_is_by_similarity_then_id_and_positive_only(tmp_path: Path) -> None:
    store = VectorStore(tmp_path / "vectors.db")
    try:
        with store.transaction() as st:
            for doc_id, vec in (("b", [1.0, 0.0]), ("a", [1.0, 0.0]), ("c", [0.6, 0.8]), ("d", [-1.0, 0.0]),
                                ("e", [0.0, 1.0])):
                st.put(VectorRow(doc_id, "g", "note", None, doc_id, encode(vec)))
        assert [d for d, _ in store.top([1.0, 0.0], 10)] == ["a", "b", "c"]
        assert [d for d, _ in store.top([1.0, 0.0], 2)] == ["a", "b"]
        assert store.top([1.0, 0.0, 0.0], 10) == []  # another model's length: nothing comparable
    finally:
        store.close()
