"""The plan new runs start on, swapped atomically when the workspace changes.

Readers take ``current.plan`` once per admission (one attribute read, so a swap is atomic for them);
runs already admitted stay pinned to the plan hash they started on, and every plan this process has
run is kept so their executions use the very same object. Each plan's secrets join the masker
(``aios.masking``) the moment it is known, before an event for it is journalled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from aios import masking
from aios.plan.plan import Plan

__all__ = ["CurrentPlan", "KEEP_PLANS"]

KEEP_PLANS = 16  # a backstop; `retain` keeps exactly the plans that unfinished runs are pinned to


class CurrentPlan:
    def __init__(self, plan: Plan) -> None:
        masking.watch(masking.plan_secrets(plan))
        self._plan = plan
        self._known: dict[str, Plan] = {plan.content_hash: plan}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Plan, Plan], None]] = []
        self.stale = False  # the workspace on disk does not compile; ``plan`` is the last good one
        self.swapped_at = time.monotonic()
        self.generation = 0
        self.code_generation = 0  # bumped when workspace connector modules change

    @property
    def plan(self) -> Plan:
        return self._plan

    def known(self, plan_hash: str) -> Plan | None:
        return self._known.get(plan_hash)

    def retain(self, pinned: set[str]) -> None:
        """Forget plans no unfinished run is pinned to (the current one always stays)."""
        with self._lock:
            for h in [h for h in self._known if h not in pinned and h != self._plan.content_hash]:
                del self._known[h]

    def on_swap(self, listener: Callable[[Plan, Plan], None]) -> None:
        """Call ``listener(old, new)`` after each swap (schedules and drop folders follow the plan)."""
        self._listeners.append(listener)

    def swap(self, plan: Plan, *, code_changed: bool = False) -> Plan:
        masking.watch(masking.plan_secrets(plan))
        with self._lock:
            if code_changed:
                self.code_generation += 1
            old = self._plan
            self._known.setdefault(plan.content_hash, plan)
            while len(self._known) > KEEP_PLANS:  # older ones load from their snapshots in state.db
                oldest = next(h for h in self._known if h != plan.content_hash)
                del self._known[oldest]
            self._plan = plan
            self.stale = False
            self.swapped_at = time.monotonic()
            self.generation += 1
        if old.content_hash != plan.content_hash:
            for listener in self._listeners:
                listener(old, plan)
        return old

    def mark_stale(self) -> None:
        self.stale = True
