"""Paged listings through the CLI: `--limit` and the `--after` cursor printed on stderr walk every
run, approval and record exactly once; a cursor from elsewhere is refused."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from aios.cli.main import cli

from .workspace import write_workspace

_NEXT = re.compile(r"next page: --after (\S+)")


def aios(ws: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "-w", str(ws)], env={"AIOS_ACTOR": None})


def _walk(ws: Path, *args: str) -> list[list[Any]]:
    """Every page of a JSON listing, following the cursors."""
    pages: list[list[Any]] = []
    cursor: list[str] = []
    while True:
        result = aios(ws, *args, "--json", *cursor)
        assert result.exit_code == 0, result.output
        pages.append(json.loads(result.stdout))
        found = _NEXT.search(result.stderr)
        if found is None:
            return pages
        cursor = ["--after", found.group(1)]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = write_workspace(tmp_path_factory.mktemp("pages") / "ws")
    for _ in range(5):
        assert aios(ws, "run", "flow", "--event", str(ws / "event.json"), "--quiet").exit_code == 3
    return ws


def test_runs_list_pages_follow_the_cursor(ws: Path) -> None:
    pages = _walk(ws, "runs", "list", "--limit", "2")
    assert [len(p) for p in pages] == [2, 2, 1]
    ids = [r["id"] for p in pages for r in p]
    assert ids == [r["id"] for r in json.loads(aios(ws, "runs", "list", "--json").stdout)] and len(set(ids)) == 5
    assert [len(p) for p in _walk(ws, "runs", "list", "--limit", "3", "--status", "waiting")] == [3, 2]
    assert _walk(ws, "runs", "list", "--playbook", "flow", "--limit", "5") == [pages[0] + pages[1] + pages[2]]
    text = aios(ws, "runs", "list", "--limit", "4")
    assert _NEXT.search(text.stderr) and _NEXT.search(text.stdout) is None  # stdout stays the table


def test_approvals_list_pages_follow_the_cursor(ws: Path) -> None:
    pages = _walk(ws, "approvals", "list", "--limit", "2")
    assert [len(p) for p in pages] == [2, 2, 1]
    ids = [a["id"] for p in pages for a in p]
    assert len(set(ids)) == 5 and ids == [a["id"] for a in json.loads(aios(ws, "approvals", "list", "--json").stdout)]
    run_id = pages[0][0]["run_id"]
    assert [a["id"] for a in _walk(ws, "approvals", "list", "--run", run_id)[0]] == [pages[0][0]["id"]]


def test_a_foreign_cursor_is_refused(ws: Path) -> None:
    bad = aios(ws, "runs", "list", "--after", "bm90LWEta2V5")
    assert bad.exit_code == 1 and "not a cursor from this listing" in bad.stderr
    assert aios(ws, "approvals", "list", "--limit", "0").exit_code == 2
