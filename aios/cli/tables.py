"""Tables for the list commands, drawn by Rich (imported only when a table is printed)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence

__all__ = ["print_table"]


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, right: Sequence[str] = ()) -> None:
    """Columns named in ``right`` are right-aligned (numbers). Piped output never wraps a row."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from aios.cli.common import color_enabled

    tty, color = sys.stdout.isatty(), color_enabled()
    width = shutil.get_terminal_size((100, 24)).columns if tty else 400
    table = Table(box=box.SIMPLE_HEAD if tty else box.SIMPLE, show_edge=False, pad_edge=False,
                  header_style="bold" if color else "")
    for h in headers:
        table.add_column(h, justify="right" if h in right else "left", no_wrap=not tty, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console(width=width, soft_wrap=not tty, highlight=False, color_system="auto" if color else None,
            no_color=not color).print(table)
