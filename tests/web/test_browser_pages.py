"""The overview, records, playbooks pages and the run page's graph in a real browser against a real
`aios serve`: each renders without script or CSP errors, and a screenshot of each is saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..live.liveserver import ServerProcess
from .browser import screenshot_dir
from .test_browser import _db, _emit, _login, _wait, browser, page, served  # noqa: F401  (fixtures)
from .workspace import lead

pytestmark = pytest.mark.slow


def test_new_pages_render_in_the_browser(served: tuple[ServerProcess, Path, str], page: Any) -> None:  # noqa: F811
    srv, ws, token = served
    _emit(ws, lead("lead-browser-pages", message="Articles on district heating."))
    run_id = _wait(lambda: (_db(ws, "SELECT id FROM runs WHERE event_id = ? AND status = 'waiting'",
                                ("lead-browser-pages",)) or [[None]])[0][0], "the run to wait for approval")
    _login(page, srv.url, token)
    shots = screenshot_dir()

    page.goto(srv.url + "/overview")
    assert "verified up to seq" in page.text_content("#integrity")
    assert page.locator("figure.chart svg").count() == 3
    page.screenshot(path=str(shots / "overview.png"), full_page=True)

    page.goto(srv.url + "/playbooks")
    page.click("text=content-pipeline")
    page.wait_for_url(srv.url + "/playbooks/content-pipeline")
    assert page.locator("figure.chart svg").count() == 2 and page.locator("figure.graph svg").count() == 1
    assert page.locator("form[action='/playbooks/content-pipeline/pause'] button").is_visible()
    page.screenshot(path=str(shots / "playbook.png"), full_page=True)

    page.goto(srv.url + "/records")
    link = page.locator("table.records tbody a").first
    link.click()
    page.wait_for_selector("article.version")
    assert page.locator("p.provenance a").first.get_attribute("href") == f"/runs/{run_id}"
    page.screenshot(path=str(shots / "record.png"), full_page=True)

    page.goto(srv.url + f"/runs/{run_id}")
    assert page.locator("#run-graph svg").count() == 1
    page.screenshot(path=str(shots / "run-graph.png"), full_page=True)

    page.goto(srv.url + "/runs?status=waiting&since=2020-01-01")
    assert page.locator(f"a[href='/runs/{run_id}']").count() == 1
    assert not page.errors, page.errors
