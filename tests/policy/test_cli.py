"""`aios policy test | eval | diff` as a user runs them (in-process through click)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from aios.cli.main import cli
from tests.compiler.workspace_copy import copy_example, edit


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "ws")


def git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


@pytest.mark.parametrize("sub", [[], ["test"], ["eval"], ["diff"]])
def test_every_command_has_help(sub: list[str]) -> None:
    code, out = run("policy", *sub, "--help")
    assert code == 0 and "Usage:" in out and len(out.splitlines()) > 4


def test_policy_test_passes_on_the_example(workspace: Path) -> None:
    code, out = run("policy", "test", "-w", str(workspace), "--min-coverage", "100", "--min-clause-coverage", "100")
    assert code == 0, out
    assert "0 failed" in out and "(100.0%)" in out


def test_policy_test_reports_failures_and_low_coverage(workspace: Path) -> None:
    edit(workspace / "policies" / "spending.rules", "total_eur > 2000 EUR", "total_eur > 200 EUR")
    code, out = run("policy", "test", "-w", str(workspace), "--min-coverage", "100")
    assert code == 1
    assert ("policies/spending.test.yaml:6:5: error: case `every supplier order needs a signature`: "
            "expected deciding rules") in out and "[policy-test-failed]" in out
    assert "expected deciding rules [spending.supplier_orders], got [spending.supplier_orders, spending.large_orders]" in out
    assert "input: {" in out


def test_policy_test_min_coverage(workspace: Path) -> None:
    (workspace / "policies" / "messaging.test.yaml").unlink()
    code, out = run("policy", "test", "-w", str(workspace), "--min-coverage", "90")
    assert code == 1 and "not covered: messaging.ticket_replies" in out and "FAILED rule coverage" in out
    code, out = run("policy", "test", "-w", str(workspace), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["failed"] == 0 and data["rule_coverage"] < 100


def test_policy_eval_explains(workspace: Path, tmp_path: Path) -> None:
    ctx = {"action": {"connector": "cms.publish", "input": {"slug": "a", "title": "A", "body": "b"}},
           "now": "2026-11-21T10:00:00+01:00"}
    path = tmp_path / "in.json"
    path.write_text(json.dumps(ctx))
    code, out = run("policy", "eval", "-w", str(workspace), "--input", str(path))
    assert code == 3
    assert "require_approval: Publishing at the weekend needs a human look" in out
    assert "decided by publishing.weekend_publish at policies/publishing.rules:9:1" in out
    code, out = run("policy", "eval", "-w", str(workspace), "--input", str(path), "--json")
    assert json.loads(out)["rules"][0]["id"] == "publishing.weekend_publish"
    path.write_text(json.dumps({"action": {"kind": "nope"}, "now": "2026-01-01T00:00:00Z"}))
    result = CliRunner().invoke(cli, ["policy", "eval", "-w", str(workspace), "--input", str(path)])
    assert result.exit_code == 1 and "action.kind" in result.output


def test_policy_diff_lists_flips_grouped_by_rule(workspace: Path, tmp_path: Path) -> None:
    git(workspace, "init", "-q")
    git(workspace, "add", ".")
    git(workspace, "commit", "-qm", "base")
    edit(workspace / "policies" / "publishing.rules",
         'require approval "Publishing at the weekend needs a human look" by "operator" timeout 2d',
         'deny "No publishing at weekends"')
    inputs = tmp_path / "decisions.jsonl"
    lines = [
        {"action": {"connector": "cms.publish", "input": {"slug": "a", "title": "A", "body": "b"}},
         "now": f"2026-11-{day}T10:00:00+01:00"} for day in (20, 21, 22, 23)
    ]
    inputs.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    code, out = run("policy", "diff", "HEAD", "-w", str(workspace), "--inputs", str(inputs), "--exit-code")
    assert code == 1
    assert "rules changed: publishing.weekend_publish" in out
    assert "2 of 4 decisions flip" in out
    assert "publishing.weekend_publish (policies/publishing.rules:9:1): 2" in out
    assert f"require_approval -> deny  {inputs}:2" in out
    code, out = run("policy", "diff", "HEAD", "-w", str(workspace), "--json")  # replays the test cases
    data = json.loads(out)
    assert data["inputs"] == 32 and [f["source"].split()[0] for f in data["flips"]] == [
        "policies/publishing.test.yaml:14:5"]
    code, out = run("policy", "diff", "no-such-rev", "-w", str(workspace))
    assert code == 2


def test_policy_diff_replays_the_decisions_recorded_in_the_log(workspace: Path) -> None:
    """Decisions the runtime made are recorded with their input; `--from-log` replays them."""
    git(workspace, "init", "-q")
    git(workspace, "add", ".")
    git(workspace, "commit", "-qm", "base")
    code, out = run("run", "support-triage", "--event", str(workspace / "events" / "ticket.json"),
                    "--workspace", str(workspace))
    assert code in (0, 3), out  # completed, or waiting at the escalation gate
    code, out = run("policy", "diff", "HEAD", "-w", str(workspace), "--from-log", "--json")
    assert code == 0, out
    unchanged = json.loads(out)
    assert unchanged["inputs"] >= 3 and unchanged["flips"] == []
    with (workspace / "policies" / "spending.rules").open("a") as fh:
        fh.write('\nrule models_off\n  when action.kind == "model"\n  deny "models are paused"\n')
    code, out = run("policy", "diff", "HEAD", "-w", str(workspace), "--from-log", "--json")
    data = json.loads(out)
    assert data["inputs"] == unchanged["inputs"]
    flipped = [f for f in data["flips"] if f["new"]["effect"] == "deny"]
    assert len(flipped) == 2  # the two agent steps before the gate: classify and reply
    assert all(f["source"].startswith("log seq ") and "run run_" in f["source"] for f in flipped)


def test_a_case_input_off_the_contract_fails_validate_and_policy_test(workspace: Path) -> None:
    edit(workspace / "policies" / "messaging.test.yaml", 'subject: "Re: Invoice"', 'subjct: "Re: Invoice"')
    code, out = run("validate", str(workspace), "--no-color")
    assert code == 1, out
    assert "policies/messaging.test.yaml:8:74: error:" in out and "[policy-test-input]" in out
    assert "`subject`" in out
    code, out = run("policy", "test", "-w", str(workspace))
    assert code == 1 and "policies/messaging.test.yaml:8:74" in out and "policy-test-input" in out
