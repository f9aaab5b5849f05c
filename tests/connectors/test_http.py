"""http.request against a real HTTP server on 127.0.0.1 that honours Idempotency-Key."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aios.connectors.api import Outcome
from aios.connectors.registry import builtin
from aios.runtime.connectors import ConnectorFailed
from aios.runtime.runstate import RunStatus
from tests.connectors.conftest import MakeCall
from tests.connectors.servers import HttpTarget, free_port
from tests.connectors.workspace import log_types, run_playbook, write_workspace

HTTP = builtin("http.request")
assert HTTP is not None


def test_success_sends_key_provenance_and_secret_headers(http: HttpTarget, make_call: MakeCall) -> None:
    call = make_call("http.request", {"url": http.url("/orders"), "method": "POST", "json": {"sku": "A5"}},
                     key="order-1", settings={"headers": {"User-Agent": "studio"}, "bearer_secret": "api"},
                     secrets={"api": "tok-123"})
    out = HTTP(call)
    assert out == {"status": 201, "body": {"id": 1, "key": "order-1", "received": {"sku": "A5"}}}
    (req,) = http.requests
    h = {k.lower(): v for k, v in req.headers.items()}
    assert h["idempotency-key"] == "order-1" and h["x-aios-run"] == "run_test" and h["x-aios-step"] == "step"
    assert h["authorization"] == "Bearer tok-123" and h["user-agent"] == "studio"
    assert req.body == {"sku": "A5"}


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_transient(http: HttpTarget, make_call: MakeCall, status: int) -> None:
    http.fail("/x", status)
    with pytest.raises(ConnectorFailed) as err:
        HTTP(make_call("http.request", {"url": http.url("/x")}))
    assert err.value.transient and f"HTTP {status}" in str(err.value)
    assert http.effects == {}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_client_errors_are_permanent(http: HttpTarget, make_call: MakeCall, status: int) -> None:
    http.fail("/x", status, body="nope")
    with pytest.raises(ConnectorFailed) as err:
        HTTP(make_call("http.request", {"url": http.url("/x")}))
    assert not err.value.transient and f"HTTP {status} nope" in str(err.value)


def test_connection_refused_is_transient(make_call: MakeCall) -> None:
    with pytest.raises(ConnectorFailed) as err:
        HTTP(make_call("http.request", {"url": f"http://127.0.0.1:{free_port()}/x"}))
    assert err.value.transient


def test_retry_after_is_waited_out_within_the_limit(http: HttpTarget, make_call: MakeCall) -> None:
    http.fail("/x", 429, headers={"Retry-After": "1"})
    t0 = time.monotonic()
    with pytest.raises(ConnectorFailed) as err:
        HTTP(make_call("http.request", {"url": http.url("/x")}))
    assert err.value.transient
    assert time.monotonic() - t0 >= 0.95  # the server's wish is honoured before the retry


def test_retry_after_beyond_the_limit_fails_permanently(http: HttpTarget, make_call: MakeCall) -> None:
    http.fail("/x", 503, headers={"Retry-After": "3600"})
    with pytest.raises(ConnectorFailed) as err:
        HTTP(make_call("http.request", {"url": http.url("/x")}, settings={"max_retry_after_s": 5}))
    assert not err.value.transient and "3600 s" in str(err.value)


def test_retryable_failure_then_success_through_the_interpreter(http: HttpTarget, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", f"""\
  - id: call
    connector: http.request
    input: {{url: "{http.url('/flaky')}", json: {{n: 1}}}}
    idempotency_key: "call-{{{{ event.id }}}}"
""")
    http.fail("/flaky", 503, times=2)
    out = run_playbook(ws)
    assert out.status is RunStatus.COMPLETED, out.error
    assert len(http.sent_with("call-ev-1")) == 3 and list(http.effects) == ["call-ev-1"]
    attempts = [b for _, t, b in log_types(ws, out.run_id) if t == "step.attempt_failed"]
    assert [a["attempt"] for a in attempts] == [1, 2] and "HTTP 503" in attempts[0]["error"]


def test_permanent_failure_is_not_retried_and_earlier_effects_are_compensated(http: HttpTarget,
                                                                               tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", f"""\
  - id: note
    connector: files.write
    input: {{path: note.txt, content: hello}}
    idempotency_key: "note-{{{{ event.id }}}}"
  - id: call
    needs: [note]
    connector: http.request
    input: {{url: "{http.url('/reject')}"}}
    idempotency_key: "call-{{{{ event.id }}}}"
    on_failure: {{retry: {{max: 4}}}}
""", connectors={"files.write": {"outbox": "outbox"}, "files.delete": {"outbox": "outbox"}})
    http.fail("/reject", 422, times=5)
    out = run_playbook(ws)
    assert out.status is RunStatus.FAILED and out.failed_step == "call" and "HTTP 422" in (out.error or "")
    assert len(http.requests) == 1  # a permanent failure is not retried
    assert not (ws / "outbox" / "note.txt").exists()  # files.write was undone by files.delete
    comp = [(s, t, b) for s, t, b in log_types(ws, out.run_id) if t.startswith("compensation.")]
    assert [(s, t) for s, t, _ in comp] == [("note", "compensation.intent"), ("note", "compensation.completed")]
    assert comp[1][2]["out"] == {"deleted": True}


def test_duplicate_call_with_the_same_key_has_one_effect(http: HttpTarget, make_call: MakeCall,
                                                         tmp_path: Path) -> None:
    call = make_call("http.request", {"url": http.url("/orders"), "json": {"n": 1}}, key="dup")
    first, second = HTTP(call), HTTP(call)
    assert first == second and len(http.requests) == 1  # the journal answers the repeat
    # without this workspace's journal (a crash right after the server answered), the server's
    # idempotency handling still gives one effect and the same answer
    fresh = make_call("http.request", {"url": http.url("/orders"), "json": {"n": 1}}, key="dup",
                      storage=tmp_path / "other-storage")
    assert HTTP(fresh)["body"] == first["body"]
    assert len(http.sent_with("dup")) == 2 and len(http.effects) == 1


def test_preview_sends_nothing_and_masks_secrets(http: HttpTarget, make_call: MakeCall) -> None:
    call = make_call("http.request", {"url": http.url("/orders"), "json": {"n": 1}}, key="p-1",
                     settings={"bearer_secret": "api", "header_secrets": {"X-Token": "tok"}},
                     secrets={"api": "SECRET-A", "tok": "SECRET-B"})
    preview = HTTP.run_preview(call)
    assert preview is not None and http.requests == []
    assert preview.target == f"POST {http.url('/orders')}" and "Idempotency-Key p-1" in preview.summary
    assert preview.payload["headers"]["Authorization"] == "***" and preview.payload["headers"]["X-Token"] == "***"
    assert preview.payload["json"] == {"n": 1}
    assert "SECRET" not in repr(preview.to_json())


def test_reconcile_asks_the_journal_then_the_reconcile_url(http: HttpTarget, make_call: MakeCall,
                                                           tmp_path: Path) -> None:
    settings = {"reconcile_url": http.url("/effects/{key}")}
    sent = make_call("http.request", {"url": http.url("/orders")}, key="r/1", settings=settings)
    out = HTTP(sent)
    assert HTTP.run_reconcile(sent) == HTTP.run_reconcile(sent)
    answer = HTTP.run_reconcile(sent)
    assert answer is not None and answer.outcome is Outcome.HAPPENED and answer.output == out
    other = tmp_path / "elsewhere"  # no journal: the server is asked
    asked = HTTP.run_reconcile(make_call("http.request", {"url": http.url("/orders")}, key="r/1",
                                         settings=settings, storage=other))
    assert asked is not None and asked.outcome is Outcome.HAPPENED and asked.output is not None
    assert asked.output["body"]["key"] == "r/1"
    never = HTTP.run_reconcile(make_call("http.request", {"url": http.url("/orders")}, key="r/2",
                                         settings=settings, storage=other))
    assert never is not None and never.outcome is Outcome.NOT_HAPPENED
    blind = HTTP.run_reconcile(make_call("http.request", {"url": http.url("/orders")}, key="r/2", storage=other))
    assert blind is not None and blind.outcome is Outcome.UNKNOWN


def test_missing_secret_is_a_permanent_failure_naming_only_the_secret(http: HttpTarget, make_call: MakeCall) -> None:
    with pytest.raises(ConnectorFailed) as err:
        HTTP(make_call("http.request", {"url": http.url("/x")}, settings={"bearer_secret": "api"}))
    assert not err.value.transient and "`api`" in str(err.value) and http.requests == []
