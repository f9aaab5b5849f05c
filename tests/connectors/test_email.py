"""email.send against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aios.connectors.mail import message_id_for
from aios.connectors.registry import builtin
from aios.runtime.connectors import ConnectorFailed
from aios.runtime.runstate import RunStatus
from tests.connectors.conftest import MakeCall
from tests.connectors.servers import SmtpTarget, free_port, smtp_target
from tests.connectors.workspace import log_types, run_playbook, write_workspace

MAIL = builtin("email.send")
assert MAIL is not None
SENDER = "studio@northwind.example"


def _settings(smtp: SmtpTarget, **extra: object) -> dict[str, object]:
    return {"host": "127.0.0.1", "port": smtp.port, "sender": SENDER, **extra}


@pytest.fixture
def smtp_auth() -> Iterator[SmtpTarget]:
    yield from smtp_target(password="s3cret-pw")


def test_success_message_id_from_the_key_and_provenance_headers(smtp: SmtpTarget, make_call: MakeCall) -> None:
    call = make_call("email.send", {"to": "ada@example.com", "subject": "Hello", "body": "Hi Ada.",
                                    "cc": ["bob@example.com"]}, key="mail-1", settings=_settings(smtp))
    out = MAIL(call)
    mid = message_id_for("mail-1", SENDER)
    assert out == {"message_id": mid} and mid.endswith("@northwind.example>")
    (msg,) = smtp.transmissions
    assert msg["Message-ID"] == mid and msg["To"] == "ada@example.com" and msg["Cc"] == "bob@example.com"
    assert msg["Subject"] == "Hello" and msg["X-Aios-Run"] == "run_test" and msg["X-Aios-Step"] == "step"
    assert msg.get_payload().strip() == "Hi Ada."


def test_password_comes_from_the_named_secret(smtp_auth: SmtpTarget, make_call: MakeCall) -> None:
    ok = make_call("email.send", {"to": "a@example.com", "subject": "s", "body": "b"}, key="m-ok",
                   settings=_settings(smtp_auth, password_secret="smtp_pw"), secrets={"smtp_pw": "s3cret-pw"})
    MAIL(ok)
    assert smtp_auth.logins == [(SENDER, "s3cret-pw")] and len(smtp_auth.transmissions) == 1
    bad = make_call("email.send", {"to": "a@example.com", "subject": "s", "body": "b"}, key="m-bad",
                    settings=_settings(smtp_auth, password_secret="smtp_pw"), secrets={"smtp_pw": "wrong"})
    with pytest.raises(ConnectorFailed) as err:
        MAIL(bad)
    assert not err.value.transient and "authentication failed" in str(err.value)
    assert "wrong" not in str(err.value) and len(smtp_auth.transmissions) == 1


def test_temporary_smtp_replies_are_transient_and_permanent_ones_are_not(smtp: SmtpTarget,
                                                                          make_call: MakeCall) -> None:
    smtp.fail_data(1, "451 4.3.0 Try again later")
    with pytest.raises(ConnectorFailed) as err:
        MAIL(make_call("email.send", {"to": "a@example.com", "subject": "s", "body": "b"}, settings=_settings(smtp)))
    assert err.value.transient and "451" in str(err.value)
    with pytest.raises(ConnectorFailed) as err:
        MAIL(make_call("email.send", {"to": "busy@example.com", "subject": "s", "body": "b"}, key="k2",
                       settings=_settings(smtp)))
    assert err.value.transient
    with pytest.raises(ConnectorFailed) as err:
        MAIL(make_call("email.send", {"to": "reject@example.com", "subject": "s", "body": "b"}, key="k3",
                       settings=_settings(smtp)))
    assert not err.value.transient and "550" in str(err.value)
    assert smtp.transmissions == []


def test_unreachable_server_is_transient(make_call: MakeCall) -> None:
    with pytest.raises(ConnectorFailed) as err:
        MAIL(make_call("email.send", {"to": "a@example.com", "subject": "s", "body": "b"},
                       settings={"host": "127.0.0.1", "port": free_port(), "sender": SENDER, "timeout_s": 5}))
    assert err.value.transient


def _mail_playbook(to: str) -> str:
    return f"""\
  - id: note
    connector: files.write
    input: {{path: note.txt, content: hello}}
    idempotency_key: "note-{{{{ event.id }}}}"
  - id: mail
    needs: [note]
    connector: email.send
    input: {{to: "{to}", subject: "Order ready", body: "Your order is ready."}}
    idempotency_key: "mail-{{{{ event.id }}}}"
"""


def test_retryable_failure_then_success_through_the_interpreter(smtp: SmtpTarget, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", _mail_playbook("ada@example.com"),
                         connectors={"email.send": _settings(smtp), "files.write": {"outbox": "outbox"}})
    smtp.fail_data(2)
    out = run_playbook(ws)
    assert out.status is RunStatus.COMPLETED, out.error
    assert len(smtp.transmissions) == 1 and list(smtp.mailbox) == [message_id_for("mail-ev-1", SENDER)]
    assert [b["attempt"] for _, t, b in log_types(ws, out.run_id) if t == "step.attempt_failed"] == [1, 2]


def test_permanent_failure_is_not_retried_and_earlier_effects_are_compensated(smtp: SmtpTarget,
                                                                               tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", _mail_playbook("reject@example.com"),
                         connectors={"email.send": _settings(smtp), "files.write": {"outbox": "outbox"},
                                     "files.delete": {"outbox": "outbox"}})
    out = run_playbook(ws)
    assert out.status is RunStatus.FAILED and out.failed_step == "mail" and "550" in (out.error or "")
    assert smtp.rcpt_attempts == ["reject@example.com"] and smtp.transmissions == []
    assert not (ws / "outbox" / "note.txt").exists()
    assert ("note", "compensation.completed") in [(s, t) for s, t, _ in log_types(ws, out.run_id)]


def test_duplicate_call_with_the_same_key_sends_once(smtp: SmtpTarget, make_call: MakeCall, tmp_path: Path) -> None:
    inp = {"to": "ada@example.com", "subject": "s", "body": "b"}
    call = make_call("email.send", inp, key="dup", settings=_settings(smtp))
    assert MAIL(call) == MAIL(call)
    assert len(smtp.transmissions) == 1
    # without the journal (a crash right after the server accepted it) the message goes out again,
    # as the same message: one copy in the mailbox
    again = make_call("email.send", inp, key="dup", settings=_settings(smtp), storage=tmp_path / "other")
    assert MAIL(again) == MAIL(call)
    assert len(smtp.transmissions) == 2 and len(smtp.mailbox) == 1


def test_preview_sends_nothing(smtp: SmtpTarget, make_call: MakeCall) -> None:
    call = make_call("email.send", {"to": "ada@example.com", "subject": "Hello", "body": "Hi."}, key="p",
                     settings=_settings(smtp, password_secret="smtp_pw"), secrets={"smtp_pw": "hunter2"})
    preview = MAIL.run_preview(call)
    assert preview is not None and smtp.transmissions == [] and smtp.rcpt_attempts == []
    assert preview.target == f"smtp://127.0.0.1:{smtp.port} → ada@example.com"
    assert preview.output == {"message_id": message_id_for("p", SENDER)}
    assert preview.payload["subject"] == "Hello" and "hunter2" not in repr(preview.to_json())
    assert MAIL.run_reconcile(call) is None  # SMTP cannot be asked


def test_missing_sender_setting_is_permanent(smtp: SmtpTarget, make_call: MakeCall) -> None:
    with pytest.raises(ConnectorFailed) as err:
        MAIL(make_call("email.send", {"to": "a@example.com", "subject": "s", "body": "b"},
                       settings={"host": "127.0.0.1", "port": smtp.port}))
    assert not err.value.transient and "sender" in str(err.value)


def test_an_outbox_instead_of_a_server_writes_the_message_once(make_call: MakeCall, tmp_path: Path) -> None:
    import email

    inp = {"to": "ada@example.com", "subject": "Hello", "body": "Hi Ada.", "cc": ["bob@example.com"]}
    settings = {"sender": SENDER, "outbox": "outbox/mail", "host": "127.0.0.1", "port": free_port()}
    call = make_call("email.send", inp, key="outbox-1", settings=settings)
    out = MAIL(call)  # no server listens on that port: nothing is sent, nothing fails
    mid = message_id_for("outbox-1", SENDER)
    (written,) = (tmp_path / "ws" / "outbox" / "mail").glob("*.eml")
    assert out == {"message_id": mid} and written.name == mid.strip("<>").split("@")[0] + ".eml"
    msg = email.message_from_bytes(written.read_bytes())
    assert msg["Message-ID"] == mid and msg["To"] == "ada@example.com" and msg["Cc"] == "bob@example.com"
    assert msg["X-Aios-Run"] == "run_test" and msg.get_payload().strip() == "Hi Ada."
    before = written.read_bytes()
    again = make_call("email.send", inp, key="outbox-1", settings=settings, storage=tmp_path / "other")
    assert MAIL(again) == out  # without the journal (a crash after the write) the file is found, not rewritten
    assert list((tmp_path / "ws" / "outbox" / "mail").glob("*.eml")) == [written]
    assert written.read_bytes() == before
    preview = MAIL.run_preview(make_call("email.send", inp, key="outbox-2", settings=settings))
    assert preview is not None and preview.target == "outbox/mail/ (no server) → ada@example.com"
    assert len(list((tmp_path / "ws" / "outbox" / "mail").glob("*.eml"))) == 1  # a preview writes nothing
