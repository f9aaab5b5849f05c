"""Vector fusion through a remote embedding route (litellm against a real OpenAI-compatible server on
127.0.0.1): fused hits, the key sent but never kept, and an error from the server falling back to
keyword ranking that says so, in a search and in a playbook's retrieve step, which never fails."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aios.memory.memory import Memory
from aios.memory.model import DocKind, Query
from aios.memory.ranking import search
from aios.memory.settings import MemorySettings
from aios.models.offline_embedding import MODEL_ID
from aios.runtime.log import entries_for_run
from tests.models.openai_server import FakeOpenAI, status

from .conftest import AIOS_YAML, customer, event, write_workspace

KEY = "sk-embed-secret-4711"


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        yield s


def remote_yaml(server: FakeOpenAI, route: str = "embed") -> str:
    models = ("models:\n  default: {model: offline}\n"
              f"  embed: {{model: openai/text-embedding-3-small, api_base: \"{server.base}\", api_key: embed_key,"
              " max_retries: 0, timeout_s: 5}\n")
    return (AIOS_YAML.replace("models:\n  default: {model: offline}\n", models)
            + f"  embedding: {route}\nsecrets:\n  embed_key: {{env: AIOS_TEST_EMBED_KEY}}\n")


@pytest.fixture
def workspace(tmp_path: Path, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIOS_TEST_EMBED_KEY", KEY)
    root = write_workspace(tmp_path / "ws")
    (root / "aios.yaml").write_text(remote_yaml(server))
    return root


def embedding_requests(server: FakeOpenAI) -> list[dict[str, Any]]:
    return [r for r in server.requests if r["path"].endswith("/embeddings")]


def quick_retry(mem: Memory) -> Memory:
    """The same memory with no pause after a failed call (the default waits 30 s)."""
    assert mem.settings.embedding is not None
    embedding = dataclasses.replace(mem.settings.embedding, retry_after_s=0.0)
    mem.close()
    return Memory(dataclasses.replace(mem.settings, embedding=embedding))


def test_remote_vectors_are_fused_and_the_key_is_sent_never_kept(workspace: Path, server: FakeOpenAI) -> None:
    with Memory.for_workspace(workspace) as mem:
        hits = mem.search(Query("rush jobs delivery"))
        assert hits and all(h.ranks for h in hits) and any("vector" in h.ranks for h in hits)
        assert hits[0].title == "Pricing › Rush jobs" and hits[0].ranks["keyword"] == 1
        assert mem.vectors is not None and mem.vectors.store.counts() == (3, 0)
        assert mem.vectors.store.meta("model") == f"openai/text-embedding-3-small@{server.base}"
        reqs = embedding_requests(server)
        assert reqs and all(r["auth"] == f"Bearer {KEY}" for r in reqs)
        assert sum(len(r["body"]["input"]) for r in reqs) == 4  # three note chunks, one query
        asked = len(reqs)
        mem.search(Query("rush jobs delivery"))  # the query's vector is cached
        mem.reindex()  # the documents' vectors are reused
        assert len(embedding_requests(server)) == asked
        text = json.dumps([h.to_json() for h in hits])
    stored = b"".join(p.read_bytes() for p in (workspace / ".aios").rglob("*") if p.is_file())
    assert KEY not in text and KEY.encode() not in stored


def test_an_embedding_error_falls_back_to_keywords_and_says_so(workspace: Path, server: FakeOpenAI) -> None:
    mem = quick_retry(Memory.for_workspace(workspace))
    try:
        assert mem.search(Query("rush jobs"))  # vectors made while the server answers
        keyword = search(mem.index, Query("rush jobs"))
        server.embed_script.append(status(500))
        hits = mem.search(Query("refund for a double charge"))
        plain = search(mem.index, Query("refund for a double charge"))
        assert [h.id for h in hits] == [h.id for h in plain] and hits
        assert all(h.ranks == {"keyword": n} for n, h in enumerate(hits, 1))
        note = hits[0].note
        assert "embedding route `embed` failed" in note and "ranked by keywords only" in note
        assert "InternalServerError" in note and KEY not in note
        assert hits[0].to_json()["note"] == note and hits[0].provenance == plain[0].provenance
        # The server answers again: fused once more.
        fused = mem.search(Query("rush jobs"))
        assert [h.id for h in fused][:1] == [keyword[0].id] and any("vector" in h.ranks for h in fused)
        assert not any(h.note for h in fused)
    finally:
        mem.close()


def test_after_a_failure_the_route_is_left_alone_for_a_while(workspace: Path, server: FakeOpenAI) -> None:
    with Memory.for_workspace(workspace) as mem:
        mem.search(Query("rush jobs"))
        server.embed_script.append(status(503))
        assert mem.search(Query("double charge"))[0].note
        asked = len(embedding_requests(server))
        again = mem.search(Query("day rates"))
        assert "failed recently" in again[0].note and len(embedding_requests(server)) == asked


def test_documents_indexed_while_the_route_fails_get_their_vectors_later(workspace: Path,
                                                                          server: FakeOpenAI) -> None:
    # The first sync's documents, its retry of them (no pause here), and the query's vector.
    server.embed_script.extend([status(500)] * 3)
    mem = quick_retry(Memory.for_workspace(workspace))
    try:
        hits = mem.search(Query("duplicate card charge"))
        assert hits[0].title == "Support FAQ › Double charge" and "failed" in hits[0].note
        assert mem.vectors is not None and mem.vectors.store.counts() == (0, 3)
        hits = mem.search(Query("duplicate card charge"))  # the route answers: the missing vectors are made
        assert mem.vectors.store.counts() == (3, 0)
        assert hits[0].ranks == {"keyword": 1, "vector": 1} and not hits[0].note
    finally:
        mem.close()


def test_the_retrieve_step_never_fails_on_an_embedding_error(workspace: Path, server: FakeOpenAI) -> None:
    from aios.compiler import compile_workspace
    from aios.memory import runtime_retriever
    from aios.runtime.interpreter import Runtime

    plan = compile_workspace(workspace).plan
    assert plan is not None and plan.settings.embedding_route == "embed"
    assert MemorySettings.from_plan(plan, workspace).embedding == MemorySettings.from_workspace(workspace).embedding
    server.embed_script.extend([status(500)] * 10)
    rt = Runtime(plan, workspace, retriever=runtime_retriever(workspace, plan))
    try:
        out = rt.start("onboard", event("customer.received", customer("c-7", "Fjord AS", "rush jobs pricing")))
        entries = entries_for_run(rt.store.conn, out.run_id)
        done = next(e for e in entries if e.step_id == "lookup" and e.type == "step.completed")
        hits = done.body["out"]["hits"]
        assert hits and all(h["kind"] == "note" and h["ranks"].keys() == {"keyword"} for h in hits)
        assert "embedding route `embed` failed" in hits[0]["note"] and KEY not in json.dumps(hits)
        assert hits[0]["provenance"]["path"] == "knowledge/pricing.md"
        assert not any(e.type == "step.failed" for e in entries)
    finally:
        rt.close()
    server.embed_script.clear()
    with Memory.for_workspace(workspace) as mem:  # a later process, the route back: all vectors made
        hits = mem.search(Query("Fjord", kinds=(DocKind.RECORD,)))
        assert hits[0].ranks.get("vector") and mem.vectors is not None
        assert mem.vectors.store.counts()[1] == 0


def test_switching_routes_re_embeds_everything(tmp_path: Path, server: FakeOpenAI,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOS_TEST_EMBED_KEY", KEY)
    root = write_workspace(tmp_path / "ws")
    (root / "aios.yaml").write_text(remote_yaml(server, route="default"))  # the offline route first
    with Memory.for_workspace(root) as mem:
        assert mem.search(Query("rush jobs"))[0].ranks.get("vector")
        assert mem.vectors is not None and mem.vectors.store.meta("model") == MODEL_ID
    assert embedding_requests(server) == []
    (root / "aios.yaml").write_text(remote_yaml(server, route="embed"))
    with Memory.for_workspace(root) as mem:
        assert mem.search(Query("rush jobs"))[0].ranks.get("vector")
        assert mem.vectors is not None and mem.vectors.in_step()
        assert mem.vectors.store.meta("model") == f"openai/text-embedding-3-small@{server.base}"
        assert mem.vectors.store.counts() == (3, 0)
        assert sum(len(r["body"]["input"]) for r in embedding_requests(server)) == 4
