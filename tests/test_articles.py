"""Messages built from names use the right article: "an `Invoice`", "an irreversible side effect"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aios.articles import a_or_an
from aios.cli.main import cli
from tests.runtime.workspace import write_workspace


@pytest.mark.parametrize(("word", "expected"), [
    ("`Invoice`", "an `Invoice`"), ("irreversible", "an irreversible"), ("reversible", "a reversible"),
    ("`Note`", "a `Note`"), ("`Order`", "an `Order`"), ("`User`", "a `User`"), ("`Unit`", "a `Unit`"),
    ("`Umbrella`", "an `Umbrella`"), ("hour", "an hour"), ("`SMS`", "an `SMS`"), ("`HTTP`", "an `HTTP`"),
    ("`API`", "an `API`"), ("`UUID`", "a `UUID`"), ("int", "an int"), ("list of str", "a list of str"),
])
def test_the_article_follows_the_sound(word: str, expected: str) -> None:
    assert a_or_an(word) == expected


PLAYBOOK = """\
kind: schema
name: Invoice
fields:
  total: float
---
kind: playbook
name: bill
trigger: {event: bill.due}
steps:
  - id: write
    agent: writer
    input: "{{ event.payload }}"
    writes: Invoice
  - id: tell
    needs: [write]
    connector: email.send
    input: {to: "a@example.com", subject: "bill", body: "due"}
"""


def test_validate_messages_choose_the_article(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws")
    (ws / "playbooks" / "bill.yaml").write_text(PLAYBOOK)
    result = CliRunner().invoke(cli, ["validate", str(ws), "--format", "json"])
    messages = [d["message"] for d in json.loads(result.stdout)["diagnostics"]]
    text = "\n".join(messages)
    assert "writes an `Invoice` record but produces a `Note`" in text, text
    assert "which has an irreversible side effect" in text, text
    assert " a `Invoice`" not in text and "a irreversible" not in text
