"""Which process executes a run. A run is claimed by writing an owner token (host, pid and the
process start time, so a recycled pid is not mistaken for the owner); another process may take over
only when that owner is gone. This is what keeps two resumers from executing one run twice."""

from __future__ import annotations

import os
import socket
from functools import lru_cache

__all__ = ["owner_token", "owner_alive"]


def _start_time(pid: int) -> str:
    """The process start time from /proc ("?" where there is no /proc; "dead" for a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return "dead" if fields[0] in ("Z", "X") else fields[19]
    except (OSError, IndexError):
        return "?"


@lru_cache(maxsize=1)
def owner_token() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def owner_alive(token: str | None) -> bool:
    """False when the owner is certainly gone (same host, process absent or a different process)."""
    if not token:
        return False
    try:
        host, pid_text, started = token.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # cannot tell from here; assume alive
    if pid == os.getpid():
        return token == owner_token()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now = _start_time(pid)
    return now != "dead" and (started == "?" or now == started)
