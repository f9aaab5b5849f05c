"""Crash recovery with real targets: a child process runs a playbook of ``http.request`` and
``email.send`` steps (and a map of HTTP calls) against a real HTTP server and a real SMTP server in
this process, and is SIGKILLed at random moments, inside commits and inside connector calls (the
interpreter's crash-test probe); after every kill the run is resumed. At the end every effect is at
its target exactly once: one order per idempotency key at the HTTP server, one message per
Message-ID in the mailbox, none the log does not know about. A call repeated on the wire is only
ever the recovery of an intent whose result was not logged.

The kill harness is the interpreter's own (tests/runtime/test_crash.py)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from aios.connectors.mail import message_id_for
from aios.runtime import log
from aios.runtime.store import Store
from tests.connectors.servers import HttpTarget, SmtpTarget
from tests.connectors.workspace import write_workspace

CHILD = Path(__file__).parent / "effect_child.py"
KILLS = 24
PAIRS = 4
ITEMS = ["x", "y", "z"]
SENDER = "ops@northwind.example"
PHASES = {0: "elsewhere", 1: "inside COMMIT", 2: "inside a connector call"}


def _harness() -> ModuleType:
    """The interpreter crash test's kill helpers (``_kill_when``, ``_open_runs``)."""
    from tests.runtime import test_crash

    return test_crash


def _playbook(http: HttpTarget) -> str:
    steps, prev = [], None
    for i in range(PAIRS):
        needs = f"    needs: [{prev}]\n" if prev else ""
        steps.append(f"""\
  - id: h{i}
{needs}    connector: http.request
    input: {{url: "{http.url('/orders')}", json: {{line: {i}, event: "{{{{ event.id }}}}"}}}}
    idempotency_key: "{{{{ run.id }}}}-h{i}"
  - id: m{i}
    needs: [h{i}]
    connector: email.send
    input: {{to: "buyer@example.com", subject: "Order {{{{ steps.h{i}.output.body.id }}}}", body: "line {i}"}}
    idempotency_key: "{{{{ run.id }}}}-m{i}"
""")
        prev = f"m{i}"
    steps.append(f"""\
  - id: fan
    needs: [{prev}]
    map:
      over: event.payload['items']
      as: it
      do:
        connector: http.request
        input: {{url: "{http.url('/items')}", json: {{item: "{{{{ it }}}}"}}}}
        idempotency_key: "{{{{ run.id }}}}-f"
""")
    return "".join(steps)


def _spawn(work: Path, probe: Path, *args: str) -> subprocess.Popen[bytes]:
    probe.write_bytes(b"\0" * 16)
    env = {**os.environ, "AIOS_COMMIT_PROBE": str(probe), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "AIOS_TEST_PAYLOAD": json.dumps({"items": ITEMS})}
    return subprocess.Popen([sys.executable, str(CHILD), str(work), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _keys(run_id: str) -> tuple[list[str], list[str]]:
    http_keys = [f"{run_id}-h{i}" for i in range(PAIRS)] + [f"{run_id}-f#{i}" for i in range(len(ITEMS))]
    mail_keys = [f"{run_id}-m{i}" for i in range(PAIRS)]
    return http_keys, mail_keys


@pytest.mark.slow
def test_sigkill_between_intent_and_result_with_http_and_email(tmp_path: Path, http: HttpTarget,
                                                               smtp: SmtpTarget) -> None:
    harness = _harness()
    rng = random.Random(int(os.environ.get("AIOS_CRASH_SEED", "20240611")))
    work = write_workspace(tmp_path / "ws", _playbook(http), connectors={
        "email.send": {"host": "127.0.0.1", "port": smtp.port, "sender": SENDER, "timeout_s": 10},
        "http.request": {"timeout_s": 10}})
    probe = tmp_path / "probe"
    died_in = {v: 0 for v in PHASES.values()}
    kills = events = cycles = 0
    while kills < KILLS:
        cycles += 1
        assert cycles < KILLS * 4, "the child keeps finishing before it can be killed"
        unfinished = [rid for rid, status in harness._open_runs(work) if status not in ("completed", "failed")]
        if unfinished:
            proc = _spawn(work, probe, "resume", unfinished[0])
        else:
            events += 1
            proc = _spawn(work, probe, "start", f"ev{events}")
        target = (None, 1, 2)[kills % 3]
        phase = harness._kill_when(proc, probe, target, rng)
        if phase is None:
            assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
        else:
            kills += 1
            died_in[PHASES.get(phase, "elsewhere")] += 1
        if proc.stderr:
            proc.stderr.close()
    for rid, status in harness._open_runs(work):  # no more kills: everything resumes to completion
        if status != "completed":
            proc = _spawn(work, probe, "resume", rid)
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
    print(f"\n{kills} kills over {events} runs: " + ", ".join(f"{n} {k}" for k, n in died_in.items()))
    assert died_in["inside COMMIT"] >= 3 and died_in["inside a connector call"] >= 3

    runs = harness._open_runs(work)
    assert runs and all(status == "completed" for _, status in runs), runs
    repeated: list[str] = []
    with Store.open(work / ".aios") as store:
        v = log.verify(store.conn)
        assert v.ok, v.describe()
        all_http: set[str] = set()
        all_mail: set[str] = set()
        for rid, _ in runs:
            rows = store.query("SELECT seq, step_id, type, body FROM log WHERE run_id = ? ORDER BY seq", (rid,))
            completed = [r["step_id"] for r in rows if r["type"] == "step.completed"]
            assert len(completed) == len(set(completed)) == 2 * PAIRS + 1, (rid, completed)
            http_keys, mail_keys = _keys(rid)
            all_http.update(http_keys)
            all_mail.update(message_id_for(k, SENDER) for k in mail_keys)
            for key in http_keys + mail_keys:
                mid = message_id_for(key, SENDER)
                sent = len(http.sent_with(key)) if key in http_keys else len(smtp.with_id(mid))
                assert sent >= 1, key
                if key in http_keys:
                    effect = http.effects[key]
                    assert effect["key"] == key  # exactly one effect per key at the server
                else:
                    assert str(smtp.mailbox[mid]["X-Aios-Run"]) == rid
                if sent > 1:  # on the wire twice: only the recovery of an intent without a logged result
                    repeated.append(key)
                    intent = next(r["seq"] for r in rows if r["type"] in ("step.intent", "item.intent")
                                  and json.loads(r["body"])["key"] == key)
                    done = next(r["seq"] for r in rows if r["type"] in ("step.completed", "item.completed")
                                and json.loads(r["body"]).get("key") == key)
                    starts = [r for r in rows if r["type"] == "run.started" and intent < r["seq"] < done]
                    assert len(starts) >= sent - 1, (key, sent)
            outputs = {r["step_id"]: json.loads(r["body"])["out"] for r in rows if r["type"] == "step.completed"}
            for i in range(PAIRS):  # each mail quotes the order id the server gave for that key
                assert outputs[f"h{i}"]["body"]["id"] == http.effects[f"{rid}-h{i}"]["id"]
                mid = message_id_for(f"{rid}-m{i}", SENDER)
                assert outputs[f"m{i}"] == {"message_id": mid}
                assert smtp.mailbox[mid]["Subject"] == f"Order {http.effects[f'{rid}-h{i}']['id']}"
    assert set(http.effects) == all_http  # no effect the log does not know about
    assert set(smtp.mailbox) == all_mail
    print(f"{len(repeated)} calls were sent again with the same key after a crash; every effect happened once")

