"""The canonical stream without a server: normalization, routing, the journal, schedules with their
missed-run policy, drop folders, and `aios emit` processing events itself when no server runs."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aios.compiler import compile_workspace
from aios.live import journal
from aios.live.drops import scan_folder
from aios.live.events import EventError, drop_event, emitted_event, schedule_event, webhook_event
from aios.live.lock import LockHeld, ServerLock
from aios.live.routing import route, webhook_sources
from aios.live.scheduler import due_events
from aios.plan.plan import Plan
from aios.runtime.store import Store


def _plan(ws: Path) -> Plan:
    plan = compile_workspace(ws).plan
    assert plan is not None
    return plan


# -- normalization ---------------------------------------------------------------------------------

def test_webhook_envelope_and_bare_payload() -> None:
    env = webhook_event("shop", b'{"type": "order.created", "id": "A1", "time": "2026-01-02T03:04:05Z", '
                                b'"payload": {"n": 1}}')
    assert (env.id, env.type, env.source, env.time, env.payload) == (
        "A1", "order.created", "webhook:shop", "2026-01-02T03:04:05Z", {"n": 1})
    bare = webhook_event("shop", b'{"n": 1, "payload": 2, "extra": true}')  # not only envelope keys: bare
    assert bare.type == "webhook.shop" and bare.payload == {"n": 1, "payload": 2, "extra": True}
    assert bare.id == webhook_event("shop", b'{"n": 1, "payload": 2, "extra": true}').id
    assert bare.id != webhook_event("other", b'{"n": 1, "payload": 2, "extra": true}').id
    header = webhook_event("shop", b'{"payload": {}}', event_type="lead.received", delivery_id="d-1")
    assert (header.type, header.id) == ("lead.received", "d-1")


@pytest.mark.parametrize(("body", "kwargs", "code"), [
    (b"[1,", {}, "malformed-body"),
    (b'{"type": "no spaces allowed", "payload": {}}', {}, "invalid-type"),
    (b'{"id": "", "payload": {}}', {}, "invalid-id"),
    (b'{"id": 7, "payload": {}}', {}, "invalid-id"),
    (b'{"time": 5, "payload": {}}', {}, "invalid-time"),
])
def test_webhook_normalization_errors(body: bytes, kwargs: dict[str, str], code: str) -> None:
    with pytest.raises(EventError) as err:
        webhook_event("shop", body, **kwargs)
    assert err.value.code == code


def test_emitted_schedule_and_drop_ids_are_stable() -> None:
    a = emitted_event("note.requested", {"b": 1, "a": 2})
    assert a.id == emitted_event("note.requested", {"a": 2, "b": 1}).id  # key order does not matter
    assert a.id != emitted_event("note.requested", {"a": 2, "b": 1}, source="other").id
    tick = dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)
    assert schedule_event("nightly", tick).id == schedule_event("nightly", tick, missed=True).id
    assert schedule_event("nightly", tick).id != schedule_event("nightly", tick + dt.timedelta(days=1)).id
    d1 = drop_event("inbox", "a.json", 8, "ab", 10, "application/json", ".aios/drops", b'{"x": 1}')
    assert d1.payload["json"] == {"x": 1} and d1.payload["file"]["path"] == f".aios/drops/{d1.id}/a.json"
    assert d1.id != drop_event("inbox", "a.json", 8, "ab", 11, None, ".aios/drops", b'{"x": 1}').id
    binary = drop_event("inbox", "b.bin", 2, "cd", 1, None, "d", b"\xff\x00")
    assert binary.payload["text"] is None and binary.payload["json"] is None
    big = drop_event("inbox", "big.json", 10**9, "ef", 1, None, "d")  # too large to inline
    assert big.payload["text"] is None and big.payload["file"]["size"] == 10**9


def test_routing_by_type_and_by_source(ws: Path) -> None:
    plan = _plan(ws)
    names = lambda ev: [pb.name for pb in route(plan, ev)]  # noqa: E731
    assert names(emitted_event("note.requested", {})) == ["notes"]
    assert names(webhook_event("shop", b"{}")) == ["orders"]
    assert names(webhook_event("shop", b"{}", event_type="note.requested")) == ["notes", "orders"]
    assert names(webhook_event("quiet", b"{}")) == []
    assert names(drop_event("inbox", "x", 0, "", 1, None, "d")) == ["inbox"]
    assert names(schedule_event("nightly", dt.datetime(2026, 1, 1, 3, 0))) == ["nightly"]
    sources = webhook_sources(plan)
    assert sources["shop"].env == "AIOS_TEST_SHOP_SECRET" and sources["shop"].playbooks == ("orders",)
    assert sources["quiet"].playbooks == ()


def test_journal_accepts_once_and_counts_deliveries(tmp_path: Path) -> None:
    ev = emitted_event("x.y", {"n": 1}, event_id="e-1")
    with journal.open_store(tmp_path) as store:
        with store.transaction() as conn:
            assert journal.accept(conn, [ev, ev]) == [True, False]
        with store.transaction() as conn:
            assert journal.accept(conn, [ev]) == [False]
        rows = journal.pending(store.conn)
        assert [(r.event, r.deliveries) for r in rows] == [(ev, 3)]
        with store.transaction() as conn:
            journal.mark(conn, "e-1", journal.EventStatus.UNROUTED, note="nobody")
        assert journal.pending(store.conn) == [] and journal.event_counts(store.conn) == {"unrouted": 1}


def test_group_committer_answers_after_commit(tmp_path: Path) -> None:
    commits: list[int] = []
    gc = journal.GroupCommitter(tmp_path, on_commit=commits.append)
    gc.start()
    futures = [gc.submit(emitted_event("x.y", {"i": i % 50})) for i in range(100)]
    results = [f.result(timeout=30) for f in futures]
    gc.close()
    assert results.count(True) == 50 and results.count(False) == 50 and sum(commits) == 50
    with journal.open_store(tmp_path) as store:
        assert store.query("SELECT count(*) FROM live_events")[0][0] == 50
    assert gc.submit(emitted_event("x.y", {})).exception() is not None  # closed: refused, not lost silently


# -- schedules -------------------------------------------------------------------------------------

def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, 30, tzinfo=dt.UTC)


def _due(store: Store, plan: Plan, now: dt.datetime) -> list[tuple[str, bool]]:
    with store.transaction() as conn:
        events = due_events(conn, plan, now)
        fresh = journal.accept(conn, events)
    return [(ev.payload["scheduled_for"], ev.payload["missed"]) for ev, new in zip(events, fresh, strict=True)
            if new]


def test_schedule_ticks_once_and_runs_a_missed_tick_once(ws: Path, tmp_path: Path) -> None:
    plan = _plan(ws)  # nightly: "0 3 * * *", missed: run_once
    with journal.open_store(tmp_path) as store:
        assert _due(store, plan, _at(1, 2, 59)) == []  # first sight: starts counting now
        assert _due(store, plan, _at(1, 3)) == [("2026-03-01T03:00+00:00", False)]
        assert _due(store, plan, _at(1, 3)) == []  # the same minute again: nothing
        # down from 03:01 on day 1 until 04:00 on day 4: ticks of days 2, 3 and 4 were missed
        assert _due(store, plan, _at(4, 4)) == [("2026-03-04T03:00+00:00", True)]
        assert _due(store, plan, _at(4, 5)) == []


def test_schedule_skip_policy_and_changed_expression(ws: Path, tmp_path: Path) -> None:
    inbox = ws / "playbooks" / "inbox.yaml"
    inbox.write_text(inbox.read_text().replace("missed: run_once", "missed: skip"))
    plan = _plan(ws)
    with journal.open_store(tmp_path) as store:
        assert _due(store, plan, _at(1, 1)) == []
        assert _due(store, plan, _at(5, 4)) == []  # four missed ticks, skipped
        assert _due(store, plan, _at(6, 3)) == [("2026-03-06T03:00+00:00", False)]
        inbox.write_text(inbox.read_text().replace("0 3 * * *", "30 3 * * *"))
        changed = _plan(ws)
        assert _due(store, changed, _at(9, 9)) == []  # a new expression starts from now
        assert _due(store, changed, _at(10, 3, 30)) == [("2026-03-10T03:30+00:00", False)]


# -- drop folders ----------------------------------------------------------------------------------

def test_drop_folder_takes_settled_files_once(ws: Path) -> None:
    storage = ws / ".aios"
    inbox = ws / "inbox"
    inbox.mkdir()
    with journal.open_store(storage) as store:
        (inbox / "fresh.txt").write_text("still being written")
        events, settling = scan_folder(ws, storage, store, "inbox", settle_ms=60_000)
        assert (events, settling) == ([], 1) and (inbox / "fresh.txt").exists()
        old = time.time() - 5
        os.utime(inbox / "fresh.txt", (old, old))
        (inbox / "skip.tmp").write_text("partial")
        events, settling = scan_folder(ws, storage, store, "inbox", settle_ms=200)
        assert [e.payload["file"]["name"] for e in events] == ["fresh.txt"] and settling == 0
        archived = ws / events[0].payload["file"]["path"]
        assert archived.read_text() == "still being written" and not (inbox / "fresh.txt").exists()
        # a crash after the commit but before the move: the file is back (same mtime), the event is not new
        os.replace(archived, inbox / "fresh.txt")
        again, _ = scan_folder(ws, storage, store, "inbox", settle_ms=200)
        assert again == [] and not (inbox / "fresh.txt").exists() and (inbox / "skip.tmp").exists()
        assert store.query("SELECT count(*) FROM live_events")[0][0] == 1


# -- the lock and `aios emit` ----------------------------------------------------------------------

def test_one_server_per_workspace(tmp_path: Path) -> None:
    first = ServerLock(tmp_path)
    first.acquire({"url": "http://127.0.0.1:1"})
    try:
        with pytest.raises(LockHeld) as err:
            ServerLock(tmp_path).acquire()
        assert err.value.holder["url"] == "http://127.0.0.1:1" and err.value.holder["pid"] == os.getpid()
    finally:
        first.release()
    with ServerLock(tmp_path):
        pass


def _emit(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("AIOS_ACTOR", None)
    return subprocess.run([sys.executable, "-m", "aios", "emit", *args, "-w", str(ws)], capture_output=True,
                          text=True, env=env, timeout=120)


def test_emit_without_a_server_processes_the_event_itself(ws: Path) -> None:
    queued = _emit(ws, "note.requested", "--payload", '{"title": "Later"}', "--id", "n-2", "--queue-only")
    assert queued.returncode == 0 and "stored; it will be processed by the next `aios serve`" in queued.stdout
    first = _emit(ws, "note.requested", "--payload", '{"title": "Now"}', "--id", "n-1", "--json")
    assert first.returncode == 3, first.stderr  # the run waits for its approval
    report = json.loads(first.stdout)
    assert report["queued"] is False and report["status"] == "dispatched"
    assert [(r["playbook"], r["status"], r["new"]) for r in report["runs"]] == [("notes", "waiting", True)]
    again = _emit(ws, "note.requested", "--payload", '{"title": "Now"}', "--id", "n-1", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["duplicate"] is True
    assert [r["new"] for r in json.loads(again.stdout)["runs"]] == [False]
    bad = _emit(ws, "Not A Type", "--payload", "{}")
    assert bad.returncode == 2 and "not valid" in bad.stderr
    worse = _emit(ws, "note.requested", "--payload", "{oops")
    assert worse.returncode == 2 and "not JSON" in worse.stderr
    with journal.open_store(ws / ".aios") as store:
        rows = {r["id"]: r["status"] for r in store.query("SELECT id, status FROM live_events")}
        runs = store.query("SELECT event_id FROM runs ORDER BY event_id")
    assert rows == {"n-1": "dispatched", "n-2": "dispatched"}  # the queued one was processed too
    assert [r[0] for r in runs] == ["n-1", "n-2"]


def test_webhook_source_without_a_secret_is_a_positioned_warning(ws: Path) -> None:
    from aios.diagnostics import Severity
    from aios.live.checks import environment_notes, live_diagnostics

    orders = ws / "playbooks" / "orders.yaml"
    orders.write_text(orders.read_text().replace("trigger: {webhook: shop}", "trigger: {webhook: shoppe}"))
    plan = _plan(ws)
    diags = live_diagnostics(plan)
    assert [(d.code, d.severity, d.span.file if d.span else None) for d in diags] == [
        ("webhook-secret-missing", Severity.WARNING, "playbooks/orders.yaml")]
    assert "webhook_shoppe" in (diags[0].hint or "")
    os.environ.pop("AIOS_TEST_SHOP_SECRET", None)
    assert any("AIOS_TEST_SHOP_SECRET" in n for n in environment_notes(plan))


def test_large_dropped_file_is_hashed_not_inlined(ws: Path) -> None:
    import hashlib

    storage = ws / ".aios"
    (ws / "inbox").mkdir()
    data = os.urandom(300 * 1024 + 7)
    (ws / "inbox" / "scan.pdf").write_bytes(data)
    old = time.time() - 5
    os.utime(ws / "inbox" / "scan.pdf", (old, old))
    with journal.open_store(storage) as store:
        events, _ = scan_folder(ws, storage, store, "inbox")
    [ev] = events
    assert ev.payload["file"]["sha256"] == hashlib.sha256(data).hexdigest() and ev.payload["file"]["size"] == len(data)
    assert ev.payload["text"] is None and ev.payload["file"]["media_type"] == "application/pdf"
    assert (ws / ev.payload["file"]["path"]).read_bytes() == data
