"""Mutated YAML never makes `aios validate` raise: every failure is a positioned diagnostic."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aios.cli.main import cli
from aios.compiler import compile_workspace
from tests.conftest import ROOT

SEED_FILES = {
    "playbooks/content-pipeline.yaml": (ROOT / "playbooks" / "content-pipeline.yaml").read_text(),
    "playbooks/schemas.yaml": (ROOT / "playbooks" / "schemas.yaml").read_text(),
    "aios.yaml": (ROOT / "aios.yaml").read_text(),
}
NOISE = st.sampled_from(["\t", ":", " ", "-", "{", "}", "[", "]", "'", '"', "{{", "}}", "\n", "#", "&a", "*a",
                         "---\n", "kind: x\n", "?", "|", ">", "%", "@", "!!int ", "\x00", "é", "steps:", "null"])


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(SEED_FILES)))
    text = SEED_FILES[name]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "swap_lines", "dup_line"]))
        pos = draw(st.integers(0, max(len(text) - 1, 0)))
        if op == "insert":
            text = text[:pos] + draw(NOISE) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 12)):]
        else:
            lines = text.splitlines(keepends=True)
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "swap_lines":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(j, lines[i])
            text = "".join(lines)
    return name, text


_BASE = Path(tempfile.mkdtemp(prefix="aios-fuzz-"))
for part in ("aios.yaml", "playbooks", "connectors", "prompts", "policies"):
    src = ROOT / part
    if src.is_dir():
        shutil.copytree(src, _BASE / part)
    elif src.is_file():
        shutil.copy2(src, _BASE / part)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_yaml_gives_positioned_diagnostics(case: tuple[str, str]) -> None:
    name, text = case
    target = _BASE / name
    original = target.read_bytes()
    try:
        target.write_bytes(text.encode("utf-8", "surrogatepass"))
        result = compile_workspace(_BASE)  # must not raise
        for d in result.diagnostics:
            assert d.span is not None, d
            assert d.span.line >= 0 and d.span.col >= 0
            assert d.message
        if result.plan is None:
            assert result.errors > 0
    finally:
        target.write_bytes(original)


@settings(max_examples=25, deadline=None)
@given(mutated())
def test_mutated_yaml_json_output_is_always_one_object(case: tuple[str, str]) -> None:
    name, text = case
    target = _BASE / name
    original = target.read_bytes()
    try:
        target.write_bytes(text.encode("utf-8", "surrogatepass"))
        result = CliRunner().invoke(cli, ["validate", "--format", "json", str(_BASE)])
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert result.exit_code in (0, 1)
        doc = json.loads(result.output)
        assert all(d["line"] >= 1 and d["column"] >= 1 for d in doc["diagnostics"])
    finally:
        target.write_bytes(original)
