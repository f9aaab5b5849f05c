"""Idempotency keys must name the effect, not the run: what the warning and the hints say."""

from __future__ import annotations

from pathlib import Path

from aios.compiler import compile_workspace

_HEAD = """kind: schema
name: Reminder
key: number
fields:
  number: str
  email: email
---
kind: playbook
name: p
trigger: {event: invoice.overdue}
steps:
"""


def _diags(tmp_path: Path, steps: str) -> list[tuple[str, str, str | None]]:
    (tmp_path / "aios.yaml").write_text("name: t\n", encoding="utf-8")
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "p.yaml").write_text(_HEAD + steps, encoding="utf-8")
    result = compile_workspace(tmp_path)
    return [(d.code, d.message, d.hint) for d in result.diagnostics]


def test_arrival_time_in_key_warns_and_hint_names_stable_values(tmp_path: Path) -> None:
    diags = _diags(tmp_path, """  - id: send
    connector: email.send
    input: {to: a@b.example, subject: hi, body: there}
    idempotency_key: "reminder-{{ event.payload.number }}-{{ event.time }}"
""")
    unstable = [d for d in diags if d[0] == "idempotency-key-unstable"]
    assert len(unstable) == 1, diags
    _, message, hint = unstable[0]
    assert "event.time" in message
    assert hint is not None and "event.id" in hint and "run.id" not in hint


def test_key_hint_suggests_a_written_record_key(tmp_path: Path) -> None:
    diags = _diags(tmp_path, """  - id: remember
    transform: {number: "{{ event.payload.number }}", email: a@b.example}
    writes: Reminder
  - id: send
    needs: [remember]
    connector: email.send
    input: {to: a@b.example, subject: hi, body: there}
    idempotency_key: "send-{{ run.id }}"
""")
    unstable = [d for d in diags if d[0] == "idempotency-key-unstable"]
    assert len(unstable) == 1, diags
    assert "records.Reminder.id" in (unstable[0][2] or "")


def test_missing_key_hint_no_longer_suggests_run_id(tmp_path: Path) -> None:
    diags = _diags(tmp_path, """  - id: send
    connector: email.send
    input: {to: a@b.example, subject: hi, body: there}
""")
    missing = [d for d in diags if d[0] == "missing-idempotency-key"]
    assert len(missing) == 1, diags
    hint = missing[0][2] or ""
    assert "run.id" not in hint and "event.id" in hint


def test_stable_keys_do_not_warn(tmp_path: Path) -> None:
    diags = _diags(tmp_path, """  - id: send
    connector: email.send
    input: {to: a@b.example, subject: hi, body: there}
    idempotency_key: "send-{{ event.id }}-{{ event.payload.number }}-{{ run.playbook }}"
""")
    assert [d for d in diags if d[0] == "idempotency-key-unstable"] == []
