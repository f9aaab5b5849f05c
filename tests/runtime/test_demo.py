"""`make demo`: the example workspace end to end, offline, in place; afterwards the README's next
commands work on what it left, and running it again works too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("aios.yaml", "playbooks", "prompts", "policies", "connectors", "events", "knowledge", "schema")


def _example_copy(dst: Path) -> Path:
    """The example workspace as it is in a fresh checkout (the demo runs in place; the test must not
    write into the repository)."""
    dst.mkdir()
    for part in PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dst / part, ignore=shutil.ignore_patterns("__pycache__", ".aios"))
        elif src.is_file():
            shutil.copy2(src, dst / part)
    return dst


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("AIOS_ACTOR", None)
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, timeout=300,
                          cwd=cwd)


@pytest.mark.skipif(not (ROOT / "aios.yaml").is_file(), reason="the example workspace is not in this checkout")
def test_demo_runs_through_the_approval_and_leaves_a_workspace_to_explore(tmp_path: Path) -> None:
    ws = _example_copy(tmp_path / "example")
    proc = _run(["aios.demo", "--workspace", str(ws)], cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "no problems found" in out
    assert "waiting for approval" in out or "(gate) at step `approval`" in out
    assert "approved by operator" in out
    assert "content-pipeline  completed" in out
    assert "record: Project" in out and "record: ContentPiece" in out
    assert "log verified:" in out
    run_id = re.findall(r"aios runs show (run_\w+)", out)[-1]

    # the README's next commands, from the workspace folder, on what the demo left
    shown = _run(["aios", "runs", "show", run_id], cwd=ws)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"run {run_id}  content-pipeline  completed")
    decided = _run(["aios", "approvals", "list", "--all"], cwd=ws)
    assert decided.returncode == 0 and "approved by operator" in decided.stdout
    assert "Project" in _run(["aios", "records", "list"], cwd=ws).stdout

    # again: a fresh event id, a second run next to the first
    again = _run(["aios.demo", "--workspace", str(ws)], cwd=ws)
    assert again.returncode == 0, again.stdout + again.stderr
    second = re.findall(r"aios runs show (run_\w+)", again.stdout)[-1]
    assert second != run_id
    listed = _run(["aios", "runs", "list", "--status", "completed"], cwd=ws).stdout
    assert run_id in listed and second in listed
