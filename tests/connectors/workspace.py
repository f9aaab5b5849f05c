"""Small real workspaces on disk, compiled by the real compiler, for connector tests that go
through the interpreter (retries, compensation, crash recovery, dry runs, reconciliation)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aios.compiler import compile_workspace
from aios.plan.plan import Plan
from aios.runtime.interpreter import Runtime
from aios.runtime.outcome import RunOutcome

__all__ = ["write_workspace", "compile_plan", "run_playbook", "ALLOW_ALL"]

ALLOW_ALL = "policy test\n\ndefault allow\n"


def write_workspace(root: Path, playbook: str, *, connectors: dict[str, dict[str, Any]] | None = None,
                    secrets: dict[str, str] | None = None, rules: str = ALLOW_ALL,
                    files: dict[str, str] | None = None) -> Path:
    """``playbook``: the steps of playbook ``p`` (YAML, indented by two spaces), triggered by ``go``."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ["name: connector-test", "storage: .aios", "models:", "  default: {model: offline}"]
    if secrets:
        lines.append("secrets:")
        lines += [f"  {name}: {{env: {env}, required: false}}" for name, env in secrets.items()]
    if connectors:
        lines.append("connectors:")
        lines += [f"  {name}: {json.dumps(settings)}" for name, settings in connectors.items()]
    (root / "aios.yaml").write_text("\n".join(lines) + "\n")
    (root / "playbooks").mkdir(exist_ok=True)
    (root / "playbooks" / "p.yaml").write_text("kind: playbook\nname: p\ntrigger: {event: go}\nsteps:\n" + playbook)
    (root / "policies").mkdir(exist_ok=True)
    (root / "policies" / "test.rules").write_text(rules)
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def compile_plan(root: Path) -> Plan:
    result = compile_workspace(root)
    assert result.plan is not None, [f"{d.span}: {d.message} [{d.code}]" for d in result.diagnostics]
    return result.plan


def run_playbook(root: Path, payload: Any = None, *, event_id: str = "ev-1",
                 sleep: Callable[[float], None] = lambda s: None) -> RunOutcome:
    with Runtime(compile_plan(root), root, sleep=sleep) as rt:
        return rt.start("p", {"type": "go", "id": event_id, "payload": payload or {}})


def log_types(root: Path, run_id: str) -> list[tuple[str | None, str, dict[str, Any]]]:
    from aios.runtime.store import Store

    with Store.open(root / ".aios") as store:
        return [(r["step_id"], r["type"], json.loads(r["body"]))
                for r in store.query("SELECT step_id, type, body FROM log WHERE run_id = ? ORDER BY seq", (run_id,))]
