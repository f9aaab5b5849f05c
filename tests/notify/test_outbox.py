"""Notifications in-process: enqueued with the event, sent once through a real SMTP server and a real
HTTP receiver on 127.0.0.1, signed, and never carrying the signing secret."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aios.compiler import compile_workspace
from aios.live.webhooks import sign_v1
from aios.notify import outbox
from aios.notify.sender import Sender
from aios.runtime.interpreter import Runtime
from aios.runtime.runstate import RunStatus
from tests.connectors.servers import HttpTarget, SmtpTarget

from .conftest import all_bytes
from .workspace import HOOK_SECRET, write_workspace

pytestmark = pytest.mark.usefixtures("secrets_env")


def _runtime(ws: Path) -> Runtime:
    result = compile_workspace(ws)
    assert result.plan is not None, [d.message for d in result.diagnostics]
    return Runtime(result.plan, ws)


def _ask(rt: Runtime, title: str = "hello") -> str:
    out = rt.start("notes", {"type": "webhook.intake", "id": f"evt-{title}", "payload": {"title": title}})
    assert out.status is RunStatus.WAITING and out.approval is not None
    return out.approval.id


def test_one_email_and_one_signed_webhook_per_approval(tmp_path: Path, smtp: SmtpTarget, http: HttpTarget) -> None:
    ws = write_workspace(tmp_path / "ws", smtp_port=smtp.port, hook_url=http.url("/notify"))
    rt = _runtime(ws)
    approval = _ask(rt)
    queued = outbox.listing(rt.store.conn)
    # requested (mail + hook) and the reminder (mail), enqueued in the transaction that paused the run
    assert sorted((n.event.value, n.channel) for n in queued) == [
        ("approval.reminder", "ops-mail"), ("approval.requested", "ops-hook"), ("approval.requested", "ops-mail")]
    sender = Sender(rt)
    report = sender.flush()
    assert len(report.sent) == 2 and not report.failed
    assert sender.flush().sent == []  # nothing is sent twice
    assert len(smtp.transmissions) == 1
    mail = smtp.transmissions[0]
    assert mail["To"] == "ops@notify.test" and "Approval needed: notes / check" in str(mail["Subject"])
    assert f"/approvals/{approval}?t=" in mail.get_payload(decode=True).decode()
    assert len(http.requests) == 1
    req = http.requests[0]
    body = json.dumps(req.body, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {k.lower(): v for k, v in req.headers.items()}
    assert headers["x-aios-signature"] == sign_v1(HOOK_SECRET, body, int(headers["x-aios-timestamp"]),
                                                  delivery=headers["x-aios-delivery"],
                                                  event=headers["x-aios-event"])
    assert req.body["event"] == "approval.requested" and req.body["approval"] == approval
    assert req.body["title"] and "File the note 'hello'?" in req.body["text"]
    assert req.body["url"].startswith("http://127.0.0.1:8787/approvals/")
    assert HOOK_SECRET.encode() not in all_bytes(ws)
    assert all(HOOK_SECRET not in json.dumps(r.body) for r in http.requests)


def test_a_replayed_event_enqueues_nothing_new(tmp_path: Path, smtp: SmtpTarget, http: HttpTarget) -> None:
    ws = write_workspace(tmp_path / "ws", smtp_port=smtp.port, hook_url=http.url("/notify"))
    rt = _runtime(ws)
    approval = _ask(rt)
    settings = rt.plan.settings.notify
    assert settings is not None
    from aios.plan.notify import NotifyEvent

    with rt.store.transaction() as conn:
        ids = outbox.enqueue(conn, settings, NotifyEvent.APPROVAL_REQUESTED, approval, title="again", text="again",
                             data={}, at="2030-01-01T00:00:00.000Z")
    assert len(ids) == 2
    assert len(outbox.listing(rt.store.conn)) == 3
    assert {n.title for n in outbox.listing(rt.store.conn)} != {"again"}


def test_reminder_is_due_before_the_timeout_and_skipped_once_decided(tmp_path: Path, smtp: SmtpTarget,
                                                                     http: HttpTarget) -> None:
    ws = write_workspace(tmp_path / "ws", smtp_port=smtp.port, hook_url=http.url("/notify"))
    rt = _runtime(ws)
    first = _ask(rt, "one")
    second = _ask(rt, "two")
    sender = Sender(rt)
    sender.flush()
    assert len(smtp.transmissions) == 2  # the two requests; the reminders are not due yet
    rt.decide(second, approve=True, actor="operator")
    later = datetime.now(UTC) + timedelta(days=2) - timedelta(minutes=30)
    report = sender.flush(now=later)
    assert len(report.sent) == 1 and len(report.skipped) == 1
    reminders = [m for m in smtp.transmissions if str(m["Subject"]).startswith("Reminder")]
    assert len(reminders) == 1 and "'one'" in reminders[0].get_payload(decode=True).decode()
    assert first != second


def test_failed_runs_and_alerts_notify(tmp_path: Path, smtp: SmtpTarget, http: HttpTarget) -> None:
    ws = write_workspace(tmp_path / "ws", smtp_port=smtp.port, hook_url=http.url("/notify"))
    rt = _runtime(ws)
    out = rt.start("broken", {"type": "broken.requested", "id": "evt-b", "payload": {}})
    assert out.status is RunStatus.FAILED
    events = sorted((n.event.value, n.channel) for n in outbox.listing(rt.store.conn))
    assert ("run.failed", "ops-mail") in events and ("run.failed", "ops-hook") in events
    Sender(rt).flush()
    assert any(r.body["event"] == "run.failed" and r.body["run"] == out.run_id for r in http.requests)
    assert any(str(m["Subject"]).startswith("Run failed: broken") for m in smtp.transmissions)


def test_transient_failure_is_retried_with_the_same_id(tmp_path: Path, smtp: SmtpTarget, http: HttpTarget) -> None:
    ws = write_workspace(tmp_path / "ws", smtp_port=smtp.port, hook_url=http.url("/notify"))
    rt = _runtime(ws)
    _ask(rt)
    http.fail("/notify", 503)
    smtp.fail_data(1)
    sender = Sender(rt)
    report = sender.flush()
    assert len(report.retrying) == 2 and not report.sent
    report = sender.flush(now=datetime.now(UTC) + timedelta(minutes=5))
    assert len(report.sent) == 2
    assert len(smtp.mailbox) == 1 and len(http.effects) == 1


def test_email_to_the_outbox_folder_offline(tmp_path: Path, http: HttpTarget) -> None:
    ws = write_workspace(tmp_path / "ws", smtp_port=None, hook_url=http.url("/notify"), outbox=True)
    rt = _runtime(ws)
    _ask(rt)
    Sender(rt).flush()
    files = list((ws / "outbox" / "mail").glob("*.eml"))
    assert len(files) == 1 and b"Approval needed" in files[0].read_bytes()


def test_cli_flush_delivers_once_and_list_shows_the_outbox(tmp_path: Path, smtp: SmtpTarget, http: HttpTarget) -> None:
    from click.testing import CliRunner

    from aios.cli.main import cli

    ws = write_workspace(tmp_path / "ws", smtp_port=smtp.port, hook_url=http.url("/notify"))
    rt = _runtime(ws)
    _ask(rt)
    rt.close()
    runner = CliRunner()
    first = runner.invoke(cli, ["notify", "flush", "--json", "-w", str(ws)])
    assert first.exit_code == 0, first.output
    assert len(json.loads(first.output)["sent"]) == 2
    again = runner.invoke(cli, ["notify", "flush", "--json", "-w", str(ws)])
    assert json.loads(again.output)["sent"] == []
    listed = runner.invoke(cli, ["notify", "list", "--status", "sent", "--json", "-w", str(ws)])
    assert {n["event"] for n in json.loads(listed.output)["notifications"]} == {"approval.requested"}
    assert len(smtp.transmissions) == 1 and len(http.requests) == 1


def test_a_timeout_notifies_and_its_alert_too(tmp_path: Path, smtp: SmtpTarget, http: HttpTarget) -> None:
    ws = write_workspace(tmp_path / "ws", smtp_port=smtp.port, hook_url=http.url("/notify"))
    rt = _runtime(ws)
    approval = _ask(rt)
    from aios.runtime import approvals

    current = approvals.get(rt.store.conn, approval)
    assert current is not None
    rt.decide_expired(current)  # as the dispatcher's sweep does once expires_at has passed
    Sender(rt).flush()
    subjects = [str(m["Subject"]) for m in smtp.transmissions]
    assert any(s.startswith("Approval timed out: notes") for s in subjects), subjects
    events = [r.body["event"] for r in http.requests]
    assert events.count("alert.raised") == 1 and events.count("approval.requested") == 1
    assert not any(s.startswith("Reminder") for s in subjects)
