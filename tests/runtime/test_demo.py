"""`make demo`: the example workspace end to end in a fresh folder, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (ROOT / "aios.yaml").is_file(), reason="the example workspace is not in this checkout")
def test_demo_runs_to_completion_through_the_approval(tmp_path: Path) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "aios.demo"], capture_output=True, text=True, env=env, timeout=300,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "no problems found" in out
    assert "waiting for approval" in out or "(gate) at step `approval`" in out
    assert "approved by operator" in out
    assert "content-pipeline  completed" in out
    assert "record: Project" in out and "record: ContentPiece" in out
    assert "log verified:" in out
    assert not list(tmp_path.glob("aios-demo-*"))  # the fresh folder is cleaned up
    assert not (ROOT / "site").exists() or not any((ROOT / "site").glob("*.md"))  # the repository is untouched
