"""Run `aios serve` / `aios dev` as a real subprocess on 127.0.0.1 (port 0: the OS picks a free one,
the server prints it) and always stop it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .workspace import SHOP_ENV, SHOP_SECRET, UNSET_ENV

__all__ = ["ServerProcess", "signed_headers"]

_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def signed_headers(body: bytes, secret: str = SHOP_SECRET, **extra: str) -> dict[str, str]:
    """A v1 delivery timestamped now; ``x-aios-delivery`` / ``x-aios-event`` in ``extra`` are signed too."""
    from aios.live.webhooks import signed_headers as v1_headers

    delivery, event = extra.pop("x-aios-delivery", None), extra.pop("x-aios-event", None)
    return {**v1_headers(secret, body, delivery=delivery, event=event), **extra}


class ServerProcess:
    def __init__(self, ws: Path, mode: str = "serve", *args: str) -> None:
        self.ws = ws
        self.mode = mode
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.url = ""
        self._reader: threading.Thread | None = None
        self._cond = threading.Condition()

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.launch()
        line = self.wait_for(_LISTENING.pattern, timeout)
        match = _LISTENING.search(line)
        assert match, line
        self.url = match.group(1)
        return self

    def launch(self) -> None:
        """Start the process without waiting for it to listen."""
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", SHOP_ENV: SHOP_SECRET, "PYTHONUNBUFFERED": "1"}
        env.pop(UNSET_ENV, None)
        env.pop("AIOS_ACTOR", None)
        self.lines = []
        self.proc = subprocess.Popen([sys.executable, "-m", "aios", self.mode, "--port", "0", "--grace", "3",
                                      *self.args, "-w", str(self.ws)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0, start: int = 0) -> str:
        """The first output line from index ``start`` on that matches ``pattern``."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if rx.search(line):
                        return line
                alive = self.proc is not None and self.proc.poll() is None
                left = deadline - time.monotonic()
                if left <= 0 or not alive:
                    raise AssertionError(f"no line matching {pattern!r} (alive={alive}); output:\n"
                                         + "\n".join(self.lines))
                self._cond.wait(min(left, 0.2))

    def stop(self) -> int | None:
        """SIGTERM (graceful), then SIGKILL if it does not exit in time."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._close()
        return proc.returncode

    def kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        self._close()

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
