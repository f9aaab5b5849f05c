"""Source positions.

Spans are stored 0-based (as ruamel.yaml reports them) and shown 1-based, like mypy. Every node that
can be blamed for a diagnostic carries one; each source kind has exactly one constructor here.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Span"]


class Span(NamedTuple):
    """A region of a workspace file: ``file`` is relative to the workspace root, POSIX style.

    A NamedTuple rather than a frozen dataclass: immutable and ordered all the same, and several
    times cheaper to create, which matters with one span per YAML node.
    """

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    @classmethod
    def point(cls, file: str, line: int, col: int, width: int = 1) -> Span:
        return cls(file, line, col, line, col + max(width, 1))

    @classmethod
    def whole_file(cls, file: str) -> Span:
        return cls(file, 0, 0, 0, 1)

    @classmethod
    def from_lark(cls, file: str, line: int, column: int, end_line: int, end_column: int) -> Span:
        """Lark positions are 1-based; convert once, here."""
        return cls(file, line - 1, column - 1, end_line - 1, end_column - 1)

    def show(self) -> str:
        return f"{self.file}:{self.line + 1}:{self.col + 1}"
