"""The files of a new workspace (`aios init`). Kept as data so a test can validate them."""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["write_workspace", "FILES"]

FILES: dict[str, str] = {
    "aios.yaml": """\
# yaml-language-server: $schema=./schema/aios.schema.json
name: {name}
storage: .aios
models:
  default: {{model: offline}}   # deterministic, offline; switch to e.g. openai/gpt-4o-mini later
secrets: {{}}
""",
    "playbooks/notes.yaml": """\
# yaml-language-server: $schema=../schema/aios.schema.json
kind: schema
name: Note
fields:
  title: str
  summary: str
  tags: list[str]
---
kind: agent
name: summarizer
role: Summarize an incoming note in two sentences.
prompt: prompts/summarize.j2
output: Note
---
kind: playbook
name: file-note
trigger: {{event: note.received}}
steps:
  - id: summarize
    agent: summarizer
    input: "{{{{ event.payload }}}}"
    writes: Note
  - id: save
    needs: [summarize]
    connector: files.write
    input:
      path: "notes/{{{{ records.Note.id }}}}.md"
      content: "# {{{{ steps.summarize.output.title }}}}\\n\\n{{{{ steps.summarize.output.summary }}}}"
    idempotency_key: "note-{{{{ records.Note.id }}}}"
""",
    "prompts/summarize.j2": """\
{{{{ agent.role }}}}

{{{{ input }}}}

Answer with JSON matching: {{{{ output_schema }}}}
""",
    "policies/README.md": "Policies (`*.rules`) and their tests (`*.test.yaml`) live here.\n",
    "policies/notes.rules": """\
# What the notes playbook may do. Side effects are denied unless a rule allows them.
policy notes

rule file_notes
  when action.connector == "files.write" and run.playbook == "file-note"
    and starts_with(action.input.path, "notes/") and not matches(action.input.path, "[.][.]")
  allow "Filing a note in the outbox"
""",
    "policies/notes.test.yaml": """\
# Cases for notes.rules: `aios policy test` runs them.
defaults:
  now: "2026-01-05T10:00:00+01:00"
cases:
  - name: a note is filed
    input:
      run: {{playbook: file-note}}
      action: {{connector: files.write, input: {{path: notes/note-1.md, content: "# A title"}}}}
    expect: allow
    rules: [notes.file_notes]

  - name: nothing is written outside notes/
    input:
      run: {{playbook: file-note}}
      action: {{connector: files.write, input: {{path: drafts/x.md, content: x}}}}
    expect: deny
    rules: []

  - name: nor out of it with `..`
    input:
      run: {{playbook: file-note}}
      action: {{connector: files.write, input: {{path: notes/../../escape.txt, content: x}}}}
    expect: deny
    rules: []
""",
    "knowledge/README.md": "# Knowledge\n\nMarkdown notes here are indexed for retrieval.\n",
    "events/note.json": "",
    ".gitignore": ".aios/\n",
}


def write_workspace(target: Path, name: str) -> list[str]:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "workspace"
    if not safe[0].isalpha():
        safe = "ws-" + safe
    written = []
    for rel, template in FILES.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel == "events/note.json":
            text = json.dumps({"type": "note.received", "id": "note-1", "source": "cli",
                               "payload": {"text": "Call the printer about the spring catalogue."}}, indent=2) + "\n"
        else:
            text = template.format(name=safe)
        path.write_text(text, encoding="utf-8")
        written.append(rel)
    from aios.spec.json_schema import workspace_json_schema

    schema_path = target / "schema" / "aios.schema.json"
    schema_path.parent.mkdir(parents=True, exist_ok=True)
    schema_path.write_text(json.dumps(workspace_json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    written.append("schema/aios.schema.json")
    return written
