"""An idempotency key reused with a different input is an `idempotency-conflict`, never a success;
reused with the same input it is a truthful dedupe ("deduplicated (sent by run X)"), for every
built-in connector, through the real interpreter and real targets (outbox folders, a SQLite
database, an HTTP server on 127.0.0.1), and through `aios runs rerun` in a separate process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aios.runtime.interpreter import Runtime
from aios.runtime.runstate import RunStatus
from aios.runtime.store import Store
from aios.runtime.trace import format_trace, load_trace
from tests.connectors.servers import HttpTarget

from .workspace import compile_plan, write_workspace

REMINDER = """\
  - id: note
    transform: {n: "{{ event.payload.n }}"}
  - id: send
    needs: [note]
    connector: email.send
    input:
      to: ada@example.com
      subject: "SUBJECT"
      body: "Your order {{ event.payload.n }} ships tomorrow."
    idempotency_key: "reminder-{{ event.id }}"
"""


def _aios(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True, text=True,
                          env=env, timeout=120)


def _reminder_ws(root: Path, subject: str) -> Path:
    return write_workspace(root, REMINDER.replace("SUBJECT", subject),
                           connectors={"email.send": {"sender": "shop@example.com", "outbox": "outbox/mail"}})


def _outbox(ws: Path) -> list[str]:
    return sorted(p.read_text() for p in (ws / "outbox" / "mail").glob("*.eml"))


def test_rerun_with_a_changed_subject_fails_with_a_conflict_naming_the_first_run(tmp_path: Path) -> None:
    ws = _reminder_ws(tmp_path / "ws", "Reminder")
    (ws / "event.json").write_text(json.dumps({"type": "go", "id": "ev-7", "payload": {"n": 7}}))
    first = _aios(ws, "run", "p", "--event", str(ws / "event.json"), "--json")
    assert first.returncode == 0, first.stderr
    run_1 = json.loads(first.stdout)["run_id"]
    assert len(_outbox(ws)) == 1 and "Subject: Reminder" in _outbox(ws)[0]

    _reminder_ws(ws, "Your parcel is on its way")  # the operator edits the subject template
    again = _aios(ws, "runs", "rerun", run_1, "--from", "send", "--json")
    assert again.returncode == 1, again.stdout + again.stderr
    out = json.loads(again.stdout)
    assert out["status"] == "failed" and out["failed_step"] == "send"
    assert "idempotency-conflict" in out["error"] and run_1 in out["error"] and "subject" in out["error"]

    mail = _outbox(ws)
    assert len(mail) == 1 and "Subject: Reminder" in mail[0]  # nothing new was sent, and nothing says so

    shown = _aios(ws, "runs", "show", out["run_id"])
    assert "send  [failed]" in shown.stdout and "idempotency-conflict" in shown.stdout, shown.stdout
    assert "send  [completed]" not in shown.stdout


def test_rerun_with_the_same_input_is_a_dedupe_the_trace_names(tmp_path: Path) -> None:
    ws = _reminder_ws(tmp_path / "ws", "Reminder")
    (ws / "event.json").write_text(json.dumps({"type": "go", "id": "ev-8", "payload": {"n": 8}}))
    run_1 = json.loads(_aios(ws, "run", "p", "--event", str(ws / "event.json"), "--json").stdout)["run_id"]
    again = _aios(ws, "runs", "rerun", run_1, "--from", "send", "--json")
    assert again.returncode == 0, again.stderr
    run_2 = json.loads(again.stdout)["run_id"]
    assert len(_outbox(ws)) == 1
    shown = _aios(ws, "runs", "show", run_2).stdout
    assert "send  [completed]" in shown and f"(deduplicated (sent by run {run_1}))" in shown, shown
    with Store.open(ws / ".aios") as store:
        body = json.loads(store.query("SELECT body FROM log WHERE run_id = ? AND step_id = 'send' "
                                      "AND type = 'step.completed'", (run_2,))[0][0])
    assert body["dedup"]["run"] == run_1 and body["out"]["message_id"]


# -- every built-in connector, the same way --------------------------------------------------------------


def _case(name: str, ws: Path, http: HttpTarget) -> tuple[str, dict[str, Any], Any]:
    """(step YAML, connector settings, a probe of the target's state) for one built-in connector.
    The input depends on ``event.payload.v``; the key does not."""
    if name == "email.send":
        step = ("connector: email.send\n    input: {to: ada@example.com, subject: hi, body: \"{{ event.payload.v }}\"}")
        return step, {"email.send": {"sender": "s@example.com", "outbox": "outbox/mail"}}, lambda: _outbox(ws)
    if name == "files.write":
        step = "connector: files.write\n    input: {path: a.txt, content: \"{{ event.payload.v }}\"}"
        return step, {"files.write": {"outbox": "outbox"}}, lambda: (ws / "outbox" / "a.txt").read_text()
    if name == "cms.publish":
        step = "connector: cms.publish\n    input: {slug: a, title: A, body: \"{{ event.payload.v }}\"}"
        return step, {"cms.publish": {"site_dir": "site"}}, lambda: sorted(
            p.read_text() for p in (ws / "site").rglob("*.md"))
    if name == "sqlite.upsert":
        step = ("connector: sqlite.upsert\n    input: {table: stock, key: a, row: {qty: \"{{ event.payload.v }}\"}}")

        def rows() -> Any:
            with sqlite3.connect(ws / "shop.db") as conn:
                return conn.execute("SELECT * FROM stock").fetchall()

        return step, {"sqlite.upsert": {"database": "shop.db"}}, rows
    assert name == "http.request"
    step = ("connector: http.request\n    input: {url: \"" + http.url("/orders") + "\", json: {v: \"{{ event.payload.v }}\"}}")
    return step, {}, lambda: [r.body for r in http.requests]


@pytest.mark.parametrize("name", ["email.send", "files.write", "cms.publish", "sqlite.upsert", "http.request"])
def test_every_builtin_connector_refuses_a_key_reused_with_another_input(name: str, tmp_path: Path,
                                                                         http: HttpTarget) -> None:
    ws = tmp_path / "ws"
    step, settings, probe = _case(name, ws, http)
    write_workspace(ws, f"  - id: act\n    {step}\n    idempotency_key: \"fixed-key\"\n", connectors=settings)
    plan = compile_plan(ws)
    with Runtime(plan, ws, sleep=lambda s: None) as rt:
        first = rt.start("p", {"type": "go", "id": "e1", "payload": {"v": "one"}})
        assert first.status is RunStatus.COMPLETED, first.error
        before = probe()
        same = rt.start("p", {"type": "go", "id": "e2", "payload": {"v": "one"}})
        assert same.status is RunStatus.COMPLETED, same.error
        other = rt.start("p", {"type": "go", "id": "e3", "payload": {"v": "two"}})
        assert other.status is RunStatus.FAILED
        assert other.error is not None and "idempotency-conflict" in other.error and first.run_id in other.error
        assert probe() == before  # the target saw one effect only
        text = format_trace(load_trace(rt.store.conn, same.run_id))
        assert f"deduplicated (sent by run {first.run_id})" in text
        failed = format_trace(load_trace(rt.store.conn, other.run_id))
        assert "act  [failed]" in failed and "idempotency-conflict" in failed


def test_map_items_claim_their_keys_too(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", """\
  - id: each
    map:
      over: event.payload['items']
      as: it
      do:
        connector: files.write
        input: {path: "{{ it.name }}.txt", content: "{{ it.text }}"}
        idempotency_key: "note-{{ it.name }}"
""", connectors={"files.write": {"outbox": "outbox"}})
    with Runtime(compile_plan(ws), ws, sleep=lambda s: None) as rt:
        first = rt.start("p", {"type": "go", "id": "m1", "payload": {"items": [{"name": "a", "text": "x"}]}})
        assert first.status is RunStatus.COMPLETED, first.error
        other = rt.start("p", {"type": "go", "id": "m2", "payload": {"items": [{"name": "a", "text": "y"}]}})
        assert other.status is RunStatus.FAILED and "idempotency-conflict" in (other.error or "")
    assert (ws / "outbox" / "a.txt").read_text() == "x"
