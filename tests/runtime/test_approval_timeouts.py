"""An approval nobody decided in time: the approval is `expired`, the log and `aios runs show` say
"timed out" (not "rejected by …"), an alert is raised (`aios alerts`), and the notification hook is
called once. Gates and `require approval` decisions alike, on the real store and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aios.plan.plan import GateConfig, StepKind
from aios.runtime import alerts, approval_timeouts, approvals
from aios.runtime.approvals import Approval, ApprovalStatus
from aios.runtime.interpreter import Runtime
from aios.runtime.runstate import RunStatus
from aios.runtime.trace import format_trace, load_trace
from tests.connectors.workspace import compile_plan, write_workspace

from .planbuild import make_plan, step, tpl, tv

EVENT = {"type": "test.event", "id": "e1", "payload": {}}


@pytest.fixture
def heard() -> Iterator[list[Approval]]:
    got: list[Approval] = []

    def listener(conn: Any, approval: Approval, alert_id: int) -> None:
        got.append(approval)

    approval_timeouts.listeners.append(listener)
    yield got
    approval_timeouts.listeners.remove(listener)


def _gate_plan(on_timeout: str = "reject") -> Any:
    return make_plan([step("ok", StepKind.GATE, gate=GateConfig(tpl("Ship it?"), timeout_s=0.05,
                                                                 on_timeout=on_timeout)),
                      step("after", StepKind.TRANSFORM, needs=("ok",), transform=tv({"x": 1}))])


def test_a_gate_that_times_out_is_expired_logged_alerted_and_shown(tmp_path: Path, heard: list[Approval]) -> None:
    with Runtime(_gate_plan(), tmp_path, storage=tmp_path / ".aios") as rt:
        out = rt.start("pb", EVENT)
        assert out.status is RunStatus.WAITING and out.approval is not None
        time.sleep(0.1)
        (done,) = rt.recover()
        assert done.status is RunStatus.REJECTED
        assert done.error is not None and "timed out" in done.error and out.approval.id in done.error
        a = approvals.get(rt.store.conn, out.approval.id)
        assert a is not None and a.status is ApprovalStatus.EXPIRED and a.decided_by == "timeout"

        decided = [json.loads(r[0]) for r in rt.store.query(
            "SELECT body FROM log WHERE run_id = ? AND type = 'approval.decided'", (out.run_id,))]
        assert [d["decision"] for d in decided] == ["expired"] and decided[0]["by"] == "timeout"

        text = format_trace(load_trace(rt.store.conn, out.run_id))
        assert f"approval {a.id}: timed out" in text and "rejected by" not in text

        (alert,) = alerts.listing(rt.store.conn)
        assert alert.run_id == out.run_id and alert.step_id == "ok" and "timed out" in alert.message
        assert alert.severity is alerts.Severity.WARNING
    assert [h.id for h in heard] == [a.id]  # the notification hook point, once


def test_a_policy_approval_that_times_out_calls_nothing(tmp_path: Path, heard: list[Approval]) -> None:
    ws = write_workspace(tmp_path / "ws", """\
  - id: write
    connector: files.write
    input: {path: a.txt, content: hi}
    idempotency_key: "a-{{ event.id }}"
""", connectors={"files.write": {"outbox": "outbox"}}, rules="""\
policy test

rule ask
  when action.connector == "files.write"
  require approval "Files need a look" timeout 1s

default allow
""")
    with Runtime(compile_plan(ws), ws) as rt:
        out = rt.start("p", {"type": "go", "id": "e1", "payload": {}})
        assert out.status is RunStatus.WAITING
    time.sleep(1.2)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    def aios(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True, text=True,
                              env=env, timeout=120)

    resumed = aios("runs", "resume", "--all")
    assert "timed out" in resumed.stdout + resumed.stderr, resumed.stdout + resumed.stderr
    assert not (ws / "outbox" / "a.txt").exists()
    shown = aios("runs", "show", out.run_id).stdout
    assert "timed out" in shown and "write  [failed]" in shown, shown
    listed = aios("approvals", "list", "--all").stdout
    assert "expired" in listed and "timed out" in listed, listed
    alerted = aios("alerts").stdout
    assert "timed out" in alerted and out.run_id in alerted, alerted
    assert len(heard) == 0  # another process heard it; this one registered no listener there


def test_on_timeout_approve_goes_on_and_still_says_it_timed_out(tmp_path: Path, heard: list[Approval]) -> None:
    with Runtime(_gate_plan("approve"), tmp_path, storage=tmp_path / ".aios") as rt:
        out = rt.start("pb", EVENT)
        time.sleep(0.1)
        (done,) = rt.recover()
        assert done.status is RunStatus.COMPLETED
        a = approvals.get(rt.store.conn, out.approval.id)  # type: ignore[union-attr]
        assert a is not None and a.status is ApprovalStatus.APPROVED and a.decided_by == "timeout"
        text = format_trace(load_trace(rt.store.conn, out.run_id))
        assert "timed out" in text and "approved by its on_timeout rule" in text
        (alert,) = alerts.listing(rt.store.conn)
        assert alert.severity is alerts.Severity.INFO and "timed out" in alert.message
    assert len(heard) == 1
