"""A circuit breaker per connector, kept in the store so every process sees the same state.

After ``threshold`` consecutive failed calls the circuit opens for ``cooldown_s``: calls fail at once
(as a transient error, so the step's retry policy still applies) instead of hammering a service
that is down. After the cool-down one call is let through; its success closes the circuit.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aios.errors import RunError
from aios.runtime.store import Store

__all__ = ["CircuitOpen", "CircuitBreakers"]


class CircuitOpen(RunError):
    def __init__(self, connector: str, retry_in_s: float) -> None:
        super().__init__(f"circuit open for connector `{connector}` (next trial in {retry_in_s:.1f}s)")
        self.connector = connector
        self.retry_in_s = retry_in_s


class CircuitBreakers:
    def __init__(self, store: Store, *, threshold: int = 5, cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {
            str(r[0]): (int(r[1]), float(r[2]))
            for r in store.conn.execute("SELECT connector, failures, opened_until FROM breakers")}

    def check(self, connector: str) -> None:
        _, opened_until = self._failures.get(connector, (0, 0.0))
        now = self.clock()
        if opened_until > now:
            raise CircuitOpen(connector, opened_until - now)

    def success(self, connector: str) -> None:
        if connector in self._failures:
            del self._failures[connector]
            with self.store.transaction() as conn:
                conn.execute("DELETE FROM breakers WHERE connector = ?", (connector,))

    def failure(self, connector: str) -> bool:
        """Count a failed call; True when this failure opened the circuit."""
        failures, opened_until = self._failures.get(connector, (0, 0.0))
        failures += 1
        opened = failures >= self.threshold and opened_until <= self.clock()
        if opened:
            opened_until = self.clock() + self.cooldown_s
        self._failures[connector] = (failures, opened_until)
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO breakers(connector, failures, opened_until) VALUES (?,?,?) "
                         "ON CONFLICT(connector) DO UPDATE SET failures = excluded.failures, "
                         "opened_until = excluded.opened_until", (connector, failures, opened_until))
        return opened
