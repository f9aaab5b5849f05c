"""Small pieces shared by the commands: finding the workspace, and turning library errors into exits."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from aios.load.workspace_files import find_workspace_root

__all__ = ["workspace_root", "color_enabled", "EXIT_OK", "EXIT_ERRORS", "EXIT_USAGE"]

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


def color_enabled(explicit: bool | None = None) -> bool:
    """Colour what goes to standard output? `--color`/`--no-color` when given; otherwise only on a
    terminal, and never when `NO_COLOR` is set to anything but the empty string (https://no-color.org)."""
    if explicit is not None:
        return explicit
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
