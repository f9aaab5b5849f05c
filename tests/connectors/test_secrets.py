"""Canary secrets: values from the environment reach the targets (the SMTP login, the HTTP headers)
and nothing else: not the log, the records, the effect journal, the index, or any CLI output, even
when a target echoes a token back in a response or an error."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connectors.servers import HttpTarget, SmtpTarget, smtp_target
from tests.connectors.workspace import write_workspace

SMTP_PW = "canarysmtp7f3a9e41"
API_TOKEN = "canaryapib81c44d2"
CANARIES = (SMTP_PW, API_TOKEN)
SENDER = "studio@northwind.example"


@pytest.fixture
def smtp_auth() -> Iterator[SmtpTarget]:
    yield from smtp_target(password=SMTP_PW)


def _env() -> dict[str, str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "AIOS_TEST_SMTP_PW": SMTP_PW,
           "AIOS_TEST_API_TOKEN": API_TOKEN}
    env.pop("AIOS_ACTOR", None)
    return env


def _ws(tmp_path: Path, http: HttpTarget, smtp: SmtpTarget) -> Path:
    return write_workspace(tmp_path / "ws", f"""\
  - id: note
    transform: {{title: "{{{{ event.payload.title }}}}", body: "{{{{ event.payload.body }}}}"}}
    output: Note
    writes: Note
  - id: order
    needs: [note]
    connector: http.request
    input: {{url: "{http.url('')}{{{{ event.payload.path }}}}", json: {{title: "{{{{ records.Note.title }}}}"}}}}
    idempotency_key: "order-{{{{ event.id }}}}"
    on_failure: {{retry: {{max: 0}}}}
  - id: echo
    needs: [order]
    connector: http.request
    input: {{url: "{http.url('/echo')}"}}
    idempotency_key: "echo-{{{{ event.id }}}}"
  - id: mail
    needs: [echo]
    connector: email.send
    input: {{to: ada@example.com, subject: "{{{{ records.Note.title }}}}", body: "{{{{ records.Note.body }}}}"}}
    idempotency_key: "mail-{{{{ event.id }}}}"
""", secrets={"smtp_password": "AIOS_TEST_SMTP_PW", "api_token": "AIOS_TEST_API_TOKEN"},
        connectors={"email.send": {"host": "127.0.0.1", "port": smtp.port, "sender": SENDER,
                                   "password_secret": "smtp_password"},
                    "http.request": {"bearer_secret": "api_token", "header_secrets": {"X-Api-Key": "api_token"}}},
        files={"playbooks/schema.yaml": "kind: schema\nname: Note\nfields:\n  title: str\n  body: str\n"})


def test_canary_secrets_reach_the_targets_and_nothing_else(tmp_path: Path, http: HttpTarget,
                                                           smtp_auth: SmtpTarget) -> None:
    ws = _ws(tmp_path, http, smtp_auth)
    (ws / "ok.json").write_text('{"type": "go", "id": "ev-ok", "payload": {"title": "Hello", "body": "Hi", '
                                '"path": "/orders"}}')
    (ws / "bad.json").write_text('{"type": "go", "id": "ev-bad", "payload": {"title": "Nope", "body": "x", '
                                 '"path": "/denied"}}')
    http.fail("/denied", 401, body=f"invalid token Bearer {API_TOKEN} for this account")
    outputs: list[str] = []

    def aios(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True, text=True,
                              env=_env(), timeout=120)
        outputs.extend([proc.stdout, proc.stderr])
        return proc

    ok = aios("run", "p", "--event", str(ws / "ok.json"))
    assert ok.returncode == 0, ok.stderr
    bad = aios("run", "p", "--event", str(ws / "bad.json"))
    assert bad.returncode == 1 and "HTTP 401 invalid token Bearer *** for this account" in bad.stdout
    for args in (("runs", "list"), ("runs", "list", "--json"), ("records", "list", "Note"), ("alerts",),
                 ("connectors", "reconcile"), ("connectors", "list"), ("log", "verify"),
                 ("run", "p", "--event", str(ws / "ok.json"), "--dry-run"),
                 ("run", "p", "--event", str(ws / "ok.json"), "--dry-run", "--json"),
                 ("memory", "reindex"), ("memory", "search", "Hello", "--json"),
                 ("memory", "search", SMTP_PW, "--json"), ("memory", "search", API_TOKEN, "--json")):
        aios(*args)
    for run_line in aios("runs", "list", "--json").stdout.split('"id": "')[1:]:
        run_id = run_line.split('"')[0]
        aios("runs", "show", run_id, "--full")
        aios("runs", "show", run_id, "--json")

    # the secrets were used where they belong
    echoed = [r for r in http.requests if r.path == "/orders"]
    assert echoed and echoed[0].headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert echoed[0].headers["X-Api-Key"] == API_TOKEN
    assert smtp_auth.logins == [(SENDER, SMTP_PW)] and len(smtp_auth.transmissions) == 1
    # ... and nowhere else
    leaks = [i for i, text in enumerate(outputs) if any(c in text for c in CANARIES)]
    assert leaks == [], [outputs[i] for i in leaks]
    stored = [p for p in ws.rglob("*") if p.is_file()]
    assert any(p.name == "state.db" for p in stored) and any("index" in p.parts for p in stored)
    for path in stored:
        if path.name in ("aios.yaml",) or path.suffix == ".json" and path.parent == ws:
            continue
        data = path.read_bytes()
        for canary in CANARIES:
            assert canary.encode() not in data, f"{canary} in {path.relative_to(ws)}"
    shown = "".join(outputs)
    assert '"Authorization": "Bearer ***"' in shown or "Bearer ***" in shown  # the echo was masked, not dropped
