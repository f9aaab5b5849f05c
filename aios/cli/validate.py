"""`aios validate`: the runtime's own loader and compiler, run without executing anything."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from aios import __version__
from aios.cli.common import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, color_enabled
from aios.cli.output_format import format_option
from aios.compiler import compile_workspace
from aios.diagnostics import Severity
from aios.diagnostics.render import (
    SourceLines,
    render_github,
    render_json,
    render_sarif,
    render_text,
    summary,
)
from aios.load.workspace_files import WORKSPACE_FILE, find_workspace_root

_STYLES = {"error": {"fg": "red", "bold": True}, "warning": {"fg": "yellow", "bold": True},
           "note": {"fg": "cyan"}, "code": {"dim": True}, "caret": {"fg": "green", "bold": True}}


@click.command()
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.option("-w", "--workspace", type=click.Path(file_okay=False), default=None,
              help="The workspace folder (the same as PATH; default: the nearest one holding aios.yaml).")
@format_option("text", "json", "sarif", "github", help_text="Print the diagnostics as JSON.")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option("--color/--no-color", default=None,
              help="Colour the text output (default: on a terminal, unless NO_COLOR is set).")
def validate(path: str | None, workspace: str | None, fmt: str, strict: bool, color: bool | None) -> None:
    """Check the workspace at PATH or -w DIR (default: the nearest one holding aios.yaml) without
    running anything.

    Exit status: 0 clean (warnings allowed unless --strict), 1 errors, 2 usage error.
    """
    if path is not None and workspace is not None and Path(path).resolve() != Path(workspace).resolve():
        raise click.UsageError(f"PATH `{path}` and --workspace `{workspace}` name different folders; give one")
    path = path if path is not None else workspace
    root = Path(path) if path else (find_workspace_root(Path.cwd()) or Path.cwd())
    if path is not None and not root.is_dir():
        click.echo(f"aios: error: no such directory: {path}", err=True)
        sys.exit(EXIT_USAGE)
    if not (root / WORKSPACE_FILE).is_file() and fmt == "text":
        click.echo(f"aios: error: no {WORKSPACE_FILE} in {root.resolve()}", err=True)
        click.echo("  hint: run `aios init DIR` to create a workspace, or pass the workspace folder", err=True)
        sys.exit(EXIT_USAGE)
    result = compile_workspace(root)
    diags = result.diagnostics
    plan_hash = result.plan.content_hash if result.plan else None
    if fmt == "json":
        click.echo(render_json(diags, plan_hash))
    elif fmt == "sarif":
        click.echo(render_sarif(diags, __version__))
    elif fmt == "github":
        out = render_github(diags)
        if out:
            click.echo(out)
    else:
        use_color = color_enabled(color)

        def paint(style: str, text: str) -> str:
            return click.style(text, **_STYLES.get(style, {})) if use_color else text  # type: ignore[arg-type]

        text = render_text(diags, SourceLines(result.root), color=paint)
        if text:
            click.echo(text)
        tail = summary(diags)
        if plan_hash:
            tail += f"; plan {plan_hash[:12]}"
        click.echo(("" if not text else "\n") + tail)
    failed = any(d.severity is Severity.ERROR for d in diags) or (
        strict and any(d.severity is Severity.WARNING for d in diags))
    sys.exit(EXIT_ERRORS if failed else EXIT_OK)
