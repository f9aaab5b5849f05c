"""What the dashboard needs from the process serving it: the workspace, its state store, the current
plan, and how to hand a released run back to the server's executor."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aios import masking
from aios.plan.plan import Plan
from aios.runtime.interpreter import Runtime, load_plan_snapshot
from aios.runtime.store import Store

__all__ = ["Host"]


@dataclass
class Host:
    root: Path
    storage_dir: Path
    plan: Callable[[], Plan]
    #: hand a run to the server's executor (`aios serve`); without one, the request resumes it itself
    release: Callable[[str], None] | None = None
    #: true while the server shuts down: event streams end
    stopping: Callable[[], bool] = lambda: False
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _stores: list[Store] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _plans: dict[str, Plan] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        masking.watch(masking.plan_secrets(self.plan()))

    def store(self) -> Store:
        """This thread's reading connection to the state store (pages are read in a thread pool)."""
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = Store.open(self.storage_dir)
            self._local.store = store
            with self._lock:
                self._stores.append(store)
        return store

    @contextlib.contextmanager
    def runtime(self, actor: str) -> Iterator[Runtime]:
        """A runtime acting as ``actor``, for one intervention (the library call the CLI makes)."""
        rt = Runtime(self.plan(), self.root, storage=self.storage_dir, actor=actor)
        try:
            yield rt
        finally:
            rt.close()

    def plan_for(self, plan_hash: str) -> Plan | None:
        """The plan a run is pinned to: the current one, or its stored snapshot (as `Runtime.plan_for`);
        None when no snapshot of it is stored or it cannot be read."""
        current = self.plan()
        if plan_hash == current.content_hash:
            return current
        with self._lock:
            cached = self._plans.get(plan_hash)
        if cached is not None:
            return cached
        row = self.store().conn.execute("SELECT snapshot FROM plans WHERE hash = ?", (plan_hash,)).fetchone()
        if row is None or row[0] is None:
            return None
        try:
            plan = load_plan_snapshot(row[0], current)
        except Exception:  # a snapshot this version cannot read: the page says so instead
            return None
        masking.watch(masking.plan_secrets(plan))
        with self._lock:
            self._plans[plan_hash] = plan
        return plan

    def continue_run(self, run_id: str, actor: str) -> None:
        """After an approval or a resume: the server's executor takes the run, or this thread runs it."""
        if self.release is not None:
            self.release(run_id)
            return
        with self.runtime(actor) as rt:
            rt.resume(run_id)

    def close(self) -> None:
        with self._lock:
            stores, self._stores = self._stores, []
        for s in stores:
            with contextlib.suppress(Exception):
                s.close()
