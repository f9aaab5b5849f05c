from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aios.memory.index import MemoryIndex
from aios.memory.model import DocKind, FileSource, IndexDocument, Provenance

AIOS_YAML = """\
name: memory-test
storage: .aios
models:
  default: {model: offline}
memory:
  knowledge_dir: knowledge
  half_life_days: 90
  cold_after_days: 30
"""

PLAYBOOKS = """\
kind: schema
name: Customer
fields:
  name: str
  status: "enum[open, waiting, closed]"
  amount: decimal
  tags: list[str]
  note: str
---
kind: agent
name: clerk
role: File the customer.
prompt: prompts/clerk.j2
output: Customer
---
kind: playbook
name: onboard
trigger: {event: customer.received}
steps:
  - id: write
    agent: clerk
    input: "{{ event.payload }}"
    writes: {schema: Customer, id: "{{ event.payload.key }}"}
  - id: lookup
    needs: [write]
    retrieve:
      query: "{{ steps.write.output.note }}"
      top_k: 3
      filter: {kind: note}
---
kind: playbook
name: held
trigger: {event: customer.held}
steps:
  - id: write
    agent: clerk
    input: "{{ event.payload }}"
    writes: {schema: Customer, id: "{{ event.payload.key }}"}
  - id: check
    needs: [write]
    gate:
      message: "Keep {{ steps.write.output.name }}?"
"""

NOTES = {
    "pricing.md": "# Pricing\n\n## Day rates\n\nWriting costs 650 EUR per day.\n\n"
                  "## Rush jobs\n\nDelivery in under five days adds 50 percent.\n",
    "support/faq.md": "# Support FAQ\n\n## Double charge\n\nA duplicate card charge is refunded within "
                      "three working days.\n",
}


def write_workspace(root: Path) -> Path:
    (root / "playbooks").mkdir(parents=True)
    (root / "prompts").mkdir()
    (root / "aios.yaml").write_text(AIOS_YAML)
    (root / "playbooks" / "main.yaml").write_text(PLAYBOOKS)
    (root / "prompts" / "clerk.j2").write_text("{{ agent.role }}\n{{ input }}\n")
    for rel, text in NOTES.items():
        path = root / "knowledge" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def customer(key: str, name: str, note: str, status: str = "open", amount: float = 100.0,
             tags: tuple[str, ...] = ("new",)) -> dict[str, Any]:
    return {"key": key, "name": name, "status": status, "amount": amount, "tags": list(tags), "note": note}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws")


@pytest.fixture
def plan(workspace: Path) -> Any:
    from aios.compiler import compile_workspace

    result = compile_workspace(workspace)
    assert result.plan is not None, [d.message for d in result.diagnostics]
    return result.plan


@pytest.fixture
def runtime(workspace: Path, plan: Any) -> Iterator[Any]:
    from aios.memory import runtime_retriever
    from aios.runtime.interpreter import Runtime

    rt = Runtime(plan, workspace, retriever=runtime_retriever(workspace, plan))
    yield rt
    rt.close()


def event(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "id": f"evt-{payload['key']}-{kind}", "payload": payload}


@pytest.fixture
def index(tmp_path: Path) -> MemoryIndex:
    return MemoryIndex(tmp_path / "index")


def doc(doc_id: str, title: str, body: str, *, kind: DocKind = DocKind.NOTE, provenance: Provenance | None = None,
        tags: tuple[str, ...] = (), updated: datetime | None = None, fields: dict[str, Any] | None = None
        ) -> IndexDocument:
    return IndexDocument(doc_id, kind, title, f"{title}\n{body}", provenance or FileSource(f"{doc_id}.md", 1, 3),
                         tags=tags, updated=updated or datetime(2025, 1, 1, tzinfo=UTC), fields=fields or {})


def dump(idx: MemoryIndex) -> dict[str, tuple[str, str, str, str]]:
    """Every document as (kind, title, snippet-free text, provenance) for equality checks."""
    out = {}
    for doc_id in idx.ids():
        hit = idx.get(doc_id)
        assert hit is not None
        out[doc_id] = (hit.kind.value, hit.title, json.dumps(hit.fields, sort_keys=True), repr(hit.provenance))
    return out
