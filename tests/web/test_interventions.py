"""The interventions' API in-process: pause/resume a playbook, edit then approve, re-run from a step,
each as the token's actor, behind the CSRF check for cookie sessions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from aios.compiler import compile_workspace
from aios.live import journal
from aios.live.dispatch import dispatch_pending
from aios.live.events import LiveEvent
from aios.runtime.interpreter import Runtime
from aios.runtime.trace import load_trace

from .conftest import Env
from .review_workspace import review_copy
from .workspace import lead

PB = "content-pipeline"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_pause_emit_resume_over_the_api(env: Env) -> None:
    c = env.client()
    r = c.post(f"/api/playbooks/{PB}/pause", json={"note": "new prompts"}, headers=_bearer(env.token))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "paused" and r.json()["paused_by"] == "operator"
    data = lead("lead-held", budget=100)
    store = journal.open_store(env.storage)
    with store.transaction() as conn:
        journal.accept(conn, [LiveEvent(str(data["id"]), "lead.received", "test", "2026-11-20T09:00:00Z",
                                        data["payload"])])
    with Runtime(env.plan, env.ws, store=store) as rt:
        assert [d.status for d in dispatch_pending(rt)] == ["held"]
    assert store.conn.execute("SELECT count(*) FROM runs WHERE event_id = 'lead-held'").fetchone()[0] == 0
    store.close()
    state = c.get(f"/api/playbooks/{PB}", headers=_bearer(env.token))
    if state.status_code == 200:  # the Playbooks page shows the pause and the queue
        assert state.json()["pause"]["queued"] == 1
    r = c.post(f"/api/playbooks/{PB}/resume", headers=_bearer(env.token))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active" and len(r.json()["started"]) == 1
    run_id = r.json()["started"][0]
    assert load_trace(env.host.store().conn, run_id).status == "completed"
    bodies = [json.loads(b) for (b,) in env.host.store().conn.execute(
        "SELECT body FROM log WHERE type IN ('playbook.paused', 'playbook.resumed') ORDER BY seq")]
    assert [b["by"] for b in bodies] == ["operator", "operator"] and bodies[0]["note"] == "new prompts"


def test_pause_needs_csrf_in_a_session_and_a_known_playbook(env: Env) -> None:
    c = env.login()
    assert c.post(f"/api/playbooks/{PB}/pause", json={}).status_code == 403
    assert c.post(f"/playbooks/{PB}/pause", data={"csrf_token": c.cookies["aios_csrf"]}).status_code == 303
    assert env.client().post(f"/api/playbooks/{PB}/resume").status_code == 401
    r = c.post("/api/playbooks/nope/pause", json={}, headers={"X-CSRF-Token": c.cookies["aios_csrf"]})
    assert r.status_code == 404 and "no playbook `nope`" in r.json()["error"]


def test_rerun_from_a_step_is_logged_with_the_actor(env: Env) -> None:
    done = env.start("lead-done", budget=100)
    assert done.status.value == "completed"
    c = env.client()
    r = c.post(f"/api/runs/{done.run_id}/rerun", json={"step": "draft", "note": "new prompt"},
               headers=_bearer(env.token))
    assert r.status_code == 200, r.text
    new = r.json()["run"]
    trace = load_trace(env.host.store().conn, new)
    assert trace.status == "completed"
    entry = env.host.store().conn.execute("SELECT body FROM log WHERE run_id = ? AND type = 'run.rerun'",
                                          (new,)).fetchone()
    assert json.loads(entry[0]) == {"of": done.run_id, "from": "draft", "by": "operator", "note": "new prompt"}
    assert c.post(f"/api/runs/{done.run_id}/rerun", json={"step": "nope"},
                  headers=_bearer(env.token)).status_code == 409
    page = c.get(f"/api/runs/{done.run_id}", headers=_bearer(env.token)).json()
    assert "draft" in page["actions"]["rerun"]


@pytest.fixture
def review(tmp_path: Path) -> Iterator[tuple[TestClient, str, str, str, object]]:
    from aios.web.app import Dashboard
    from aios.web.host import Host
    from aios.web.tokens import TokenStore

    ws = review_copy(tmp_path / "ws")
    plan = compile_workspace(ws).plan
    assert plan is not None
    with Runtime(plan, ws) as rt:
        out = rt.start(PB, lead("lead-r", budget=100))
    assert out.approval is not None
    with TokenStore(ws / ".aios") as tokens:
        token = tokens.create("ops", "ana")[1]
    host = Host(ws, ws / ".aios", lambda: plan)
    dash = Dashboard(host)
    try:
        yield TestClient(dash, base_url="http://127.0.0.1"), token, out.run_id, out.approval.id, host
    finally:
        dash.close()


def test_edit_then_approve_over_the_api(review: tuple[TestClient, str, str, str, object]) -> None:
    c, token, run_id, approval_id, host = review
    inbox = c.get("/api/approvals", headers=_bearer(token)).json()
    assert inbox["pending"][0]["editable"] is True
    bad = {"url": "https://x.example/a", "text": "t", "channels": "linkedin"}
    r = c.post(f"/api/approvals/{approval_id}/approve", json={"input": bad}, headers=_bearer(token))
    assert r.status_code == 422 and "does not match the contract" in r.json()["error"]
    r = c.post(f"/api/approvals/{approval_id}/approve", json={"input": "{not json"}, headers=_bearer(token))
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    denied = {**bad, "channels": ["tiktok"]}
    r = c.post(f"/api/approvals/{approval_id}/approve", json={"input": denied}, headers=_bearer(token))
    assert r.status_code == 422 and "no_tiktok" in r.json()["error"]
    good = {**bad, "channels": ["linkedin"]}
    r = c.post(f"/api/approvals/{approval_id}/approve", json={"note": "one channel", "input": good},
               headers=_bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["edited"] is True and r.json()["by"] == "ana"
    page = c.get(f"/api/runs/{run_id}", headers=_bearer(token)).json()
    assert page["run"]["status"] == "completed"
    step = next(s for s in page["steps"] if s["step_id"] == "distribute")
    assert step["input"] == good
    edit = next(a for a in step["approvals"] if a.get("edited"))["edited"]
    assert edit["input"] == good and edit["original"]["channels"][0] == "linkedin" and edit["by"] == "ana"
