"""One live server per workspace: an exclusive lock on ``<storage>/live.lock``.

Admission is idempotent only with a single dispatcher, so `aios serve`, `aios dev` and an `aios emit`
that processes events itself take this lock first. It is an ``flock``: the kernel releases it when
the process dies, even by SIGKILL, so a crashed server never blocks the next one. The file holds the
holder's pid and address for messages.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aios.errors import AiosError

__all__ = ["ServerLock", "LockHeld"]


class LockHeld(AiosError):
    def __init__(self, holder: dict[str, Any]) -> None:
        self.holder = holder
        where = f" at {holder['url']}" if holder.get("url") else ""
        super().__init__(f"another aios server (pid {holder.get('pid', '?')}{where}) is running for this workspace")


class ServerLock:
    def __init__(self, storage_dir: Path) -> None:
        self.path = storage_dir / "live.lock"
        self._fd: int | None = None

    def acquire(self, info: dict[str, Any] | None = None) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(self.holder()) from None
        self._fd = fd
        self.update(info or {})

    def update(self, info: dict[str, Any]) -> None:
        if self._fd is None:
            return
        data = json.dumps({"pid": os.getpid(), **info}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def holder(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> ServerLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
