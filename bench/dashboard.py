"""The dashboard over HTTP against a large store: time to first byte of its pages, approve-to-resume
latency, and server-sent events with 50 live runs, each page beside a bare Starlette peer.

Generation. A small workspace (a schema with a natural key; two playbooks that write a record and
wait on two gates) is run through the real Runtime: one run approved through both gates (completed),
one through the first (waiting on the second). Their rows (run, event, log entries, approvals,
record version) are cloned with new ids and times in the real schema, through the real triggers,
with the log's hash chain recomputed (the overview verifies it): 80% completed runs spread over 90
days, 20% waiting runs over the last 25 days (their approvals are not due), costs drawn per run.
About 10 log entries per run: 100k runs make about 1M entries.

Measurement. A real `aios serve` on 127.0.0.1 (port 0), a token from `aios token create`, requests
with ``Authorization: Bearer``, one keep-alive connection, sequential:

- time to first byte (the response's status line and headers read) p50/p95 of the HTML pages: the
  runs list's first page, a deep keyset page (90% of the way down), a run page, the overview (after
  warm-up requests, which also bring the overview's incremental log verification up to date; the
  first full verification is reported apart as ``overview_cold_verify_s``; the overview reuses its
  per-day figures for 30 s, so ``overview_uncached_*`` times requests for 30 other windows, each a
  miss);
- approve → resumed: ``POST /api/approvals/ID/approve``, then the run's ``run.started`` entry after
  the decision polled in the log (every 2 ms, a separate read connection), for waiting runs;
- server-sent events: 50 streams ``/events?runs=RUN`` open on 50 waiting runs, the 50 approved as
  fast as the API answers; messages received per run per second over the window from the first
  approval to the last message, and approve-to-message latency p50/p95.

The peer, for each page: a bare Starlette app (uvicorn, same machine, its own process) answering a
page of the same byte size, measured the same way; ``*_ratio`` is ours over the peer (p95).

    python bench/dashboard.py [--runs 100000] [--samples 200] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AIOS_YAML = """\
name: dashboard-bench
storage: .aios
models:
  default: {model: offline}
runtime:
  actor: operator
"""

SCHEMA = """\
kind: schema
name: Ticket
key: ref
fields:
  ref: str
  title: str
"""

PLAYBOOK = """\
kind: playbook
name: {name}
trigger: {{event: {event}}}
steps:
  - id: ticket
    transform:
      ref: "{{{{ event.payload.ref }}}}"
      title: "{{{{ event.payload.title }}}}"
    output: Ticket
    writes: Ticket
  - id: review
    needs: [ticket]
    gate: {{message: "Review {{{{ event.payload.ref }}}}", timeout: 30d}}
  - id: confirm
    needs: [review]
    gate: {{message: "Confirm {{{{ event.payload.ref }}}}", timeout: 30d}}
  - id: summary
    needs: [confirm]
    transform:
      done: "{{{{ steps.ticket.output.ref }}}}"
"""

PLAYBOOKS = (("intake", "ticket.opened"), ("triage", "ticket.escalated"))
TARGETS = {"runs_list_p95_ms": 150, "runs_list_deep_p95_ms": 150, "run_page_p95_ms": 150, "overview_p95_ms": 300,
           "approve_to_resume_p95_ms": 1000}
_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


# -- generation ------------------------------------------------------------------------------------

def make_workspace(ws: Path) -> Any:
    from aios.compiler import compile_workspace

    (ws / "playbooks").mkdir(parents=True)
    (ws / "aios.yaml").write_text(AIOS_YAML)
    (ws / "playbooks" / "schema.yaml").write_text(SCHEMA)
    for name, event in PLAYBOOKS:
        (ws / "playbooks" / f"{name}.yaml").write_text(PLAYBOOK.format(name=name, event=event))
    result = compile_workspace(ws)
    if result.plan is None:
        raise SystemExit(f"the bench workspace does not compile: {result}")
    return result.plan


def template_runs(ws: Path, plan: Any) -> list[tuple[str, str]]:
    """Per playbook, one completed run and one waiting on its second gate: [(run id, kind)]."""
    from aios.runtime.interpreter import Runtime

    out: list[tuple[str, str]] = []
    with Runtime(plan, ws, actor="operator") as rt:
        for name, event in PLAYBOOKS:
            for kind in ("completed", "waiting"):
                started = rt.start(name, {"type": event, "id": f"ev-{name}-{kind}",
                                          "payload": {"ref": "T0", "title": "a ticket"}})
                assert started.approval is not None, started
                _, resumed = rt.decide(started.approval.id, approve=True, note="looks right")
                assert resumed is not None and resumed.status.value == "waiting", resumed
                if kind == "completed":
                    assert resumed.approval is not None
                    _, done = rt.decide(resumed.approval.id, approve=True, note="confirmed")
                    assert done is not None and done.status.value == "completed", done
                out.append((started.run_id, kind))
    return out


def clone(db: Path, templates: list[tuple[str, str]], n: int, seed: int = 13) -> None:
    """Clone the template runs' rows up to n runs (new ids and times), the log's chain recomputed."""
    from aios.runtime.log import entry_hash

    rnd = random.Random(seed)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous=OFF")
    shapes = []
    for rid, kind in templates:
        run = dict(conn.execute("SELECT * FROM runs WHERE id = ?", (rid,)).fetchone())
        shapes.append({
            "kind": kind, "run": run,
            "event": dict(conn.execute("SELECT * FROM events WHERE id = ?", (run["event_id"],)).fetchone()),
            "entries": [dict(r) for r in conn.execute("SELECT * FROM log WHERE run_id = ? ORDER BY seq", (rid,))],
            "approvals": [dict(r) for r in conn.execute("SELECT * FROM approvals WHERE run_id = ? ORDER BY rowid",
                                                        (rid,))],
            "record": dict(conn.execute("SELECT * FROM records WHERE run_id = ?", (rid,)).fetchone()),
        })
    seq, prev = conn.execute("SELECT seq, hash FROM log ORDER BY seq DESC LIMIT 1").fetchone()
    keys = max(1, n // 4)
    versions: dict[str, int] = {}
    for v in conn.execute("SELECT id, max(version) FROM records GROUP BY id"):
        versions[str(v[0])] = int(v[1])
    salt = secrets.randbits(39)
    now = datetime.now(UTC) - timedelta(hours=1)
    # times: completed runs over 90 days, waiting ones over the last 25 (not due), oldest first
    plan = []
    for _ in range(n - len(templates)):
        waiting = rnd.random() < 0.2
        shape = shapes[(0 if not waiting else 1) + 2 * rnd.randrange(len(PLAYBOOKS))]
        age = rnd.uniform(0, (25 if waiting else 90) * 86400)
        plan.append((now - timedelta(seconds=age), shape))
    plan.sort(key=lambda p: p[0])
    conn.execute("BEGIN")
    runs, events, logs, approvals, records = [], [], [], [], []
    for i, (t, shape) in enumerate(plan, start=1):
        run, event = shape["run"], shape["event"]
        at = _iso(t)
        ms = int(t.timestamp() * 1000)
        rid, eid = f"run_{ms:011x}{secrets.token_hex(3)}", f"ev-{i}"
        ref = f"T{i % keys}"
        cost = round(rnd.uniform(0.0, 0.05), 6)
        swap = {run["id"]: rid, run["event_id"]: eid, '"T0"': f'"{ref}"'}
        done = _iso(t + timedelta(seconds=2)) if run["finished_at"] else None
        runs.append({**run, "id": rid, "event_id": eid, "created_at": at, "updated_at": done or at,
                     "finished_at": done, "cost_usd": cost})
        events.append({**event, "id": eid, "time": at, "received_at": at,
                       "payload": event["payload"].replace('"T0"', f'"{ref}"')})
        for e in shape["entries"]:
            body = e["body"]
            for old, new in swap.items():
                body = body.replace(old, new)
            seq += 1
            digest = entry_hash(prev, seq, rid, e["step_id"], e["type"], at, body)
            logs.append((seq, rid, e["step_id"], e["type"], at, body, prev, digest))
            prev = digest
        for k, a in enumerate(shape["approvals"]):
            approvals.append({**a, "id": f"apv_{(i * 4 + k) ^ salt:010x}", "run_id": rid, "requested_at": at,
                              "expires_at": _iso(t + timedelta(days=30)), "decided_at": at if a["decided_at"] else None,
                              "message": a["message"].replace("T0", ref)})
        rec = shape["record"]
        versions[ref] = versions.get(ref, 0) + 1
        records.append((rec["schema"], ref, versions[ref], rec["data"].replace('"T0"', f'"{ref}"'), rid,
                        rec["step_id"], rec["plan_hash"], at, rec["sha256"]))
        if len(logs) >= 200_000 or i == len(plan):
            _flush(conn, runs, events, logs, approvals, records)
            runs, events, logs, approvals, records = [], [], [], [], []
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    conn.close()


def _flush(conn: sqlite3.Connection, runs: list[dict[str, Any]], events: list[dict[str, Any]],
           logs: list[tuple[Any, ...]], approvals: list[dict[str, Any]], records: list[tuple[Any, ...]]) -> None:
    for table, rows in (("runs", runs), ("events", events), ("approvals", approvals)):
        if rows:
            cols = list(rows[0])
            conn.executemany(f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                             [tuple(r[c] for c in cols) for r in rows])
    conn.executemany("INSERT INTO log(seq, run_id, step_id, type, at, body, prev, hash) VALUES (?,?,?,?,?,?,?,?)",
                     logs)
    conn.executemany("INSERT INTO records(schema, id, version, data, run_id, step_id, plan_hash, written_at, sha256) "
                     "VALUES (?,?,?,?,?,?,?,?,?)", records)


# -- servers ---------------------------------------------------------------------------------------

class Server:
    """A subprocess that prints the URL it listens on; always stopped."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.port = 0
        self.lines: list[str] = []
        deadline = time.monotonic() + 120
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            m = _LISTENING.search(line)
            if m:
                self.port = int(m.group(2))
                break
        if not self.port:
            self.stop()
            raise SystemExit("the server did not start:\n" + "".join(self.lines))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def peer_main() -> None:
    """The peer: a bare Starlette app answering ``GET /bytes/N`` with N bytes of HTML."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    cache: dict[int, str] = {}

    async def page(request: Request) -> HTMLResponse:
        n = int(request.path_params["n"])
        body = cache.get(n)
        if body is None:
            body = cache[n] = "<!doctype html><html><body>" + "x" * max(0, n - 41) + "</body></html>"
        return HTMLResponse(body)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(Starlette(routes=[Route("/bytes/{n:int}", page)]), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


# -- measurement -----------------------------------------------------------------------------------

class Client:
    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str) -> tuple[float, int, bytes]:
        """(seconds to the first byte, status, body); a keep-alive connection the server closed
        meanwhile is opened again and the request timed from its retry."""
        for attempt in (1, 2):
            t0 = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=self.headers)
                resp = self.conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionError) as err:
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise SystemExit(f"GET {path}: {err}") from err
                continue
            ttfb = time.perf_counter() - t0
            body = resp.read()
            return ttfb, resp.status, body
        raise AssertionError("unreachable")

    def post(self, path: str, data: dict[str, Any]) -> tuple[int, bytes]:
        # a fresh connection: the kept-alive one may have been closed by the server while idle, and a
        # POST is not retried
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.conn.request("POST", path, body=json.dumps(data).encode(),
                          headers={**self.headers, "Content-Type": "application/json"})
        resp = self.conn.getresponse()
        return resp.status, resp.read()


def ttfb(client: Client, paths: list[str], samples: int, warmup: int = 5) -> tuple[list[float], int]:
    size = 0
    for i in range(warmup):
        _, status, body = client.get(paths[i % len(paths)])
        if status != 200:
            raise SystemExit(f"GET {paths[i % len(paths)]} answered {status}: {body[:300]!r}")
        size = len(body)
    times = []
    for i in range(samples):
        t, status, body = client.get(paths[i % len(paths)])
        assert status == 200, (status, body[:200])
        times.append(t * 1000)
    return times, size


def approve_to_resume(client: Client, db: Path, pairs: list[tuple[str, str]]) -> list[float]:
    """For each (approval, run): POST approve, then poll the log for the run's resume entry."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    out = []
    try:
        for approval, run in pairs:
            before = conn.execute("SELECT coalesce(max(seq), 0) FROM log WHERE run_id = ?", (run,)).fetchone()[0]
            t0 = time.perf_counter()
            status, body = client.post(f"/api/approvals/{approval}/approve", {"note": "bench"})
            assert status == 200, (status, body[:300])
            while True:
                row = conn.execute("SELECT seq FROM log WHERE run_id = ? AND seq > ? AND type = 'run.started' "
                                   "LIMIT 1", (run, before)).fetchone()
                if row is not None:
                    break
                if time.perf_counter() - t0 > 30:
                    raise SystemExit(f"run {run} did not resume within 30 s of its approval")
                time.sleep(0.002)
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        conn.close()
    return out


def sse(port: int, token: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """50 streams, one per waiting run; approve the runs; count the messages and time each run's last."""
    received: dict[str, list[tuple[float, str]]] = {run: [] for _, run in pairs}
    ready = threading.Barrier(len(pairs) + 1)
    stop = threading.Event()

    def listen(run: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", f"/events?runs={run}", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        first = True
        event = ""
        while not stop.is_set():
            line = resp.readline()
            if not line:
                break
            text = line.decode().rstrip("\n")
            if text.startswith("event:"):
                event = text[6:].strip()
            elif text.startswith("data:") and event == "status":
                status = json.loads(text[5:])["status"]
                received[run].append((time.perf_counter(), status))
                if first:
                    first = False
                    ready.wait()
                if status == "completed":
                    break
        conn.close()

    threads = [threading.Thread(target=listen, args=(run,), daemon=True) for _, run in pairs]
    for t in threads:
        t.start()
    ready.wait(timeout=60)
    client = Client(port, token)
    sent: dict[str, float] = {}
    t0 = time.perf_counter()
    for approval, run in pairs:
        sent[run] = time.perf_counter()
        status, body = client.post(f"/api/approvals/{approval}/approve", {"note": "sse"})
        assert status == 200, (status, body[:300])
    for t in threads:
        t.join(timeout=30)
    stop.set()
    end = max((m[-1][0] for m in received.values() if m), default=t0)
    window = max(end - t0, 1e-6)
    changes = {run: [m for m in msgs[1:]] for run, msgs in received.items()}  # after the initial status
    done = [(next(ts for ts, s in msgs if s == "completed") - sent[run]) * 1000
            for run, msgs in changes.items() if any(s == "completed" for _, s in msgs)]
    total = sum(len(m) for m in changes.values())
    return {"sse_streams": len(pairs), "sse_messages": total,
            "sse_msgs_per_s_per_run": round(total / window / len(pairs), 2),
            "sse_window_s": round(window, 3), "sse_completed_seen": len(done),
            "sse_approve_to_message_p50_ms": round(_pct(done, 0.5), 1) if done else None,
            "sse_approve_to_message_p95_ms": round(_pct(done, 0.95), 1) if done else None}


def waiting_pairs(db: Path, k: int, skip: int = 0) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return [(str(r[0]), str(r[1])) for r in conn.execute(
            "SELECT id, run_id FROM approvals WHERE status = 'pending' ORDER BY requested_at DESC LIMIT ? OFFSET ?",
            (k, skip))]
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200, help="requests per page")
    parser.add_argument("--approvals", type=int, default=40, help="approve-to-resume samples")
    parser.add_argument("--sse-runs", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        peer_main()
        return

    from aios.web.views.runs import encode_next

    out: dict[str, Any] = {"runs": args.runs}
    with tempfile.TemporaryDirectory(prefix="aios-dash-bench-") as tmp:
        ws = Path(tmp) / "ws"
        plan = make_workspace(ws)
        t0 = time.perf_counter()
        templates = template_runs(ws, plan)
        db = ws / ".aios" / "state.db"
        clone(db, templates, args.runs)
        out["generate_s"] = round(time.perf_counter() - t0, 1)
        conn = sqlite3.connect(db)
        out["log_entries"] = conn.execute("SELECT max(seq) FROM log").fetchone()[0]
        out["runs_generated"] = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        deep_at = int(out["runs_generated"] * 0.9)
        deep = conn.execute("SELECT created_at, id FROM runs ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?",
                            (deep_at,)).fetchone()  # the bench's setup only: the page reads a keyset token
        sample_runs = [r[0] for r in conn.execute("SELECT id FROM runs WHERE status = 'completed' "
                                                  "ORDER BY random() LIMIT 50")]
        conn.close()
        out["db_mb"] = round(db.stat().st_size / 1e6, 1)

        env = {**os.environ, "PYTHONUNBUFFERED": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        env.pop("AIOS_ACTOR", None)
        made = subprocess.run([sys.executable, "-m", "aios", "token", "create", "--name", "bench", "--json",
                               "-w", str(ws)], capture_output=True, text=True, env=env, check=True)
        token = json.loads(made.stdout)["token"]
        server = Server([sys.executable, "-m", "aios", "serve", "--port", "0", "--no-schedules", "--no-drops",
                         "-w", str(ws)], env)
        peer = Server([sys.executable, str(Path(__file__).resolve()), "--peer"], env)
        try:
            client = Client(server.port, token)
            t1 = time.perf_counter()
            while True:  # the overview's first requests verify the log (STEP entries per request)
                _, status, body = client.get("/api/overview")
                assert status == 200, body[:300]
                if json.loads(body)["integrity"]["behind"] == 0:
                    break
            out["overview_cold_verify_s"] = round(time.perf_counter() - t1, 2)
            out["log_verified"] = json.loads(body)["integrity"]["ok"]
            pages = {
                "runs_list": ["/runs"],
                "runs_list_deep": [f"/runs?_next={encode_next(deep[0], deep[1])}"],
                "run_page": [f"/runs/{r}" for r in sample_runs],
                "overview": ["/overview"],
            }
            peer_client = Client(peer.port)
            for name, paths in pages.items():
                print(f"measuring {name} …", file=sys.stderr, flush=True)
                times, size = ttfb(client, paths, args.samples)
                ptimes, _ = ttfb(peer_client, [f"/bytes/{size}"], args.samples)
                out[f"{name}_bytes"] = size
                out[f"{name}_p50_ms"] = round(_pct(times, 0.5), 2)
                out[f"{name}_p95_ms"] = round(_pct(times, 0.95), 2)
                out[f"{name}_peer_p50_ms"] = round(_pct(ptimes, 0.5), 2)
                out[f"{name}_peer_p95_ms"] = round(_pct(ptimes, 0.95), 2)
                out[f"{name}_ratio"] = round(out[f"{name}_p95_ms"] / max(out[f"{name}_peer_p95_ms"], 1e-3), 1)
            # the overview when its per-day figures are not cached: each window (days=) is its own entry
            misses = [client.get(f"/overview?days={d}")[0] * 1000 for d in range(2, 32)]
            out["overview_uncached_p50_ms"] = round(_pct(misses, 0.5), 2)
            out["overview_uncached_p95_ms"] = round(_pct(misses, 0.95), 2)
            print("measuring approve to resume …", file=sys.stderr, flush=True)
            lat = approve_to_resume(client, db, waiting_pairs(db, args.approvals))
            out["approve_to_resume_p50_ms"] = round(_pct(lat, 0.5), 1)
            out["approve_to_resume_p95_ms"] = round(_pct(lat, 0.95), 1)
            out["approve_samples"] = len(lat)
            out.update(sse(server.port, token, waiting_pairs(db, args.sse_runs)))
        finally:
            server.stop()
            peer.stop()
    out["targets_ms"] = TARGETS
    out["targets_met"] = all(out[k] <= v for k, v in TARGETS.items())
    out["median_of_peer_ratios"] = round(statistics.median(out[f"{p}_ratio"] for p in pages), 1)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:34} {v}")


if __name__ == "__main__":
    main()
