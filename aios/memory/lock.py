"""One index writer at a time, across threads and processes, queued rather than failed.

tantivy's own writer lock fails fast (``LockBusy``) when another writer is open; a second process
writing a record at the same moment would then drop its update. So writers first queue on an
advisory ``flock`` of ``writer.lock`` beside the index (waiting up to a timeout), and only then open
the tantivy writer, which retries on ``LockBusy`` for the same deadline (covering a writer from a
program that does not take our lock). The kernel releases a ``flock`` when its holder dies, so a
crashed writer never wedges the queue.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType

from aios.errors import StorageError

__all__ = ["WriterLock", "IndexBusy"]


class IndexBusy(StorageError):
    """Another writer held the index for longer than the timeout."""


class WriterLock:
    def __init__(self, path: Path, timeout_s: float = 120.0) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout_s
        delay = 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise IndexBusy(f"the index at {self.path.parent} stayed locked by another writer "
                                    f"for {self.timeout_s:.0f} s") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
