"""Retrieval quality on the Cranfield collection (a regression guard; speed lives in bench/), and the
bench script itself on a tiny collection in the same format."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from aios.memory.index import MemoryIndex
from aios.memory.model import Query
from tests.conftest import ROOT


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_retrieval", ROOT / "bench" / "retrieval.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_cranfield_ndcg_at_10_with_feedback_beats_plain_bm25(shared_data: Path, tmp_path: Path) -> None:
    bench = _bench()
    coll = shared_data / "cranfield"
    docs = bench.read_docs(coll / "cran.all.1400")
    queries = bench.read_queries(coll / "cran.qry")
    qrels = bench.read_qrels(coll / "cranqrel")
    assert (len(docs), len(queries)) == (1400, 225)
    index, _ = bench.run_aios(docs, tmp_path, "cran.all.1400")

    def ndcg(**kw: object) -> float:
        scores = [bench.ndcg_at_10([int(h.id) for h in index.search(Query(q, limit=10, **kw))],  # type: ignore[arg-type]
                                   qrels.get(i, {})) for i, q in enumerate(queries, 1)]
        return sum(scores) / len(scores)

    with_feedback, plain = ndcg(), ndcg(expand=False)
    assert with_feedback >= 0.40
    assert with_feedback > plain + 0.02
    # Provenance points at the document's lines in the collection file.
    hit = index.search(Query("slipstream wing propeller", limit=1))[0]
    lines = (coll / "cran.all.1400").read_text().splitlines()
    assert lines[hit.provenance.line_start - 1] == f".I {hit.id}"  # type: ignore[union-attr]


COLLECTION = {
    "cran.all.1400": ".I 1\n.T\nwing flutter\n.A\nx\n.B\ny\n.W\nwing flutter at high speed .\n"
                     ".I 2\n.T\nboundary layer\n.A\nx\n.B\ny\n.W\nlaminar boundary layer transition .\n"
                     ".I 3\n.T\nheat transfer\n.A\nx\n.B\ny\n.W\nheat transfer in hypersonic flow .\n",
    "cran.qry": ".I 001\n.W\nwhat causes wing flutter .\n.I 004\n.W\nboundary layer transition .\n",
    "cranqrel": "1 1 1\n2 2 2\n2 3 -1\n",
}


def test_bench_runs_on_any_collection_folder(tmp_path: Path) -> None:
    if importlib.util.find_spec("bm25s") is None or importlib.util.find_spec("Stemmer") is None:
        pytest.skip("the bench extra (bm25s, PyStemmer) is not installed: pip install -e '.[bench]'")
    coll = tmp_path / "tiny"
    coll.mkdir()
    for name, text in COLLECTION.items():
        (coll / name).write_text(text)
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "retrieval.py"), str(coll), "--json",
                           "--docs", "200", "--repeat", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("aios_ndcg10", "fts5_ndcg10", "bm25s_ndcg10", "aios_p50_ms", "filtered_p50_ms_100k",
                "ndcg10_ratio_vs_best_peer"):
        assert key in out
    assert out["documents"] == 3 and out["queries"] == 2
    assert out["aios_ndcg10"] == pytest.approx(1.0)


def test_index_is_not_importing_tantivy_until_used() -> None:
    code = ("import sys, aios.memory, aios.memory.memory, aios.memory.sync, aios.memory.tiers, aios.cli.memory;"
            "print('tantivy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
    _ = MemoryIndex  # the adapter is the one place that imports it
