"""``notify:`` in aios.yaml: compiled into the plan, mistakes reported as positioned diagnostics."""

from __future__ import annotations

from pathlib import Path

from aios.compiler import compile_workspace
from aios.plan.notify import ChannelKind, NotifyEvent

from .workspace import write_workspace

BROKEN = """\
name: broken-notify
secrets:
  hook: {env: HOOK_SECRET}
connectors:
  email.send: {sender: aios@example.com, outbox: outbox/mail}
notify:
  channels:
    mail:
      kind: emial
      to: [ops@example.com]
      events: [approval.requested, run.faild]
    hook:
      kind: webhook
      url: http://127.0.0.1:9/x
      secret: hoook
      events: [alert.raised]
    bare:
      kind: webhook
      url: ftp://nowhere
      events: [run.failed]
"""


def _diags(root: Path) -> list[tuple[str, int, int, str | None]]:
    result = compile_workspace(root)
    return sorted((d.code, d.span.line + 1 if d.span else 0, d.span.col + 1 if d.span else 0, d.hint)
                  for d in result.diagnostics)


def test_the_plan_carries_the_channels(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", smtp_port=2525, hook_url="http://127.0.0.1:9/n")
    result = compile_workspace(ws)
    assert result.plan is not None and result.errors == 0
    notify = result.plan.settings.notify
    assert notify is not None and notify.reminder_before_s == 3600
    mail, hook = notify.channels
    assert mail.kind is ChannelKind.EMAIL and mail.to == ("ops@notify.test",)
    assert hook.kind is ChannelKind.WEBHOOK and hook.secret == "notify_hook"
    assert notify.channels_for(NotifyEvent.ALERT_RAISED) == (hook,)


def test_mistakes_are_positioned_diagnostics_with_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "aios.yaml").write_text(BROKEN)
    diags = _diags(tmp_path)
    assert ("unknown-channel-kind", 9, 13, "did you mean `email`?") in diags
    assert ("unknown-notify-event", 11, 36, "did you mean `run.failed`?") in diags
    assert ("unknown-secret", 15, 15, "did you mean `hook`?") in diags
    codes = [d[0] for d in diags]
    assert codes.count("invalid-value") == 2  # bare: an ftp url, and no secret
    assert len(diags) == 5


def test_email_channel_needs_a_sender(tmp_path: Path) -> None:
    (tmp_path / "aios.yaml").write_text("name: x\nnotify:\n  channels:\n    m: {kind: email, to: [a@b.c], "
                                        "events: [run.failed]}\n")
    diags = _diags(tmp_path)
    assert [d[0] for d in diags] == ["invalid-value"]
