"""Paused playbooks (manual mode): events held durably, no run; released in order, exactly once,
also across a restart and a crash between admission and release; and `aios playbooks` end to end."""

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
from aios.errors import RunError
from aios.live import journal, pauses
from aios.live.dispatch import dispatch_pending, release_held
from aios.live.events import LiveEvent
from aios.runtime.interpreter import Runtime

from ..web.workspace import example_copy, lead

PB = "content-pipeline"


def _event(n: int) -> LiveEvent:
    data: dict[str, Any] = lead(f"lead-{n}", budget=100)
    return LiveEvent(data["id"], data["type"], "test", "2026-11-20T09:00:00Z", data["payload"])


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return example_copy(tmp_path / "ws")


@pytest.fixture
def rt(ws: Path) -> Iterator[Runtime]:
    plan = compile_workspace(ws).plan
    assert plan is not None
    store = journal.open_store(ws / ".aios")
    runtime = Runtime(plan, ws, store=store, actor="ops")
    try:
        yield runtime
    finally:
        runtime.close()
        store.close()


def _accept(rt: Runtime, *events: LiveEvent) -> None:
    with rt.store.transaction() as conn:
        journal.accept(conn, events)


def _runs(rt: Runtime) -> list[tuple[str, str]]:
    return [(str(r[0]), str(r[1])) for r in rt.store.conn.execute(
        "SELECT event_id, id FROM runs WHERE playbook = ? ORDER BY created_at, id", (PB,))]


def test_a_paused_playbook_holds_its_events_and_starts_no_run(rt: Runtime) -> None:
    state, changed = pauses.set_paused(rt.store, rt.plan.playbook_map, PB, paused_=True, actor="ops",
                                       note="new prompts")
    assert changed and state.paused is not None and state.paused.by == "ops"
    _accept(rt, _event(1), _event(2))
    done = dispatch_pending(rt)
    assert [d.status for d in done] == ["held", "held"]
    assert _runs(rt) == []
    assert pauses.states_of(rt.store.conn, [PB])[0].queued == 2
    entry = rt.store.conn.execute("SELECT run_id, type, body FROM log WHERE type = 'playbook.paused'").fetchone()
    assert entry[0] is None and json.loads(entry[2]) == {"playbook": PB, "by": "ops", "note": "new prompts"}
    assert dispatch_pending(rt) == []  # held events are not dispatched again while paused


def test_resume_releases_in_arrival_order_exactly_once(rt: Runtime) -> None:
    pauses.set_paused(rt.store, rt.plan.playbook_map, PB, paused_=True, actor="ops")
    _accept(rt, _event(1), _event(2), _event(3))
    dispatch_pending(rt)
    _, changed = pauses.set_paused(rt.store, rt.plan.playbook_map, PB, paused_=False, actor="ana")
    assert changed
    # a crash after admitting the first held event but before its release was recorded
    first = _event(1)
    from aios.runtime.runstate import Event

    crashed = rt.admit(PB, Event(first.id, first.type, first.source, first.time, first.payload))
    released = release_held(rt)
    assert [d.event_id for d in released] == ["lead-1", "lead-2", "lead-3"]
    assert released[0].new_runs == () and released[0].runs == (crashed,)  # found, not admitted twice
    assert [e for e, _ in _runs(rt)] == ["lead-1", "lead-2", "lead-3"]
    assert release_held(rt) == [] and dispatch_pending(rt) == []
    statuses = {str(r[0]): str(r[1]) for r in rt.store.conn.execute("SELECT id, status FROM live_events")}
    assert set(statuses.values()) == {"dispatched"}
    body = json.loads(rt.store.conn.execute("SELECT body FROM log WHERE type = 'playbook.resumed'").fetchone()[0])
    assert body["by"] == "ana" and body["queued"] == 3


def test_the_pause_and_the_queue_survive_a_restart(ws: Path, rt: Runtime) -> None:
    pauses.set_paused(rt.store, rt.plan.playbook_map, PB, paused_=True, actor="ops")
    _accept(rt, _event(1))
    dispatch_pending(rt)
    plan = rt.plan
    rt.close()
    rt.store.close()
    store = journal.open_store(ws / ".aios")
    with Runtime(plan, ws, store=store) as again:
        assert dispatch_pending(again) == [] and _runs(again) == []
        state = pauses.states_of(store.conn, [PB])[0]
        assert state.paused is not None and state.queued == 1
        pauses.set_paused(store, plan.playbook_map, PB, paused_=False, actor="ops")
        assert [d.event_id for d in dispatch_pending(again)] == ["lead-1"]
    store.close()


def test_unknown_playbook_is_refused_with_a_suggestion(rt: Runtime) -> None:
    with pytest.raises(RunError, match="did you mean `content-pipeline`"):
        pauses.set_paused(rt.store, rt.plan.playbook_map, "content-pipelin", paused_=True, actor="ops")


def test_pausing_twice_changes_nothing(rt: Runtime) -> None:
    pauses.set_paused(rt.store, rt.plan.playbook_map, PB, paused_=True, actor="ops")
    _, changed = pauses.set_paused(rt.store, rt.plan.playbook_map, PB, paused_=True, actor="other")
    assert not changed
    assert rt.store.conn.execute("SELECT count(*) FROM log WHERE type = 'playbook.paused'").fetchone()[0] == 1


def _aios(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("AIOS_ACTOR", None)
    return subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_pause_emit_list_resume(ws: Path) -> None:
    r = _aios(ws, "playbooks", "pause", PB, "--note", "checking", "--as", "ops", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "paused"
    payload = json.dumps(lead("x", budget=100)["payload"])
    r = _aios(ws, "emit", "lead.received", "--payload", payload, "--id", "ev-1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "held" and json.loads(r.stdout)["runs"] == []
    listed = {s["playbook"]: s for s in json.loads(_aios(ws, "playbooks", "list", "--json").stdout)}
    assert listed[PB]["status"] == "paused" and listed[PB]["queued"] == 1 and listed[PB]["paused_by"] == "ops"
    r = _aios(ws, "playbooks", "resume", PB, "--as", "ops", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "active" and out["released"] == 1
    assert [run["status"] for run in out["runs"]] == ["completed"]
    r = _aios(ws, "playbooks", "pause", "nope")
    assert r.returncode != 0 and "no playbook `nope`" in r.stderr
