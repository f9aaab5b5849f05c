"""Records, playbooks and overview pages, the run page's graph, and the runs filters: each page's
JSON and HTML from one context, record diffs with provenance, chart data, keyset paging under every
filter (each row exactly once), the filters' query plans, and the incremental log-integrity cache."""

from __future__ import annotations

import html
import json
import sqlite3
from typing import Any

import pytest

from aios.web.views.records import diff

from .conftest import Env


def _all_pages(c: Any, url: str) -> tuple[list[str], int]:
    seen: list[str] = []
    pages = 0
    while url:
        body = c.get(url).json()
        assert "error" not in body, body
        seen += [r["id"] for r in body["runs"]]
        url = body["next_url"] and "/api" + body["next_url"]
        pages += 1
        assert pages < 200
    return seen, pages


def _approve(env: Env, approval_id: str, actor: str = "operator") -> None:
    from aios.runtime.interpreter import Runtime

    with Runtime(env.plan, env.ws) as rt:
        rt.decide(approval_id, approve=True, note="ok", actor=actor)


def test_diff_names_each_added_removed_and_changed_field() -> None:
    before = {"a": 1, "b": {"c": "x", "d": [1]}, "gone": True}
    after = {"a": 1, "b": {"c": "y", "d": [1, 2], "e": None}, "new": "n"}
    assert diff(before, after) == [
        {"field": "b.c", "change": "changed", "before": "x", "after": "y"},
        {"field": "b.d", "change": "changed", "before": [1], "after": [1, 2]},
        {"field": "b.e", "change": "added", "before": None, "after": None},
        {"field": "gone", "change": "removed", "before": True, "after": None},
        {"field": "new", "change": "added", "before": None, "after": "n"},
    ]
    assert diff({"n": 1}, {"n": 1.0}) == [{"field": "n", "change": "changed", "before": 1, "after": 1.0}]
    assert diff({"x": 1}, {"x": 1}) == []


def test_records_browse_and_history_with_diffs_and_provenance(env: Env) -> None:
    _approve(env, env.approval_id)  # the run completes and writes more records
    c = env.login()
    schemas = c.get("/api/records").json()
    written = [s for s in schemas["schemas"] if s["count"]]
    assert written, schemas
    schema = written[0]["name"]
    body = c.get(f"/api/records?schema={schema}&_size=1").json()
    assert body["schema"] == schema and len(body["records"]) == 1
    page = html.unescape(c.get(f"/records?schema={schema}&_size=1").text)
    assert body["records"][0]["id"] in page
    # every current record of the schema once, across keyset pages
    ids: list[str] = []
    url: str | None = f"/api/records?schema={schema}&_size=1"
    while url:
        b = c.get(url).json()
        ids += [r["id"] for r in b["records"]]
        url = b["next_url"] and "/api" + b["next_url"]
    assert len(ids) == len(set(ids)) == written[0]["count"]
    assert c.get(f"/api/records?schema={schema}&_next=garbage").status_code == 400

    # a second version of a record: its diff against the first, and provenance links to the runs
    conn = sqlite3.connect(env.storage / "state.db")
    try:
        schema, rid, data, run_id = conn.execute(
            "SELECT schema, id, data, run_id FROM records ORDER BY written_at LIMIT 1").fetchone()
    finally:
        conn.close()
    from aios.runtime.log import now_iso
    from aios.runtime.records import RecordStore
    from aios.runtime.store import Store

    old = json.loads(data)
    key = next(k for k, v in old.items() if isinstance(v, str) and k != "id")
    new = {**old, key: old[key] + " (edited)"}
    store = Store.open(env.storage)
    try:
        with store.transaction() as tx:
            RecordStore(tx).write(env.plan.schema_map[schema], rid, new, run_id=env.run_id, step_id="edit",
                                  plan_hash="p" * 64, at=now_iso())
    finally:
        store.close()
    rec = c.get(f"/api/records/{schema}/{rid}").json()
    assert [v["version"] for v in rec["versions"]] == [2, 1]
    v2, v1 = rec["versions"]
    assert v2["changes"] == [{"field": key, "change": "changed", "before": old[key], "after": new[key]}]
    assert {ch["change"] for ch in v1["changes"]} == {"added"} and len(v1["changes"]) == len(old)
    assert v1["run_url"] == f"/runs/{run_id}" and v2["step_id"] == "edit" and v2["plan_hash"] == "p" * 64
    page = html.unescape(c.get(f"/records/{schema}/{rid}").text)
    assert f'href="/runs/{run_id}"' in page and f'href="/runs/{env.run_id}#step-edit"' in page
    assert "(edited)" in page and "pppppppppppp" in page
    assert c.get(f"/api/records/{schema}/nope").status_code == 404
    # runs that wrote this record: the filter finds both runs
    wrote = c.get("/api" + rec["runs_url"]).json()["runs"]
    assert {r["id"] for r in wrote} == {run_id, env.run_id}


def test_playbooks_list_detail_chart_data_graph_and_switch(env: Env) -> None:
    c = env.login()
    lst = c.get("/api/playbooks").json()
    names = [p["name"] for p in lst["playbooks"]]
    assert names == sorted(env.plan.playbook_map)
    cp = next(p for p in lst["playbooks"] if p["name"] == "content-pipeline")
    assert cp["last_run"]["id"] == env.run_id and cp["last_run"]["status"] == "waiting"
    assert cp["runs"] == 1 and sum(cp["runs_per_day"]["waiting"]) == 1
    page = html.unescape(c.get("/playbooks").text)
    assert all(n in page for n in names) and env.run_id in page
    one = c.get("/api/playbooks/content-pipeline").json()
    assert len(one["cost_per_day"]) == len(one["day_labels"]) == one["days"] == 30
    assert one["runs_per_day"]["waiting"][-1] == 1.0  # today's run
    assert one["graph"]["steps"] and one["graph"]["svg"].startswith("<svg")
    page = c.get("/playbooks/content-pipeline").text
    assert page.count("<svg") == 3 and 'class="chart"' in page
    assert "<title>" in one["charts"]["runs"] and "waiting: 1" in one["charts"]["runs"]
    assert one["pause"]["status"] == "active" and 'action="/playbooks/content-pipeline/pause"' in page
    # the switch is a form: posting it (with the CSRF token) pauses the playbook as the session's actor
    r = c.post("/playbooks/content-pipeline/pause", data={"csrf_token": c.cookies["aios_csrf"], "note": "audit"})
    assert r.status_code == 303, r.text
    one = c.get("/api/playbooks/content-pipeline").json()
    assert one["pause"]["status"] == "paused" and one["pause"]["paused_by"] == "operator"
    page = c.get("/playbooks/content-pipeline").text
    assert 'action="/playbooks/content-pipeline/resume"' in page and ">Resume<" in page
    assert next(p for p in c.get("/api/playbooks").json()["playbooks"]
                if p["name"] == "content-pipeline")["pause"]["status"] == "paused"
    assert c.get("/api/playbooks/nope").status_code == 404
    assert c.get("/api/playbooks?days=0").status_code == 400


def test_run_page_shows_the_graph_with_the_runs_path_and_statuses(env: Env) -> None:
    c = env.login()
    run = c.get(f"/api/runs/{env.run_id}").json()
    g = run["graph"]
    assert g["statuses"]["approval"] == "waiting" and "approval" in g["highlight"]
    assert set(g["highlight"]) == {s["step_id"] for s in run["steps"] if s["status"] != "skipped"}
    assert "publish" not in g["highlight"] and "publish" in g["steps"]
    page = c.get(f"/runs/{env.run_id}").text
    assert 'id="run-graph"' in page and 'id="run-graph-arrow' in page


def test_overview_charts_waiting_approvals_handoffs_and_integrity(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from aios.web.views import overview

    monkeypatch.setattr(overview, "CACHE_S", 0.0)
    second = env.start("lead-2")
    c = env.login()
    o = c.get("/api/overview").json()
    assert o["runs_per_day"]["by_status"]["waiting"][-1] == 2 and o["runs_per_day"]["total"] == 2
    assert set(o["cost_per_day"]["by_playbook"]) == set(env.plan.playbook_map)
    assert o["approvals_waiting"]["count"] == 2
    assert [a["id"] for a in o["approvals_waiting"]["oldest"]] == [env.approval_id, second.approval.id]
    assert all(a["age_s"] >= 0 for a in o["approvals_waiting"]["oldest"])
    assert sum(o["handoffs_per_week"]["counts"]) == 0
    assert o["integrity"]["ok"] and o["integrity"]["verified_seq"] == o["integrity"]["last_seq"] > 0
    page = html.unescape(c.get("/overview").text)
    assert o["integrity"]["message"] in page and page.count('class="chart"') >= 3
    _approve(env, env.approval_id)
    o = c.get("/api/overview").json()
    assert sum(o["handoffs_per_week"]["counts"]) == 1 and o["approvals_waiting"]["count"] == 1
    # a timeout is not a handoff
    conn = sqlite3.connect(env.storage / "state.db")
    try:
        conn.execute("UPDATE approvals SET status = 'expired', decided_by = 'timeout', decided_at = requested_at "
                     "WHERE id = ?", (second.approval.id,))
        conn.commit()
    finally:
        conn.close()
    assert sum(c.get("/api/overview").json()["handoffs_per_week"]["counts"]) == 1


def test_overview_figures_are_reused_within_their_time_to_live(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from aios.web.views import overview

    monkeypatch.setattr(overview, "CACHE_S", 3600.0)
    c = env.login()
    before = c.get("/api/overview?days=7").json()
    second = env.start("lead-2")
    after = c.get("/api/overview?days=7").json()
    assert after["figures_at"] == before["figures_at"] and after["runs_per_day"] == before["runs_per_day"]
    assert after["approvals_waiting"]["count"] == 2  # read every time, as is the log's integrity
    assert after["integrity"]["verified_seq"] > before["integrity"]["verified_seq"]
    assert second.approval.id in [a["id"] for a in after["approvals_waiting"]["oldest"]]
    monkeypatch.setattr(overview, "CACHE_S", 0.0)
    assert c.get("/api/overview?days=7").json()["runs_per_day"]["total"] == 2


def test_integrity_is_verified_incrementally_from_the_persisted_prefix(env: Env) -> None:
    from aios.web.integrity import CACHE_FILE, integrity

    conn = sqlite3.connect(env.storage / "state.db")
    try:
        first = integrity(conn, env.storage, step=5)
        assert first["ok"] and first["verified_seq"] == first["walked"] == 5 and first["behind"] > 0
        assert json.loads((env.storage / CACHE_FILE).read_text())["seq"] == 5
        rest = integrity(conn, env.storage)
        assert rest["ok"] and rest["walked"] == rest["last_seq"] - 5 and rest["behind"] == 0
        again = integrity(conn, env.storage)
        assert again["walked"] == 0 and again["verified_seq"] == rest["verified_seq"]
        env.start("lead-3")
        more = integrity(conn, env.storage)
        assert more["ok"] and 0 < more["walked"] == more["last_seq"] - rest["verified_seq"]
        # an entry after the verified prefix altered: found, and the prefix is not advanced past it
        last = more["last_seq"]
        env.start("lead-4")
        conn.execute("DROP TRIGGER log_no_update")
        conn.execute("UPDATE log SET body = '{\"tampered\":1}' WHERE seq = ?", (last + 2,))
        conn.commit()
        bad = integrity(conn, env.storage)
        assert not bad["ok"] and bad["broken_at"] == last + 2 and bad["verified_seq"] == last + 1
        assert json.loads((env.storage / CACHE_FILE).read_text())["seq"] == last
        # the cached entry itself altered: the walk starts over from the anchor and finds it
        conn.execute("UPDATE log SET hash = zeroblob(32) WHERE seq = ?", (last,))
        conn.commit()
        worse = integrity(conn, env.storage)
        assert not worse["ok"] and worse["broken_at"] == last
    finally:
        conn.close()


@pytest.fixture
def many(env: Env) -> Env:
    """Runs of two playbooks across several days and costs, two approved by different people."""
    from aios.runtime.interpreter import Runtime

    with Runtime(env.plan, env.ws) as rt:
        for i in range(14):
            rt.admit("content-pipeline",
                     {"type": "lead.received", "id": f"bulk-{i}",
                      "payload": {"name": "A", "email": "a@b.example", "message": "m", "budget_eur": 10,
                                  "topics": []}})
    conn = sqlite3.connect(env.storage / "state.db")
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE id != ? ORDER BY id", (env.run_id,))]
        for i, rid in enumerate(ids):
            conn.execute("UPDATE runs SET created_at = ?, cost_usd = ?, playbook = ? WHERE id = ?",
                         (f"2026-11-{10 + i % 5:02d}T10:00:00.{i:03d}Z", i * 0.01,
                          "support-triage" if i % 3 == 0 else "content-pipeline", rid))
        conn.commit()
    finally:
        conn.close()
    return env


def _expected(env: Env, where: str, args: tuple[Any, ...] = ()) -> list[str]:
    conn = sqlite3.connect(env.storage / "state.db")
    try:
        return [r[0] for r in conn.execute(f"SELECT id FROM runs WHERE {where} ORDER BY created_at DESC, id DESC",
                                           args)]
    finally:
        conn.close()


@pytest.mark.parametrize(("query", "where", "args"), [
    ("playbook=content-pipeline", "playbook = ?", ("content-pipeline",)),
    ("status=admitted", "status = ?", ("admitted",)),
    ("since=2026-11-11&until=2026-11-13", "created_at >= ? AND created_at < ?", ("2026-11-11", "2026-11-13")),
    ("since=2026-11-12T00:00Z", "created_at >= ?", ("2026-11-12",)),
    ("cost_min=0.03&cost_max=0.09", "cost_usd BETWEEN ? AND ?", (0.03, 0.09)),
    ("playbook=content-pipeline&status=admitted&cost_min=0.05", "playbook = ? AND status = ? AND cost_usd >= ?",
     ("content-pipeline", "admitted", 0.05)),
])
def test_runs_filters_page_every_match_exactly_once(many: Env, query: str, where: str, args: tuple[Any, ...]) -> None:
    c = many.login()
    expected = _expected(many, where, args)
    assert expected
    for size in (1, 2, 500):
        seen, _ = _all_pages(c, f"/api/runs?{query}&_size={size}")
        assert seen == expected, (query, size)
    html_page = html.unescape(c.get(f"/runs?{query}&_size=2").text)
    assert all(f"/runs/{r}" in html_page for r in expected[:2])


def test_bounded_scans_continue_across_short_pages(many: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from aios.web.views import runs

    monkeypatch.setattr(runs, "SCAN_CHUNK", 2)
    monkeypatch.setattr(runs, "SCAN_LIMIT", 3)
    c = many.login()
    expected = _expected(many, "cost_usd >= ?", (0.12,))
    first = c.get("/api/runs?cost_min=0.12&_size=5").json()
    assert first["scanned"] <= 3 and first["next"] is not None and len(first["runs"]) < len(expected)
    seen, pages = _all_pages(c, "/api/runs?cost_min=0.12&_size=5")
    assert seen == expected and pages > 2


def test_runs_filter_by_approver(env: Env) -> None:
    second = env.start("lead-2")
    _approve(env, env.approval_id)
    c = env.login()
    assert [r["id"] for r in c.get("/api/runs?approver=operator").json()["runs"]] == [env.run_id]
    assert c.get("/api/runs?approver=nobody").json()["runs"] == []
    assert second.run_id in [r["id"] for r in c.get("/api/runs").json()["runs"]]
    for bad in ("since=yesterday", "cost_min=abc", "record=nokey", "cost_max=nan"):
        assert c.get(f"/api/runs?{bad}").status_code == 400, bad


def test_each_filter_reads_an_index_or_a_bounded_range(env: Env) -> None:
    from aios.web.views.runs import _COLUMNS, _Filter

    conn = sqlite3.connect(env.storage / "state.db")
    try:
        def plan(q: dict[str, str], after: tuple[str, str] | None = ("2026-12-01", "run_x")) -> str:
            where, args = _Filter(q).where(after)
            rows = conn.execute(f"EXPLAIN QUERY PLAN SELECT {_COLUMNS} FROM runs {where} "
                                "ORDER BY created_at DESC, id DESC LIMIT 51", args).fetchall()
            return " | ".join(r[-1] for r in rows)

        assert "runs_created" in plan({}) and "SCAN runs" not in plan({}).replace("USING INDEX", "")
        assert "runs_playbook_created" in plan({"playbook": "p", "since": "2026-11-01"})
        assert "runs_status_created" in plan({"status": "failed", "until": "2026-11-01"})
        for q in ({}, {"playbook": "p"}, {"status": "failed"}, {"since": "2026-01-01"}):
            assert "TEMP B-TREE" not in plan(q), q  # read in index order: the page stops after LIMIT rows
        rec = plan({"record": "Project/p1"})
        assert "records" in rec and "PRIMARY KEY" in rec or "sqlite_autoindex_records" in rec, rec
        assert "SCAN runs" not in rec
    finally:
        conn.close()
