"""`aios memory …` in a real process, as an operator runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import aios_cmd


def aios(ws: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*aios_cmd(), *args], cwd=ws, capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_every_memory_command_has_help(workspace: Path) -> None:
    for sub in ("add", "search", "stats", "reindex", "compact", "verify"):
        out = aios(workspace, "memory", sub, "--help").stdout
        assert "Usage:" in out and len(out.splitlines()) > 3
    assert "memory" in aios(workspace, "--help").stdout


def test_search_add_stats_reindex_compact_verify(workspace: Path) -> None:
    out = aios(workspace, "memory", "search", "rush", "jobs").stdout
    assert "knowledge/pricing.md:7-9" in out and "[note]" in out

    hits = json.loads(aios(workspace, "memory", "search", "duplicate card charge", "--json", "--limit", "1").stdout)
    assert hits[0]["provenance"] == {"type": "file", "path": "knowledge/support/faq.md", "line_start": 3,
                                     "line_end": 5}

    extra = workspace / "notes.txt"
    extra.write_text("The studio closes for the summer in July.\n")
    assert "indexed 1 chunk" in aios(workspace, "memory", "add", "notes.txt").stdout
    assert "notes.txt:1-1" in aios(workspace, "memory", "search", "summer closing", "--no-recency").stdout

    stats = json.loads(aios(workspace, "memory", "stats", "--json").stdout)
    assert dict(stats["by_kind"])["note"] == 4 and stats["knowledge_files"] == 3

    assert "4 note chunk(s)" in aios(workspace, "memory", "reindex").stdout
    assert "archived 0 log entries" in aios(workspace, "memory", "compact").stdout
    assert "archive verified" in aios(workspace, "memory", "verify").stdout

    none = aios(workspace, "memory", "search", "zzzqqq", "--kind", "record").stdout
    assert none.strip() == "no hits"


@pytest.mark.parametrize("args, message", [
    (("search", "x", "--since", "yesterday"), "neither an ISO date nor an age"),
    (("search", "x", "--kind", "nope"), "unknown kind `nope`"),
    (("search", "x", "--field", "novalue"), "--field takes NAME=VALUE"),
    (("search", "x", "--field", "bad key=1"), "not a record field path"),
    (("add", "missing.md"), "does not exist"),
])
def test_user_errors_are_messages_not_tracebacks(workspace: Path, args: tuple[str, ...], message: str) -> None:
    proc = aios(workspace, "memory", *args, ok=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
