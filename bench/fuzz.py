"""Fuzz aios's input boundaries and count what escapes: tracebacks, crashes (signals) and hangs.

The cases come from the harness the test suite uses (tests/fuzz/harness.py): mutated and hostile
workspace YAML, rule files, event bodies and decision contexts. Each target runs in a child process
that the parent watches, so a segfault or a hang is counted and the run goes on with the next case.

The peer is the bare parsers a system without aios's checks would hand the same bytes to (PyYAML's
``safe_load`` for YAML and rules text, the standard library's ``json.loads`` for events and contexts),
run the same way on the same cases: its tracebacks, crashes and hangs are counted beside ours, and
``ratio_to_peer`` compares throughput, counted as time spent inside cases (case generation and
process start-up are left out); aios does far more per case: it compiles the workspace or runs the
event durably, where the peer only parses.

    python bench/fuzz.py [--cases 10000] [--seed 1] [--hang-s 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TARGETS = ("yaml", "rules", "event", "context")


def _chooser(seed: int, index: int) -> Any:
    from tests.fuzz.harness import RandomChooser

    return RandomChooser(random.Random(seed * 1_000_003 + index))


def _peer(case: Any) -> tuple[str, str]:
    """The bare parser on the same bytes: ``ok``, ``refused`` (its documented error) or ``traceback``."""
    import yaml

    blob = case.data[1] if isinstance(case.data, tuple) else case.data
    try:
        if case.target in ("yaml", "rules"):
            yaml.safe_load(blob)
        else:
            json.loads(blob)
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError):
        return "refused", ""
    except Exception as err:
        return "traceback", f"{type(err).__name__}: {str(err)[:200]}"
    return "ok", ""


def worker(target: str, who: str, seed: int, start: int, stop: int) -> None:
    """Run cases ``start..stop-1``; before each, announce it; after, report its outcome (one line each)."""
    from tests.fuzz.harness import FuzzWorkspace, execute, generate

    ws = FuzzWorkspace()
    out = sys.stdout
    try:
        for i in range(start, stop):
            case = generate(target, _chooser(seed, i), ws)
            out.write(f"start {i}\n")
            out.flush()
            t0 = time.perf_counter()
            if who == "aios":
                o = execute(ws, case)
                status = "refused" if o.refused else ("ok" if o.ok else "traceback")
                detail = "" if o.ok else o.detail
            else:
                status, detail = _peer(case)
            spent = time.perf_counter() - t0
            out.write(json.dumps({"i": i, "status": status, "s": spent, "detail": detail[-600:],
                                  "case": case.describe() if status == "traceback" else ""}) + "\n")
            out.flush()
    finally:
        ws.close()


def _run_target(target: str, who: str, seed: int, count: int, hang_s: float) -> dict[str, Any]:
    tally = {"ok": 0, "refused": 0, "traceback": 0, "crash": 0, "hang": 0}
    failures: list[dict[str, Any]] = []
    next_case = 0
    busy = 0.0  # seconds spent inside cases (generation and process start-up excluded)
    t0 = time.perf_counter()
    while next_case < count:
        proc = subprocess.Popen([sys.executable, __file__, "--worker", target, who, str(seed), str(next_case),
                                 str(count)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
        assert proc.stdout is not None
        in_flight: int | None = None
        buf = b""
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], hang_s)
            if not ready:  # no word within the bound: the case in flight hangs
                proc.kill()
                proc.wait()
                tally["hang"] += 1
                busy += hang_s
                failures.append({"kind": "hang", "target": target, "case": in_flight})
                next_case = (in_flight if in_flight is not None else next_case) + 1
                break
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                code = proc.wait()
                if in_flight is not None:  # died inside a case
                    tally["crash"] += 1
                    failures.append({"kind": "crash", "target": target, "case": in_flight, "exit": code})
                    next_case = in_flight + 1
                else:
                    next_case = count
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode()
                if line.startswith("start "):
                    in_flight = int(line[6:])
                    continue
                rec = json.loads(line)
                in_flight = None
                next_case = rec["i"] + 1
                busy += rec["s"]
                tally[rec["status"]] += 1
                if rec["status"] == "traceback" and len(failures) < 20:
                    failures.append({"kind": "traceback", "target": target, "case": rec["i"],
                                     "input": rec["case"], "detail": rec["detail"]})
    elapsed = time.perf_counter() - t0
    return {"cases": count, "wall_s": round(elapsed, 2), "seconds": round(busy, 3),
            "cases_per_s": round(count / busy, 1) if busy else 0.0, **tally,
            "failures": failures}


def _sum(per: dict[str, dict[str, Any]]) -> dict[str, Any]:
    cases = sum(p["cases"] for p in per.values())
    seconds = sum(p["seconds"] for p in per.values())
    return {"cases": cases, "cases_per_s": round(cases / seconds, 1) if seconds else 0.0,
            "tracebacks": sum(p["traceback"] for p in per.values()),
            "crashes": sum(p["crash"] for p in per.values()),
            "hangs": sum(p["hang"] for p in per.values()),
            "refused": sum(p["refused"] for p in per.values())}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        target, who, seed, start, stop = sys.argv[2:7]
        try:
            worker(target, who, int(seed), int(start), int(stop))
        except Exception:
            traceback.print_exc()
            raise
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases in all, shared among the targets")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hang-s", type=float, default=10.0, help="a case silent this long is a hang")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    each = max(1, args.cases // len(targets))
    ours = {t: _run_target(t, "aios", args.seed, each, args.hang_s) for t in targets}
    peer = {t: _run_target(t, "peer", args.seed, each, args.hang_s) for t in targets}
    total, peer_total = _sum(ours), _sum(peer)
    result = {
        "bench": "fuzz", "seed": args.seed, **total,
        "per_target": {t: {k: v for k, v in p.items() if k != "failures"} for t, p in ours.items()},
        "failures": [f for p in ours.values() for f in p["failures"]][:20],
        "peer": {"name": "PyYAML safe_load (yaml, rules) + json.loads (event, context)", **peer_total,
                 "per_target": {t: {k: v for k, v in p.items() if k != "failures"} for t, p in peer.items()}},
        "ratio_to_peer": round(total["cases_per_s"] / peer_total["cases_per_s"], 4)
        if peer_total["cases_per_s"] else None,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"aios: {total['cases']} cases, {total['cases_per_s']} cases/s, tracebacks {total['tracebacks']}, "
              f"crashes {total['crashes']}, hangs {total['hangs']} ({total['refused']} refused with a clear error)")
        print(f"peer: {peer_total['cases_per_s']} cases/s, tracebacks {peer_total['tracebacks']}, "
              f"crashes {peer_total['crashes']}, hangs {peer_total['hangs']}")
        for f in result["failures"]:
            print(f"  {f['kind']} in {f['target']} case {f['case']}: {f.get('input', '')} {f.get('detail', '')[-300:]}")
    sys.exit(0)


if __name__ == "__main__":
    main()
