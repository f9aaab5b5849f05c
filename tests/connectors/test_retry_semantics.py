"""Which failures are retried, and how often: a step's `on_failure.retry.max` overrides the contract's
retries (0 means one attempt); only transient failures are retried (`ConnectorFailed(transient=True)`,
timeouts, connection errors); any other exception a connector raises is permanent.

The connector is a real workspace module that counts its calls in a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from aios.runtime.runstate import RunStatus
from tests.connectors.workspace import compile_plan, log_types, run_playbook, write_workspace

CONTRACT = """\
kind: connector
name: flaky.call
module: flaky:call
input:
  mode: str
output:
  ok: bool
side_effect: none
retry: {max: 3, backoff: fixed, base_s: 0.01}
"""

FLAKY = """\
from pathlib import Path

from aios.runtime.connectors import ConnectorFailed


def call(call):
    counter = Path(call.workspace) / "calls.txt"
    counter.write_text(str(int(counter.read_text()) + 1 if counter.exists() else 1))
    mode = call.input["mode"]
    if mode == "transient":
        raise ConnectorFailed("the target is busy", transient=True)
    if mode == "permanent":
        raise ConnectorFailed("the target refused", transient=False)
    if mode == "value":
        raise ValueError("a bug in the connector")
    if mode == "key":
        raise KeyError("missing")
    if mode == "timeout":
        raise TimeoutError("timed out")
    if mode == "connection":
        raise ConnectionRefusedError("refused")
    return {"ok": True}
"""


def _workspace(tmp_path: Path, on_failure: str | None = None) -> Path:
    steps = "  - id: call\n    connector: flaky.call\n    input: {mode: \"{{ event.payload.mode }}\"}\n"
    if on_failure is not None:
        steps += f"    on_failure: {on_failure}\n"
    return write_workspace(tmp_path / "ws", steps, files={"connectors/contracts.yaml": CONTRACT,
                                                          "connectors/flaky.py": FLAKY})


def _calls(ws: Path) -> int:
    counter = ws / "calls.txt"
    return int(counter.read_text()) if counter.exists() else 0


def test_retry_max_0_means_exactly_one_attempt(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, "{retry: {max: 0}}")
    assert compile_plan(ws).playbook_map["p"].steps[0].retry.max_retries == 0
    out = run_playbook(ws, {"mode": "transient"})
    assert out.status is RunStatus.FAILED
    assert _calls(ws) == 1
    assert [t for _, t, _ in log_types(ws, out.run_id) if t == "step.attempt_failed"] == []


def test_the_steps_retry_max_overrides_the_contract(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, "{retry: {max: 1, backoff: none}}")
    assert compile_plan(ws).playbook_map["p"].steps[0].retry.max_retries == 1
    assert run_playbook(ws, {"mode": "transient"}).status is RunStatus.FAILED
    assert _calls(ws) == 2


@pytest.mark.parametrize("max_retries", [2, 3])  # the circuit opens after 5 failed calls
def test_a_transient_failure_is_tried_max_plus_one_times(tmp_path: Path, max_retries: int) -> None:
    ws = _workspace(tmp_path, f"{{retry: {{max: {max_retries}, backoff: none}}}}")
    out = run_playbook(ws, {"mode": "transient"})
    assert out.status is RunStatus.FAILED
    assert _calls(ws) == max_retries + 1
    failed = [b for _, t, b in log_types(ws, out.run_id) if t == "step.attempt_failed"]
    assert [b["attempt"] for b in failed] == list(range(1, max_retries + 1))


def test_without_a_step_retry_the_contracts_retries_apply(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    assert compile_plan(ws).playbook_map["p"].steps[0].retry.max_retries == 3
    assert run_playbook(ws, {"mode": "transient"}).status is RunStatus.FAILED
    assert _calls(ws) == 4


def test_on_failure_without_retry_keeps_the_contracts_retries(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, "{alert: false}")
    assert compile_plan(ws).playbook_map["p"].steps[0].retry.max_retries == 3
    assert run_playbook(ws, {"mode": "transient"}).status is RunStatus.FAILED
    assert _calls(ws) == 4


@pytest.mark.parametrize("mode", ["value", "key", "permanent"])
def test_an_exception_that_is_not_transient_is_not_retried(tmp_path: Path, mode: str) -> None:
    ws = _workspace(tmp_path)  # the contract allows 3 retries
    out = run_playbook(ws, {"mode": mode})
    assert out.status is RunStatus.FAILED
    assert _calls(ws) == 1
    [failed] = [b for s, t, b in log_types(ws, out.run_id) if t == "step.failed"]
    assert failed["attempts"] == 1


def test_a_value_error_names_its_type_in_the_failure(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    out = run_playbook(ws, {"mode": "value"})
    assert out.error == "flaky.call: ValueError: a bug in the connector"


@pytest.mark.parametrize("mode", ["timeout", "connection"])
def test_timeouts_and_connection_errors_are_transient(tmp_path: Path, mode: str) -> None:
    ws = _workspace(tmp_path, "{retry: {max: 2, backoff: none}}")
    assert run_playbook(ws, {"mode": mode}).status is RunStatus.FAILED
    assert _calls(ws) == 3


def test_a_map_steps_retry_max_0_overrides_the_contract_per_item(tmp_path: Path) -> None:
    steps = """\
  - id: each
    map:
      over: "{{ event.payload.modes }}"
      as: m
      do:
        connector: flaky.call
        input: {mode: "{{ m }}"}
    on_failure: {retry: {max: 0}}
"""
    ws = write_workspace(tmp_path / "ws", steps, files={"connectors/contracts.yaml": CONTRACT,
                                                        "connectors/flaky.py": FLAKY})
    assert run_playbook(ws, {"modes": ["ok", "transient"]}).status is RunStatus.FAILED
    assert _calls(ws) == 2  # the first item once, the failing one once


def test_a_map_step_without_retry_uses_the_contracts(tmp_path: Path) -> None:
    steps = """\
  - id: each
    map:
      over: "{{ event.payload.modes }}"
      as: m
      do:
        connector: flaky.call
        input: {mode: "{{ m }}"}
"""
    ws = write_workspace(tmp_path / "ws", steps, files={"connectors/contracts.yaml": CONTRACT,
                                                        "connectors/flaky.py": FLAKY})
    assert run_playbook(ws, {"modes": ["transient"]}).status is RunStatus.FAILED
    assert _calls(ws) == 4


UNDO = """\
from pathlib import Path


def apply(call):
    return {"ok": True}


def undo(call):
    counter = Path(call.workspace) / "undo.txt"
    counter.write_text(str(int(counter.read_text()) + 1 if counter.exists() else 1))
    raise ValueError("cannot undo")
"""

UNDO_CONTRACTS = """\
---
kind: connector
name: undoable.apply
module: undo:apply
input: {}
output: {ok: bool}
side_effect: reversible
compensation: undoable.undo
---
kind: connector
name: undoable.undo
module: undo:undo
input: {}
output: {}
side_effect: reversible
retry: {max: 3, backoff: none}
"""


def test_a_compensation_failing_permanently_is_not_retried(tmp_path: Path) -> None:
    steps = """\
  - id: apply
    connector: undoable.apply
    idempotency_key: "apply-{{ event.id }}"
  - id: call
    needs: [apply]
    connector: flaky.call
    input: {mode: permanent}
"""
    ws = write_workspace(tmp_path / "ws", steps, files={"connectors/contracts.yaml": CONTRACT + UNDO_CONTRACTS,
                                                        "connectors/flaky.py": FLAKY, "connectors/undo.py": UNDO})
    out = run_playbook(ws)
    assert out.status is RunStatus.FAILED
    assert (ws / "undo.txt").read_text() == "1"
    [failed] = [b for s, t, b in log_types(ws, out.run_id) if t == "compensation.failed"]
    assert failed["error"] == "ValueError: cannot undo"
