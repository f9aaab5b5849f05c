"""The pages and their JSON twins: parity, keyset pagination, the approvals inbox, Bearer API
decisions, interventions, alerts, the event stream and secret masking."""

from __future__ import annotations

import html
import json
import os
import sqlite3
from collections.abc import Iterator

import pytest

from .conftest import Env
from .workspace import CANARY, CANARY_ENV


def test_every_page_is_also_json_from_the_same_context(env: Env) -> None:
    c = env.login()
    runs = c.get("/api/runs").json()
    page = c.get("/runs").text
    assert runs["runs"] and all(r["id"] in page and r["status"] in page for r in runs["runs"])
    run = c.get(f"/api/runs/{env.run_id}").json()
    page = html.unescape(c.get(f"/runs/{env.run_id}").text)
    assert run["run"]["status"] == "waiting"
    for s in run["steps"]:
        assert s["step_id"] in page and s["status"] in page
        if "key" in s:
            assert s["key"] in page
    inbox = c.get("/api/approvals").json()
    page = html.unescape(c.get("/approvals").text)
    (item,) = inbox["pending"]
    assert item["message"] in page and item["run"]["id"] in page
    draft = next(s for s in item["so_far"] if s["step"] == "draft")
    body = json.dumps(draft["output"]["body"], ensure_ascii=False)[1:-1]  # shown as JSON
    assert draft["output"]["title"] in page and body in page
    assert [t["connector"] for t in item["then"]] == ["cms.publish", "social.schedule"]
    assert "cms.publish" in page
    alerts = c.get("/api/alerts").json()
    assert alerts["alerts"] == [] and "No alerts" in c.get("/alerts").text
    assert c.get("/api/runs/run_nope").status_code == 404 and c.get("/runs/run_nope").status_code == 404


def test_runs_are_keyset_paginated_newest_first_with_filters(env: Env) -> None:
    from aios.runtime.interpreter import Runtime

    with Runtime(env.plan, env.ws) as rt:
        for i in range(6):
            rt.admit("content-pipeline", {"type": "lead.received", "id": f"queued-{i}",
                                          "payload": {"name": "A", "email": "a@b.example", "message": "m",
                                                      "budget_eur": 10, "topics": []}})
    c = env.login()
    everything = c.get("/api/runs?_size=500").json()["runs"]
    assert len(everything) == 7
    keys = [(r["created_at"], r["id"]) for r in everything]
    assert keys == sorted(keys, reverse=True)
    seen: list[str] = []
    url = "/api/runs?_size=3"
    pages = 0
    while url:
        body = c.get(url).json()
        seen += [r["id"] for r in body["runs"]]
        assert len(body["runs"]) <= 3
        url = body["next_url"] and "/api" + body["next_url"]
        pages += 1
    assert seen == [r["id"] for r in everything] and pages == 3
    admitted = c.get("/api/runs?status=admitted&_size=4").json()
    assert len(admitted["runs"]) == 4 and {r["status"] for r in admitted["runs"]} == {"admitted"}
    rest = c.get("/api" + admitted["next_url"]).json()
    assert len(rest["runs"]) == 2 and rest["next"] is None
    assert c.get("/api/runs?playbook=support-triage").json()["runs"] == []
    assert c.get("/api/runs?_next=garbage").status_code == 400
    assert c.get("/api/runs?status=bogus").status_code == 400
    html_page = c.get("/runs?_size=3").text
    assert 'rel="next"' in html_page and "_next=" in html_page
    assert 'href="/api/runs?_size=3"' in html_page  # the JSON link keeps the page's query


def test_bearer_api_approves_as_the_tokens_actor_and_enforces_approvers(env: Env) -> None:
    c = env.client()
    mallory = env.new_token("m", "mallory")
    r = c.post(f"/api/approvals/{env.approval_id}/approve", json={"note": "me"},
               headers={"Authorization": f"Bearer {mallory}"})
    assert r.status_code == 403 and "approvers: operator" in r.json()["error"]
    bearer = {"Authorization": f"Bearer {env.token}"}
    assert c.get("/api/approvals", headers=bearer).json()["pending"][0]["id"] == env.approval_id
    r = c.post(f"/api/approvals/{env.approval_id}/approve", json={"note": "ship it"}, headers=bearer)
    assert r.status_code == 200, r.text
    assert r.json() | {"at": None} == {"approval": env.approval_id, "status": "approved", "by": "operator",
                                        "note": "ship it", "run": env.run_id, "at": None}
    trace = c.get(f"/api/runs/{env.run_id}", headers=bearer).json()
    assert trace["run"]["status"] == "completed"
    gate = next(s for s in trace["steps"] if s["step_id"] == "approval")
    assert {"decision": "approved", "by": "operator", "note": "ship it"}.items() <= gate["approvals"][-1].items()
    publish = next(s for s in trace["steps"] if s["step_id"] == "publish")
    assert publish["key"].startswith("publish-") and publish["output"]
    again = c.post(f"/api/approvals/{env.approval_id}/reject", json={}, headers=bearer)
    assert again.status_code == 409 and "already approved" in again.json()["error"]
    assert c.post("/api/approvals/apv_nope/approve", json={}, headers=bearer).status_code == 404
    assert c.post(f"/api/approvals/{env.approval_id}/approve", content=b"[1]", headers=bearer).status_code == 400


def test_reject_with_a_note_ends_the_run_rejected(env: Env) -> None:
    c = env.client()
    bearer = {"Authorization": f"Bearer {env.token}"}
    r = c.post(f"/api/approvals/{env.approval_id}/reject", json={"note": "off brand"}, headers=bearer)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    run = c.get(f"/api/runs/{env.run_id}", headers=bearer).json()
    assert run["run"]["status"] == "rejected"
    assert c.get("/api/approvals", headers=bearer).json()["recent"][0]["note"] == "off brand"


def test_cancel_from_the_run_page_is_logged_with_the_actor(env: Env) -> None:
    c = env.login()
    page = c.get(f"/runs/{env.run_id}").text
    assert f'action="/runs/{env.run_id}/cancel"' in page
    r = c.post(f"/runs/{env.run_id}/cancel", data={"note": "wrong lead", "csrf_token": c.cookies["aios_csrf"]})
    assert r.status_code == 303 and r.headers["location"] == f"/runs/{env.run_id}"
    run = c.get(f"/api/runs/{env.run_id}").json()
    assert run["run"]["status"] == "cancelled" and run["actions"] == {"cancel": False, "resume": False, "rerun": [
        "intake", "research", "draft", "big_budget", "approval", "publish", "distribute"]}
    cancelled = [e for e in run["entries"] if e["type"] == "run.cancelled"]
    assert cancelled and cancelled[0]["by"] == "operator" and cancelled[0]["note"] == "wrong lead"
    bearer = {"Authorization": f"Bearer {env.token}"}
    assert c.post(f"/api/runs/{env.run_id}/resume", json={}, headers=bearer).status_code == 409


def test_alerts_are_listed_and_acknowledged(env: Env) -> None:
    from aios.runtime import alerts, log
    from aios.runtime.store import Store

    with Store.open(env.storage) as store, store.transaction() as conn:
        alert_id = alerts.raise_alert(conn, run_id=env.run_id, step_id=None, severity=alerts.Severity.CRITICAL,
                                      message="something broke", at=log.now_iso())
    c = env.login()
    assert [a["id"] for a in c.get("/api/alerts").json()["alerts"]] == [alert_id]
    assert "something broke" in c.get("/alerts").text
    r = c.post(f"/alerts/{alert_id}/ack", data={"csrf_token": c.cookies["aios_csrf"]})
    assert r.status_code == 303
    assert c.get("/api/alerts").json()["alerts"] == []
    acked = c.get("/api/alerts?all=1").json()["alerts"][0]
    assert acked["acknowledged_at"] and acked["acknowledged_by"] == "operator"
    assert "by operator" in c.get("/alerts?all=1").text
    assert c.post(f"/alerts/{alert_id}/ack", data={"csrf_token": c.cookies["aios_csrf"]}).status_code == 409


def test_the_event_stream_sends_run_statuses(env: Env) -> None:
    stop = {"now": False}
    env.host.stopping = lambda: stop["now"]
    c = env.login()
    with c.stream("GET", f"/events?runs={env.run_id}") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines: list[str] = []
        for line in r.iter_lines():
            lines.append(line)
            if line.startswith("data:"):
                stop["now"] = True
    data = [json.loads(x[5:]) for x in lines if x.startswith("data:")]
    assert data == [{"run": env.run_id, "status": "waiting"}]


@pytest.fixture
def canary() -> Iterator[str]:
    saved = os.environ.get(CANARY_ENV)
    os.environ[CANARY_ENV] = CANARY
    yield CANARY
    if saved is None:
        os.environ.pop(CANARY_ENV, None)
    else:
        os.environ[CANARY_ENV] = saved


def test_a_secret_is_never_rendered(canary: str, env: Env) -> None:
    from aios import masking

    masking.watch(masking.plan_secrets(env.plan))
    out = env.start("lead-canary", message=f"please use {canary} for the supplier")
    # data written before the secret was declared is not masked in the store; the web layer masks it
    raw = sqlite3.connect(env.storage / "state.db")
    try:
        with raw:
            raw.execute("INSERT INTO alerts(run_id, severity, message, created_at) VALUES (?,?,?,?)",
                        (out.run_id, "warning", f"token {canary} leaked; quoted \"{canary}\" <{canary}>", "2026-01-01"))
            raw.execute("UPDATE runs SET error = ? WHERE id = ?", (f"error with {canary}", env.run_id))
    finally:
        raw.close()
    c = env.login()
    bearer = {"Authorization": f"Bearer {env.token}"}
    bodies = []
    for path in ("/runs", "/approvals", "/alerts", "/alerts?all=1", f"/runs/{out.run_id}", f"/runs/{env.run_id}"):
        bodies.append(c.get(path).text)
        bodies.append(c.get("/api" + path, headers=bearer).text)
    assert all(r for r in bodies)
    assert any("***" in b for b in bodies)
    for b in bodies:
        assert canary not in b and canary not in html.unescape(b)
        assert canary[:12] not in b


def test_resume_continues_an_admitted_run_and_refuses_a_waiting_one(env: Env) -> None:
    from aios.runtime.interpreter import Runtime

    with Runtime(env.plan, env.ws) as rt:
        admitted = rt.admit("content-pipeline", {"type": "lead.received", "id": "small-lead",
                                                 "payload": {"name": "B", "email": "b@c.example", "message": "m",
                                                             "budget_eur": 100, "topics": ["x"]}})
    c = env.client()
    bearer = {"Authorization": f"Bearer {env.token}"}
    assert c.get(f"/api/runs/{admitted}", headers=bearer).json()["actions"] == {"cancel": True, "resume": True,
                                                                                    "rerun": []}
    r = c.post(f"/api/runs/{admitted}/resume", headers=bearer)
    assert r.status_code == 200 and r.json() == {"run": admitted, "status": "completed", "by": "operator"}
    resumed = [e for e in c.get(f"/api/runs/{admitted}", headers=bearer).json()["entries"] if e["type"] == "run.resumed"]
    assert [(e["by"], e["pre"]) for e in resumed] == [("operator", "admitted")]
    waiting = c.post(f"/api/runs/{env.run_id}/resume", headers=bearer)
    assert waiting.status_code == 409 and "resumes when its approval is decided" in waiting.json()["error"]
    assert c.get(f"/api/runs/{env.run_id}", headers=bearer).json()["actions"] == {"cancel": True, "resume": False,
                                                                                     "rerun": []}
