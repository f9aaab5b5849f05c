"""The runtime commands, run as separate processes: the approval flow across processes, the trace,
records, alerts, log verification, and help text for every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aios.cli.main import COMMANDS, cli

from .workspace import write_workspace

RUNTIME_COMMANDS = ["run", "runs", "approvals", "approve", "reject", "alerts", "records", "log"]


def aios(ws: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("AIOS_ACTOR", None)
    return subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True, text=True,
                          env=env, input=stdin, timeout=120)


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws")


def test_approval_across_processes(ws: Path) -> None:
    started = aios(ws, "run", "flow", "--event", str(ws / "event.json"), "--json")
    assert started.returncode == 3, started.stderr  # waiting; the process has exited
    out = _json(started)
    assert out["status"] == "waiting" and out["approval"]
    run_id, approval_id = out["run_id"], out["approval"]

    pending = _json(aios(ws, "approvals", "list", "--json"))
    assert [a["id"] for a in pending] == [approval_id]
    assert pending[0]["message"] == "File the note 'Quarterly note'?" and pending[0]["approvers"] == ["boss"]
    assert _json(aios(ws, "runs", "list", "--json"))[0]["status"] == "waiting"

    wrong = aios(ws, "approve", approval_id, "--as", "intern")
    assert wrong.returncode == 1 and "may not decide" in wrong.stderr

    done = aios(ws, "approve", approval_id, "--note", "ship it", "--as", "boss", "--json")
    assert done.returncode == 0, done.stderr
    assert _json(done)["status"] == "completed"
    files = list((ws / "outbox").glob("*.md"))
    assert len(files) == 1 and files[0].read_text() == "All is well."

    trace = _json(aios(ws, "runs", "show", run_id, "--json"))
    check = next(s for s in trace["steps"] if s["step_id"] == "check")
    decided = [a for a in check["approvals"] if "decision" in a]
    assert decided == [{"approval": approval_id, "decision": "approved", "by": "boss", "at": decided[0]["at"],
                        "note": "ship it"}]
    file_step = next(s for s in trace["steps"] if s["step_id"] == "file")
    assert file_step["decision"]["effect"] == "allow" and file_step["decision"]["rule"] == "local.outbox"
    assert file_step["key"].startswith("file-note-")

    text = aios(ws, "runs", "show", run_id)
    assert text.returncode == 0
    assert "approved by boss" in text.stdout and "decision: allow by rule local.outbox" in text.stdout
    assert "record: Note" in text.stdout

    verify = aios(ws, "log", "verify")
    assert verify.returncode == 0 and verify.stdout.startswith("log verified:")


def test_reject_from_another_process(ws: Path) -> None:
    out = _json(aios(ws, "run", "flow", "--event", str(ws / "event.json"), "--json"))
    rejected = aios(ws, "reject", out["approval"], "--note", "not this quarter", "--as", "boss", "--json")
    assert rejected.returncode == 0  # the rejection did what was asked
    assert _json(rejected)["status"] == "rejected"
    assert not (ws / "outbox").exists()
    shown = aios(ws, "runs", "show", out["run_id"])
    assert "rejected by boss at" in shown.stdout and "not this quarter" in shown.stdout


def test_event_from_stdin_and_records_commands(ws: Path) -> None:
    event = json.dumps({"title": "From stdin", "body": "Piped."})  # a bare payload
    out = _json(aios(ws, "run", "flow", "--event", "-", "--json", stdin=event))
    assert out["status"] == "waiting"
    listing = _json(aios(ws, "records", "list", "Note", "--json"))
    assert len(listing) == 1 and listing[0]["data"]["title"] == "From stdin"
    assert listing[0]["run_id"] == out["run_id"] and listing[0]["step_id"] == "write"
    rid = listing[0]["id"]
    shown = aios(ws, "records", "show", "Note", rid, "--history")
    assert shown.returncode == 0 and f"Note {rid} v1" in shown.stdout and "From stdin" in shown.stdout
    assert aios(ws, "records", "show", "Note", "nope").returncode == 1
    assert _json(aios(ws, "records", "list", "--json")) == {"Note": 1}


def test_cancel_and_alerts(ws: Path) -> None:
    out = _json(aios(ws, "run", "flow", "--event", str(ws / "event.json"), "--json"))
    cancelled = aios(ws, "runs", "cancel", out["run_id"], "--note", "duplicate")
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    assert _json(aios(ws, "approvals", "list", "--json")) == []
    assert aios(ws, "alerts").stdout.strip() == "no alerts"


def test_resume_and_alert_ack_are_logged_with_the_workspace_actor(ws: Path) -> None:
    from aios.compiler import compile_workspace
    from aios.runtime import alerts, log
    from aios.runtime.interpreter import Runtime
    from aios.runtime.store import Store

    yaml = ws / "aios.yaml"
    yaml.write_text(yaml.read_text().replace("actor: operator", "actor: night-shift"))
    plan = compile_workspace(ws).plan
    assert plan is not None
    with Runtime(plan, ws) as rt:  # admitted and never executed: what a crash leaves behind
        run_id = rt.admit("flow", {"type": "note.requested", "id": "ev-resume",
                                   "payload": {"title": "T", "body": "B"}})
        with rt.store.transaction() as conn:
            alert_id = alerts.raise_alert(conn, run_id=run_id, step_id=None, severity=alerts.Severity.WARNING,
                                          message="look at this", at=log.now_iso())
    resumed = aios(ws, "runs", "resume", run_id, "--note", "after the outage", "--json")
    assert resumed.returncode == 3, resumed.stderr  # it ran on until its approval
    trace = _json(aios(ws, "runs", "show", run_id, "--json"))
    entries = [e for e in trace["run_entries"] if e["type"] == "run.resumed"]
    assert [(e["by"], e["note"], e["pre"]) for e in entries] == [("night-shift", "after the outage", "admitted")]
    assert "resumed by night-shift at" in aios(ws, "runs", "show", run_id).stdout
    assert aios(ws, "runs", "resume", "--all").returncode == 0  # recovery: no operator, nothing logged
    store = Store.open(ws / ".aios")
    try:
        count = store.conn.execute("SELECT count(*) FROM log WHERE type = 'run.resumed'").fetchone()[0]
    finally:
        store.close()
    assert count == 1

    acked = aios(ws, "alerts", "--ack", str(alert_id), "--all", "--json")
    assert acked.returncode == 0, acked.stderr
    (alert,) = _json(acked)
    assert alert["acknowledged_by"] == "night-shift" and alert["acknowledged_at"]
    assert "by night-shift" in aios(ws, "alerts", "--all").stdout


def test_user_errors_are_messages_not_tracebacks(ws: Path) -> None:
    bad = aios(ws, "run", "flw", "--event", str(ws / "event.json"))
    assert bad.returncode == 2 and "did you mean `flow`" in bad.stderr and "Traceback" not in bad.stderr
    (ws / "broken.json").write_text("{nope")
    broken = aios(ws, "run", "flow", "--event", str(ws / "broken.json"))
    assert broken.returncode == 1 and "not JSON" in broken.stderr and "Traceback" not in broken.stderr
    missing = aios(ws, "runs", "show", "run_nope")
    assert missing.returncode == 1 and "no run" in missing.stderr
    assert aios(ws, "approve", "apv_nope").returncode == 1


def test_runtime_commands_are_registered_with_help() -> None:
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0
    for name in RUNTIME_COMMANDS:
        assert name in COMMANDS and name in top.output
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and len(result.output.splitlines()) > 3, name
    for group, subs in {"runs": ["list", "show", "resume", "cancel", "rerun"], "approvals": ["list"],
                        "records": ["list", "show"], "log": ["verify"]}.items():
        for sub in subs:
            result = runner.invoke(cli, [group, sub, "--help"])
            assert result.exit_code == 0 and "Usage:" in result.output, (group, sub)
