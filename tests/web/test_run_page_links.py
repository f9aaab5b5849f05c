"""The run page in-process: the records its steps wrote link to their pages, and its graph is drawn
from the plan the run is pinned to (the current plan, said so, when no snapshot of it is stored)."""

from __future__ import annotations

import html
import re

from aios.plan.plan import Plan

from .conftest import Env


def test_records_written_link_to_their_pages(env: Env) -> None:
    c = env.login()
    run = c.get(f"/api/runs/{env.run_id}").json()
    written = [r for s in run["steps"] for r in s.get("records", [])]
    assert {r["schema"] for r in written} >= {"Project", "ContentPiece"}
    assert all(set(r) >= {"schema", "id", "v"} for r in written)  # the JSON keeps the data as it was
    page = html.unescape(c.get(f"/runs/{env.run_id}").text)
    for r in written:
        href = f'/records/{r["schema"]}/{r["id"]}'
        assert f'<a href="{href}">' in page
        assert c.get(href).status_code == 200


def _without_distribute(env: Env) -> Plan:
    from aios.compiler import compile_workspace

    path = env.ws / "playbooks" / "content-pipeline.yaml"
    text = path.read_text()
    path.write_text(re.sub(r"\n  - id: distribute\n.*?\n\noutcomes:", "\n\noutcomes:", text, flags=re.S))
    plan = compile_workspace(env.ws).plan
    assert plan is not None and plan.content_hash != env.plan.content_hash
    return plan


def test_the_graph_is_drawn_from_the_plan_the_run_is_pinned_to(env: Env) -> None:
    new_plan = _without_distribute(env)
    env.host.plan = lambda: new_plan
    c = env.login()
    graph = c.get(f"/api/runs/{env.run_id}").json()["graph"]
    assert "distribute" in graph["steps"]  # the old plan's step, gone from the current plan
    assert graph["pinned"] is True and graph["plan"] == env.plan.content_hash
    assert f"From plan <code>{env.plan.content_hash[:12]}</code>" in c.get(f"/runs/{env.run_id}").text


def test_without_a_snapshot_the_current_plan_is_drawn_with_a_note(env: Env) -> None:
    new_plan = _without_distribute(env)
    with env.host.store().transaction() as conn:
        conn.execute("UPDATE plans SET snapshot = NULL WHERE hash = ?", (env.plan.content_hash,))
    env.host.plan = lambda: new_plan
    c = env.login()
    graph = c.get(f"/api/runs/{env.run_id}").json()["graph"]
    assert "distribute" not in graph["steps"] and "publish" in graph["steps"]
    assert graph["pinned"] is False and graph["plan"] == new_plan.content_hash
    page = c.get(f"/runs/{env.run_id}").text
    assert "No snapshot of plan" in page and new_plan.content_hash[:12] in page
