"""Small pieces shared by the commands: finding the workspace, and turning library errors into exits."""

from __future__ import annotations

from pathlib import Path

import click

from aios.load.workspace_files import find_workspace_root

__all__ = ["workspace_root", "EXIT_OK", "EXIT_ERRORS", "EXIT_USAGE"]

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def workspace_root(path: str | None) -> Path:
    """The workspace at ``path`` (or the nearest one above the current directory)."""
    start = Path(path) if path else Path.cwd()
    if path and not start.exists():
        raise click.UsageError(f"no such directory: {path}")
    if start.is_file():
        start = start.parent
    root = find_workspace_root(start)
    if root is None:
        raise click.UsageError(f"no aios.yaml found in {start.resolve()} or above; run `aios init DIR` to create one")
    return root
