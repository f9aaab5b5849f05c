"""The dashboard in a real browser (Playwright driving Chromium) against a real `aios serve` on
127.0.0.1, serving a copy of the example workspace. Screenshots of the main pages go to
`browser.screenshot_dir()` (tests/web/screenshots/ unless AIOS_SCREENSHOTS says otherwise)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.waiting import wait_until

from ..live.liveserver import ServerProcess
from .browser import CHROMIUM, require_browser, screenshot_dir
from .workspace import CANARY, CANARY_ENV, example_copy, lead

pytestmark = pytest.mark.slow


def _aios(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("AIOS_ACTOR", None)
    return subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True, text=True,
                          env=env, timeout=120)


def _wait(check: Any, what: str, timeout: float = 60.0) -> Any:
    return wait_until(check, timeout, what, interval=0.1)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path, str]]:
    """`aios serve` on the example workspace, with a canary as a declared secret's value."""
    require_browser()
    ws = example_copy(tmp_path_factory.mktemp("browser") / "ws")
    made = _aios(ws, "token", "create", "--name", "browser", "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    saved = os.environ.get(CANARY_ENV)
    os.environ[CANARY_ENV] = CANARY
    srv = ServerProcess(ws, "serve", "--no-schedules")
    try:
        srv.start()
        yield srv, ws, token
    finally:
        srv.stop()
        if saved is None:
            os.environ.pop(CANARY_ENV, None)
        else:
            os.environ[CANARY_ENV] = saved


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    # script errors and CSP violations (a refused login's 401 is expected, and not collected)
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text
         else None)
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.errors = errors
    try:
        yield p
    finally:
        context.close()


def _login(page: Any, url: str, token: str) -> None:
    page.goto(url + "/runs")
    assert "/login" in page.url
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/runs")


def _emit(ws: Path, event: dict[str, Any]) -> None:
    done = _aios(ws, "emit", event["type"], "--id", str(event["id"]), "--payload", json.dumps(event["payload"]))
    assert done.returncode == 0, done.stdout + done.stderr


def _db(ws: Path, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
    conn = sqlite3.connect(ws / ".aios" / "state.db", timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_1_token_login(served: tuple[ServerProcess, Path, str], page: Any) -> None:
    srv, _, token = served
    page.goto(srv.url + "/")
    assert "/login" in page.url
    page.fill("input[name=token]", "aios_not-a-real-token")
    page.click("button[type=submit]")
    assert "Unknown or revoked token" in page.text_content("main")
    page.screenshot(path=str(screenshot_dir() / "login.png"), full_page=True)
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(srv.url + "/runs")
    assert page.text_content("header .who span") == "operator"
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["aios_session"]["httpOnly"] and cookies["aios_session"]["sameSite"] == "Strict"
    assert not page.errors, page.errors


def test_2_approve_in_the_inbox_and_watch_the_run_complete_live(served: tuple[ServerProcess, Path, str],
                                                                  page: Any) -> None:
    srv, ws, token = served
    _emit(ws, lead("lead-browser-approve", message="A series on heat pumps for homeowners."))
    run_id = _wait(lambda: (_db(ws, "SELECT id FROM runs WHERE event_id = ? AND status = 'waiting'",
                                ("lead-browser-approve",)) or [[None]])[0][0], "the run to wait for approval")
    _login(page, srv.url, token)
    shots = screenshot_dir()
    page.screenshot(path=str(shots / "runs.png"), full_page=True)

    # the run page, open in its own tab: it must update by itself
    run_tab = page.context.new_page()
    run_errors: list[str] = []
    run_tab.on("console", lambda m: run_errors.append(m.text) if m.type == "error" else None)
    run_tab.on("pageerror", lambda e: run_errors.append(str(e)))
    run_tab.goto(f"{srv.url}/runs/{run_id}")
    assert run_tab.text_content(f"dl [data-run-status='{run_id}']") == "waiting"
    run_tab.evaluate("window.__notReloaded = true")
    run_tab.screenshot(path=str(shots / "run-waiting.png"), full_page=True)

    page.goto(srv.url + "/approvals")
    card = page.locator("article.approval-card").filter(has_text=run_id)
    card.wait_for()
    text = card.text_content()
    draft = json.loads(_db(ws, "SELECT body FROM log WHERE run_id = ? AND step_id = 'draft' AND type = "
                               "'step.completed'", (run_id,))[0][0])["out"]
    assert draft["title"] in text
    assert json.dumps(draft["body"], ensure_ascii=False)[1:-1] in text  # the full draft, not a summary
    assert "cms.publish" in text and "social.schedule" in text and "operator" in text
    page.screenshot(path=str(shots / "approvals.png"), full_page=True)
    card.locator("input[name=note]").fill("Reviewed the draft")
    card.locator("button", has_text="Approve").click()
    page.wait_for_url(srv.url + "/approvals")
    assert "Reviewed the draft" in page.text_content("main")

    from playwright.sync_api import expect

    expect(run_tab.locator(f"dl [data-run-status='{run_id}']")).to_have_text("completed", timeout=30_000)
    expect(run_tab.locator("#step-distribute .status")).to_have_text("completed", timeout=30_000)
    expect(run_tab.locator(f"form[action='/runs/{run_id}/cancel']")).to_have_count(0)  # the facts refreshed too
    assert run_tab.evaluate("window.__notReloaded") is True
    assert "approved by" in run_tab.text_content("#step-approval") and "Reviewed the draft" in \
        run_tab.text_content("#step-approval")
    run_tab.screenshot(path=str(shots / "run-completed.png"), full_page=True)
    assert not run_errors, run_errors  # no CSP violation, no script error
    page.goto(srv.url + "/alerts")
    page.screenshot(path=str(shots / "alerts.png"), full_page=True)
    assert not page.errors, page.errors
    print(f"screenshots in {shots}")


def test_6_no_csrf_token_and_no_credentials_are_refused(served: tuple[ServerProcess, Path, str], page: Any) -> None:
    srv, ws, token = served
    _emit(ws, lead("lead-browser-csrf"))
    _wait(lambda: _db(ws, "SELECT 1 FROM approvals a JOIN runs r ON r.id = a.run_id WHERE r.event_id = ? AND "
                          "a.status = 'pending'", ("lead-browser-csrf",)), "the approval")
    _login(page, srv.url, token)
    page.goto(srv.url + "/approvals")
    card = page.locator("article.approval-card").filter(has_text="heat pumps").first
    approval_id = card.get_attribute("id")
    # a real form submission with the CSRF field taken out of the page
    card.locator("input[name=csrf_token]").evaluate("el => el.remove()")
    with page.expect_response(lambda r: r.url.endswith(f"/approvals/{approval_id}/approve")) as refused:
        card.locator("button", has_text="Approve").click()
    assert refused.value.status == 403
    # a scripted POST with the session cookie but no token
    r = page.request.post(f"{srv.url}/approvals/{approval_id}/approve", form={"note": "forged"},
                          max_redirects=0)
    assert r.status == 403
    # no credentials at all
    anonymous = httpx.post(f"{srv.url}/api/approvals/{approval_id}/approve", json={"note": "anon"})
    assert anonymous.status_code == 401
    assert httpx.get(f"{srv.url}/api/runs").status_code == 401
    assert _db(ws, "SELECT status FROM approvals WHERE id = ?", (approval_id,)) == [("pending",)]
    # the same call with the token as Bearer (no cookie, no CSRF) is what scripts do
    ok = httpx.post(f"{srv.url}/api/approvals/{approval_id}/reject", json={"note": "scripted"},
                    headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()["by"] == "operator"
    # webhooks and health still answer beside the dashboard
    health = httpx.get(f"{srv.url}/healthz")
    assert health.status_code == 200 and health.json()["ok"] is True


def test_7_a_canary_secret_appears_in_no_page_and_no_api_response(served: tuple[ServerProcess, Path, str],
                                                                   page: Any) -> None:
    srv, ws, token = served
    _emit(ws, lead("lead-browser-canary", message=f"Our supplier key is {CANARY}, use it."))
    run_id = _wait(lambda: (_db(ws, "SELECT id FROM runs WHERE event_id = ? AND status = 'waiting'",
                                ("lead-browser-canary",)) or [[None]])[0][0], "the canary run")
    conn = sqlite3.connect(ws / ".aios" / "state.db", timeout=30)
    try:  # data written around the masking (as if stored before the secret was declared)
        with conn:
            conn.execute("INSERT INTO alerts(run_id, severity, message, created_at) VALUES (?,?,?,?)",
                         (run_id, "critical", f"leaked {CANARY} in \"{CANARY}\"", "2026-01-01T00:00:00Z"))
    finally:
        conn.close()
    bodies: list[str] = []

    def keep(response: Any) -> None:
        with contextlib.suppress(Exception):  # redirects and streams have no body to read
            bodies.append(response.text())

    page.on("response", keep)
    _login(page, srv.url, token)
    for path in ("/runs", f"/runs/{run_id}", "/approvals", "/alerts", "/alerts?all=1"):
        page.goto(srv.url + path)
        bodies.append(page.content())
        api = page.request.get(srv.url + "/api" + path)
        assert api.ok, path
        bodies.append(api.text())
    page.goto(f"{srv.url}/runs/{run_id}")
    page.screenshot(path=str(screenshot_dir() / "run-masked.png"), full_page=True)
    assert len(bodies) >= 10 and any("***" in b for b in bodies)
    leaks = [b[max(0, b.find(CANARY) - 80):b.find(CANARY) + 80] for b in bodies if CANARY in b]
    assert not leaks, leaks
    assert not any(CANARY[:10] in b for b in bodies)
