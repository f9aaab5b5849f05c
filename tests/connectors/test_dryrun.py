"""`aios run … --dry-run`: previews instead of side effects, nothing recorded, nothing sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from aios.connectors.dryrun import dry_run
from tests.compiler.workspace_copy import copy_example
from tests.connectors.servers import HttpTarget, SmtpTarget
from tests.connectors.workspace import compile_plan, write_workspace


def aios(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True, text=True,
                          env=env, timeout=120)


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".aios" not in p.parts
            and "__pycache__" not in p.parts}


def test_example_stock_replenishment_dry_run(tmp_path: Path) -> None:
    ws = copy_example(tmp_path / "ws")
    before = _files(ws)
    proc = aios(ws, "run", "stock-replenishment", "--event", str(ws / "events" / "low-stock.json"), "--dry-run",
                "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["dry_run"] and report["status"] == "completed"
    assert [(e["step"], e["connector"]) for e in report["effects"]] == [
        ("place_order", "supplier.order"), ("record_incoming", "sqlite.upsert"), ("notify", "email.send")]
    mail = report["effects"][2]["preview"]
    assert mail["target"] == "outbox/mail/ (no server) → orders@paperworks.example"
    assert mail["payload"]["subject"].startswith("Order PO-")  # the supplier preview's order ref flowed on
    assert [a["rule"] for a in report["approvals"]] == ["spending.supplier_orders"]
    assert _files(ws) == before  # no order file, no inventory database, no queue file
    assert not (ws / ".aios" / "state.db").exists()  # no run was recorded


def test_example_dry_run_text_says_what_would_go_where(tmp_path: Path) -> None:
    ws = copy_example(tmp_path / "ws")
    proc = aios(ws, "run", "support-triage", "--event", str(ws / "events" / "ticket.json"), "--dry-run", "-q")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("dry run of support-triage on support.ticket: nothing was sent, written or recorded")
    assert "answer: email.send → outbox/mail/ (no server) → " in out and "would send `Re: " in out
    assert "idempotency key answer-supportticket-" in out


def _report(root: Path, payload: Any) -> Any:
    return dry_run(compile_plan(root), root, "p", {"type": "go", "id": "ev-1", "payload": payload})


def test_dry_run_against_real_targets_sends_nothing(tmp_path: Path, http: HttpTarget, smtp: SmtpTarget) -> None:
    ws = write_workspace(tmp_path / "ws", f"""\
  - id: fetch
    connector: http.request
    input: {{url: "{http.url('/orders')}", json: {{n: 1}}}}
    idempotency_key: "fetch-{{{{ event.id }}}}"
  - id: tell
    needs: [fetch]
    map:
      over: event.payload.people
      as: person
      do:
        connector: email.send
        input: {{to: "{{{{ person }}}}", subject: "Status {{{{ steps.fetch.output.status }}}}", body: hi}}
        idempotency_key: "tell-{{{{ event.id }}}}"
""", connectors={"email.send": {"host": "127.0.0.1", "port": smtp.port, "sender": "s@n.example"},
                 "http.request": {"bearer_secret": "api"}}, secrets={"api": "CONNECTOR_TEST_API"})
    report = _report(ws, {"people": ["a@x.example", "b@x.example"]})
    assert report.ok, report.error
    assert http.requests == [] and smtp.transmissions == [] and smtp.rcpt_attempts == []
    assert [(e.step_id, e.item, e.connector) for e in report.effects] == [
        ("fetch", None, "http.request"), ("tell", 0, "email.send"), ("tell", 1, "email.send")]
    assert report.effects[0].preview is not None
    assert report.effects[0].preview.payload["headers"]["Authorization"] == "***"
    assert report.effects[2].key == "tell-ev-1#1"
    assert not (ws / ".aios").exists()


def test_a_failing_step_shows_where_the_run_would_fail_and_what_it_would_undo(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", """\
  - id: note
    connector: files.write
    input: {path: ok.txt, content: fine}
    idempotency_key: "note-{{ event.id }}"
  - id: escape
    needs: [note]
    connector: files.write
    input: {path: ../../x.txt, content: nope}
    idempotency_key: "escape-{{ event.id }}"
""", connectors={"files.write": {"outbox": "outbox"}, "files.delete": {"outbox": "outbox"}})
    report = _report(ws, {})
    assert report.status == "failed" and report.failed_step == "escape" and "outside" in (report.error or "")
    kinds = [(e.step_id, e.connector, e.compensation, e.error is not None) for e in report.effects]
    assert kinds == [("note", "files.write", False, False), ("escape", "files.write", False, True),
                     ("note", "files.delete", True, False)]
    assert not (ws / "outbox").exists()


def test_policy_denial_is_reported_as_the_failure(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", """\
  - id: note
    connector: files.write
    input: {path: ok.txt, content: fine}
    idempotency_key: "note-{{ event.id }}"
""", rules='policy p\n\nrule no_files\n  when action.connector == "files.write"\n  deny "not today"\n')
    proc = subprocess.run([sys.executable, "-m", "aios", "run", "p", "--event", "-", "--dry-run", "-q", "-w", str(ws)],
                          input=json.dumps({"type": "go", "payload": {}}), capture_output=True, text=True,
                          timeout=120, env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert proc.returncode == 1, proc.stderr
    assert "would fail at step `note`: denied by policy rule `p.no_files`: not today" in proc.stdout
