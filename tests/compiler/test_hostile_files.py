"""Hostile workspace files: every one is a positioned diagnostic with a code, never a crash or a hang.

The cases that used to crash the process (a segfault in libyaml's composer, memory exhausted by an
alias bomb) run `aios validate` in a subprocess, so a crash fails the test instead of ending pytest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aios.cli.main import cli
from aios.diagnostics import DiagnosticSink
from aios.limits import MAX_DURATION_DAYS, MAX_YAML_ALIASES, MAX_YAML_BYTES, MAX_YAML_DEPTH
from aios.load.nodes import to_python
from aios.load.yaml_reader import read_yaml
from tests.compiler.workspace_copy import copy_example, edit
from tests.conftest import ROOT, aios_cmd

FILE = "playbooks/x.yaml"


def small_workspace(dest: Path, files: dict[str, str]) -> Path:
    dest.mkdir(parents=True)
    (dest / "aios.yaml").write_text("name: hostile\nmodels:\n  default: {model: offline}\n")
    for rel, text in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text, encoding="utf-8")
    return dest


def validate_process(ws: Path, *extra: str, timeout: float = 60) -> tuple[int, str]:
    """`aios validate` in its own process: a segfault or MemoryError shows as a failed assertion."""
    proc = subprocess.run([*aios_cmd(), "validate", "--no-color", *extra, str(ws)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, f"exit {proc.returncode} (a negative code is a signal):\n{out[-2000:]}"
    assert "Traceback" not in out and "MemoryError" not in out, out[-2000:]
    return proc.returncode, out


def read(text: str) -> tuple[list[object], list[tuple[str, int, int]]]:
    """Documents (as Python values) and (code, 1-based line, 1-based column) of each diagnostic."""
    sink = DiagnosticSink()
    docs = read_yaml(FILE, text, sink)
    found = [(d.code, d.span.line + 1, d.span.col + 1) for d in sink.items if d.span is not None]
    assert len(found) == len(sink.items)
    return [to_python(d.root) for d in docs], found


def nested_block_maps(depth: int) -> str:
    """``k1:`` / `` k2:`` / … one more space each line: mapping number n starts on line n, column n."""
    return "".join(" " * i + f"k{i + 1}:\n" for i in range(depth - 1)) + " " * (depth - 1) + f"k{depth}: 1\n"


# ---- item 5: depth --------------------------------------------------------------------------------

def test_30000_deep_flow_sequence_is_refused_before_the_composer(tmp_path: Path) -> None:
    deep = 30_000
    ws = small_workspace(tmp_path / "ws", {FILE: "x: " + "[" * deep + "]" * deep + "\n"})
    _, out = validate_process(ws)
    # the root mapping is level 1, the first `[` (column 4) level 2: the first level too deep is the
    # `[` number MAX_YAML_DEPTH, at column 3 + MAX_YAML_DEPTH
    col = 3 + MAX_YAML_DEPTH
    assert f"{FILE}:1:{col}: error: YAML is nested more than {MAX_YAML_DEPTH} levels deep [yaml-too-deep]" in out
    assert out.count("[yaml-too-deep]") == 1


def test_5000_deep_compact_block_sequences_are_refused(tmp_path: Path) -> None:
    deep = 5_000
    ws = small_workspace(tmp_path / "ws", {FILE: "- " * deep + "x\n"})
    _, out = validate_process(ws)
    col = 2 * (MAX_YAML_DEPTH + 1) - 1  # sequence number n starts at column 2n - 1
    assert f"{FILE}:1:{col}: error: YAML is nested more than {MAX_YAML_DEPTH} levels deep [yaml-too-deep]" in out


def test_aios_dev_reads_the_deep_file_without_crashing(tmp_path: Path) -> None:
    """`aios dev` compiles on a watcher thread; the same reader must refuse the file there too."""
    deep = 30_000
    ws = small_workspace(tmp_path / "ws", {FILE: "x: " + "[" * deep + "]" * deep + "\n"})
    probe = (
        "import sys, threading\n"
        "from pathlib import Path\n"
        "from aios.live.reload import Reloader\n"
        "out = []\n"
        "t = threading.Thread(target=lambda: out.append(Reloader(Path(sys.argv[1]), None).compile()))\n"
        "t.start(); t.join()\n"
        "print(out[0].plan is None, sorted({d.code for d in out[0].diagnostics}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, str(ws)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=False)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip() == "True ['yaml-too-deep']"


@pytest.mark.parametrize("depth", [MAX_YAML_DEPTH + 1, 150, 900])
def test_block_nesting_just_beyond_the_limit_is_refused_at_the_first_level_too_deep(depth: int) -> None:
    docs, found = read(nested_block_maps(depth))
    n = MAX_YAML_DEPTH + 1
    assert docs == [] and found == [("yaml-too-deep", n, n)]


def test_nesting_at_the_limit_is_accepted() -> None:
    docs, found = read(nested_block_maps(MAX_YAML_DEPTH))
    assert found == [] and len(docs) == 1
    flow = "[" * (MAX_YAML_DEPTH - 1) + "]" * (MAX_YAML_DEPTH - 1)
    assert read("x: " + flow + "\n")[1] == []


def test_the_prescan_and_the_builder_agree_on_the_position() -> None:
    """A big file is pre-scanned (events); a small one is checked while building nodes: same answer."""
    deep = nested_block_maps(MAX_YAML_DEPTH + 5)
    padding = "# " + "-" * 100 + "\n"
    _, small = read(deep)
    _, big = read(padding * 50 + deep)  # many `-` characters: over the pre-scan threshold
    n = MAX_YAML_DEPTH + 1
    assert small == [("yaml-too-deep", n, n)]
    assert [(c, line - 50, col) for c, line, col in big] == small


def test_merge_keys_nested_199_deep(tmp_path: Path) -> None:
    text = "x:\n" + "".join("  " * (i + 1) + "<<:\n" for i in range(199)) + "  " * 200 + "k: 1\n"
    docs, found = read(text)
    # mapping number n starts on line n (the one holding `<<:`, indented 2(n - 1))
    n = MAX_YAML_DEPTH + 1
    assert docs == [] and found == [("yaml-too-deep", n, 2 * (n - 1) + 1)]
    ws = small_workspace(tmp_path / "ws", {FILE: text})
    _, out = validate_process(ws)
    assert f"{FILE}:{n}:{2 * (n - 1) + 1}: error: " in out


# ---- item 6: aliases ------------------------------------------------------------------------------

def laughs(levels: int) -> str:
    """``levels`` lines of nine aliases each of the line above: 9**levels strings once expanded."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefghijk", "bcdefghijk"[:levels - 1], strict=False):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_the_alias_that_goes_over_the_limit() -> None:
    # expanded sizes: a 10, b 91, c 820, d 7381 nodes; after line 4 the aliases have expanded to
    # 9·10 + 9·91 + 9·820 = 8289 nodes, and the first `*d` on line 5 (column 8) takes it past 10 000.
    # Five levels (59 049 strings) stay cheap in this process even if the limit were gone.
    assert MAX_YAML_ALIASES == 10_000
    docs, found = read(laughs(5))
    assert docs == [] and found == [("yaml-alias-limit", 5, 8)]
    assert read(laughs(4))[1] == []


def test_the_billion_laughs_do_not_exhaust_validate(tmp_path: Path) -> None:
    ws = small_workspace(tmp_path / "ws", {FILE: laughs(9)})  # nine levels: 387 420 489 strings
    _, out = validate_process(ws, timeout=30)
    assert f"{FILE}:5:8: error: aliases in this file expand to more than {MAX_YAML_ALIASES} nodes" in out
    assert "[yaml-alias-limit]" in out


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    docs, found = read("a: &a [1, *a]\n")
    assert docs == [] and found == [("yaml-alias-limit", 1, 11)]


def test_ordinary_anchors_aliases_and_merges_still_work() -> None:
    text = ("defaults: &d {retries: 2, alert: true}\n"
            "one:\n  <<: *d\n  retries: 3\n"
            "two: *d\n"
            "list: &l [1, 2]\n"
            "again: [*l, *l]\n")
    docs, found = read(text)
    assert found == []
    assert docs == [{"defaults": {"retries": 2, "alert": True}, "one": {"retries": 3, "alert": True},
                     "two": {"retries": 2, "alert": True}, "list": [1, 2], "again": [[1, 2], [1, 2]]}]


def test_aliases_just_under_the_limit_are_accepted() -> None:
    big = "[" + ", ".join(["1"] * 99) + "]"  # 100 nodes
    uses = MAX_YAML_ALIASES // 100  # 100 aliases of 100 nodes each: exactly the limit
    def text(n: int) -> str:
        return f"a: &a {big}\nb: [" + ", ".join(["*a"] * n) + "]\n"

    assert read(text(uses))[1] == []
    assert read(text(uses + 1))[1] == [("yaml-alias-limit", 2, 5 + 4 * uses)]  # `*a` number n at 5 + 4(n - 1)


# ---- size -----------------------------------------------------------------------------------------

def test_a_file_over_the_size_limit_is_refused_before_parsing() -> None:
    text = "a: " + "x" * (MAX_YAML_BYTES - 4) + "\n"
    assert read(text)[1] == []  # exactly at the limit
    docs, found = read(text + "b: 1\n")
    assert docs == [] and found == [("yaml-too-large", 1, 1)]
    wide = "a: " + "é" * (MAX_YAML_BYTES // 2) + "\n"  # fewer characters than the limit, more bytes
    assert read(wide)[1] == [("yaml-too-large", 1, 1)]


# ---- item 8: aios.yaml values that reached the OS or the runtime unchecked ------------------------

def test_a_300_character_timezone_is_a_positioned_diagnostic(tmp_path: Path) -> None:
    ws = copy_example(tmp_path / "ws")
    edit(ws / "aios.yaml", "timezone: Europe/Stockholm", "timezone: " + "A" * 300)
    line = next(i for i, t in enumerate((ws / "aios.yaml").read_text().splitlines(), 1) if "timezone:" in t)
    result = CliRunner().invoke(cli, ["validate", "--no-color", str(ws)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert f"aios.yaml:{line}:13: error: " in result.output and "[invalid-value]" in result.output


# ---- item 7: durations in YAML --------------------------------------------------------------------

@pytest.mark.parametrize("value", ["3000000d", "999999999999999d", f"{MAX_DURATION_DAYS + 1}d",
                                   "9" * 400 + "s"])
def test_a_gate_timeout_beyond_the_limit_is_a_compile_time_diagnostic(tmp_path: Path, value: str) -> None:
    ws = copy_example(tmp_path / "ws")
    pb = ws / "playbooks" / "content-pipeline.yaml"
    edit(pb, "timeout: 3d", f"timeout: {value}")
    line = next(i for i, t in enumerate(pb.read_text().splitlines(), 1) if "timeout:" in t)
    result = CliRunner().invoke(cli, ["validate", "--no-color", str(ws)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert f"playbooks/content-pipeline.yaml:{line}:16: error: " in result.output
    assert f"longer than the limit of {MAX_DURATION_DAYS} days" in result.output
    assert "[invalid-value]" in result.output


def test_durations_at_the_limit_are_accepted(tmp_path: Path) -> None:
    ws = copy_example(tmp_path / "ws")
    edit(ws / "playbooks" / "content-pipeline.yaml", "timeout: 3d", f"timeout: {MAX_DURATION_DAYS}d")
    result = CliRunner().invoke(cli, ["validate", "--no-color", str(ws)], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("key, section, value", [
    ("step_timeout_s", "runtime", "1e300"), ("step_timeout_s", "runtime", ".inf"),
    ("cold_after_days", "memory", "1e12"), ("half_life_days", "memory", ".inf"),
])
def test_numeric_durations_in_aios_yaml_are_bounded(tmp_path: Path, key: str, section: str, value: str) -> None:
    ws = copy_example(tmp_path / "ws")
    path = ws / "aios.yaml"
    edit(path, f"{section}:\n", f"{section}:\n  {key}: {value}\n")
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.strip().startswith(f"{key}:"))
    result = CliRunner().invoke(cli, ["validate", "--no-color", str(ws)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert f"aios.yaml:{line}:{len(key) + 5}: error: invalid value for `{section}.{key}`" in result.output


# ---- item 13: control characters in diagnostics ----------------------------------------------------

def _control_workspace(tmp_path: Path) -> Path:
    ws = copy_example(tmp_path / "ws")
    # a YAML escape puts ESC and NUL into a value the message quotes; the rules file holds them raw
    edit(ws / "playbooks" / "content-pipeline.yaml", "agent: editor", 'agent: "edi\\e[31mtor\\0"')
    rules = ws / "policies" / "publishing.rules"
    rules.write_text(rules.read_text().replace("rule weekday_publish", "rule weekday\x1b[31m_publish\x00"))
    return ws


def test_text_output_escapes_control_characters(tmp_path: Path) -> None:
    # color=True: click would otherwise strip ANSI sequences itself, hiding what a terminal gets
    result = CliRunner().invoke(cli, ["validate", "--no-color", str(_control_workspace(tmp_path))],
                                color=True, catch_exceptions=False)
    assert result.exit_code == 1
    out = result.output
    assert "\x1b" not in out and "\x00" not in out, repr(out)
    assert "got 'edi\\x1b[31mtor\\x00' [invalid-name]" in out
    lines = out.splitlines()
    i = lines.index("policies/publishing.rules:5:13: error: unexpected character `'\\x1b'` [rule-syntax]")
    assert lines[i + 1] == "    rule weekday\\x1b[31m_publish\\x00"
    assert lines[i + 2] == "    " + " " * len("rule weekday") + "^~~~"  # the caret spans the escaped ESC


def test_json_sarif_and_github_outputs_stay_well_formed(tmp_path: Path) -> None:
    ws = _control_workspace(tmp_path)
    for fmt in ("json", "sarif"):
        out = CliRunner().invoke(cli, ["validate", "--format", fmt, str(ws)], color=True,
                                 catch_exceptions=False).output
        assert "\x1b" not in out and "\x00" not in out
        doc = json.loads(out)
        messages = ([d["message"] for d in doc["diagnostics"]] if fmt == "json"
                    else [r["message"]["text"] for r in doc["runs"][0]["results"]])
        assert any("edi\x1b[31mtor\x00" in m for m in messages)  # JSON carries the exact value, escaped
    out = CliRunner().invoke(cli, ["validate", "--format", "github", str(ws)], color=True,
                             catch_exceptions=False).output
    assert "\x1b" not in out and "\x00" not in out
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in out.splitlines() if line)


def test_github_annotations_cannot_be_split_or_forged() -> None:
    from aios.diagnostics.diagnostic import Diagnostic, Severity
    from aios.diagnostics.render import render_github
    from aios.span import Span

    d = Diagnostic("invalid-value", Severity.ERROR, "bad `x\n::error::forged` 100% \r\x1b[0m",
                   Span("play,books/a:b%.yaml", 0, 0, 0, 1), hint="line\nbreak")
    out = render_github([d])
    assert len(out.splitlines()) == 1
    assert "file=play%2Cbooks/a%3Ab%25.yaml," in out
    assert out.endswith("::bad `x%0A::error::forged` 100%25 %0D\\x1b[0m%0Ahint: line%0Abreak")
