"""`aios validate` as a user runs it: formats, exit codes, positions, start-up imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from aios.cli.main import COMMANDS, cli
from tests.compiler.workspace_copy import copy_example, edit
from tests.conftest import ROOT, SHARED


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    ws = copy_example(tmp_path / "ws")
    edit(ws / "playbooks" / "content-pipeline.yaml", "agent: editor", "agent: editr")
    edit(ws / "playbooks" / "content-pipeline.yaml", "needs: [publish]", "needs: [pubish]")
    return ws


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_example_workspace_is_clean() -> None:
    code, out = run("validate", str(ROOT))
    assert code == 0, out
    assert out.startswith("no problems found; plan ")


def test_text_format_has_position_source_line_and_caret(broken: Path) -> None:
    code, out = run("validate", str(broken), "--no-color")
    assert code == 1
    lines = out.splitlines()
    i = lines.index("playbooks/content-pipeline.yaml:22:12: error: unknown agent `editr` [unknown-agent]")
    assert lines[i + 1].strip() == "agent: editr"
    caret_col = lines[i + 2].index("^")
    assert lines[i + 1][caret_col:caret_col + 5] == "editr"
    assert lines[i + 2].strip() == "^~~~~"
    assert "  hint: did you mean `editor`?" in lines
    assert lines[-1] == "2 errors"


def test_json_format_is_one_object_with_1_based_positions(broken: Path) -> None:
    code, out = run("validate", str(broken), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert set(doc) == {"diagnostics", "errors", "warnings", "plan_hash"}
    assert doc["errors"] == 2 and doc["warnings"] == 0 and doc["plan_hash"] is None
    first = doc["diagnostics"][0]
    assert {"code", "severity", "message", "file", "line", "column", "end_line", "end_column", "hint"} <= set(first)
    assert (first["code"], first["file"], first["line"], first["column"]) == (
        "unknown-agent", "playbooks/content-pipeline.yaml", 22, 12)
    assert first["end_column"] == 17


def test_json_clean_has_plan_hash() -> None:
    code, out = run("validate", str(ROOT), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["errors"] == 0 and len(doc["plan_hash"]) == 64


def test_sarif_validates_against_the_published_schema(broken: Path) -> None:
    schema_path = SHARED / "data" / "sarif" / "sarif-schema-2.1.0.json"
    if not schema_path.is_file():
        pytest.skip("../shared/data/sarif is absent in this clone; CI always has it")
    code, out = run("validate", str(broken), "--format", "sarif")
    assert code == 1
    doc = json.loads(out)
    jsonschema.Draft7Validator(json.loads(schema_path.read_text())).validate(doc)
    results = doc["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["unknown-agent", "unknown-step"]
    region = results[0]["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (22, 12)
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert results[1]["ruleIndex"] == [r["id"] for r in rules].index("unknown-step")


def test_github_annotations(broken: Path) -> None:
    code, out = run("validate", str(broken), "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("::error file=playbooks/content-pipeline.yaml,line=22,col=12,endLine=22,endColumn=17,")
    assert lines[0].endswith("::unknown agent `editr`%0Ahint: did you mean `editor`?")


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    ws = copy_example(tmp_path / "ws")
    with (ws / "playbooks" / "agents.yaml").open("a") as f:
        f.write("---\nkind: agent\nname: spare\nrole: r\nprompt: prompts/intake.j2\n")
    assert run("validate", str(ws))[0] == 0
    code, out = run("validate", str(ws), "--strict")
    assert code == 1 and "[unused-document]" in out


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("validate", str(tmp_path / "nope"))[0] == 2
    assert run("validate", str(tmp_path))[0] == 2  # a folder without aios.yaml
    assert run("validate", "--format", "xml", str(ROOT))[0] == 2


def test_every_command_has_help() -> None:
    code, out = run("--help")
    assert code == 0
    for name in COMMANDS:
        assert name in out
        code, text = run(name, "--help")
        assert code == 0 and "Usage:" in text, name
        assert len(text.splitlines()) > 3, f"`aios {name} --help` says too little"


def test_version() -> None:
    from aios import __version__

    assert run("--version")[1].strip() == f"aios, version {__version__}"


def test_validate_and_help_do_not_import_heavy_libraries() -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['aios', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('aios', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('litellm', 'tantivy'))\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    for args in (["validate", str(ROOT)], ["--help"], ["validate", "--format", "sarif", str(ROOT)]):
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=ROOT,
                             check=False).stdout
        assert "HEAVY=\n" in out, (args, out[-300:])


def test_plan_hash_is_deterministic_across_processes(tmp_path: Path) -> None:
    hashes = set()
    for _ in range(3):
        out = subprocess.run([sys.executable, "-m", "aios", "validate", "--format", "json", str(ROOT)],
                             capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "random",
                                                                               **_env()}).stdout
        hashes.add(json.loads(out)["plan_hash"])
    assert len(hashes) == 1


def test_plan_hash_ignores_comments_but_not_meaning(tmp_path: Path) -> None:
    from aios.compiler import compile_workspace

    ws = copy_example(tmp_path / "ws")
    base = compile_workspace(ws).plan
    assert base is not None
    pb = ws / "playbooks" / "content-pipeline.yaml"
    pb.write_text("# a comment moves every line\n" + pb.read_text())
    moved = compile_workspace(ws).plan
    assert moved is not None and moved.content_hash == base.content_hash
    edit(pb, "top_k: 5", "top_k: 6")
    changed = compile_workspace(ws).plan
    assert changed is not None and changed.content_hash != base.content_hash


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}


def test_the_collector_is_paused_only_while_compiling(tmp_path: Path) -> None:
    import gc

    from aios.compiler import compile_workspace

    seen: list[bool] = []

    def spy(phase: str, info: dict[str, int]) -> None:  # runs on every collection: was it inside the compile?
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_name != "_compile_sources":
            frame = frame.f_back  # type: ignore[assignment]
        if frame is not None:
            seen.append(True)

    assert gc.isenabled()
    gc.callbacks.append(spy)
    try:
        gc.collect()
        seen.clear()
        result = compile_workspace(ROOT)
        assert result.plan is not None
        assert seen == []  # no automatic collection ran inside the compile
        assert gc.isenabled()  # and collection is back on afterwards
        gc.disable()
        try:
            compile_workspace(ROOT)
            assert not gc.isenabled()  # a caller that turned it off keeps it off
        finally:
            gc.enable()
    finally:
        gc.callbacks.remove(spy)
