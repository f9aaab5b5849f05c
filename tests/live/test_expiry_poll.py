"""The server's expiry poll decides only approvals that are due, a batch per pass, on the real store
(the dispatcher's own pass, called in-process; no server thread)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aios.live import dispatch
from aios.live.console import Console
from aios.live.current import CurrentPlan
from aios.live.dispatch import Dispatcher, Executor
from aios.plan.plan import GateConfig, StepKind
from aios.runtime import approvals
from aios.runtime.approvals import ApprovalStatus
from aios.runtime.interpreter import Runtime
from tests.runtime.planbuild import make_plan, step, tpl, tv


def test_each_pass_decides_a_batch_of_due_approvals_and_leaves_the_rest(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    plan = make_plan([step("ok", StepKind.GATE, gate=GateConfig(tpl("Ship it?"), timeout_s=0.05)),
                      step("after", StepKind.TRANSFORM, needs=("ok",), transform=tv({"x": 1}))])
    storage = tmp_path / ".aios"
    monkeypatch.setattr(dispatch, "EXPIRY_BATCH", 2)
    with Runtime(plan, tmp_path, storage=storage) as rt:
        waiting = [rt.start("pb", {"type": "test.event", "id": f"e{i}", "payload": {}}) for i in range(4)]
        later = waiting[0].approval
        assert later is not None
        with rt.store.transaction() as conn:
            conn.execute("UPDATE approvals SET expires_at = '2999-01-01T00:00:00.000Z' WHERE id = ?", (later.id,))
        time.sleep(0.1)
        console = Console(quiet=True)
        current = CurrentPlan(plan)
        executor = Executor(tmp_path, storage, current, console, workers=1)  # not started: submits only queue
        poll = Dispatcher(tmp_path, storage, current, executor, console)
        assert poll._expire_approvals(rt) is True  # a full batch: more may be due
        assert len(approvals.listing(rt.store.conn)) == 2
        assert poll._expire_approvals(rt) is False
        assert poll._expire_approvals(rt) is False  # nothing due: nothing read beyond the index range
        left = approvals.listing(rt.store.conn)
        assert [a.id for a in left] == [later.id]
        expired = approvals.listing(rt.store.conn, status=ApprovalStatus.EXPIRED)
        assert sorted(a.run_id for a in expired) == sorted(o.run_id for o in waiting[1:])
        assert all(executor.is_active(o.run_id) for o in waiting[1:]) and not executor.is_active(waiting[0].run_id)
