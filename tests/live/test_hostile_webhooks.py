"""Hostile webhook bodies, `aios emit` payloads and dropped files, against a real `aios serve` on
127.0.0.1 where a server is involved.

A body beyond a payload limit is a permanent problem: it gets a 400 with a JSON error code (never a
500 with a traceback, never a 503 that makes the sender retry forever) and nothing is stored. Stored
events and runs the runtime cannot handle (left by an older version) fail alone at start, with an
alert, and everything else keeps flowing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aios.compiler import compile_workspace
from aios.live import journal
from aios.live.events import drop_event
from aios.runtime.interpreter import Runtime

from .liveserver import ServerProcess, signed_headers
from .test_server import db_rows, post, runs_of, wait_until
from .workspace import write_workspace


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    ws = write_workspace(tmp_path_factory.mktemp("hostile") / "ws")
    srv = ServerProcess(ws, "serve")
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def deep(levels: int) -> bytes:
    return b'{"payload": {"x": ' + b"[" * levels + b"]" * levels + b"}}"


HOSTILE = {
    "nan": (b'{"payload": {"delay_ms": NaN}}', "payload-non-finite"),
    "infinity": (b'{"payload": {"amount": Infinity}}', "payload-non-finite"),
    "minus-infinity": (b'{"payload": {"amount": -Infinity}}', "payload-non-finite"),
    "overflow": (b'{"payload": {"amount": 1e999}}', "payload-non-finite"),
    "deep-500": (deep(500), "payload-too-deep"),
    "deep-100k": (deep(100_000), "payload-too-deep"),
    "surrogate": (b'{"payload": {"name": "\\ud800"}}', "payload-bad-text"),
    "surrogate-key": (b'{"payload": {"\\udc00": 1}}', "payload-bad-text"),
    "long-int": (b'{"payload": {"n": ' + b"7" * 5000 + b"}}", "payload-number-too-long"),
    "utf16": ('{"payload": {}}'.encode("utf-16"), "malformed-body"),
    "latin1": (b'{"payload": {"name": "caf\xe9"}}', "malformed-body"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_body_gets_a_400_with_its_code(server: ServerProcess, client: httpx.Client, name: str) -> None:
    body, code = HOSTILE[name]
    delivery = f"hostile-{name}"
    r = post(client, body, **signed_headers(body, **{"x-aios-delivery": delivery}))
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"] == code and r.json()["message"]
    assert db_rows(server.ws, "SELECT id FROM live_events WHERE id = ?", (delivery,)) == []


def test_the_server_stays_healthy_after_hostile_bodies(server: ServerProcess, client: httpx.Client) -> None:
    for body, _ in HOSTILE.values():
        post(client, body, **signed_headers(body))
    good = json.dumps({"payload": {"delay_ms": 0}}).encode()
    r = post(client, good, **signed_headers(good, **{"x-aios-delivery": "after-hostile-1"}))
    assert r.status_code == 202, r.text
    wait_until(lambda: [x for x in runs_of(server.ws, "after-hostile-1") if x["status"] == "completed"],
               what="the run after the hostile bodies")
    assert client.get("/healthz").json()["ok"] is True
    assert "Traceback" not in server.output() and "internal error" not in server.output()


# ---- stored state an older version left behind -----------------------------------------------------

def _nested(levels: int) -> str:
    return '{"x": ' + "[" * levels + "]" * levels + "}"


def test_serve_fails_unreadable_stored_work_alone_and_goes_on(ws: Path, clean_env: None) -> None:
    plan = compile_workspace(ws).plan
    assert plan is not None
    with Runtime(plan, ws) as rt:
        broken = rt.admit("notes", {"type": "note.requested", "id": "broken-1", "payload": {"title": "x"}})
    with journal.open_store(ws / ".aios") as store:
        store.conn.execute("UPDATE events SET payload = '{not json' WHERE id = 'broken-1'")
        for eid, payload in (("deep-stored-1", _nested(100_000)), ("deep-stored-2", _nested(500))):
            store.conn.execute("INSERT INTO live_events(id, type, source, time, payload, received_at) "
                               "VALUES (?, 'webhook.shop', 'webhook:shop', '2026-01-01T00:00:00Z', ?, "
                               "'2026-01-01T00:00:00Z')", (eid, payload))
    with ServerProcess(ws, "serve") as srv:
        wait_until(lambda: db_rows(ws, "SELECT status FROM runs WHERE id = ?", (broken,))[0]["status"] == "failed",
                   what="the broken run to fail")
        wait_until(lambda: {r["status"] for r in db_rows(ws, "SELECT status FROM live_events WHERE id LIKE "
                                                             "'deep-stored-%'")} == {"rejected"},
                   what="the stored deep events to be rejected")
        body = json.dumps({"payload": {"delay_ms": 0}}).encode()
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            assert post(c, body, **signed_headers(body, **{"x-aios-delivery": "fine-1"})).status_code == 202
        wait_until(lambda: [x for x in runs_of(ws, "fine-1") if x["status"] == "completed"], what="the good run")
        out = srv.output()
    assert "Traceback" not in out
    alerts = [r["message"] for r in db_rows(ws, "SELECT message FROM alerts")]
    assert any(broken in m and "internal error" in m for m in alerts), alerts
    assert out.count(f"run {broken}") == 1, out


# ---- aios emit and drop folders --------------------------------------------------------------------------

def _emit(ws: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "aios", "emit", *args, "-w", str(ws)], input=stdin,
                          capture_output=True, timeout=120, env={**os.environ, "PYTHONIOENCODING": "utf-8"})


EMIT_HOSTILE = {
    "nan": (b'{"title": NaN}', "payload-non-finite"),
    "deep": (_nested(5000).encode(), "payload-too-deep"),
    "surrogate": (b'{"title": "\\ud800"}', "payload-bad-text"),
    "long-int": (b'{"n": ' + b"1" * 4400 + b"}", "payload-number-too-long"),
    "utf16": ('{"title": "x"}'.encode("utf-16"), "payload-not-utf8"),
    "latin1": (b'{"title": "caf\xe9"}', "payload-not-utf8"),
}


@pytest.mark.parametrize("name", sorted(EMIT_HOSTILE))
def test_emit_refuses_a_hostile_payload_file_in_one_line(ws: Path, name: str) -> None:
    body, code = EMIT_HOSTILE[name]
    (ws / "p.json").write_bytes(body)
    for args, stdin in ((("--payload", "@" + str(ws / "p.json")), None), (("--payload", "-"), body)):
        proc = _emit(ws, "note.requested", *args, stdin=stdin)
        err = proc.stderr.decode()
        assert proc.returncode == 2, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert f"[{code}]" in err and ("p.json" in err or "stdin" in err), err
    assert not (ws / ".aios" / "state.db").exists() or db_rows(ws, "SELECT id FROM live_events") == []


@pytest.mark.parametrize("content", [b'{"x": NaN}', _nested(5000).encode(), b'{"x": "\\ud800"}'])
def test_a_dropped_json_file_beyond_the_limits_is_text_only(content: bytes) -> None:
    ev = drop_event("inbox", "a.json", len(content), "ab", 1, "application/json", ".aios/drops", content)
    assert ev.payload["json"] is None and ev.payload["text"] == content.decode()
    json.dumps(ev.payload)  # storable
