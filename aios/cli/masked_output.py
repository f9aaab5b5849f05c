"""The CLI's last line of defence: everything a command prints goes through the active secret masker.

The stores are masked already; this catches what never went through them (an outcome's error, live
progress, a record shown from an old store) and anything a future command forgets.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TextIO

from aios import masking

__all__ = ["MaskedStream", "guard_output"]


class MaskedStream:
    """A text stream that masks secrets in each write before passing it on. It has no ``buffer``:
    bytes written past the masking would defeat it (click then writes text)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        masker = masking.active()
        self.stream.write(masker.mask(text) if masker.values else text)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return str(getattr(self.stream, "encoding", None) or "utf-8")

    @property
    def errors(self) -> str | None:
        return getattr(self.stream, "errors", None)

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":
            raise AttributeError(name)
        return getattr(self.stream, name)


def guard_output() -> None:
    """Mask ``sys.stdout`` and ``sys.stderr`` from now on (idempotent)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, MaskedStream):
            setattr(sys, name, MaskedStream(stream))
