"""`aios init` makes a valid workspace; a non-editable wheel install carries the grammar and works."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from click.testing import CliRunner

from aios.cli.main import cli
from aios.compiler import compile_workspace
from tests.conftest import ROOT


def test_init_creates_a_clean_workspace(tmp_path: Path) -> None:
    target = tmp_path / "new shop"
    result = CliRunner().invoke(cli, ["init", str(target)])
    assert result.exit_code == 0, result.output
    compiled = compile_workspace(target)
    assert compiled.diagnostics == () and compiled.plan is not None
    assert compiled.plan.settings.name == "new-shop"


def test_a_new_workspace_runs_its_playbook_and_passes_its_policy_tests(tmp_path: Path) -> None:
    import json

    from aios.runtime.interpreter import Runtime

    target = tmp_path / "fresh"
    assert CliRunner().invoke(cli, ["init", str(target)]).exit_code == 0
    tested = CliRunner().invoke(cli, ["policy", "test", "-w", str(target)])
    assert tested.exit_code == 0 and "3 passed, 0 failed" in tested.output, tested.output
    compiled = compile_workspace(target)
    assert compiled.plan is not None
    event = json.loads((target / "events" / "note.json").read_text())
    with Runtime(compiled.plan, target) as rt:
        outcome = rt.start("file-note", event)
    assert outcome.ok, outcome  # the first run a new user makes completes, its file write allowed by policy
    written = list((target / "outbox" / "notes").glob("*.md"))
    assert len(written) == 1 and written[0].read_text().startswith("# ")


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["init", str(tmp_path)])
    assert result.exit_code == 2
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_wheel_install_is_self_contained(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheel_dir), str(ROOT)], check=True, capture_output=True)
    wheel = next(wheel_dir.glob("aios-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "aios/connectors/builtin.yaml" in names
    assert any(n.startswith("aios/grammar/") and n.endswith(".lark") for n in names), names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = ("import aios, sys; from aios.resources import grammar_path; "
             "assert aios.__file__.startswith(sys.argv[1]), aios.__file__; "
             "p = grammar_path('rules.lark'); assert str(p).startswith(sys.argv[1]), p; print('ok')")
    out = subprocess.run([sys.executable, "-c", probe, str(target)], env=env, capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.stdout.strip() == "ok", out.stderr
    validate = subprocess.run([sys.executable, "-m", "aios", "validate", str(ROOT)], env=env, capture_output=True,
                              text=True, cwd=tmp_path)
    assert validate.returncode == 0, validate.stdout + validate.stderr
