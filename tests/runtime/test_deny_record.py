"""A denied step records its decision as an allowed one does: the deciding rule with its position,
the policy hash, the action's input and the evaluation errors. `aios runs show` names a deny that
came from a failed evaluation, and `aios policy diff --from-log` replays denials."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from aios.cli.main import cli
from tests.connectors.workspace import compile_plan, log_types, write_workspace

CONTRACT = """\
kind: connector
name: pay.send
module: pay:send
input:
  to: str
  amount: any
output:
  ok: bool
side_effect: reversible
"""

PAY = """\
from pathlib import Path


def send(call):
    calls = Path(call.workspace) / "calls.txt"
    calls.write_text(calls.read_text() + "x" if calls.exists() else "x")
    return {"ok": True}
"""

RULES = """\
policy money

rule cap
  when action.connector == "pay.send" and action.input.amount > 100
  deny "payments above 100 are refused"

rule pay_ok
  when action.connector == "pay.send"
  allow "payments are fine"

default allow
"""

STEPS = """\
  - id: pay
    connector: pay.send
    input: "{{ event.payload }}"
    idempotency_key: "pay-{{ event.id }}"
"""


def _workspace(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws", STEPS, rules=RULES,
                           files={"connectors/contracts.yaml": CONTRACT, "connectors/pay.py": PAY})


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _run(ws: Path, payload: dict[str, Any], event_id: str = "ev-1") -> str:
    event = ws / f"{event_id}.json"
    event.write_text(json.dumps({"type": "go", "id": event_id, "payload": payload}))
    code, out = _cli("run", "p", "--event", str(event), "-w", str(ws), "--json", "-q")
    data = json.loads(out)
    assert code == 1 and data["status"] == "failed", out
    return str(data["run_id"])


def _failed_body(ws: Path, run_id: str) -> dict[str, Any]:
    entries = log_types(ws, run_id)
    failed = [b for s, t, b in entries if t == "step.failed" and s == "pay"]
    assert len(failed) == 1, entries
    return failed[0]


def test_a_deny_from_an_evaluation_error_is_recorded_like_an_allow(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    run_id = _run(ws, {"to": "ada", "amount": "lots"})  # evaluating `cap` fails, and fails closed
    assert not (ws / "calls.txt").exists()  # the connector was never called
    dec = _failed_body(ws, run_id)["dec"]
    assert dec["effect"] == "deny" and dec["by_default"] is False
    assert dec["rules"] == [{"id": "money.cap", "effect": "deny", "file": "policies/test.rules", "line": 3,
                             "column": 1, "reason": "payments above 100 are refused", "errored": True}]
    assert dec["errors"] == [{"id": "money.cap", "effect": "deny", "file": "policies/test.rules", "line": 3,
                              "column": 1, "reason": "payments above 100 are refused",
                              "error": "TypeError: '>' not supported between instances of 'str' and 'int'"}]
    assert dec["policy_hash"] == compile_plan(ws).policies.content_hash
    assert dec["input"]["action"]["connector"] == "pay.send"
    assert dec["input"]["action"]["input"] == {"to": "ada", "amount": "lots"}
    assert dec["input"]["run"]["id"] == run_id


def test_a_plain_deny_is_recorded_with_its_rule(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    run_id = _run(ws, {"to": "ada", "amount": 500})
    body = _failed_body(ws, run_id)
    assert body["dec"]["effect"] == "deny" and body["dec"]["errors"] == []
    assert [r["id"] for r in body["dec"]["rules"]] == ["money.cap"]
    assert body["dec"]["input"]["action"]["input"] == {"to": "ada", "amount": 500}
    code, out = _cli("runs", "show", run_id, "-w", str(ws))
    assert ("    decision: denied by rule money.cap at policies/test.rules:3:1: payments above 100 are refused\n"
            in out), out


def test_runs_show_names_the_rule_whose_evaluation_failed(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    run_id = _run(ws, {"to": "ada", "amount": "lots"})
    code, out = _cli("runs", "show", run_id, "-w", str(ws))
    assert code == 0, out
    assert ("    decision: denied: evaluation error in rule money.cap at policies/test.rules:3:1: "
            "TypeError: '>' not supported between instances of 'str' and 'int'\n") in out, out
    code, out = _cli("runs", "show", run_id, "-w", str(ws), "--json")
    step = json.loads(out)["steps"][0]
    assert step["status"] == "failed" and step["decision"]["effect"] == "deny"


def _git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def test_policy_diff_from_log_replays_denials(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _git(ws, "init", "-q")
    _git(ws, "add", ".")
    _git(ws, "commit", "-qm", "base")
    run_id = _run(ws, {"to": "ada", "amount": "lots"})
    code, out = _cli("policy", "diff", "HEAD", "-w", str(ws), "--from-log", "--json")
    assert code == 0, out
    assert json.loads(out)["inputs"] == 1 and json.loads(out)["flips"] == []
    rules = (ws / "policies" / "test.rules").read_text()  # the cap goes: the denial flips to allow
    (ws / "policies" / "test.rules").write_text(rules.replace(
        'rule cap\n  when action.connector == "pay.send" and action.input.amount > 100\n'
        '  deny "payments above 100 are refused"\n', ""))
    code, out = _cli("policy", "diff", "HEAD", "-w", str(ws), "--from-log", "--json")
    data = json.loads(out)
    assert data["inputs"] == 1, out
    [flip] = data["flips"]
    assert (flip["old"]["effect"], flip["new"]["effect"]) == ("deny", "allow")
    assert flip["source"].startswith("log seq ") and f"run {run_id}, step pay" in flip["source"]


def test_a_denied_record_write_is_recorded_where_an_allowed_one_is(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", """\
  - id: note
    transform: {title: "{{ event.payload.title }}"}
    writes: Note
""", rules='policy notes\n\nrule frozen\n  when action.kind == "record"\n  deny "records are frozen"\n\n'
           'default allow\n', files={"playbooks/schemas.yaml": "kind: schema\nname: Note\nfields:\n  title: str\n"})
    event = ws / "ev.json"
    event.write_text(json.dumps({"type": "go", "id": "ev-1", "payload": {"title": "Hi"}}))
    code, out = _cli("run", "p", "--event", str(event), "-w", str(ws), "--json", "-q")
    run_id = json.loads(out)["run_id"]
    [failed] = [b for s, t, b in log_types(ws, run_id) if t == "step.failed"]
    write = failed["write"]
    assert write["schema"] == "Note" and write["dec"]["effect"] == "deny"
    assert [r["id"] for r in write["dec"]["rules"]] == ["notes.frozen"]
    assert write["dec"]["input"]["record"]["fields"] == {"title": "Hi"}
    code, out = _cli("runs", "show", run_id, "-w", str(ws))
    assert "decision: denied by rule notes.frozen at policies/test.rules:3:1: records are frozen" in out, out
