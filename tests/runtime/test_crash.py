"""Crash recovery under SIGKILL: a subprocess runs a side-effecting playbook and is killed at random
points (and on purpose inside a COMMIT and inside a connector call); after every kill the run is
resumed. At the end: the log verifies, no completed step ran twice, and the on-disk ledger shows
every effect applied exactly once."""

from __future__ import annotations

import json
import mmap
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aios.runtime import log
from aios.runtime.store import Store

from .ledger import counts

CHILD = Path(__file__).parent / "crash_child.py"
KILLS = 60
PHASES = {0: "elsewhere", 1: "inside COMMIT", 2: "inside a connector call"}


def _spawn(work: Path, probe: Path, *args: str) -> subprocess.Popen[bytes]:
    probe.write_bytes(b"\0" * 16)
    env = {**os.environ, "AIOS_COMMIT_PROBE": str(probe)}
    return subprocess.Popen([sys.executable, str(CHILD), str(work), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(proc: subprocess.Popen[bytes], probe: Path, target: int | None, rng: random.Random) -> int | None:
    """Wait until the child has committed once, then kill it at a random moment, or the moment its
    probe shows ``target``. Returns the phase it died in, or None if it finished first."""
    with open(probe, "r+b") as fh:
        mm = mmap.mmap(fh.fileno(), 16)
        try:
            deadline = time.monotonic() + 30
            while mm[1] == 0 and proc.poll() is None:  # not yet admitted/started
                if time.monotonic() > deadline:
                    raise AssertionError("the child never committed")
                time.sleep(0.0005)
            if target is None:
                time.sleep(rng.uniform(0, 0.04))
            else:
                skip = rng.randint(0, 12)  # let a few commits pass so kills spread over the run
                seen, last = 0, mm[1]
                deadline = time.monotonic() + 5
                while proc.poll() is None and time.monotonic() < deadline:
                    if mm[1] != last:
                        seen, last = seen + 1, mm[1]
                    if mm[0] == target and seen >= skip:
                        break
            if proc.poll() is not None:
                return None
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return mm[0]
        finally:
            mm.close()


def _open_runs(work: Path) -> list[tuple[str, str]]:
    db = work / ".aios" / "state.db"
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=30)
    try:
        return [(r[0], r[1]) for r in con.execute("SELECT id, status FROM runs ORDER BY created_at")]
    finally:
        con.close()


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("AIOS_CRASH_SEED", "20240607")))
    work = tmp_path / "ws"
    work.mkdir()
    probe = tmp_path / "probe"
    died_in: dict[str, int] = {v: 0 for v in PHASES.values()}
    kills = 0
    events = 0
    cycles = 0
    while kills < KILLS:
        cycles += 1
        assert cycles < KILLS * 4, "the child keeps finishing before it can be killed"
        unfinished = [rid for rid, status in _open_runs(work) if status not in ("completed", "failed")]
        if unfinished:
            proc = _spawn(work, probe, "resume", unfinished[0])
        else:
            events += 1
            proc = _spawn(work, probe, "start", f"ev{events}")
        target = (None, 1, 2)[kills % 3]
        phase = _kill_when(proc, probe, target, rng)
        if phase is None:
            assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
        else:
            kills += 1
            died_in[PHASES.get(phase, "elsewhere")] += 1
        if proc.stderr:
            proc.stderr.close()
    # no more kills: everything resumes to completion
    for rid, status in _open_runs(work):
        if status != "completed":
            proc = _spawn(work, probe, "resume", rid)
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
    print(f"\n{kills} kills over {events} runs: " + ", ".join(f"{n} {k}" for k, n in died_in.items()))
    assert died_in["inside COMMIT"] >= 5 and died_in["inside a connector call"] >= 5

    runs = _open_runs(work)
    assert runs and all(status == "completed" for _, status in runs), runs
    store = Store.open(work / ".aios")
    try:
        v = log.verify(store.conn)
        assert v.ok, v.describe()
        calls, effects = counts(work / "ledger.db")
        resumes_between: list[str] = []
        for rid, _ in runs:
            rows = store.query("SELECT seq, step_id, type, body FROM log WHERE run_id = ? ORDER BY seq", (rid,))
            completed = [r["step_id"] for r in rows if r["type"] == "step.completed"]
            assert len(completed) == len(set(completed)) == 22, (rid, completed)  # each step completed once
            items = [json.loads(r["body"])["i"] for r in rows if r["type"] == "item.completed"]
            assert sorted(items) == [0, 1, 2]
            # one record version per run: the agent step was never re-executed after completing
            assert store.query("SELECT count(*) FROM records WHERE run_id = ?", (rid,))[0][0] == 1
            keys = [f"{rid}-c{i}" for i in range(10)] + [f"{rid}-item#{i}" for i in range(3)]
            for key in keys:
                assert effects.get(key) == 1, (key, effects.get(key))  # exactly once
                if calls[key] > 1:  # a repeated call is only ever the recovery of an intent without result
                    intent = next(r["seq"] for r in rows if r["type"] in ("step.intent", "item.intent")
                                  and json.loads(r["body"])["key"] == key)
                    done = next(r["seq"] for r in rows if r["type"] in ("step.completed", "item.completed")
                                and json.loads(r["body"]).get("key") == key)
                    starts = [r for r in rows if r["type"] == "run.started" and intent < r["seq"] < done]
                    assert len(starts) >= calls[key] - 1, (key, calls[key])
                    resumes_between.append(key)
        applied = set(effects)
        logged = {f"{rid}-c{i}" for rid, _ in runs for i in range(10)} | \
                 {f"{rid}-item#{i}" for rid, _ in runs for i in range(3)}
        assert applied == logged  # no effect the log does not know about
        print(f"{len(resumes_between)} effects were re-called with the same key after a crash; all applied once")
    finally:
        store.close()
