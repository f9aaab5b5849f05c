"""The server's output: whole lines, one writer at a time, flushed (the output is often a pipe)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["Console"]


class Console:
    def __init__(self, stream: TextIO | None = None, *, prefix: str = "aios", quiet: bool = False) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._prefix = prefix
        self.quiet = quiet
        self._closed = False

    def line(self, text: str) -> None:
        """One status line, stamped with the local time."""
        if self.quiet:
            return
        self.block(f"[{self._prefix} {time.strftime('%H:%M:%S')}] {text}")

    def block(self, text: str) -> None:
        """Text printed as is (diagnostics rendered the way `aios validate` prints them)."""
        with self._lock:
            if self._closed:
                return
            try:
                self._stream.write(text if text.endswith("\n") else text + "\n")
                self._stream.flush()
            except (OSError, ValueError):  # the reader went away; the server keeps going
                pass

    def close(self) -> None:
        """Print nothing more (threads left running at exit must not write to a closing stream)."""
        with self._lock:
            self._closed = True
