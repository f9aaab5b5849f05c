"""One command line: the same options everywhere, exit codes that say what happened, unknown names
that are usage errors with a did-you-mean, and no Python `None` in what a person reads."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from aios.cli.main import cli

from .workspace import write_workspace


def aios(ws: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, [*args, "-w", str(ws)], input=stdin, env={"AIOS_ACTOR": None})


def _json(result: Result) -> Any:
    assert result.stdout, result.output
    return json.loads(result.stdout)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws")


@pytest.fixture
def waiting(ws: Path) -> dict[str, Any]:
    """A run of `flow` paused at its gate."""
    out = _json(aios(ws, "run", "flow", "--event", str(ws / "event.json"), "--json"))
    assert out["status"] == "waiting"
    return dict(out)


# -- exit codes and names --------------------------------------------------------------------------

def test_reject_exits_zero_when_the_rejection_succeeds(ws: Path, waiting: dict[str, Any]) -> None:
    rejected = aios(ws, "reject", waiting["approval"], "--note", "no", "--as", "boss")
    assert rejected.exit_code == 0, rejected.output
    assert f"run {waiting['run_id']} rejected" in rejected.stdout
    again = aios(ws, "reject", waiting["approval"], "--as", "boss")  # nothing left to reject: an error
    assert again.exit_code == 1 and "already rejected" in again.stderr


@pytest.mark.parametrize(("args", "suggestion"), [
    (("runs", "list", "--status", "waitin"), "waiting"),
    (("approvals", "list", "--status", "aproved"), "approved"),
    (("alerts", "--severity", "critcal"), "critical"),
    (("records", "list", "Nte"), "Note"),
    (("records", "list", "note"), "Note"),
    (("records", "show", "Nots", "note-1"), "Note"),
    (("records", "show", "Nots", "note-1", "--history"), "Note"),
    (("run", "flw", "--event", "EVENT"), "flow"),
    (("run", "flw", "--event", "EVENT", "--dry-run"), "flow"),
    (("memory", "search", "x", "--kind", "recod"), "record"),
])
def test_unknown_values_are_usage_errors_with_a_suggestion(ws: Path, waiting: dict[str, Any], args: tuple[str, ...],
                                                           suggestion: str) -> None:
    args = tuple(str(ws / "event.json") if a == "EVENT" else a for a in args)
    result = aios(ws, *args)
    assert result.exit_code == 2, result.output
    assert f"did you mean `{suggestion}`?" in result.stderr
    assert "Traceback" not in result.output and not result.stdout


def test_known_values_with_nothing_to_show_still_exit_zero(ws: Path, waiting: dict[str, Any]) -> None:
    assert aios(ws, "runs", "list", "--status", "failed").stdout.strip() == "no runs"
    assert aios(ws, "approvals", "list", "--status", "rejected").stdout.strip() == "no approvals"
    assert aios(ws, "alerts", "--severity", "info").stdout.strip() == "no alerts"
    pending = _json(aios(ws, "approvals", "list", "--status", "pending", "--json"))
    assert [a["id"] for a in pending] == [waiting["approval"]]


def test_a_schema_declared_but_never_written_is_known(ws: Path, waiting: dict[str, Any]) -> None:
    (ws / "playbooks" / "extra.yaml").write_text("kind: schema\nname: Invoice\nfields:\n  total: float\n")
    listed = aios(ws, "records", "list", "Invoice")
    assert listed.exit_code == 0 and listed.stdout.strip() == "no Invoice records"


def test_acknowledging_an_unknown_alert_is_an_error(ws: Path, waiting: dict[str, Any]) -> None:
    result = aios(ws, "alerts", "--ack", "99")
    assert result.exit_code == 2 and "alert 99" in result.stderr


def test_no_python_none_in_outcomes(ws: Path, waiting: dict[str, Any]) -> None:
    assert aios(ws, "runs", "cancel", waiting["run_id"]).exit_code == 0
    resumed = aios(ws, "runs", "resume", waiting["run_id"])
    assert resumed.exit_code == 1
    assert f"run {waiting['run_id']} cancelled" in resumed.stdout
    assert "None" not in resumed.output


# -- options -----------------------------------------------------------------------------------------

def _commands() -> list[tuple[str, click.Command]]:
    """Every command and subcommand, by its full name."""
    group = cli
    ctx = click.Context(group)
    found: list[tuple[str, click.Command]] = []

    def walk(prefix: str, command: click.Command) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(f"{prefix} {name}".strip(), sub)
        else:
            found.append((prefix, command))

    walk("", group)
    return found


def _options(command: click.Command) -> dict[str, click.Parameter]:
    return {opt: p for p in command.params for opt in getattr(p, "opts", [])}


def test_json_and_format_json_go_together_everywhere() -> None:
    commands = _commands()
    with_json = [name for name, c in commands if "--json" in _options(c) or "--format" in _options(c)]
    assert {"validate", "runs list", "runs show", "approvals list", "alerts", "records list", "memory search",
            "policy eval", "policy test", "policy diff", "schedules", "connectors list"} <= set(with_json)
    for name, command in commands:
        opts = _options(command)
        if "--json" in opts or "--format" in opts:
            assert "--json" in opts and "--format" in opts, name
            fmt = opts["--format"]
            assert isinstance(fmt.type, click.Choice) and "json" in fmt.type.choices, name


def test_format_json_prints_what_json_prints(ws: Path, waiting: dict[str, Any]) -> None:
    for args in (("runs", "list"), ("approvals", "list"), ("records", "list", "Note")):
        assert aios(ws, *args, "--format", "json").stdout == aios(ws, *args, "--json").stdout, args
    checked = aios(ws, "validate", "--json")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["errors"] == 0
    clash = aios(ws, "runs", "list", "--json", "--format", "text")
    assert clash.exit_code == 2 and "different formats" in clash.stderr


def test_validate_takes_the_workspace_option(ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not inside the workspace
    runner = CliRunner()
    by_option = runner.invoke(cli, ["validate", "-w", str(ws)])
    assert by_option.exit_code == 0, by_option.output
    assert "no problems found" in by_option.stdout
    assert runner.invoke(cli, ["validate", "--workspace", str(ws), "--json"]).exit_code == 0
    assert runner.invoke(cli, ["validate", str(ws)]).stdout == by_option.stdout  # the positional path still works
    other = write_workspace(tmp_path / "other")
    both = runner.invoke(cli, ["validate", str(other), "-w", str(ws)])
    assert both.exit_code == 2 and "different folders" in both.stderr


def _on_a_terminal(args: list[str], *, no_color: bool) -> str:
    """Run `aios ARGS` with its output on a pseudo-terminal, as a person at a terminal sees it."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "120", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "aios", *args], stdin=subprocess.DEVNULL, stdout=follower,
                            stderr=follower, env=env, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closes with the process
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_no_color_is_honoured_on_a_terminal(ws: Path, waiting: dict[str, Any]) -> None:
    (ws / "playbooks" / "broken.yaml").write_text("kind: playbok\nname: broken\n")
    coloured = _on_a_terminal(["validate", str(ws)], no_color=False)
    assert "\x1b[" in coloured and "error" in coloured  # a terminal gets colour by default
    plain = _on_a_terminal(["validate", str(ws)], no_color=True)
    assert "error" in plain and "\x1b[" not in plain
    (ws / "playbooks" / "broken.yaml").unlink()
    table = _on_a_terminal(["runs", "list", "-w", str(ws)], no_color=False)
    assert "PLAYBOOK" in table and "\x1b[" in table
    plain_table = _on_a_terminal(["runs", "list", "-w", str(ws)], no_color=True)
    assert "PLAYBOOK" in plain_table and "\x1b[" not in plain_table


# -- getting started -------------------------------------------------------------------------------

def test_reconcile_in_a_workspace_where_nothing_has_run(ws: Path) -> None:
    out = aios(ws, "connectors", "reconcile")
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == "nothing to reconcile: nothing has run in this workspace yet"
    assert _json(aios(ws, "connectors", "reconcile", "--json")) == {"answers": [], "resumed": []}
    assert not (ws / ".aios" / "state.db").exists()  # looking created nothing


SCHEDULED = """\
kind: playbook
name: nightly
trigger: {schedule: "0 3 * * *"}
steps:
  - id: tidy
    transform: "{{ event.payload }}"
---
kind: playbook
name: weekly
trigger: {schedule: "0 4 * * mon"}
steps:
  - id: tidy
    transform: "{{ event.payload }}"
"""


def test_run_takes_the_file_declaring_the_playbook(ws: Path) -> None:
    by_file = aios(ws, "run", "playbooks/flow.yaml", "--event", str(ws / "event.json"), "--json")
    assert by_file.exit_code == 3, by_file.output  # `flow`, waiting at its gate
    assert _json(aios(ws, "runs", "list", "--json"))[0]["playbook"] == "flow"
    dry = aios(ws, "run", str(ws / "playbooks" / "flow.yaml"), "--event", str(ws / "event.json"), "--dry-run")
    assert dry.exit_code == 0 and "dry run of flow" in dry.stdout

    (ws / "playbooks" / "scheduled.yaml").write_text(SCHEDULED)
    two = aios(ws, "run", "playbooks/scheduled.yaml", "--event", str(ws / "event.json"))
    assert two.exit_code == 2 and "declares 2 playbooks; name one: nightly, weekly" in two.stderr
    (ws / "playbooks" / "only-schema.yaml").write_text("kind: schema\nname: Extra\nfields:\n  x: str\n")
    none = aios(ws, "run", "playbooks/only-schema.yaml", "--event", str(ws / "event.json"))
    assert none.exit_code == 2 and "declares no playbook" in none.stderr


def test_a_scheduled_playbook_by_hand(ws: Path) -> None:
    (ws / "playbooks" / "scheduled.yaml").write_text(SCHEDULED)
    bare = aios(ws, "run", "nightly", "--event", "-", stdin='{"note": "by hand"}')
    assert bare.exit_code == 1
    assert "the event has no `type`" in bare.stderr and "schedule.tick" in bare.stderr
    assert "aios run nightly --event -" in bare.stderr
    tick = {"type": "schedule.tick", "payload": {"playbook": "nightly", "scheduled_for": "2026-01-05T03:00+00:00"}}
    done = aios(ws, "run", "nightly", "--event", "-", "--json", stdin=json.dumps(tick))
    assert done.exit_code == 0, done.output
    assert _json(done)["status"] == "completed"


# -- wording ---------------------------------------------------------------------------------------

def test_a_dry_run_progress_says_previewed_not_completed(ws: Path) -> None:
    dry = aios(ws, "run", "flow", "--event", str(ws / "event.json"), "--dry-run")
    assert dry.exit_code == 0, dry.output
    lines = dry.stderr.splitlines()
    (file_line,) = [line for line in lines if " file " in line]
    assert "connector" in file_line and "previewed" in file_line and "completed" not in file_line
    assert lines[0] == "dry run: flow on note.requested n-1"  # not the walk's throwaway run id
    assert "run_" not in dry.stderr


def test_policy_eval_shows_a_timeout_as_written(tmp_path: Path) -> None:
    from tests.compiler.workspace_copy import copy_example

    example = copy_example(tmp_path / "example")  # publishing.rules: `timeout 2d`
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps({"action": {"connector": "cms.publish", "input": {"slug": "a", "title": "A", "body": "b"}},
                               "now": "2026-11-21T10:00:00+01:00"}))
    result = CliRunner().invoke(cli, ["policy", "eval", "-w", str(example), "--input", str(ctx)])
    assert result.exit_code == 3, result.output
    assert "approval by operator, timeout 2d" in result.stdout and "172800s" not in result.stdout


@pytest.mark.parametrize(("seconds", "shown"), [(86400, "1d"), (172800, "2d"), (604800, "1w"), (5400, "90m"),
                                                (90000, "25h"), (30, "30s"), (1.5, "1500ms"), (0, "0s")])
def test_durations_are_shown_in_the_largest_whole_unit(seconds: float, shown: str) -> None:
    from aios.durations import duration_seconds, show_duration

    assert show_duration(seconds) == shown
    assert duration_seconds(shown) == seconds  # what is shown reads back as the same duration
