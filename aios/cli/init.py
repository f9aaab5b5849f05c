"""`aios init DIR`: a new, valid workspace to start from."""

from __future__ import annotations

from pathlib import Path

import click

from aios.scaffold import write_workspace


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", help="Workspace name (default: the directory's name).")
def init(directory: str, name: str | None) -> None:
    """Create a new workspace in DIRECTORY (which must be empty or not exist yet)."""
    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        raise click.UsageError(f"{directory} is not empty; choose a new or empty directory")
    written = write_workspace(target, name or target.resolve().name)
    for path in written:
        click.echo(f"  created {path}")
    click.echo(f"\nworkspace ready: cd {directory}, then\n"
               "  aios validate                                   # check it\n"
               "  aios run file-note --event events/note.json     # run the example playbook\n"
               "  aios policy test                                # run the policy tests")
