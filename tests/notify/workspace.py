"""A small workspace for the notification tests: a webhook-triggered playbook with an approval gate
(with a timeout, so reminders are due), one that fails, and ``notify:`` with an email channel and a
signed webhook channel."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_workspace", "HOOK_SECRET", "HOOK_ENV", "INTAKE_SECRET", "INTAKE_ENV"]

HOOK_SECRET = "notify-canary-secret-5f2c9e"  # the notification signing secret: it must appear nowhere
HOOK_ENV = "AIOS_TEST_NOTIFY_HOOK_SECRET"
INTAKE_SECRET = "intake-secret-value-for-tests"
INTAKE_ENV = "AIOS_TEST_NOTIFY_INTAKE_SECRET"

PLAYBOOKS = """\
kind: playbook
name: notes
description: A note that needs a yes before it is filed.
trigger: {webhook: intake}
steps:
  - id: shape
    transform: {title: "{{ event.payload.title }}"}
  - id: check
    needs: [shape]
    gate: {message: "File the note '{{ steps.shape.output.title }}'?", timeout: 2d}
  - id: done
    needs: [check]
    transform: {filed: "{{ steps.shape.output.title }}"}
---
kind: playbook
name: broken
trigger: {event: broken.requested}
steps:
  - id: boom
    transform: {x: "{{ event.payload.missing.deeper }}"}
"""


def write_workspace(root: Path, *, smtp_port: int | None, hook_url: str, base_url: str | None = None,
                    outbox: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "playbooks").mkdir(exist_ok=True)
    (root / "playbooks" / "notes.yaml").write_text(PLAYBOOKS)
    mail = ("outbox: outbox/mail" if outbox else f"host: 127.0.0.1, port: {smtp_port}")
    base = f"  base_url: {base_url}\n" if base_url else ""
    (root / "aios.yaml").write_text(f"""\
name: notify-test
storage: .aios
secrets:
  notify_hook: {{env: {HOOK_ENV}}}
  webhook_intake: {{env: {INTAKE_ENV}}}
connectors:
  email.send: {{sender: aios@notify.test, {mail}}}
notify:
{base}  reminder_before_s: 3600
  channels:
    ops-mail:
      kind: email
      to: [ops@notify.test]
      events: [approval.requested, approval.reminder, approval.timed_out, run.failed]
    ops-hook:
      kind: webhook
      url: {hook_url}
      secret: notify_hook
      events: [approval.requested, run.failed, alert.raised]
""")
    return root
