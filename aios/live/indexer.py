"""Keep the memory index in step with the store in the background while the server runs.

A search always syncs the index first, so correctness never depends on this thread. What it changes
is where the indexing cost lands: without it, the first `retrieve` step after a run wrote records or
log entries pays for indexing them (a tantivy commit, tens of milliseconds) inside its own step. The
indexer is woken when a run stops (completed, waiting or failed) and at start; wakes that arrive
while it works are coalesced into one more pass. It uses the same cross-process writer lock as every
other writer, so a search that finds it mid-sync waits for it and then has nothing left to do.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from aios.live.console import Console
from aios.live.current import CurrentPlan

if TYPE_CHECKING:
    from aios.memory.memory import Memory

__all__ = ["Indexer"]


class Indexer:
    def __init__(self, root: Path, storage_dir: Path, current: CurrentPlan, console: Console) -> None:
        self.root = root
        self.storage_dir = storage_dir
        self.current = current
        self.console = console
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aios-index", daemon=True)
        self._memory: tuple[str, Memory] | None = None
        self._reported: str | None = None

    def start(self) -> None:
        self._wake.set()  # knowledge files may have changed while the server was down
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._memory is not None:
            self._memory[1].close()
            self._memory = None

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            self.sync_once()

    def sync_once(self) -> None:
        """One incremental sync of the current plan's memory; problems are reported once, not raised."""
        try:
            memory = self._memory_for_plan()
            if memory is None:
                return
            memory.sync()
            self._reported = None
        except Exception as err:  # the index is a cache of the store: runs go on, searches sync themselves
            message = f"background indexing failed: {type(err).__name__}: {err}"
            if message != self._reported:
                self.console.line(message + " (searches still sync before they read)")
                self._reported = message

    def _memory_for_plan(self) -> Memory | None:
        plan = self.current.plan
        if self._memory is not None and self._memory[0] == plan.content_hash:
            return self._memory[1]
        try:
            from aios.memory.memory import Memory
        except ImportError:  # the memory plane is not installed: retrieve steps find nothing anyway
            return None
        if self._memory is not None:
            self._memory[1].close()
        memory = Memory.for_workspace(self.root, plan, self.storage_dir)
        self._memory = (plan.content_hash, memory)
        return memory
