"""`aios serve` killed (SIGKILL) between enqueueing a notification and sending it, or after the
target accepted it but before the outbox noted it: after a restart each channel has exactly one
delivery. The fault is injected with ``AIOS_NOTIFY_FAULT`` (see `aios.notify.sender`): the sender
kills its own process at that point, so the kill lands exactly there, with no timing involved."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from aios.notify.sender import FAULT_ENV
from tests.connectors.servers import HttpTarget, SmtpTarget
from tests.live.liveserver import ServerProcess
from tests.waiting import wait_until

from .conftest import all_bytes
from .workspace import HOOK_SECRET, INTAKE_SECRET, write_workspace

pytestmark = pytest.mark.usefixtures("secrets_env")


def _statuses(ws: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(ws / ".aios" / "state.db")
    try:
        return sorted(conn.execute("SELECT event, channel, status FROM notifications").fetchall())
    finally:
        conn.close()


def _request_approval(server: ServerProcess) -> None:
    from aios.live.webhooks import signed_headers

    body = json.dumps({"id": "evt-crash", "payload": {"title": "crash"}}).encode()
    resp = httpx.post(f"{server.url}/hooks/intake", content=body, headers=signed_headers(INTAKE_SECRET, body))
    assert resp.status_code == 202, resp.text


def _wait_for(check: Any, what: str, timeout: float = 60.0) -> None:
    wait_until(check, timeout, what)


@pytest.mark.parametrize("channel", ["ops-mail", "ops-hook"])
@pytest.mark.parametrize("fault", ["kill-before-send", "kill-after-send"])
def test_sigkill_around_the_send_then_restart_delivers_exactly_once(
        fault: str, channel: str, tmp_path: Path, smtp: SmtpTarget, http: HttpTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = write_workspace(tmp_path / "ws", smtp_port=smtp.port, hook_url=http.url("/notify"))
    monkeypatch.setenv(FAULT_ENV, f"{fault}:{channel}")
    server = ServerProcess(ws).start()
    try:
        _request_approval(server)
        assert server.proc is not None
        server.proc.wait(timeout=60)  # the sender kills its process at the fault point
        assert server.proc.returncode == -signal.SIGKILL, server.output()
    finally:
        server.kill()
    assert ("approval.requested", channel, "sending") in _statuses(ws)
    delivered = len(smtp.transmissions) if channel == "ops-mail" else len(http.requests)
    assert delivered == (0 if fault == "kill-before-send" else 1)  # the kill landed where it should

    monkeypatch.delenv(FAULT_ENV)
    with ServerProcess(ws) as again:
        _wait_for(lambda: len(smtp.transmissions) >= 1 and len(http.requests) >= 1, "both deliveries")
        _wait_for(lambda: all(s == "sent" for e, _, s in _statuses(ws) if e == "approval.requested"),
                  "the outbox to note both")
        again.wait_for("listening")
    assert len(smtp.transmissions) == 1, [m["Message-ID"] for m in smtp.transmissions]
    assert len(http.requests) == 1
    assert http.requests[0].body["event"] == "approval.requested"
    assert HOOK_SECRET.encode() not in all_bytes(ws)
    assert HOOK_SECRET not in json.dumps(http.requests[0].body)
