"""The example workspace's support reply goes to the ticket's sender and tells them only what is
theirs or shared: two tickets from different customers run through the real runtime (CLI, offline
model, Tantivy memory, outbox mail), and no reply holds the other customer's address, words or
ticket; an event without a sender is refused before anything runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from .test_demo import ROOT, _example_copy

ADA = {"from": "ada.lindqvist@fjord.example", "subject": "Invoice charged twice",
       "body": "My card was charged twice for invoice 2026-311. Account FJ-88213, deliver to Kvarngatan 9."}
BO = {"from": "bo.nakamura@cedar.example", "subject": "Invoice charged twice on my card",
      "body": "Hello, invoice 2026-402 was charged twice on my card. Please refund one charge."}


def _aios(ws: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("AIOS_ACTOR", None)
    return subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True, text=True,
                          env=env, input=stdin, timeout=300, cwd=ws)


def _ticket(ws: Path, ticket_id: str, payload: dict[str, str]) -> dict[str, object]:
    event = json.dumps({"type": "support.ticket", "id": ticket_id, "source": "email", "payload": payload})
    proc = _aios(ws, "run", "support-triage", "--event", "-", "--json", stdin=event)
    out = json.loads(proc.stdout)
    if out["status"] == "waiting":  # an urgent ticket: the operator lets the reply go
        proc = _aios(ws, "approve", str(out["approval"]), "--note", "ok", "--json")
        out = json.loads(proc.stdout)
    assert out["status"] == "completed", proc.stdout + proc.stderr
    return out


def _mail(ws: Path) -> dict[str, str]:
    """The outbox: recipient -> the whole message as text (headers and body)."""
    out: dict[str, str] = {}
    for path in (ws / "outbox" / "mail").glob("*.eml"):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        body = msg.get_body()
        out[str(msg["To"])] = f"{msg['Subject']}\n{body.get_content() if body else ''}"
    return out


@pytest.mark.skipif(not (ROOT / "aios.yaml").is_file(), reason="the example workspace is not in this checkout")
def test_replies_go_to_the_sender_and_hold_no_other_customers_data(tmp_path: Path) -> None:
    ws = _example_copy(tmp_path / "example")
    _ticket(ws, "t-ada", ADA)
    _ticket(ws, "t-bo", BO)
    mail = _mail(ws)
    assert set(mail) == {ADA["from"], BO["from"]}, mail.keys()
    ada_words = ("ada.lindqvist", "fjord", "2026-311", "FJ-88213", "Kvarngatan")
    bo_words = ("bo.nakamura", "cedar", "2026-402")
    assert not [w for w in ada_words if w in mail[BO["from"]]], mail[BO["from"]]
    assert not [w for w in bo_words if w in mail[ADA["from"]]], mail[ADA["from"]]
    assert "2026-402" in mail[BO["from"]]  # each reply still answers its own ticket


@pytest.mark.skipif(not (ROOT / "aios.yaml").is_file(), reason="the example workspace is not in this checkout")
def test_a_ticket_without_a_sender_gets_no_reply(tmp_path: Path) -> None:
    ws = _example_copy(tmp_path / "example")
    proc = _aios(ws, "run", "support-triage", "--event", "-", "--json",
                 stdin=json.dumps({"type": "support.ticket", "id": "t-x", "payload": {"subject": 3}}))
    assert proc.returncode != 0
    assert "from" in proc.stdout + proc.stderr
    assert not list((ws / "outbox" / "mail").glob("*.eml")) if (ws / "outbox" / "mail").exists() else True
