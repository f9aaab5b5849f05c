"""Locate files shipped with the package (the Lark grammar) in a wheel and in a source checkout."""

from __future__ import annotations

from pathlib import Path

__all__ = ["grammar_path"]

_PACKAGE = Path(__file__).resolve().parent


def grammar_path(name: str) -> Path:
    """The wheel carries ``grammar/`` as ``aios/grammar/``; an editable checkout has it at the root."""
    for candidate in (_PACKAGE / "grammar" / name, _PACKAGE.parent / "grammar" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"grammar file {name!r} is missing from the aios installation")
