"""The `aios` command. Subcommands live in their own modules and are imported only when invoked,
so `aios --help` and `aios validate` stay fast (no litellm, no tantivy)."""

from __future__ import annotations

import importlib
import os
import sqlite3
import sys
from typing import Any

import click

from aios import __version__

__all__ = ["main", "cli", "COMMANDS"]

# name -> ("module:attribute", one-line help shown by `aios --help` without importing the module)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("aios.cli.validate:validate", "Check a workspace without running anything."),
    "graph": ("aios.cli.graph:graph", "Print a playbook's graph as Mermaid, DOT or SVG."),
    "schema": ("aios.cli.schema:schema", "Print the JSON Schema of the workspace file formats."),
    "init": ("aios.cli.init:init", "Create a new, valid workspace."),
    "policy": ("aios.cli.policy:policy", "Test, explain and review the rule policies (policies/*.rules)."),
    "run": ("aios.cli.run:run", "Run a playbook on an event, durably."),
    "runs": ("aios.cli.run:runs", "List, show, resume, cancel and re-run runs."),
    "playbooks": ("aios.cli.playbooks:playbooks", "List playbooks; pause one (its events queue) or resume it."),
    "approvals": ("aios.cli.approvals:approvals_group", "List approvals asked for by gates and policies."),
    "approve": ("aios.cli.approvals:approve", "Approve a pending approval and resume its run."),
    "reject": ("aios.cli.approvals:reject", "Reject a pending approval."),
    "alerts": ("aios.cli.approvals:alerts_cmd", "Show (and acknowledge) operator alerts."),
    "records": ("aios.cli.records:records", "List and show canonical records with history."),
    "log": ("aios.cli.records:log_group", "Verify the hash chain of the episodic log."),
    "connectors": ("aios.cli.connectors:connectors", "List connectors; reconcile side effects left without a result."),
    "serve": ("aios.cli.live:serve", "Run the workspace live: webhooks, schedules, drop folders, approvals."),
    "dev": ("aios.cli.live:dev", "`aios serve` with hot reload of playbooks, policies, prompts and connectors."),
    "emit": ("aios.cli.live:emit", "Put an event into the workspace's event stream (and process it)."),
    "schedules": ("aios.cli.schedules:schedules", "List the next ticks of every schedule, in its time zone."),
    "memory": ("aios.cli.memory:memory", "Search and maintain memory: records, notes, summaries, archives."),
    "notify": ("aios.cli.notify:notify", "List and deliver notifications (approvals, reminders, failures, alerts)."),
    "token": ("aios.cli.token:token", "Create, list and revoke operator tokens for the dashboard."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target[0].split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        """Every command: a failure of the storage (a full disk, a locked, read-only or damaged store)
        is a message and exit status 1, never a traceback."""
        try:
            return super().invoke(ctx)
        except (sqlite3.Error, OSError) as err:
            from aios.cli.common import EXIT_ERRORS
            from aios.storage_failures import is_storage_failure, storage_error

            if not is_storage_failure(err):
                raise
            click.echo(f"aios: error: {storage_error(err)}", err=True)
            ctx.exit(EXIT_ERRORS)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[Any, Any, list[str]]:
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            ctx.fail(f"No such command `{name}`.{hint}")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="aios")
def cli() -> None:
    """aios: playbooks and policies in git, compiled into a checked plan and run durably.

    Run commands from the workspace root (the folder holding aios.yaml), or pass its path.
    """
    from aios.cli.masked_output import guard_output

    guard_output()  # secrets are masked in everything a command prints


def main() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        cli.main(prog_name="aios", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
