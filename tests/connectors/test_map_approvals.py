"""Approvals inside a `map`: each item that needs one asks for it alone, naming its index and input;
the items allowed go out at once; a rejected item is recorded as rejected and the other items
proceed; the step's output and `steps.<id>.items` say what happened to each item. Real HTTP target
on 127.0.0.1, the real compiler, policies and state store; the decisions through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from aios.runtime import approvals
from aios.runtime.interpreter import Runtime
from aios.runtime.runstate import RunStatus
from aios.runtime.store import Store
from aios.runtime.trace import format_trace, load_trace
from tests.connectors.servers import HttpTarget

from .workspace import compile_plan, write_workspace

RULES = """\
policy refunds

rule big_refund
  when action.connector == "http.request" and action.input.json.amount_eur > 1000
  require approval "Refunds over 1,000 EUR need a human"

default allow
"""


def _ws(root: Path, http: HttpTarget) -> Path:
    return write_workspace(root, f"""\
  - id: pay
    map:
      over: event.payload['refunds']
      as: refund
      do:
        connector: http.request
        input: {{url: "{http.url('/refunds')}", json: "{{{{ refund }}}}"}}
        idempotency_key: "refund-{{{{ refund.id }}}}"
  - id: summary
    needs: [pay]
    transform:
      statuses: "{{{{ steps.pay.results | map(attribute='status') | list }}}}"
      sent: "{{{{ steps.pay.output | select | list | length }}}}"
""", rules=RULES)


EVENT = {"type": "go", "id": "batch-1",
         "payload": {"refunds": [{"id": "r1", "amount_eur": 1200}, {"id": "r2", "amount_eur": 450}]}}


def _aios(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True, text=True,
                          env=env, timeout=120)


def _sent(http: HttpTarget) -> list[Any]:
    return [r.body["id"] for r in http.requests if r.method == "POST"]


def test_rejecting_the_big_item_lets_the_small_one_go_and_records_both(tmp_path: Path, http: HttpTarget) -> None:
    ws = _ws(tmp_path / "ws", http)
    with Runtime(compile_plan(ws), ws, sleep=lambda s: None) as rt:
        out = rt.start("p", EVENT)
        assert out.status is RunStatus.WAITING
        assert _sent(http) == ["r2"]  # the allowed item did not wait for the other's decision
        (pending,) = approvals.listing(rt.store.conn)
    assert pending.site == "pay#0" and "item 0" in pending.message and "1200" in pending.message
    listed = _aios(ws, "approvals", "list").stdout
    assert "item 0" in listed and '"amount_eur": 1200' in listed, listed

    rejected = _aios(ws, "reject", pending.id, "--note", "too much", "--json")
    outcome = json.loads(rejected.stdout)
    assert outcome["status"] == "completed", rejected.stdout + rejected.stderr
    assert _sent(http) == ["r2"]

    with Store.open(ws / ".aios") as store:
        rows = {r[0]: json.loads(r[1]) for r in store.query(
            "SELECT step_id || ':' || type, body FROM log WHERE run_id = ? AND type IN "
            "('item.rejected', 'step.completed')", (out.run_id,))}
        trace = format_trace(load_trace(store.conn, out.run_id))
    assert rows["pay:item.rejected"]["i"] == 0 and rows["pay:item.rejected"]["approval"] == pending.id
    pay = rows["pay:step.completed"]
    assert pay["out"][0] is None and pay["out"][1]["status"] == 201
    assert [i["status"] for i in pay["items"]] == ["rejected", "completed"]
    assert "too much" in pay["items"][0]["reason"]
    assert rows["summary:step.completed"]["out"] == {"statuses": ["rejected", "completed"], "sent": 1}
    assert "pay  [completed]" in trace and "item 0: rejected" in trace and "1 rejected" in trace, trace


def test_approving_the_big_item_sends_it_too(tmp_path: Path, http: HttpTarget) -> None:
    ws = _ws(tmp_path / "ws", http)
    with Runtime(compile_plan(ws), ws, sleep=lambda s: None) as rt:
        out = rt.start("p", EVENT)
        assert out.approval is not None
        _, done = rt.decide(out.approval.id, approve=True, note="ok")
        assert done is not None and done.status is RunStatus.COMPLETED, done
    assert sorted(_sent(http)) == ["r1", "r2"]


def test_two_items_wait_at_once_and_rejecting_every_item_rejects_the_step(tmp_path: Path, http: HttpTarget) -> None:
    ws = _ws(tmp_path / "ws", http)
    event = {"type": "go", "id": "batch-2",
             "payload": {"refunds": [{"id": "a", "amount_eur": 5000}, {"id": "b", "amount_eur": 2000}]}}
    with Runtime(compile_plan(ws), ws, sleep=lambda s: None) as rt:
        out = rt.start("p", event)
        assert out.status is RunStatus.WAITING
        both = approvals.listing(rt.store.conn, run_id=out.run_id)
        assert [a.site for a in both] == ["pay#0", "pay#1"]
        _, still = rt.decide(both[1].id, approve=False, note="no")
        assert still is not None and still.status is RunStatus.WAITING and still.approval is not None
        assert still.approval.id == both[0].id
        _, done = rt.decide(both[0].id, approve=False, note="no")
        assert done is not None and done.status is RunStatus.REJECTED
        assert "every item" in (done.error or "")
    assert _sent(http) == []
