"""SIGKILL the server while it processes a burst of webhook events, restart it, redeliver everything:
every accepted event ends up as exactly one completed run, and every effect happened once."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from .liveserver import ServerProcess, signed_headers

EVENTS = 30


def _deliver(url: str, i: int) -> int | None:
    body = json.dumps({"payload": {"delay_ms": 120}}).encode()
    try:
        with httpx.Client(timeout=10) as c:
            r = c.post(f"{url}/hooks/shop", content=body, headers=signed_headers(body, **{"x-aios-delivery": f"o-{i}"}))
        return r.status_code
    except httpx.HTTPError:  # the server died under the request: not accepted, the sender retries
        return None


def _count(ws: Path, sql: str) -> int:
    conn = sqlite3.connect(ws / ".aios" / "state.db", timeout=30)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def test_kill_mid_processing_then_restart_processes_each_event_exactly_once(ws: Path) -> None:
    server = ServerProcess(ws, "serve", "--workers", "2")
    try:
        server.start()
        with ThreadPoolExecutor(8) as pool:
            first = list(pool.map(lambda i: _deliver(server.url, i), range(EVENTS)))
        accepted = {f"o-{i}" for i, code in enumerate(first) if code in (200, 202)}
        assert len(accepted) == EVENTS  # the intake was up the whole time
        deadline = time.monotonic() + 60
        while _count(ws, "SELECT count(*) FROM runs WHERE status = 'completed'") < 3:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.02)
        server.kill()  # SIGKILL: no shutdown code runs
    finally:
        server.stop()
    done_at_kill = _count(ws, "SELECT count(*) FROM runs WHERE status = 'completed'")
    assert done_at_kill < EVENTS, "the kill landed after all processing; the test proves nothing"

    again = ServerProcess(ws, "serve", "--workers", "2")
    try:
        again.start()
        with ThreadPoolExecutor(8) as pool:  # the sender redelivers everything (at-least-once)
            second = list(pool.map(lambda i: _deliver(again.url, i), range(EVENTS)))
        assert all(code == 200 for code in second), second  # all were journaled before: duplicates
        deadline = time.monotonic() + 90
        while _count(ws, "SELECT count(*) FROM runs WHERE status = 'completed'") < EVENTS:
            assert time.monotonic() < deadline, again.output()
            time.sleep(0.05)
    finally:
        again.stop()

    conn = sqlite3.connect(ws / ".aios" / "state.db")
    try:
        runs = Counter(r[0] for r in conn.execute("SELECT event_id FROM runs WHERE playbook = 'orders'"))
        statuses = Counter(r[0] for r in conn.execute("SELECT status FROM runs"))
        events = Counter(r[0] for r in conn.execute("SELECT status FROM live_events"))
        redelivered = conn.execute("SELECT min(deliveries) FROM live_events").fetchone()[0]
    finally:
        conn.close()
    assert set(runs) == accepted and set(runs.values()) == {1}
    assert statuses == {"completed": EVENTS}
    assert events == {"dispatched": EVENTS} and redelivered >= 2
    effects = Counter((ws / "ledger" / "effects.txt").read_text().split())
    assert set(effects) == accepted and set(effects.values()) == {1}


def test_graceful_shutdown_leaves_unfinished_runs_resumable(ws: Path) -> None:
    server = ServerProcess(ws, "serve", "--workers", "1", "--grace", "0.2")
    try:
        server.start()
        with httpx.Client(timeout=10) as c:
            for i in range(4):
                body = json.dumps({"payload": {"delay_ms": 700}}).encode()
                r = c.post(f"{server.url}/hooks/shop", content=body,
                           headers=signed_headers(body, **{"x-aios-delivery": f"g-{i}"}))
                assert r.status_code == 202
        calls = ws / "ledger" / "calls.txt"
        deadline = time.monotonic() + 30
        while not (calls.exists() and calls.read_text()):  # a connector call is in flight
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.01)
        assert server.stop() == 0  # SIGTERM
    finally:
        server.stop()
    assert "1 run(s) still executing were left resumable" in server.output()
    assert _count(ws, "SELECT count(*) FROM runs WHERE status = 'completed'") < 4
    with ServerProcess(ws, "serve", "--workers", "2") as again:
        deadline = time.monotonic() + 60
        while _count(ws, "SELECT count(*) FROM runs WHERE status = 'completed'") < 4:
            assert time.monotonic() < deadline, again.output()
            time.sleep(0.05)
    conn = sqlite3.connect(ws / ".aios" / "state.db")
    try:
        runs = Counter(r[0] for r in conn.execute("SELECT event_id FROM runs"))
    finally:
        conn.close()
    assert runs == {f"g-{i}": 1 for i in range(4)}
    effects = Counter((ws / "ledger" / "effects.txt").read_text().split())
    assert effects == {f"g-{i}": 1 for i in range(4)}
