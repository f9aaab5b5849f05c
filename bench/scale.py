"""Read paths against store size: each path's median latency at 1k, 10k and 100k runs and the fitted
log-log exponent (0 is flat, 1 linear, 2 quadratic), beside the SQL aios ran before issue 15.

Generation. A small workspace (a schema with a natural key, a playbook that writes a record and
waits on two gates with a 30-day timeout) is run once through the real Runtime: the run writes its
record, passes the first gate (approved through `Runtime.decide`) and waits on the second. Its rows
(run, event, log entries, both approvals, record version) are then cloned N-1 times with new ids and
times, in the real schema, through the real triggers (the records_head trigger, the log's
append-only ones), with the log's hash chain recomputed; each record key gets about four versions.
So a store of N runs has N waiting runs, N pending approvals (not due), N decided ones, N record
versions over N/4 records and about 9N log entries.

The peer ("before") is the same store converted to what schema 1 had (its indexes, its
``records_current`` view), queried with the SQL of the code before the change, on a copy of the file:

- runs list: ``ORDER BY created_at DESC, id DESC LIMIT 30`` (no index on created_at); ours: a
  keyset page (`aios.runtime.queries.runs_page`), also with ``--status``;
- records list SCHEMA: the max-version view with ``LIMIT 50``; ours: `RecordStore.page`;
- approvals list: every pending approval (there was no --limit); ours: a page of 50;
- approvals list --run: ``status = 'pending' AND run_id = ?`` (SQLite chose the status index);
  ours: `approvals.listing(run_id=…)`;
- runs show PREFIX: ``id LIKE 'prefix%'`` then the trace; ours: `load_trace` (a key range);
- recover with nothing due: every waiting run, then that run's approvals as above (quadratic: above
  1k runs the peer is timed on a sample of 100 waiting runs and scaled to all of them, and the JSON
  says so); ours: `Runtime.recover()`. Then recover with 1% of the approvals due (set in the past):
  ours decides and resumes those runs, once; the peer is its scan plus the same resumes;
- serve idle CPU: the real `Dispatcher` poll thread (0.25 s interval) for a few seconds at the
  largest size, CPU seconds of the process over wall seconds; the peer is the same dispatcher with
  the expiry poll as it was (list every pending approval, compare in Python).

    python bench/scale.py [--sizes 1000,10000,100000] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AIOS_YAML = """\
name: scale-bench
storage: .aios
models:
  default: {model: offline}
runtime:
  actor: operator
"""

PLAYBOOK = """\
kind: schema
name: Ticket
key: ref
fields:
  ref: str
  title: str
---
kind: playbook
name: intake
trigger: {event: ticket.opened}
steps:
  - id: ticket
    transform:
      ref: "{{ event.payload.ref }}"
      title: "{{ event.payload.title }}"
    output: Ticket
    writes: Ticket
  - id: review
    needs: [ticket]
    gate: {message: "Review {{ event.payload.ref }}", timeout: 30d}
  - id: confirm
    needs: [review]
    gate: {message: "Confirm {{ event.payload.ref }}", timeout: 30d}
"""

# what schema 1 had where schema 2 differs (the peer's store)
V1 = """
DROP INDEX runs_created; DROP INDEX runs_status_created; DROP INDEX runs_playbook_created;
DROP INDEX approvals_status_requested; DROP INDEX approvals_due; DROP INDEX approvals_run_status;
DROP INDEX approvals_requested;
CREATE INDEX runs_status ON runs(status); CREATE INDEX approvals_status ON approvals(status);
DROP TRIGGER records_head_track; DROP TABLE records_head; DROP VIEW records_current;
CREATE VIEW records_current AS SELECT r.* FROM records r WHERE r.version =
    (SELECT max(version) FROM records m WHERE m.schema = r.schema AND m.id = r.id);
UPDATE meta SET value = '1' WHERE key = 'schema_version';
"""

OLD_RUNS_LIST = ("SELECT id, playbook, status, created_at, finished_at, cost_usd, error, plan_hash FROM runs {where} "
                 "ORDER BY created_at DESC, id DESC LIMIT ?")
OLD_RECORDS_LIST = "select * from [records_current] where schema = ? order by schema, written_at desc, id limit 50"
OLD_PENDING = "SELECT * FROM approvals WHERE status = 'pending' {run} ORDER BY requested_at, rowid"
OLD_PREFIX = "SELECT id FROM runs WHERE id LIKE ? LIMIT 2"
OLD_WAITING = ("SELECT id, status, owner FROM runs WHERE status IN ('admitted', 'running', 'compensating', 'waiting') "
               "ORDER BY created_at")


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- generation ------------------------------------------------------------------------------------

def make_workspace(ws: Path) -> Any:
    from aios.compiler import compile_workspace

    (ws / "playbooks").mkdir(parents=True)
    (ws / "aios.yaml").write_text(AIOS_YAML)
    (ws / "playbooks" / "intake.yaml").write_text(PLAYBOOK)
    result = compile_workspace(ws)
    if result.plan is None:
        raise SystemExit(f"the bench workspace does not compile: {result}")
    return result.plan


def template_run(ws: Path, plan: Any) -> str:
    """One real run through the Runtime: record written, first gate approved, waiting on the second."""
    from aios.runtime.interpreter import Runtime

    with Runtime(plan, ws, actor="operator") as rt:
        out = rt.start("intake", {"type": "ticket.opened", "id": "ev-template",
                                  "payload": {"ref": "T0", "title": "a ticket"}})
        assert out.approval is not None, out
        _, resumed = rt.decide(out.approval.id, approve=True, note="looks right")
        assert resumed is not None and resumed.status.value == "waiting", resumed
        return out.run_id


def clone(db: Path, template: str, n: int) -> None:
    """Clone the template run's rows n-1 times (new ids, times a second apart, ending a day ago)."""
    from aios.runtime.log import entry_hash

    conn = sqlite3.connect(db, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous=OFF")
    run = dict(conn.execute("SELECT * FROM runs WHERE id = ?", (template,)).fetchone())
    event = dict(conn.execute("SELECT * FROM events WHERE id = ?", (run["event_id"],)).fetchone())
    entries = [dict(r) for r in conn.execute("SELECT * FROM log WHERE run_id = ? ORDER BY seq", (template,))]
    apvs = [dict(r) for r in conn.execute("SELECT * FROM approvals WHERE run_id = ? ORDER BY rowid", (template,))]
    rec = dict(conn.execute("SELECT * FROM records WHERE run_id = ?", (template,)).fetchone())
    seq, prev = conn.execute("SELECT seq, hash FROM log ORDER BY seq DESC LIMIT 1").fetchone()
    keys = max(1, n // 4)
    versions = {rec["id"]: int(rec["version"])}
    salt = secrets.randbits(39)
    start = datetime.now(UTC) - timedelta(days=1, seconds=n)
    conn.execute("BEGIN")
    runs, events, logs, approvals, records = [], [], [], [], []
    for i in range(1, n):
        t = start + timedelta(seconds=i)
        at, expires = _iso(t), _iso(t + timedelta(days=30))
        ms = int(t.timestamp() * 1000)
        rid, eid = f"run_{ms:011x}{secrets.token_hex(3)}", f"ev-{i}"
        ref = f"T{i % keys}"
        swap = {template: rid, run["event_id"]: eid, '"T0"': f'"{ref}"'}
        runs.append({**run, "id": rid, "event_id": eid, "created_at": at, "updated_at": at})
        events.append({**event, "id": eid, "time": at, "received_at": at,
                       "payload": event["payload"].replace('"T0"', f'"{ref}"')})
        for e in entries:
            body = e["body"]
            for old, new in swap.items():
                body = body.replace(old, new)
            seq += 1
            digest = entry_hash(prev, seq, rid, e["step_id"], e["type"], at, body)
            logs.append((seq, rid, e["step_id"], e["type"], at, body, prev, digest))
            prev = digest
        for k, a in enumerate(apvs):  # ids in the runtime's format, unique by construction
            approvals.append({**a, "id": f"apv_{(i * len(apvs) + k) ^ salt:010x}", "run_id": rid, "requested_at": at,
                              "expires_at": expires, "decided_at": at if a["decided_at"] else None,
                              "message": a["message"].replace("T0", ref)})
        versions[ref] = versions.get(ref, 0) + 1
        records.append((rec["schema"], ref, versions[ref], rec["data"].replace('"T0"', f'"{ref}"'), rid,
                        rec["step_id"], rec["plan_hash"], at, rec["sha256"]))
    _insert(conn, "runs", runs)
    _insert(conn, "events", events)
    conn.executemany("INSERT INTO log(seq, run_id, step_id, type, at, body, prev, hash) VALUES (?,?,?,?,?,?,?,?)",
                     logs)
    _insert(conn, "approvals", approvals)
    conn.executemany("INSERT INTO records(schema, id, version, data, run_id, step_id, plan_hash, written_at, sha256) "
                     "VALUES (?,?,?,?,?,?,?,?,?)", records)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        cols = list(rows[0])
        conn.executemany(f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                         [tuple(r[c] for c in cols) for r in rows])


def build(base: Path, n: int) -> tuple[Path, Path, Any]:
    """A workspace with a store of n runs, and a schema-1 copy of the store for the peer."""
    ws = base / f"ws-{n}"
    plan = make_workspace(ws)
    template = template_run(ws, plan)
    db = ws / ".aios" / "state.db"
    clone(db, template, n)
    old = base / f"v1-{n}.db"
    shutil.copy(db, old)
    conn = sqlite3.connect(old, isolation_level=None)
    conn.executescript(V1)
    conn.close()
    return ws, old, plan


# -- measurement -------------------------------------------------------------------------------------

class Sized:
    """One store size: our store (schema 2) and the peer's schema-1 copy, with the ids to look up."""

    def __init__(self, base: Path, n: int) -> None:
        from aios.runtime.interpreter import Runtime
        from aios.runtime.records import RecordStore
        from aios.runtime.store import Store

        t0 = time.perf_counter()
        self.n = n
        self.ws, self.old_db, self.plan = build(base, n)
        self.generate_s = time.perf_counter() - t0
        self.store = Store.open(self.ws / ".aios")
        self.conn = self.store.conn
        self.old = sqlite3.connect(self.old_db, isolation_level=None)
        self.old.row_factory = sqlite3.Row
        self.rs = RecordStore(self.conn)
        self.rt = Runtime(self.plan, self.ws, store=self.store)
        self.ids = [str(r[0]) for r in self.conn.execute("SELECT id FROM runs")]
        self.pick = random.Random(n).sample(self.ids, min(len(self.ids), 64))

    def close(self) -> None:
        self.rt.close()
        self.store.close()
        self.old.close()


def _paths() -> dict[str, tuple[Callable[[Sized, int], object], Callable[[Sized, int], object]]]:
    """Each read path: (ours, the peer's SQL from before), as functions of a store size and a call number."""
    from aios.runtime import approvals
    from aios.runtime.approvals import _from_row
    from aios.runtime.queries import runs_page
    from aios.runtime.trace import load_trace

    def old_pending(s: Sized, run_id: str | None) -> list[Any]:
        sql, args = (OLD_PENDING.format(run="AND run_id = ?"), (run_id,)) if run_id else (OLD_PENDING.format(run=""), ())
        return [_from_row(r) for r in s.old.execute(sql, args)]

    def old_show(s: Sized, i: int) -> object:
        (match,) = s.old.execute(OLD_PREFIX, (s.pick[i % len(s.pick)][:16] + "%",)).fetchall()
        return load_trace(s.old, match[0])

    return {
        "runs_list": (lambda s, i: runs_page(s.conn, limit=30),
                      lambda s, i: s.old.execute(OLD_RUNS_LIST.format(where=""), (30,)).fetchall()),
        "runs_list_status": (lambda s, i: runs_page(s.conn, status="waiting", limit=30),
                             lambda s, i: s.old.execute(OLD_RUNS_LIST.format(where="WHERE status = ?"),
                                                        ("waiting", 30)).fetchall()),
        "records_list": (lambda s, i: s.rs.page("Ticket", limit=50),
                         lambda s, i: [json.loads(r["data"]) for r in s.old.execute(OLD_RECORDS_LIST, ("Ticket",))]),
        "approvals_list": (lambda s, i: approvals.page(s.conn, limit=50), lambda s, i: old_pending(s, None)),
        "approvals_run": (lambda s, i: approvals.listing(s.conn, run_id=s.pick[i % len(s.pick)]),
                          lambda s, i: old_pending(s, s.pick[i % len(s.pick)])),
        "runs_show_prefix": (lambda s, i: load_trace(s.conn, s.pick[i % len(s.pick)][:16]), old_show),
        "recover_none_due": (lambda s, i: s.rt.recover(), lambda s, i: _old_recover_sample(s)),
    }


def _recover_sample(n: int) -> int:
    return n if n <= 1000 else 100


def _old_recover_sample(s: Sized) -> None:
    """The old recover's scan over waiting runs, for a sample of them (see the module docstring)."""
    from aios.runtime.approvals import _from_row

    rows = s.old.execute(OLD_WAITING).fetchall()
    for row in rows[:_recover_sample(s.n)]:
        [_from_row(r) for r in s.old.execute(OLD_PENDING.format(run="AND run_id = ?"), (row["id"],))]


def sweep(fn: Callable[[Sized, int], object], sized: list[Sized], *, rounds: int = 7,
          round_s: float = 0.15) -> dict[int, float]:
    """Median milliseconds of ``fn`` at each size, in the quietest of ``rounds`` rounds. Rounds visit
    every size in turn, so load from elsewhere on the shared machine falls on all sizes alike; a call
    slower than a round's budget is timed once."""
    gc.collect()
    gc.disable()
    try:
        plan: dict[int, tuple[int, int]] = {}
        for s in sized:
            t0 = time.perf_counter()
            fn(s, 0)  # warm the page cache and the statement cache
            first = time.perf_counter() - t0
            plan[s.n] = (1, 1) if first > round_s else (max(3, min(41, int(round_s / max(first, 1e-6)))), rounds)
        best = {s.n: math.inf for s in sized}
        for r in range(rounds):
            for s in sized:
                reps, wanted = plan[s.n]
                if r >= wanted:
                    continue
                times = []
                for i in range(1, reps + 1):
                    t0 = time.perf_counter()
                    fn(s, i)
                    times.append(time.perf_counter() - t0)
                best[s.n] = min(best[s.n], statistics.median(times))
        return {n: v * 1000 for n, v in best.items()}
    finally:
        gc.enable()


def recover_one_percent(s: Sized) -> float:
    """Milliseconds of one `Runtime.recover()` after 1% of the pending approvals fell due (it decides
    and resumes those runs, so it runs once)."""
    due = random.Random(s.n + 1).sample(s.ids, max(1, s.n // 100))
    past = _iso(datetime.now(UTC) - timedelta(seconds=1))
    with s.store.transaction() as c:
        c.executemany("UPDATE approvals SET expires_at = ? WHERE run_id = ? AND status = 'pending'",
                      [(past, r) for r in due])
    t0 = time.perf_counter()
    resumed = s.rt.recover()
    took = (time.perf_counter() - t0) * 1000
    assert len(resumed) == len(due) and all(o.status.value == "rejected" for o in resumed), resumed[:3]
    return took


def idle_cpu(s: Sized, seconds: float, *, before: bool) -> float:
    """CPU share (percent of one core) of the real dispatcher poll loop on an idle store."""
    from aios.live.console import Console
    from aios.live.current import CurrentPlan
    from aios.live.dispatch import Dispatcher, Executor
    from aios.live.events import now_iso
    from aios.runtime.approvals import _from_row

    peer = sqlite3.connect(s.old_db, isolation_level=None, check_same_thread=False)
    peer.row_factory = sqlite3.Row

    class OldDispatcher(Dispatcher):
        """The expiry poll as it was: every pending approval, compared in Python."""

        def _expire_approvals(self, rt: Any) -> bool:
            now = now_iso()
            for a in [_from_row(r) for r in peer.execute(OLD_PENDING.format(run=""))]:
                if a.expires_at and a.expires_at <= now and not self.executor.is_active(a.run_id):
                    raise AssertionError("nothing is due in the bench store")
            return False

    console = Console(quiet=True)
    current = CurrentPlan(s.plan)
    storage = s.ws / ".aios"
    executor = Executor(s.ws, storage, current, console, workers=2)
    executor.start()
    dispatcher = (OldDispatcher if before else Dispatcher)(s.ws, storage, current, executor, console)
    dispatcher.start()
    time.sleep(1.0)  # past the first passes (opening the store, the first plan prune)
    c0, w0 = time.process_time(), time.monotonic()
    time.sleep(seconds)
    share = (time.process_time() - c0) / (time.monotonic() - w0) * 100
    dispatcher.stop()
    executor.stop(1.0)
    peer.close()
    return share


def exponent(sizes: list[int], values: list[float]) -> float:
    """The least-squares slope of log(value) against log(size)."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(v, 1e-6)) for v in values]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", default="1000,10000,100000", help="Store sizes in runs, comma-separated.")
    ap.add_argument("--idle-seconds", type=float, default=4.0, help="How long to sample the idle poll loop.")
    ap.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    result: dict[str, Any] = {"sizes": sizes}
    base = Path(tempfile.mkdtemp(prefix="aios-scale-"))
    sized: list[Sized] = []
    try:
        for n in sizes:
            sized.append(Sized(base, n))
            result[f"generate_s_{n}"] = round(sized[-1].generate_s, 2)
            print(f"generated {n} runs in {sized[-1].generate_s:.1f} s", file=sys.stderr)
        measured: dict[str, dict[int, float]] = {}
        for name, (ours, before) in _paths().items():
            measured[name] = sweep(ours, sized)
            measured[name + "_before"] = sweep(before, sized)
            if name == "recover_none_due":
                measured[name + "_before"] = {n: v * n / _recover_sample(n) for n, v in measured[name + "_before"].items()}
            print(f"{name}: " + ", ".join(f"{n}: {measured[name][n]:.3f} ms (before {measured[name + '_before'][n]:.3f})"
                                          for n in sizes), file=sys.stderr)
        measured["recover"] = {s.n: recover_one_percent(s) for s in sized}
        # the peer: the same decisions and resumes, after its scan of every waiting run
        measured["recover_before"] = {n: measured["recover"][n] + measured["recover_none_due_before"][n] for n in sizes}
        result["recover_before_scaled_from_sample"] = [n for n in sizes if _recover_sample(n) < n]
        top = sized[-1]
        label = "100k" if top.n == 100_000 else str(top.n)
        result[f"serve_idle_cpu_{label}_pending"] = round(idle_cpu(top, args.idle_seconds, before=False), 2)
        result[f"serve_idle_cpu_{label}_pending_before"] = round(idle_cpu(top, args.idle_seconds, before=True), 2)
    finally:
        for s in sized:
            s.close()
        shutil.rmtree(base, ignore_errors=True)
    for name, by_size in measured.items():
        for n, ms in by_size.items():
            result[f"{name}_ms_{n}"] = round(ms, 4)
    for name in [k for k in measured if not k.endswith("_before")]:
        if len(sizes) > 1:
            result[f"exp_{name}"] = round(exponent(sizes, [measured[name][n] for n in sizes]), 3)
            result[f"exp_{name}_before"] = round(exponent(sizes, [measured[name + "_before"][n] for n in sizes]), 3)
        result[f"ratio_{name}_{sizes[-1]}"] = round(measured[name + "_before"][sizes[-1]] / measured[name][sizes[-1]], 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
