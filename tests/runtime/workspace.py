"""A small real workspace on disk (compiled by the real compiler) for CLI and cross-process tests."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["write_workspace"]

AIOS_YAML = """\
name: flow-test
storage: .aios
models:
  default: {model: offline}
connectors:
  files.write: {outbox: outbox}
runtime:
  actor: operator
"""

PLAYBOOK = """\
kind: schema
name: Note
fields:
  title: str
  body: str
---
kind: agent
name: writer
role: Write a short note.
prompt: prompts/writer.j2
output: Note
---
kind: playbook
name: flow
trigger: {event: note.requested}
steps:
  - id: write
    agent: writer
    input: "{{ event.payload }}"
    writes: Note
  - id: check
    needs: [write]
    gate:
      message: "File the note '{{ steps.write.output.title }}'?"
      approvers: [boss]
  - id: file
    needs: [check]
    connector: files.write
    input:
      path: "{{ records.Note.id }}.md"
      content: "{{ steps.write.output.body }}"
    idempotency_key: "file-{{ records.Note.id }}"
"""

RULES = """\
policy local
rule outbox
  when action.connector == "files.write"
  allow "Writing to the outbox is fine"
default allow
"""


def write_workspace(root: Path) -> Path:
    (root / "playbooks").mkdir(parents=True)
    (root / "prompts").mkdir()
    (root / "policies").mkdir()
    (root / "aios.yaml").write_text(AIOS_YAML)
    (root / "playbooks" / "flow.yaml").write_text(PLAYBOOK)
    (root / "prompts" / "writer.j2").write_text("{{ agent.role }}\n{{ input }}\n")
    (root / "policies" / "local.rules").write_text(RULES)
    (root / "event.json").write_text(json.dumps({"type": "note.requested", "id": "n-1",
                                                 "payload": {"title": "Quarterly note", "body": "All is well."}}))
    return root
