"""Hostile events at `aios run`, and recovery that one bad run cannot stop.

Every event file that is not finite, bounded UTF-8 JSON is refused with one line naming the file and
the problem (never a traceback), before anything is admitted. A run that blows up with an
unexpected exception is failed (status, log entry, alert) and the other runs still resume.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from aios.compiler import compile_workspace
from aios.runtime.interpreter import Runtime

AIOS_YAML = """\
name: hostile-events
storage: .aios
models:
  default: {model: offline}
"""

CONTRACTS = """\
kind: connector
name: pay.send
description: Send a payment.
module: pay:send
input:
  to: str
  amount_eur: decimal
output:
  ok: bool
side_effect: irreversible
"""

PAY_PY = """\
from pathlib import Path


def send(input, ctx):
    with Path(ctx.workspace, "sent.txt").open("a") as f:
        f.write(repr(dict(input)) + "\\n")
    return {"ok": True}
"""

PLAYBOOKS = """\
kind: playbook
name: pay
trigger: {event: pay.requested}
steps:
  - id: send
    connector: pay.send
    input:
      to: "{{ event.payload.to }}"
      amount_eur: "{{ event.payload.amount_eur }}"
    idempotency_key: "pay-{{ run.id }}"
---
kind: playbook
name: copy
trigger: {event: copy.requested}
steps:
  - id: look
    retrieve: {query: "{{ event.payload.q }}", top_k: 1}
  - id: copy
    needs: [look]
    transform: "{{ event.payload }}"
"""

RULES = """\
policy pay
rule ok when action.connector == "pay.send" allow
rule cap when action.connector == "pay.send" and action.input.amount_eur > 1000 EUR deny "too much"
"""


def write_pay_workspace(root: Path) -> Path:
    """`pay.send` (amount_eur: decimal) allowed, and denied above 1000 EUR; a `copy` playbook."""
    for folder in ("playbooks", "policies", "connectors"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "aios.yaml").write_text(AIOS_YAML)
    (root / "connectors" / "contracts.yaml").write_text(CONTRACTS)
    (root / "connectors" / "pay.py").write_text(PAY_PY)
    (root / "playbooks" / "pay.yaml").write_text(PLAYBOOKS)
    (root / "policies" / "pay.rules").write_text(RULES)
    return root


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return write_pay_workspace(tmp_path / "ws")


def aios(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run([sys.executable, "-m", "aios", *args, "-w", str(root)], input=stdin,
                          capture_output=True, timeout=120, env=env, cwd=root)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                                       proc.stderr.decode("utf-8", "replace"))


def runs(root: Path) -> list[tuple[str, str, str | None]]:
    db = root / ".aios" / "state.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [(r[0], r[1], r[2]) for r in conn.execute("SELECT id, status, error FROM runs ORDER BY created_at")]


def nested(depth: int) -> str:
    return '{"to": "acme", "amount_eur": "5", "x": ' + "[" * depth + "]" * depth + "}"


# ---- item 1: NaN never pays ------------------------------------------------------------------------

def test_a_nan_amount_never_reaches_the_payment(ws: Path) -> None:
    (ws / "ev.json").write_text(json.dumps({"type": "pay.requested", "payload": {"to": "acme", "amount_eur": "NaN"}}))
    proc = aios(ws, "run", "pay", "--event", "ev.json", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "failed" and out["failed_step"] == "send"
    assert "finite" in out["error"], out["error"]
    assert not (ws / "sent.txt").exists()
    trace = json.loads(aios(ws, "runs", "show", out["run_id"], "--json").stdout)
    assert "allow" not in json.dumps(trace)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_bare_non_finite_number_is_refused_at_intake(ws: Path, literal: str) -> None:
    (ws / "ev.json").write_text('{"type": "pay.requested", "payload": {"to": "acme", "amount_eur": ' + literal + "}}")
    proc = aios(ws, "run", "pay", "--event", "ev.json")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "ev.json" in proc.stderr and "[payload-non-finite]" in proc.stderr and "Traceback" not in proc.stderr
    assert runs(ws) == [] and not (ws / "sent.txt").exists()


def test_a_finite_amount_still_pays_and_a_large_one_is_denied(ws: Path) -> None:
    (ws / "ev.json").write_text(json.dumps({"type": "pay.requested", "payload": {"to": "acme", "amount_eur": "12.50"}}))
    assert aios(ws, "run", "pay", "--event", "ev.json").returncode == 0
    (ws / "ev.json").write_text(json.dumps({"type": "pay.requested", "payload": {"to": "acme", "amount_eur": 5000}}))
    proc = aios(ws, "run", "pay", "--event", "ev.json")
    assert proc.returncode == 1 and "too much" in proc.stdout
    assert (ws / "sent.txt").read_text().count("\n") == 1


# ---- item 10: malformed event files ------------------------------------------------------------------

HOSTILE = {
    "not-utf8": (b'{"to": "acme", "amount_eur": "5", "note": "caf\xe9"}', "payload-not-utf8"),
    "utf16": ('{"to": "acme", "amount_eur": "5"}'.encode("utf-16"), "payload-not-utf8"),
    "long-int": (('{"to": "acme", "amount_eur": ' + "9" * 4400 + "}").encode(), "payload-number-too-long"),
    "deep-5000": (nested(5000).encode(), "payload-too-deep"),
    "deep-500": (nested(500).encode(), "payload-too-deep"),
    "surrogate": (b'{"to": "\\ud800", "amount_eur": "5"}', "payload-bad-text"),
    "surrogate-key": (b'{"\\udfff": 1}', "payload-bad-text"),
    "too-large": (b'{"to": "' + b"a" * (1024 * 1024 + 10) + b'"}', "payload-too-large"),
    "not-json": (b'{"to": ', "payload-not-json"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_event_file_is_one_clear_line(ws: Path, name: str) -> None:
    body, code = HOSTILE[name]
    (ws / "bad.json").write_bytes(body)
    proc = aios(ws, "run", "pay", "--event", "bad.json")
    assert proc.returncode == 1, proc.stdout
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("aios: error: ") and "bad.json" in err and f"[{code}]" in err, err
    assert runs(ws) == []


def test_a_hostile_event_on_stdin(ws: Path) -> None:
    proc = aios(ws, "run", "pay", "--event", "-", stdin=b'{"to": "acme", "amount_eur": NaN}')
    assert proc.returncode == 1
    assert "stdin" in proc.stderr and "[payload-non-finite]" in proc.stderr and "Traceback" not in proc.stderr


def test_a_python_caller_cannot_admit_a_non_finite_payload(ws: Path) -> None:
    from aios.errors import AiosError

    result = compile_workspace(ws)
    assert result.plan is not None
    with Runtime(result.plan, ws) as rt:
        for payload in ({"to": "a", "amount_eur": float("nan")}, {"to": "a", "x": [float("inf")]},
                        {"to": "\ud800", "amount_eur": 1}):
            with pytest.raises(AiosError, match="finite|surrogate"):
                rt.start("pay", {"type": "pay.requested", "payload": payload})
    assert runs(ws) == []


# ---- item 3: one bad run never stops recovery ----------------------------------------------------------

def _admit(ws: Path, playbook: str, etype: str, payload: dict[str, object], event_id: str) -> str:
    result = compile_workspace(ws)
    assert result.plan is not None
    with Runtime(result.plan, ws) as rt:
        return rt.admit(playbook, {"type": etype, "id": event_id, "payload": payload})


def _alerts(ws: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(ws / ".aios" / "state.db") as conn:
        return [(r[0], r[1]) for r in conn.execute("SELECT run_id, message FROM alerts ORDER BY id")]


def test_resume_all_fails_a_broken_run_and_resumes_the_others(ws: Path) -> None:
    """Runs stored before the limits existed (or damaged): a 500-level payload and an event that is no
    longer JSON. Each fails alone, with an alert; the good runs around them complete."""
    first = _admit(ws, "pay", "pay.requested", {"to": "acme", "amount_eur": "3"}, "e1")
    deep = _admit(ws, "copy", "copy.requested", {"q": "x"}, "e2")
    broken = _admit(ws, "copy", "copy.requested", {"q": "y"}, "e3")
    last = _admit(ws, "pay", "pay.requested", {"to": "acme", "amount_eur": "4"}, "e4")
    payload = {"q": "x"}
    node: dict[str, object] = payload
    for _ in range(500):
        child: dict[str, object] = {}
        node["x"] = child
        node = child
    with sqlite3.connect(ws / ".aios" / "state.db") as conn:
        conn.execute("UPDATE events SET payload = ? WHERE id = 'e2'", (json.dumps(payload),))
        conn.execute("UPDATE events SET payload = '{not json' WHERE id = 'e3'")
    proc = aios(ws, "runs", "resume", "--all", "--json")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1
    outcomes = {o["run_id"]: o for o in json.loads(proc.stdout)}
    assert outcomes[first]["status"] == "completed" and outcomes[last]["status"] == "completed"
    assert outcomes[deep]["status"] == "failed" and outcomes[broken]["status"] == "failed"
    status = {r[0]: r[1] for r in runs(ws)}
    assert status == {first: "completed", deep: "failed", broken: "failed", last: "completed"}
    alerted = {run_id for run_id, _ in _alerts(ws)}
    assert {deep, broken} <= alerted
    assert (ws / "sent.txt").read_text().count("\n") == 2
    again = aios(ws, "runs", "resume", "--all")
    assert again.returncode == 0 and "no interrupted runs" in again.stdout
