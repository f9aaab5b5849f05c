"""Interventions in a real browser against a real `aios serve` on the review workspace (content-pipeline's
`distribute` waits for approval under rule `social_blast`; rule `no_tiktok` denies TikTok):

3. reject an approval and see its compensation on the run page;
4. pause the playbook, emit an event and see it queued with no run; resume, and the run starts;
5. edit then approve: a refused edit shows a clear error, an accepted one leaves both versions in
   the trace.

Screenshots go to `browser.screenshot_dir()`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..live.liveserver import ServerProcess
from .browser import require_browser, screenshot_dir
from .review_workspace import review_copy
from .test_browser import _aios, _db, _emit, _login, _wait, browser, page  # noqa: F401  (fixtures)
from .workspace import lead

pytestmark = pytest.mark.slow

PB = "content-pipeline"
LONG = 30_000  # ms: Playwright's auto-waiting, generous on a shared machine


@pytest.fixture(scope="module")
def review(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path, str]]:
    require_browser()
    ws = review_copy(tmp_path_factory.mktemp("interventions") / "ws")
    made = _aios(ws, "token", "create", "--name", "browser", "--json")
    assert made.returncode == 0, made.stderr
    srv = ServerProcess(ws, "serve", "--no-schedules")
    try:
        srv.start()
        yield srv, ws, json.loads(made.stdout)["token"]
    finally:
        srv.stop()


def _waiting_at_distribute(ws: Path, event_id: str) -> tuple[str, str]:
    """(run id, approval id) once the event's run waits for approval at `distribute`."""
    row = _wait(lambda: _db(ws, "SELECT r.id, a.id FROM approvals a JOIN runs r ON r.id = a.run_id WHERE "
                                "r.event_id = ? AND a.step_id = 'distribute' AND a.status = 'pending'",
                            (event_id,)), f"the run of {event_id} to wait at distribute")
    return str(row[0][0]), str(row[0][1])


def _submit_edit(tab: Any, srv: ServerProcess, approval_id: str, edited: dict[str, Any], note: str) -> None:
    tab.goto(f"{srv.url}/approvals/{approval_id}")
    form = tab.locator("form.edit-approve")
    tab.locator("details.edit summary").click()
    form.locator("textarea[name=input]").fill(json.dumps(edited, indent=2))
    form.locator("input[name=note]").fill(note)
    form.locator("button[type=submit]").click()


def test_5_edit_then_approve(review: tuple[ServerProcess, Path, str], page: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    srv, ws, token = review
    _emit(ws, lead("lead-edit", budget=100))
    run_id, approval_id = _waiting_at_distribute(ws, "lead-edit")
    _login(page, srv.url, token)
    shots = screenshot_dir()
    page.goto(f"{srv.url}/approvals/{approval_id}")
    card = page.locator(f"article.approval-card[id='{approval_id}']")
    expect(card).to_contain_text("social.schedule")
    expect(card).to_contain_text("social_blast")
    page.screenshot(path=str(shots / "approval.png"), full_page=True)
    page.locator("details.edit summary").click()
    proposed = json.loads(page.locator("form.edit-approve textarea[name=input]").input_value())
    assert proposed["channels"] == ["linkedin", "newsletter", "mastodon", "bluesky"]

    # off the connector's contract: refused with the reason, nothing decided
    _submit_edit(page, srv, approval_id, {**proposed, "channels": "linkedin"}, "one string")
    error = page.locator("main p.error")
    expect(error).to_contain_text("does not match the contract", timeout=LONG)
    expect(error).to_contain_text("still pending")
    # a policy denies the edited input: refused, naming the rule
    _submit_edit(page, srv, approval_id, {**proposed, "channels": ["tiktok"]}, "try tiktok")
    expect(error).to_contain_text("no_tiktok", timeout=LONG)
    expect(error).to_contain_text("No posts to TikTok")
    page.screenshot(path=str(shots / "edit-refused.png"), full_page=True)
    assert _db(ws, "SELECT status FROM approvals WHERE id = ?", (approval_id,)) == [("pending",)]

    # a valid edit: approved, the run completes with it, both versions in the trace
    edited = {**proposed, "channels": ["linkedin"]}
    _submit_edit(page, srv, approval_id, edited, "LinkedIn only")
    page.wait_for_url(srv.url + "/approvals")
    page.goto(f"{srv.url}/runs/{run_id}")
    expect(page.locator(f"dl [data-run-status='{run_id}']")).to_have_text("completed", timeout=LONG)
    step = page.locator("#step-distribute")
    expect(step.locator(".status").first).to_have_text("completed", timeout=LONG)
    versions = step.locator(".edited > div")
    expect(versions).to_have_count(2, timeout=LONG)
    expect(versions.nth(0)).to_contain_text("bluesky")
    expect(versions.nth(1)).to_contain_text("linkedin")
    expect(versions.nth(1)).not_to_contain_text("bluesky")
    expect(step.locator("p.approval").last).to_contain_text("LinkedIn only")
    page.screenshot(path=str(shots / "run-edited.png"), full_page=True)
    trace = page.request.get(f"{srv.url}/api/runs/{run_id}").json()
    done = next(s for s in trace["steps"] if s["step_id"] == "distribute")
    assert done["input"]["channels"] == ["linkedin"]
    assert not page.errors, page.errors


def test_4_pause_queue_resume(review: tuple[ServerProcess, Path, str], page: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    srv, ws, token = review
    _login(page, srv.url, token)
    shots = screenshot_dir()
    page.goto(f"{srv.url}/playbooks/{PB}")
    switch = page.locator("dd.switch")
    switch.locator("input[name=note]").fill("checking the prompts")
    switch.locator("button", has_text="Pause").click()
    expect(page.locator("#pause-state")).to_have_text("paused", timeout=LONG)

    _emit(ws, lead("lead-paused", budget=100))
    _wait(lambda: _db(ws, "SELECT 1 FROM live_held WHERE event_id = 'lead-paused' AND playbook = ? AND "
                          "released_at IS NULL", (PB,)), "the event to be held")
    page.goto(f"{srv.url}/playbooks/{PB}")
    expect(switch).to_contain_text("1 events queued", timeout=LONG)
    assert _db(ws, "SELECT count(*) FROM runs WHERE event_id = 'lead-paused'") == [(0,)]
    page.goto(f"{srv.url}/runs?playbook={PB}")
    runs_before = page.locator("a[href^='/runs/run']").count()
    page.goto(f"{srv.url}/playbooks/{PB}")
    page.screenshot(path=str(shots / "playbook-paused.png"), full_page=True)

    switch.locator("button", has_text="Resume").click()
    expect(page.locator("#pause-state")).to_have_text("active", timeout=LONG)
    run_id = _wait(lambda: (_db(ws, "SELECT id FROM runs WHERE event_id = 'lead-paused'") or [[None]])[0][0],
                   "the held event's run")
    page.goto(f"{srv.url}/runs?playbook={PB}")
    expect(page.locator(f"a[href='/runs/{run_id}']")).to_have_count(1, timeout=LONG)
    assert page.locator("a[href^='/runs/run']").count() == runs_before + 1
    page.screenshot(path=str(shots / "runs-resumed.png"), full_page=True)
    page.goto(f"{srv.url}/runs/{run_id}")
    expect(page.locator(f"dl [data-run-status='{run_id}']")).to_have_text("waiting", timeout=LONG)
    assert not page.errors, page.errors


def test_3_reject_and_see_the_compensation(review: tuple[ServerProcess, Path, str], page: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    srv, ws, token = review
    _emit(ws, lead("lead-reject", budget=100))
    run_id, approval_id = _waiting_at_distribute(ws, "lead-reject")
    _login(page, srv.url, token)
    page.goto(f"{srv.url}/approvals/{approval_id}")
    card = page.locator(f"article.approval-card[id='{approval_id}']")
    card.locator("form.decide:not(.edit-approve) input[name=note]").fill("Too many channels")
    card.locator("button", has_text="Reject").click()
    page.wait_for_url(srv.url + "/approvals")
    page.goto(f"{srv.url}/runs/{run_id}")
    expect(page.locator(f"dl [data-run-status='{run_id}']")).to_have_text("rejected", timeout=LONG)
    expect(page.locator("#step-publish p.comp").first).to_contain_text("cms.unpublish", timeout=LONG)
    expect(page.locator("#step-distribute p.approval").last).to_contain_text("Too many channels")
    page.screenshot(path=str(screenshot_dir() / "run-compensated.png"), full_page=True)
    assert not page.errors, page.errors
