"""A step's `on_failure` without `compensate:` keeps the contract's compensation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.connectors.workspace import compile_plan, write_workspace

STEP = """\
  - id: save
    connector: files.write
    input: {{path: "a.txt", content: "x"}}
    idempotency_key: "save-{{{{ event.id }}}}"
{on_failure}"""


@pytest.mark.parametrize("on_failure", ["", "    on_failure: {alert: false}\n",
                                        "    on_failure: {retry: {max: 0}}\n"])
def test_the_contract_compensation_stays_unless_the_step_names_one(tmp_path: Path, on_failure: str) -> None:
    root = write_workspace(tmp_path / "ws", STEP.format(on_failure=on_failure),
                           connectors={"files.write": {"outbox": "outbox"}})
    step = compile_plan(root).playbook_map["p"].step("save")
    assert step.compensate == "files.delete"


def test_a_named_compensation_wins(tmp_path: Path) -> None:
    root = write_workspace(tmp_path / "ws", STEP.format(on_failure="    on_failure: {compensate: files.write}\n"),
                           connectors={"files.write": {"outbox": "outbox"}})
    assert compile_plan(root).playbook_map["p"].step("save").compensate == "files.write"
