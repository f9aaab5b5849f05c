"""A real `aios serve` process on 127.0.0.1: webhook intake (signatures, sizes, bodies, duplicates),
the approval flow across processes without a restart, drop folders, and `aios emit` while it runs."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.waiting import wait_until

from .liveserver import ServerProcess, signed_headers
from .workspace import SHOP_SECRET, write_workspace


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    ws = write_workspace(tmp_path_factory.mktemp("live") / "ws")
    srv = ServerProcess(ws, "serve")
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def db_rows(ws: Path, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(ws / ".aios" / "state.db", timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def runs_of(ws: Path, event_id: str) -> list[sqlite3.Row]:
    return db_rows(ws, "SELECT * FROM runs WHERE event_id = ? ORDER BY created_at", (event_id,))


def post(client: httpx.Client, body: bytes, source: str = "shop", **headers: str) -> httpx.Response:
    return client.post(f"/hooks/{source}", content=body, headers=headers)


def test_signed_delivery_is_stored_and_runs(server: ServerProcess, client: httpx.Client) -> None:
    body = json.dumps({"payload": {"delay_ms": 0}}).encode()
    r = post(client, body, **signed_headers(body, **{"x-aios-delivery": "order-ok-1"}))
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": True, "id": "order-ok-1", "type": "webhook.shop", "duplicate": False}
    run = wait_until(lambda: [x for x in runs_of(server.ws, "order-ok-1") if x["status"] == "completed"],
                     what="the run to complete")[0]
    assert run["playbook"] == "orders"
    ev = db_rows(server.ws, "SELECT * FROM live_events WHERE id = 'order-ok-1'")[0]
    assert ev["source"] == "webhook:shop" and ev["status"] == "dispatched" and json.loads(ev["runs"]) == [run["id"]]
    assert (server.ws / "ledger" / "effects.txt").read_text().splitlines().count("order-ok-1") == 1


def test_duplicate_delivery_starts_one_run(server: ServerProcess, client: httpx.Client) -> None:
    body = json.dumps({"id": "order-dup-1", "payload": {"delay_ms": 0}}).encode()
    first = post(client, body, **signed_headers(body))
    second = post(client, body, **signed_headers(body))
    assert (first.status_code, first.json()["duplicate"]) == (202, False)
    assert (second.status_code, second.json()["duplicate"]) == (200, True)
    wait_until(lambda: [x for x in runs_of(server.ws, "order-dup-1") if x["status"] == "completed"], what="run")
    third = post(client, body, **signed_headers(body))  # a redelivery after processing changes nothing either
    assert third.status_code == 200 and third.json()["duplicate"] is True
    time.sleep(0.5)  # give a (wrong) second admission the chance to happen
    assert len(runs_of(server.ws, "order-dup-1")) == 1
    ev = db_rows(server.ws, "SELECT deliveries FROM live_events WHERE id = 'order-dup-1'")[0]
    assert ev["deliveries"] == 3


def test_content_derived_id_dedups_identical_bodies(server: ServerProcess, client: httpx.Client) -> None:
    body = json.dumps({"order": "no-id", "delay_ms": 0}).encode()
    a = post(client, body, **signed_headers(body))
    b = post(client, body, **signed_headers(body))
    assert a.status_code == 202 and b.status_code == 200 and a.json()["id"] == b.json()["id"]
    assert a.json()["id"].startswith("evt_")


@pytest.mark.parametrize(("headers", "code"), [
    ({"x-aios-signature": "sha256=" + "0" * 64}, "signature-invalid"),
    ({}, "signature-missing"),
    ({"x-aios-signature": "not-even-hex"}, "signature-invalid"),
])
def test_bad_signatures_are_refused_and_nothing_is_stored(server: ServerProcess, client: httpx.Client,
                                                          headers: dict[str, str], code: str) -> None:
    body = json.dumps({"id": f"sig-{code}", "payload": {}}).encode()
    r = post(client, body, **{"content-type": "application/json", **headers})
    assert r.status_code == 401 and r.json()["error"] == code
    assert db_rows(server.ws, "SELECT id FROM live_events WHERE id = ?", (f"sig-{code}",)) == []


def test_signature_with_another_secret_is_refused(client: httpx.Client) -> None:
    body = b'{"payload": {}}'
    r = post(client, body, **signed_headers(body, secret="someone-else"))
    assert r.status_code == 401 and r.json()["error"] == "signature-invalid"


def _stored(ws: Path, *ids: str) -> list[str]:
    marks = ",".join("?" * len(ids))
    return [r["id"] for r in db_rows(ws, f"SELECT id FROM live_events WHERE id IN ({marks})", ids)]


def test_v1_signature_binds_the_delivery_id_and_type_to_the_body(server: ServerProcess,
                                                                  client: httpx.Client) -> None:
    body = json.dumps({"payload": {"delay_ms": 0}}).encode()
    captured = signed_headers(body, **{"x-aios-delivery": "order-bound-1"})
    assert post(client, body, **captured).status_code == 202
    replay = post(client, body, **captured)  # the same request again: a duplicate, nothing new
    assert (replay.status_code, replay.json()["duplicate"]) == (200, True)
    for changed in ({"x-aios-delivery": "order-bound-2"}, {"x-aios-event": "order.created"}):
        r = post(client, body, **{**captured, **changed})  # replayed under another id or type
        assert r.status_code == 401 and r.json()["error"] == "signature-invalid", changed
    assert _stored(server.ws, "order-bound-1", "order-bound-2") == ["order-bound-1"]
    wait_until(lambda: [x for x in runs_of(server.ws, "order-bound-1") if x["status"] == "completed"], what="run")
    assert len(runs_of(server.ws, "order-bound-1")) == 1


@pytest.mark.parametrize(("shift", "code"), [(-301, "signature-expired"), (400, "signature-expired")])
def test_deliveries_outside_the_replay_window_are_refused(server: ServerProcess, client: httpx.Client,
                                                          shift: int, code: str) -> None:
    from aios.live.webhooks import signed_headers as v1_headers

    body = json.dumps({"payload": {}}).encode()
    eid = f"stale-{shift}"
    r = post(client, body, **v1_headers(SHOP_SECRET, body, delivery=eid,
                                        timestamp=int(time.time()) + shift))
    assert r.status_code == 401 and r.json()["error"] == code, r.text
    assert "replay window is 300 s" in r.json()["message"]
    assert _stored(server.ws, eid) == []


def test_a_v1_signature_needs_its_timestamp(server: ServerProcess, client: httpx.Client) -> None:
    body = json.dumps({"payload": {}}).encode()
    headers = signed_headers(body, **{"x-aios-delivery": "no-stamp-1"})
    for stamp in (None, "yesterday"):
        sent = {k: v for k, v in headers.items() if k != "x-aios-timestamp"}
        if stamp is not None:
            sent["x-aios-timestamp"] = stamp
        r = post(client, body, **sent)
        assert r.status_code == 401 and r.json()["error"] == "timestamp-missing"
    assert _stored(server.ws, "no-stamp-1") == []


def test_a_body_only_signature_takes_its_id_from_the_body_and_refuses_unsigned_headers(
        server: ServerProcess, client: httpx.Client) -> None:
    from aios.live.webhooks import sign

    body = json.dumps({"id": "body-signed-1", "payload": {"delay_ms": 0}}).encode()
    plain = {"content-type": "application/json", "x-hub-signature-256": sign(SHOP_SECRET, body)}
    first, again = post(client, body, **plain), post(client, body, **plain)
    assert (first.status_code, first.json()["id"]) == (202, "body-signed-1")
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    for header in ({"x-aios-delivery": "body-signed-2"}, {"x-aios-event": "order.created"}):
        r = post(client, body, **plain, **header)
        assert r.status_code == 401 and r.json()["error"] == "headers-unsigned", header
    assert _stored(server.ws, "body-signed-1", "body-signed-2") == ["body-signed-1"]


def test_the_replay_window_is_a_server_option(tmp_path: Path) -> None:
    from aios.live.webhooks import signed_headers as v1_headers

    srv = ServerProcess(write_workspace(tmp_path / "ws"), "serve", "--replay-window", "5", "--no-schedules")
    try:
        srv.start()
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            body = json.dumps({"payload": {}}).encode()
            old = post(c, body, **v1_headers(SHOP_SECRET, body, delivery="w-old",
                                             timestamp=int(time.time()) - 30))
            fresh = post(c, body, **v1_headers(SHOP_SECRET, body, delivery="w-fresh"))
        assert old.status_code == 401 and "replay window is 5 s" in old.json()["message"]
        assert fresh.status_code == 202
    finally:
        srv.stop()


def test_the_index_catches_up_in_the_background_after_a_run(server: ServerProcess, client: httpx.Client) -> None:
    body = json.dumps({"payload": {"delay_ms": 0}}).encode()
    assert post(client, body, **signed_headers(body, **{"x-aios-delivery": "order-indexed-1"})).status_code == 202
    wait_until(lambda: [x for x in runs_of(server.ws, "order-indexed-1") if x["status"] == "completed"], what="run")
    last = db_rows(server.ws, "SELECT max(seq) AS m FROM log WHERE run_id IN "
                              "(SELECT id FROM runs WHERE event_id = 'order-indexed-1')")[0]["m"]
    state = server.ws / ".aios" / "index" / "state.json"

    def indexed() -> bool:  # nobody searches: only the server's indexer can move the watermark
        try:
            return int(json.loads(state.read_text())["watermarks"].get("log", 0)) >= last
        except (OSError, ValueError):
            return False

    wait_until(indexed, timeout=30, what="the index to reach the run's last log entry")


def test_oversize_bodies_are_refused(server: ServerProcess, client: httpx.Client) -> None:
    big = b'{"payload": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    r = post(client, big, **signed_headers(big))
    assert r.status_code == 413 and r.json()["error"] == "body-too-large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while streaming
        for _ in range(40):
            yield b"y" * 32768

    r = client.post("/hooks/shop", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "body-too-large"


@pytest.mark.parametrize(("body", "extra", "code"), [
    (b"{not json", {}, "malformed-body"),
    (b"\xff\xfe", {}, "malformed-body"),
    (b'{"payload": {}, "time": "yesterday"}', {}, "invalid-time"),
    (b'{"payload": {}}', {"x-aios-event": "Bad Type!"}, "invalid-type"),
    (b'{"payload": {}}', {"x-aios-delivery": "has spaces in it"}, "invalid-id"),
])
def test_malformed_bodies_get_400(client: httpx.Client, body: bytes, extra: dict[str, str], code: str) -> None:
    r = post(client, body, **signed_headers(body, **extra))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == code and r.json()["message"]


def test_other_client_errors(client: httpx.Client) -> None:
    body = b'{"payload": {}}'
    r = post(client, body, "nobody", **signed_headers(body))
    assert r.status_code == 404 and r.json()["error"] == "unknown-source"
    r = post(client, body, **{**signed_headers(body), "content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and r.json()["error"] == "unsupported-media-type"
    r = client.get("/hooks/shop")
    assert r.status_code == 405 and r.json()["error"] == "method-not-allowed"
    r = post(client, body, "quiet", **signed_headers(body))  # declared, but its variable is not set
    assert r.status_code == 503 and r.json()["error"] == "source-not-configured"
    assert os.environ.get("AIOS_TEST_UNSET_SECRET") is None


def test_health(server: ServerProcess, client: httpx.Client) -> None:
    body = client.get("/healthz").json()
    assert body["ok"] is True and body["mode"] == "serve" and body["stale"] is False and len(body["plan"]) == 64


def _cli(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("AIOS_ACTOR", None)
    return subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(ws)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_emit_queues_for_the_server_and_approval_resumes_without_restart(server: ServerProcess) -> None:
    out = _cli(server.ws, "emit", "note.requested", "--payload", '{"title": "Quarterly"}', "--id", "note-1", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["queued"] is True and report["server"] == server.url and report["duplicate"] is False
    run = wait_until(lambda: [x for x in runs_of(server.ws, "note-1") if x["status"] == "waiting"], what="waiting")[0]
    approval = db_rows(server.ws, "SELECT id FROM approvals WHERE run_id = ? AND status = 'pending'", (run["id"],))
    decided = _cli(server.ws, "approve", approval[0]["id"], "--no-resume", "--note", "fine")
    assert decided.returncode == 0, decided.stderr
    wait_until(lambda: db_rows(server.ws, "SELECT 1 FROM runs WHERE id = ? AND status = 'completed'", (run["id"],)),
               what="the server to resume the approved run")
    assert len(runs_of(server.ws, "note-1")) == 1
    server.wait_for(rf"run {run['id']} notes completed")


def test_dropped_file_becomes_one_run(server: ServerProcess) -> None:
    inbox = server.ws / "inbox"
    wait_until(inbox.is_dir, what="the drop folder")
    (inbox / ".partial.csv").write_text("ignored: hidden")
    tmp = inbox / "report.csv.part"
    tmp.write_text("a,b\n1,2\n")
    os.replace(tmp, inbox / "report.csv")  # the usual way a file is delivered: write, then rename
    row = wait_until(lambda: db_rows(server.ws, "SELECT * FROM live_events WHERE type = 'file.dropped' "
                                                "AND status = 'dispatched'"), what="the drop event")[0]
    payload = json.loads(row["payload"])
    assert payload["file"]["name"] == "report.csv" and payload["text"] == "a,b\n1,2\n"
    assert row["source"] == "file_drop:inbox"
    assert (server.ws / payload["file"]["path"]).read_text() == "a,b\n1,2\n"
    assert not (inbox / "report.csv").exists() and (inbox / ".partial.csv").exists()
    run = wait_until(lambda: [x for x in runs_of(server.ws, row["id"]) if x["status"] == "completed"], what="run")
    assert run[0]["playbook"] == "inbox"
