"""From journaled events to runs: admission (exactly one run per event and playbook) and execution.

Admission is idempotent. For each pending event and each playbook it triggers, an existing run of that
(event id, playbook) is looked up first and reused; only then is a run admitted (the runtime commits
the run row, its event and the log entry in one transaction). The event is marked dispatched
afterwards. A crash between the two leaves the event pending, and the next pass finds the run instead
of admitting a second one. Only one dispatcher runs per workspace (see `aios.live.lock`).

Execution happens on worker threads, each with its own connection. A run is resumed from its last
durable point, on the plan it is pinned to. The same poll also picks up what other processes leave
behind: runs whose approval was decided (``aios approve --no-resume``) and runs whose process died,
plus approvals past their timeout.

A paused playbook (`aios.live.pauses`) starts no run: its events are held, and `release_held` admits
them, in arrival order, once it is resumed.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aios.errors import AiosError, RunError
from aios.live import journal, pauses
from aios.live.console import Console
from aios.live.current import CurrentPlan
from aios.live.events import now_iso
from aios.live.journal import EventStatus, JournalRow
from aios.live.routing import route
from aios.plan.plan import Plan
from aios.runtime import approvals
from aios.runtime.alerts import Severity, raise_alert
from aios.runtime.connectors import ConnectorRegistry
from aios.runtime.interpreter import Retriever, RunOutcome, Runtime
from aios.runtime.ownership import owner_alive
from aios.runtime.runstate import Event
from aios.runtime.store import Store

__all__ = ["Dispatch", "dispatch_event", "dispatch_pending", "release_held", "Executor", "Dispatcher", "RuntimeFactory",
           "resumable_runs"]

RuntimeFactory = Callable[[Plan, Store], Runtime]


@dataclass(frozen=True, slots=True)
class Dispatch:
    event_id: str
    event_type: str
    status: str
    runs: tuple[str, ...]  # every run of the event (new or found)
    new_runs: tuple[str, ...]
    note: str | None = None


def _existing_run(store: Store, event_id: str, playbook: str) -> str | None:
    row = store.conn.execute("SELECT id FROM runs WHERE event_id = ? AND playbook = ? AND rerun_of IS NULL "
                             "ORDER BY created_at, id LIMIT 1", (event_id, playbook)).fetchone()
    return str(row[0]) if row else None


def dispatch_event(rt: Runtime, row: JournalRow) -> Dispatch:
    """Admit the runs of one pending event (idempotently) and mark it."""
    ev = row.event
    targets = route(rt.plan, ev)
    runs: list[str] = []
    new: list[str] = []
    errors: list[str] = []
    held: list[str] = []
    for pb in targets:
        found = _existing_run(rt.store, ev.id, pb.name)
        if found is not None:
            runs.append(found)
            continue
        if pauses.is_paused(rt.store.conn, pb.name) is not None:
            held.append(pb.name)  # manual mode: kept until the playbook resumes
            continue
        try:
            run_id = rt.admit(pb.name, Event(ev.id, ev.type, ev.source, ev.time, ev.payload))
        except RunError as err:
            errors.append(f"{pb.name}: {err}")
            continue
        runs.append(run_id)
        new.append(run_id)
    note: str | None
    if not targets:
        status, note = EventStatus.UNROUTED, f"no playbook is triggered by `{ev.type}` from `{ev.source}`"
    else:
        status = EventStatus.DISPATCHED if runs else EventStatus.HELD if held else EventStatus.REJECTED
        note = "; ".join([*errors, *(f"`{name}` is paused: queued until it resumes" for name in held)]) or None
    with rt.store.transaction() as conn:
        at = now_iso()
        for name in held:
            pauses.hold(conn, ev.id, name, row.seq, at)
        journal.mark(conn, ev.id, status, runs, note, at)
        for message in errors:
            raise_alert(conn, run_id=None, step_id=None, severity=Severity.WARNING,
                        message=f"event {ev.id} ({ev.type}) was not admitted by {message}", at=at)
    return Dispatch(ev.id, ev.type, status, tuple(runs), tuple(new), note)


def dispatch_pending(rt: Runtime, limit: int = 100) -> list[Dispatch]:
    """Dispatch up to ``limit`` pending events in arrival order; events no playbook listens to are
    marked together in one transaction."""
    unreadable: list[tuple[str, str, str]] = []
    rows = journal.pending(rt.store.conn, limit, unreadable)
    unrouted = [r for r in rows if not route(rt.plan, r.event)]
    out: list[Dispatch] = []
    if unreadable:  # stored before the payload limits: refused now, once, with an alert
        with rt.store.transaction() as conn:
            at = now_iso()
            for eid, etype, reason in unreadable:
                journal.mark(conn, eid, EventStatus.REJECTED, (), reason, at)
                raise_alert(conn, run_id=None, step_id=None, severity=Severity.WARNING,
                            message=f"event {eid} ({etype}) was not admitted: {reason}", at=at)
                out.append(Dispatch(eid, etype, EventStatus.REJECTED, (), (), reason))
    if unrouted:
        with rt.store.transaction() as conn:
            at = now_iso()
            for r in unrouted:
                note = f"no playbook is triggered by `{r.event.type}` from `{r.event.source}`"
                journal.mark(conn, r.event.id, EventStatus.UNROUTED, (), note, at)
                out.append(Dispatch(r.event.id, r.event.type, EventStatus.UNROUTED, (), (), note))
    skip = {r.event.id for r in unrouted}
    out.extend(dispatch_event(rt, row) for row in rows if row.event.id not in skip)
    out.extend(release_held(rt, limit))
    return out


def release_held(rt: Runtime, limit: int = 100) -> list[Dispatch]:
    """Admit the events held for playbooks that were resumed since, in arrival order, each once:
    an existing run of the (event, playbook) is found instead of admitting a second one."""
    out: list[Dispatch] = []
    for event_id, playbook in pauses.releasable(rt.store.conn, limit):
        r = rt.store.conn.execute("SELECT type, source, time, payload FROM live_events WHERE id = ?",
                                  (event_id,)).fetchone()
        run_id = _existing_run(rt.store, event_id, playbook)
        new: tuple[str, ...] = ()
        note = None
        if r is not None and run_id is None and playbook in rt.plan.playbook_map:
            try:
                run_id = rt.admit(playbook, Event(event_id, r["type"], r["source"], r["time"], json.loads(r["payload"])))
                new = (run_id,)
            except RunError as err:
                note = f"{playbook}: {err}"
        elif run_id is None:
            note = f"`{playbook}` is no longer in the workspace"
        with rt.store.transaction() as conn:
            pauses.mark_released(conn, event_id, playbook, run_id, now_iso())
        out.append(Dispatch(event_id, r["type"] if r is not None else "?",
                            EventStatus.DISPATCHED if run_id else EventStatus.REJECTED,
                            (run_id,) if run_id else (), new, note))
    return out


EXPIRY_BATCH = 100  # approvals decided as timed out per dispatch pass


def _iso_ago(seconds: float) -> str:
    t = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def resumable_runs(store: Store, *, settle_s: float = 0.0) -> list[str]:
    """Runs nobody is executing: admitted but not started, interrupted (owner gone), or decided
    approvals. A run released by an approval is left alone for ``settle_s`` seconds, because the
    approver's own process (``aios approve``) usually resumes it at once."""
    settled = _iso_ago(settle_s)
    out = []
    for r in store.conn.execute("SELECT id, status, owner, updated_at FROM runs WHERE status IN "
                                "('admitted', 'running', 'compensating') ORDER BY created_at, id"):
        if r["owner"] and owner_alive(r["owner"]):
            continue
        if not r["owner"] and r["status"] != "admitted" and r["updated_at"] > settled:
            continue
        out.append(str(r["id"]))
    return out


class Executor:
    """Worker threads that take run ids and execute each run until it ends or waits."""

    def __init__(self, root: Path, storage_dir: Path, current: CurrentPlan, console: Console, *,
                 workers: int = 2, make_runtime: RuntimeFactory | None = None,
                 on_run_end: Callable[[], None] | None = None) -> None:
        self.root = root
        self.on_run_end = on_run_end  # e.g. wake the background indexer
        self.storage_dir = storage_dir
        self.current = current
        self.console = console
        self._workers = max(1, workers)
        self._make_runtime = make_runtime or (lambda plan, store: Runtime(plan, root, store=store,
                                                                           storage=storage_dir))
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._active: set[str] = set()
        self._failing: dict[str, tuple[int, float]] = {}  # run id -> (failures, monotonic time of next try)
        self._lock = threading.Condition()
        self._threads: list[threading.Thread] = []
        self.outcomes: list[RunOutcome] = []  # the latest outcomes, for status and tests

    def start(self) -> None:
        for i in range(self._workers):
            t = threading.Thread(target=self._loop, name=f"aios-run-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def submit(self, run_id: str) -> bool:
        """Queue a run; False when it is queued or running already, or failed lately (retried with
        a growing delay, up to a minute, so a run that cannot resume does not spin)."""
        with self._lock:
            if run_id in self._active:
                return False
            failing = self._failing.get(run_id)
            if failing is not None and time.monotonic() < failing[1]:
                return False
            self._active.add(run_id)
        self._queue.put(run_id)
        return True

    def is_active(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._active

    @property
    def busy(self) -> int:
        with self._lock:
            return len(self._active)

    def stop(self, grace_s: float) -> int:
        """Let queued and running runs finish for up to ``grace_s``; returns how many are still going.

        What is still executing after that stops with the process: every step is one transaction, so
        the run resumes from its last completed step on the next start.
        """
        for _ in self._threads:
            self._queue.put(None)
        deadline = threading.Event()
        timer = threading.Timer(grace_s, deadline.set)
        timer.start()
        try:
            for t in self._threads:
                while t.is_alive() and not deadline.is_set():
                    t.join(0.05)
        finally:
            timer.cancel()
        return sum(1 for t in self._threads if t.is_alive())

    def _loop(self) -> None:
        store = journal.open_store(self.storage_dir)
        runtimes: dict[str, Runtime] = {}
        generation = self.current.code_generation
        try:
            while True:
                run_id = self._queue.get()
                if run_id is None:
                    break
                if generation != self.current.code_generation:  # connector modules changed: import afresh
                    generation = self.current.code_generation
                    for rt in runtimes.values():
                        rt.close()
                    runtimes.clear()
                failed = True
                try:
                    self._execute(store, runtimes, run_id)
                    failed = False
                except AiosError as err:
                    self.console.line(f"run {run_id}: {err}")
                except Exception as err:  # a bug must not take the server down; the run stays resumable
                    self.console.line(f"run {run_id}: internal error: {type(err).__name__}: {err}")
                finally:
                    self._note(run_id, failed)
                    with self._lock:
                        self._active.discard(run_id)
                        self._lock.notify_all()
                    if self.on_run_end is not None:
                        self.on_run_end()
        finally:
            for rt in runtimes.values():
                rt.close()
            store.close()

    def _note(self, run_id: str, failed: bool) -> None:
        with self._lock:
            if not failed:
                self._failing.pop(run_id, None)
                return
            count = self._failing.get(run_id, (0, 0.0))[0] + 1
            self._failing[run_id] = (count, time.monotonic() + min(60.0, 0.5 * 2 ** count))

    def _execute(self, store: Store, runtimes: dict[str, Runtime], run_id: str) -> None:
        row = store.conn.execute("SELECT plan_hash, playbook FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return
        plan = self.current.known(row["plan_hash"]) or self.current.plan
        rt = runtimes.get(plan.content_hash)
        if rt is None:
            rt = runtimes[plan.content_hash] = self._make_runtime(plan, store)
        try:
            outcome = rt.resume(run_id)
        except RunError as err:
            if "being executed by another process" in str(err):
                return  # someone else took it (an approver resuming it): not ours to run
            raise
        with self._lock:
            self.outcomes = [*self.outcomes[-99:], outcome]
        line = f"run {run_id} {row['playbook']} {outcome.status.value} (plan {row['plan_hash'][:12]})"
        if outcome.approval is not None:
            line += f": waiting for approval {outcome.approval.id} (aios approve {outcome.approval.id})"
        elif outcome.error:
            line += f" at `{outcome.failed_step}`: {outcome.error}" if outcome.failed_step else f": {outcome.error}"
        self.console.line(line)


class Dispatcher:
    """The admission thread: pending events → runs, plus the poll that resumes released runs."""

    def __init__(self, root: Path, storage_dir: Path, current: CurrentPlan, executor: Executor,
                 console: Console, *, poll_s: float = 0.25, settle_s: float = 1.0) -> None:
        self.root = root
        self.storage_dir = storage_dir
        self.current = current
        self.executor = executor
        self.console = console
        self.poll_s = poll_s
        self.settle_s = settle_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aios-dispatch", daemon=True)
        self.dispatched = 0
        self._pruned_at = 0.0

    def start(self) -> None:
        self._thread.start()

    def wake(self, *_: Any) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _loop(self) -> None:
        store = journal.open_store(self.storage_dir)
        runtimes: dict[str, Runtime] = {}
        try:
            while not self._stop.is_set():
                plan = self.current.plan
                rt = runtimes.get(plan.content_hash)
                if rt is None:
                    for old in runtimes.values():
                        old.close()
                    runtimes = {plan.content_hash: Runtime(plan, self.root, store=store, storage=self.storage_dir)}
                    rt = runtimes[plan.content_hash]
                try:
                    busy = self._pass(rt)
                except AiosError as err:
                    self.console.line(f"dispatch: {err}")
                    busy = False
                if not busy:
                    self._wake.wait(self.poll_s)
                    self._wake.clear()
        finally:
            for rt in runtimes.values():
                rt.close()
            store.close()

    def _pass(self, rt: Runtime) -> bool:
        done = dispatch_pending(rt, limit=50)
        for d in done:
            self.dispatched += 1
            for run_id in d.new_runs:
                self.executor.submit(run_id)
            if d.status != EventStatus.DISPATCHED or not d.new_runs:
                detail = f": {d.note}" if d.note else ""
                self.console.line(f"event {d.event_id} {d.event_type} {d.status}{detail}")
        expiring = self._expire_approvals(rt)
        for run_id in resumable_runs(rt.store, settle_s=self.settle_s):
            if not self.executor.is_active(run_id):
                self.executor.submit(run_id)
        if time.monotonic() - self._pruned_at > 5.0:
            self._pruned_at = time.monotonic()
            pinned = {str(r[0]) for r in rt.store.conn.execute(
                "SELECT DISTINCT plan_hash FROM runs WHERE status IN ('admitted', 'running', 'waiting', "
                "'compensating')")}
            self.current.retain(pinned)
        return len(done) == 50 or expiring

    def _expire_approvals(self, rt: Runtime) -> bool:
        """Decide the approvals that are due, a batch per pass (an index range on `approvals_due`, so an
        idle poll costs nothing however many approvals wait); True when more may be due at once."""
        batch = approvals.due(rt.store.conn, now_iso(), limit=EXPIRY_BATCH)
        decided = 0
        for a in batch:
            if not self.executor.is_active(a.run_id):
                rt.decide_expired(a)
                self.executor.submit(a.run_id)
                decided += 1
        return decided > 0 and len(batch) == EXPIRY_BATCH


def default_runtime_factory(root: Path, storage_dir: Path, retriever: Callable[[Plan], Retriever | None]
                            ) -> RuntimeFactory:
    """Runtimes for worker threads: a fresh connector registry per plan (so edited connector modules
    are imported again for runs on the new plan) and the memory plane's retriever."""
    def make(plan: Plan, store: Store) -> Runtime:
        return Runtime(plan, root, store=store, storage=storage_dir, connectors=ConnectorRegistry(root),
                       retriever=retriever(plan))
    return make
