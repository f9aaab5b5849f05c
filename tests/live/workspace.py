"""A small real workspace for the live tests: a webhook-triggered playbook with a slow, idempotent
workspace connector (a ledger file), an event-triggered playbook with an approval gate, a drop-folder
playbook and a scheduled one."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_workspace", "SHOP_SECRET", "SHOP_ENV", "UNSET_ENV", "NOTES_PLAYBOOK"]

SHOP_SECRET = "test-shop-secret-value"
SHOP_ENV = "AIOS_TEST_SHOP_SECRET"
UNSET_ENV = "AIOS_TEST_UNSET_SECRET"

AIOS_YAML = f"""\
name: live-test
storage: .aios
models:
  default: {{model: offline}}
secrets:
  webhook_shop: {{env: {SHOP_ENV}}}
  webhook_quiet: {{env: {UNSET_ENV}, required: false}}
runtime:
  actor: operator
"""

ORDERS = """\
kind: connector
name: ledger.append
description: Append the order to the ledger file once per idempotency key (slowly, on purpose).
module: ledger:append
input:
  order: str
  delay_ms: int
output:
  entry: str
side_effect: reversible
---
kind: playbook
name: orders
trigger: {webhook: shop}
steps:
  - id: book
    connector: ledger.append
    input:
      order: "{{ event.id }}"
      delay_ms: "{{ event.payload.delay_ms | default(0) }}"
    idempotency_key: "book-{{ event.id }}"
"""

NOTES_PLAYBOOK = """\
kind: playbook
name: notes
description: A note that needs a yes before it is filed.
trigger: {event: note.requested}
steps:
  - id: shape
    transform: {title: "{{ event.payload.title }}"}
  - id: check
    needs: [shape]
    gate: {message: "File the note '{{ steps.shape.output.title }}'?"}
  - id: done
    needs: [check]
    transform: {filed: "{{ steps.shape.output.title }}", version: 1}
"""

INBOX = """\
kind: playbook
name: inbox
trigger: {file_drop: inbox/}
steps:
  - id: read
    transform: {name: "{{ event.payload.file.name }}", size: "{{ event.payload.file.size }}"}
---
kind: playbook
name: nightly
trigger: {schedule: "0 3 * * *", missed: run_once}
steps:
  - id: tick
    transform: {at: "{{ event.payload.scheduled_for }}"}
"""

RULES = """\
policy live

rule ledger
  when action.connector == "ledger.append"
  allow "Booking into the test ledger is fine"

default allow
"""

LEDGER = '''\
"""The test ledger: one line per order, written once per idempotency key; every call is counted."""

from __future__ import annotations

import os
import time
from typing import Any

from aios.connectors import Context, connector


@connector
def append(input: dict[str, Any], ctx: Context) -> dict[str, Any]:
    folder = ctx.workspace / "ledger"
    folder.mkdir(exist_ok=True)
    with open(folder / "calls.txt", "a", encoding="utf-8") as fh:
        fh.write(ctx.idempotency_key + "\\n")
    time.sleep(int(input.get("delay_ms") or 0) / 1000)
    # the ledger line is its own record of the effect (one fsync'd append, no second marker file that a
    # kill could separate from it), so a call repeated after a crash finds it and writes nothing
    effects = folder / "effects.txt"
    line = str(input["order"]) + "\\n"
    if line not in (effects.read_text(encoding="utf-8").splitlines(keepends=True) if effects.exists() else []):
        with open(effects, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
    return {"entry": str(input["order"])}
'''


def write_workspace(root: Path) -> Path:
    for folder in ("playbooks", "connectors", "prompts", "policies"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "aios.yaml").write_text(AIOS_YAML)
    (root / "playbooks" / "orders.yaml").write_text(ORDERS)
    (root / "playbooks" / "notes.yaml").write_text(NOTES_PLAYBOOK)
    (root / "playbooks" / "inbox.yaml").write_text(INBOX)
    (root / "connectors" / "ledger.py").write_text(LEDGER)
    (root / "policies" / "live.rules").write_text(RULES)
    return root
