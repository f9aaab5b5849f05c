"""Edit then approve: the edited input is checked against the contract and the policies before
anything is recorded, both versions are logged, the run uses the edit (also when it resumes after a
crash before the intent), and `aios approve --input`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aios.compiler import compile_workspace
from aios.runtime import approvals
from aios.runtime.approvals import ApprovalStatus
from aios.runtime.edits import EditRefused
from aios.runtime.interpreter import Runtime
from aios.runtime.trace import load_trace

from ..web.review_workspace import review_copy
from ..web.workspace import lead

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

EDIT = {"url": "https://northwind.example/edited", "text": "Edited post", "channels": ["linkedin"]}


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return review_copy(tmp_path / "ws")


@pytest.fixture
def waiting(ws: Path) -> Iterator[tuple[Runtime, str, str]]:
    plan = compile_workspace(ws).plan
    assert plan is not None
    with Runtime(plan, ws, actor="ops") as rt:
        out = rt.start("content-pipeline", lead("lead-1", budget=100))
        assert out.approval is not None and out.approval.step_id == "distribute", out
        yield rt, out.run_id, out.approval.id


@pytest.mark.parametrize(("edited", "expect"), [
    ({"url": "https://x.example", "text": "t", "channels": "linkedin"}, "does not match the contract"),
    ({"text": "t", "channels": ["linkedin"]}, "field `url` is required"),
    (["not", "an", "object"], "must be a JSON object"),
    ({**EDIT, "channels": ["tiktok"]}, "denied by policy rule `publishing.no_tiktok`"),
])
def test_a_refused_edit_records_nothing(waiting: tuple[Runtime, str, str], edited: Any, expect: str) -> None:
    rt, run_id, approval_id = waiting
    before = rt.store.conn.execute("SELECT count(*) FROM log").fetchone()[0]
    with pytest.raises(EditRefused, match=expect):
        rt.decide(approval_id, approve=True, edited_input=edited)
    a = approvals.get(rt.store.conn, approval_id)
    assert a is not None and a.status is ApprovalStatus.PENDING
    assert rt.store.conn.execute("SELECT count(*) FROM log").fetchone()[0] == before


def test_the_run_uses_the_edit_and_both_versions_are_logged(waiting: tuple[Runtime, str, str]) -> None:
    rt, run_id, approval_id = waiting
    _, outcome = rt.decide(approval_id, approve=True, note="one channel", actor="ana", edited_input=EDIT)
    assert outcome is not None and outcome.status.value == "completed"
    trace = load_trace(rt.store.conn, run_id)
    step = next(s for s in trace.steps if s.step_id == "distribute")
    assert step.input == EDIT
    decided = next(a for a in step.approvals if a.get("decision") == "approved")
    assert decided["by"] == "ana" and decided["edited"]["input"] == EDIT
    assert decided["edited"]["original"]["channels"] == ["linkedin", "newsletter", "mastodon", "bluesky"]
    assert decided["edited"]["effect"] == "allow"
    assert step.decision is not None and step.decision["edited"]["approval"] == approval_id
    # the intent (logged before the side effect) carries the edited input
    intent = json.loads(rt.store.conn.execute("SELECT body FROM log WHERE run_id = ? AND step_id = 'distribute' "
                                              "AND type = 'step.intent'", (run_id,)).fetchone()[0])
    assert intent["in"] == EDIT


def test_a_resume_after_the_decision_uses_the_edit(waiting: tuple[Runtime, str, str], ws: Path) -> None:
    rt, run_id, approval_id = waiting
    rt.decide(approval_id, approve=True, edited_input=EDIT, resume=False)  # a crash before the run went on
    plan = compile_workspace(ws).plan
    assert plan is not None
    with Runtime(plan, ws) as again:
        assert again.resume(run_id).status.value == "completed"
        step = next(s for s in load_trace(again.store.conn, run_id).steps if s.step_id == "distribute")
        assert step.input == EDIT


def test_a_gate_cannot_be_edited(ws: Path) -> None:
    plan = compile_workspace(ws).plan
    assert plan is not None
    with Runtime(plan, ws, actor="operator") as rt:
        out = rt.start("content-pipeline", lead("lead-gate", budget=8000))
        assert out.approval is not None and out.approval.kind.value == "gate"
        with pytest.raises(EditRefused, match="is a gate"):
            rt.decide(out.approval.id, approve=True, edited_input=EDIT)


def test_cli_approve_with_input(waiting: tuple[Runtime, str, str], ws: Path, tmp_path: Path) -> None:
    rt, run_id, approval_id = waiting
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    def aios(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True, text=True,
                              env=env, timeout=120)

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**EDIT, "channels": 3}))
    r = aios("approve", approval_id, "--input", f"@{bad}", "--as", "ops")
    assert r.returncode == 1 and "does not match the contract of `social.schedule`" in r.stderr
    good = tmp_path / "good.json"
    good.write_text(json.dumps(EDIT))
    r = aios("approve", approval_id, "--input", f"@{good}", "--as", "ops", "--json")
    assert r.returncode == 0, r.stderr
    step = next(s for s in load_trace(rt.store.conn, run_id).steps if s.step_id == "distribute")
    assert step.status == "completed" and step.input == EDIT
