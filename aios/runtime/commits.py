"""What one durable commit of a run carries, and the retry delay between attempts."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aios.plan.plan import Backoff, RetryPolicy
from aios.plan.types import RecordType
from aios.runtime.runstate import RunStatus

__all__ = ["Entry", "Commit", "compact", "backoff_delay", "RNG"]

Entry = tuple[str | None, str, dict[str, Any]]  # (step_id, type, body)
RNG = random.Random()  # backoff jitter; seeding one per run would cost more than a step


def backoff_delay(policy: RetryPolicy, attempt: int, rng: random.Random = RNG) -> float:
    """Delay before retry number ``attempt`` (1-based): exponential (or fixed), jittered in [d/2, d]."""
    if policy.backoff is Backoff.NONE:
        return 0.0
    base = policy.base_s if policy.backoff is Backoff.FIXED else policy.base_s * (2 ** (attempt - 1))
    base = min(base, policy.max_s)
    return rng.uniform(base / 2, base) if policy.jitter else base


def compact(body: dict[str, Any]) -> dict[str, Any]:
    """A log body without its empty keys (smaller entries, same meaning)."""
    return {k: v for k, v in body.items() if v is not None}


@dataclass
class Commit:
    """One write transaction: log entries (after any pending skips), optional extra work in the same
    transaction, record versions, and the run row's new status."""

    entries: list[Entry]
    work: Callable[[sqlite3.Connection, str], None] | None = None
    status: RunStatus | None = None
    error: str | None = None
    check_cancel: bool = True
    finish: bool = False
    # (schema, record id, data, step id, the log entry body that gets the version reference)
    records: list[tuple[RecordType, str, dict[str, Any], str, dict[str, Any]]] = field(default_factory=list)
