"""`aios connectors reconcile`: a process dies between a side effect and its result; the target is
asked, the answer recorded, and the run resumed without a second effect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aios.connectors.mail import message_id_for
from aios.connectors.reconcile import RECONCILED
from aios.runtime import log
from aios.runtime.store import Store
from tests.connectors.servers import HttpTarget, SmtpTarget
from tests.connectors.workspace import log_types, write_workspace

CHILD = Path(__file__).parent / "effect_child.py"
SENDER = "studio@northwind.example"


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **extra}
    env.pop("AIOS_ACTOR", None)
    return env


def _child(ws: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHILD), str(ws), *args], capture_output=True, text=True,
                          env=_env(**env), timeout=120)


def aios(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True, text=True,
                          env=_env(), timeout=120)


def _runs(ws: Path) -> list[tuple[str, str]]:
    with Store.open(ws / ".aios") as store:
        return [(r["id"], r["status"]) for r in store.query("SELECT id, status FROM runs ORDER BY created_at")]


def _workspace(tmp_path: Path, http: HttpTarget, smtp: SmtpTarget) -> Path:
    return write_workspace(tmp_path / "ws", f"""\
  - id: note
    connector: files.write
    input: {{path: "{{{{ event.id }}}}.txt", content: noted}}
    idempotency_key: "note-{{{{ event.id }}}}"
  - id: order
    needs: [note]
    connector: http.request
    input: {{url: "{http.url('/orders')}", json: {{sku: A5}}}}
    idempotency_key: "order-{{{{ event.id }}}}"
  - id: mail
    needs: [order]
    connector: email.send
    input: {{to: ada@example.com, subject: "Order {{{{ steps.order.output.body.id }}}}", body: Thanks}}
    idempotency_key: "mail-{{{{ event.id }}}}"
""", connectors={"files.write": {"outbox": "outbox"}, "files.delete": {"outbox": "outbox"},
                 "http.request": {"reconcile_url": http.url("/effects/{key}")},
                 "email.send": {"host": "127.0.0.1", "port": smtp.port, "sender": SENDER}})


def test_effect_happened_before_the_crash(tmp_path: Path, http: HttpTarget, smtp: SmtpTarget) -> None:
    ws = _workspace(tmp_path, http, smtp)
    died = _child(ws, "start", "ev-1", AIOS_TEST_DIE_AFTER="http.request")
    assert died.returncode == -9, died.stderr
    ((run_id, status),) = _runs(ws)
    assert status == "running" and list(http.effects) == ["order-ev-1"]
    # the crash struck before this workspace noted the answer, too: only the target knows
    (ws / ".aios" / "connectors.db").unlink()

    listed = aios(ws, "connectors", "reconcile", "--json")
    assert listed.returncode == 0, listed.stderr
    (answer,) = json.loads(listed.stdout)["answers"]
    assert answer["run"] == run_id and answer["step"] == "order" and answer["key"] == "order-ev-1"
    assert answer["outcome"] == "happened" and answer["out"]["body"]["id"] == 1
    recorded = [(s, b) for s, t, b in log_types(ws, run_id) if t == RECONCILED]
    assert recorded == [("order", {"connector": "http.request", "key": "order-ev-1", "by": "operator",
                                   "outcome": "happened", "detail": answer["detail"], "out": answer["out"]})]

    resumed = aios(ws, "connectors", "reconcile", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"run {run_id} completed" in resumed.stdout
    # the original POST, then one reconcile GET per `reconcile`: the order was not sent again
    assert [r.method for r in http.requests] == ["POST", "GET", "GET"]
    assert len(http.effects) == 1
    assert [m["Subject"] for m in smtp.transmissions] == ["Order 1"]  # the target's answer flowed on
    assert _runs(ws) == [(run_id, "completed")]
    with Store.open(ws / ".aios") as store:
        assert log.verify(store.conn).ok


def test_effect_that_never_happened_is_sent_once_on_resume(tmp_path: Path, http: HttpTarget,
                                                           smtp: SmtpTarget) -> None:
    ws = _workspace(tmp_path, http, smtp)
    died = _child(ws, "start", "ev-2", AIOS_TEST_DIE_BEFORE="http.request")
    assert died.returncode == -9, died.stderr
    ((run_id, _),) = _runs(ws)
    assert http.requests == []
    out = aios(ws, "connectors", "reconcile")
    assert out.returncode == 0, out.stderr
    assert f"{run_id} order  http.request  key order-ev-2\n    not happened: GET " in out.stdout
    assert "aios connectors reconcile --resume" in out.stdout
    again = aios(ws, "connectors", "reconcile", "--resume", "--json")
    assert json.loads(again.stdout)["resumed"] == [{"run_id": run_id, "status": "completed", "error": None}]
    assert [r.method for r in http.sent_with("order-ev-2")] == ["GET", "GET", "POST"]
    assert len(http.effects) == 1 and len(smtp.transmissions) == 1


def test_email_cannot_be_asked_and_is_not_resumed_by_reconcile(tmp_path: Path, http: HttpTarget,
                                                               smtp: SmtpTarget) -> None:
    ws = _workspace(tmp_path, http, smtp)
    died = _child(ws, "start", "ev-3", AIOS_TEST_DIE_AFTER="email.send")
    assert died.returncode == -9, died.stderr
    ((run_id, _),) = _runs(ws)
    out = aios(ws, "connectors", "reconcile", "--resume", "--json")
    (answer,) = json.loads(out.stdout)["answers"]
    assert answer["connector"] == "email.send" and answer["outcome"] is None
    assert "cannot be reconciled" in answer["detail"]
    assert json.loads(out.stdout)["resumed"] == []
    assert [t for _, t, _ in log_types(ws, run_id) if t == RECONCILED] == []  # nothing was asked: nothing recorded
    # an ordinary resume calls again with the same key: the journal (or the mail store) keeps it to one
    done = aios(ws, "runs", "resume", "--all")
    assert done.returncode == 0, done.stderr
    assert len(smtp.transmissions) == 1 and list(smtp.mailbox) == [message_id_for("mail-ev-3", SENDER)]


def test_nothing_to_reconcile_and_live_runs_are_left_alone(tmp_path: Path, http: HttpTarget,
                                                           smtp: SmtpTarget) -> None:
    ws = _workspace(tmp_path, http, smtp)
    ok = _child(ws, "start", "ev-4")
    assert ok.returncode == 0, ok.stderr
    out = aios(ws, "connectors", "reconcile")
    assert out.returncode == 0 and out.stdout.strip() == "nothing to reconcile: no side effect is waiting for its result"


