"""Per-step overhead of durable execution: aios vs LangGraph + SqliteSaver vs DBOS on SQLite.

Each side runs the same 10-step no-op workflow (each step adds one to a counter) with durability on,
in this one process, on the same disk, interleaved run by run (so a burst of disk load elsewhere
hits every side alike), in rounds whose median is reported:

- aios: a compiled workspace playbook of 10 transform steps; every step is one fsync'd SQLite WAL
  commit (synchronous=FULL) of its hash-chained log entry; the run's admission rides on the first
  step's commit (the steps are pure) and its completion on the last's.
- LangGraph: a StateGraph of 10 nodes compiled with SqliteSaver (WAL, synchronous=FULL, its
  defaults), invoked with ``durability="sync"``.
- DBOS: a workflow of 10 ``@DBOS.step`` functions on a SQLite system database.

Also measured: one bare fsync'd WAL commit (the floor), a 1,000-step aios run, the same 1,000 steps
in LangGraph, and the log bytes per step.

    python bench/interpreter.py [--runs 60] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

STEPS = 10
LONG = 1000
TARGET_MS = 0.6


def _playbook(n: int) -> str:
    lines = ["kind: playbook", f"name: noop{n}", "trigger: {event: bench.tick}", "steps:",
             "  - id: s0", '    transform: {n: "{{ event.payload.n + 1 }}"}']
    for i in range(1, n):
        lines += [f"  - id: s{i}", f"    needs: [s{i - 1}]",
                  f'    transform: {{n: "{{{{ steps.s{i - 1}.output.n + 1 }}}}"}}']
    return "\n".join(lines) + "\n"


def _workspace(root: Path) -> Any:
    from aios.compiler import compile_workspace

    (root / "playbooks").mkdir(parents=True)
    (root / "aios.yaml").write_text("name: bench\nstorage: .aios\n")
    (root / "playbooks" / "noop.yaml").write_text(_playbook(STEPS))
    (root / "playbooks" / "long.yaml").write_text(_playbook(LONG))
    result = compile_workspace(root)
    if result.plan is None:
        raise SystemExit(f"bench workspace does not compile: {[d.message for d in result.diagnostics]}")
    return result.plan


class Aios:
    def __init__(self, root: Path) -> None:
        from aios.runtime.interpreter import Runtime

        self.runtime = Runtime(_workspace(root), root)

    def run(self, playbook: str = f"noop{STEPS}") -> None:
        out = self.runtime.start(playbook, {"type": "bench.tick", "payload": {"n": 0}})
        assert out.ok, out

    def log_bytes_per_step(self) -> tuple[float, float]:
        conn = self.runtime.store.conn
        total = conn.execute("SELECT sum(length(body) + length(coalesce(run_id, '')) + length(coalesce(step_id, '')) "
                             "+ length(type) + length(at) + length(prev) + length(hash) + 8) FROM log").fetchone()[0]
        steps = conn.execute("SELECT count(*) FROM log WHERE type = 'step.completed'").fetchone()[0]
        entries = conn.execute("SELECT count(*) FROM log").fetchone()[0]
        return total / steps, entries / steps

    def close(self) -> None:
        self.runtime.close()


class LangGraph:
    def __init__(self, root: Path, steps: int = STEPS) -> None:
        from typing import TypedDict

        from langgraph.checkpoint.sqlite import SqliteSaver
        from langgraph.graph import END, START, StateGraph

        class State(TypedDict):
            n: int

        def node(state: State) -> dict[str, int]:
            return {"n": state["n"] + 1}

        graph = StateGraph(State)
        prev = START
        for i in range(steps):
            graph.add_node(f"s{i}", node)
            graph.add_edge(prev, f"s{i}")
            prev = f"s{i}"
        graph.add_edge(prev, END)
        self.conn = sqlite3.connect(str(root / f"langgraph{steps}.db"), check_same_thread=False)
        saver = SqliteSaver(self.conn)
        saver.setup()
        self.conn.execute("PRAGMA synchronous=FULL")
        self.app = graph.compile(checkpointer=saver)
        self.steps = steps
        self.count = 0

    def run(self) -> None:
        self.count += 1
        out = self.app.invoke({"n": 0}, {"configurable": {"thread_id": f"t{self.count}"},
                                         "recursion_limit": self.steps + 10}, durability="sync")
        assert out["n"] == self.steps

    def close(self) -> None:
        self.conn.close()


class Dbos:
    def __init__(self, root: Path) -> None:
        from dbos import DBOS

        logging.getLogger("dbos").setLevel(logging.WARNING)

        @DBOS.step()
        def add_one(n: int) -> int:
            return n + 1

        @DBOS.workflow()
        def noop(n: int) -> int:
            for _ in range(STEPS):
                n = add_one(n)
            return n

        self.workflow = noop
        DBOS(config={"name": "aios-bench", "system_database_url": f"sqlite:///{root / 'dbos.sqlite'}",
                     "log_level": "WARNING", "console_log_level": "WARNING"})  # type: ignore[typeddict-unknown-key]
        DBOS.launch()

    def run(self) -> None:
        assert self.workflow(0) == STEPS

    def close(self) -> None:
        from dbos import DBOS

        DBOS.destroy()


def fsync_commit_ms(root: Path, n: int = 300) -> float:
    conn = sqlite3.connect(str(root / "floor.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    t0 = time.perf_counter()
    for _ in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t(v) VALUES (?)", (os.urandom(200),))
        conn.execute("COMMIT")
    ms = (time.perf_counter() - t0) * 1000 / n
    conn.close()
    return ms


def count_commits(conn: sqlite3.Connection, run: Callable[[], None]) -> float:
    """COMMITs per step of one run (each is one fsync under synchronous=FULL)."""
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        run()
    finally:
        conn.set_trace_callback(None)
    return sum(1 for sql in seen if sql.strip().upper().startswith("COMMIT")) / STEPS


def per_step_ms(run: Callable[[], None], runs: int, steps: int = STEPS) -> float:
    t0 = time.perf_counter()
    for _ in range(runs):
        run()
    return (time.perf_counter() - t0) * 1000 / (runs * steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=60, help="runs of the 10-step workflow per side per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    try:
        import dbos  # noqa: F401
        import langgraph.checkpoint.sqlite  # noqa: F401
    except ImportError as err:
        print(f"bench/interpreter.py needs the bench extra (pip install -e '.[bench]'): {err}", file=sys.stderr)
        sys.exit(2)

    with tempfile.TemporaryDirectory(prefix="aios-bench-") as tmp:
        root = Path(tmp)
        floor = fsync_commit_ms(root)
        sides: dict[str, Any] = {"aios": Aios(root / "ws"), "langgraph": LangGraph(root), "dbos": Dbos(root)}
        for side in sides.values():  # warm up: imports, caches, first pages
            for _ in range(3):
                side.run()
        results: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.rounds):
            spent = dict.fromkeys(sides, 0.0)
            for _ in range(args.runs):  # interleaved run by run: every side sees the same disk weather
                for name, side in sides.items():
                    t0 = time.perf_counter()
                    side.run()
                    spent[name] += time.perf_counter() - t0
            for name in sides:
                results[name].append(spent[name] * 1000 / (args.runs * STEPS))
        aios_side: Aios = sides["aios"]
        log_bytes, entries_per_step = aios_side.log_bytes_per_step()
        commits = {"aios": count_commits(aios_side.runtime.store.conn, aios_side.run),
                   "langgraph": count_commits(sides["langgraph"].conn, sides["langgraph"].run)}
        cpu = Aios(root / "ws-nosync")  # the same, without the fsync: what aios adds on top of the disk
        cpu.runtime.store.conn.execute("PRAGMA synchronous=OFF")
        for _ in range(3):
            cpu.run()
        cpu_ms = per_step_ms(cpu.run, args.runs)
        from aios import masking  # the same again with three secrets set: every write is masked

        masking.watch(["sk-bench-" + "0f1e2d3c4b5a6978" * 2, 'pa"ss\\word-bench-42', "pin-42x"])
        cpu_masked_ms = per_step_ms(cpu.run, args.runs)
        cpu.close()
        t0 = time.perf_counter()
        aios_side.run(f"noop{LONG}")  # cold: compiles its 1,000 templates on the way
        long_cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        aios_side.run(f"noop{LONG}")
        long_s = time.perf_counter() - t0
        long_lg = LangGraph(root, LONG)
        t0 = time.perf_counter()
        long_lg.run()
        long_lg_s = time.perf_counter() - t0
        long_lg.close()
        for side in sides.values():
            side.close()

    med = {name: statistics.median(v) for name, v in results.items()}
    out = {
        "aios_ms_per_step": round(med["aios"], 4),
        "langgraph_ms_per_step": round(med["langgraph"], 4),
        "dbos_ms_per_step": round(med["dbos"], 4),
        "speedup_vs_langgraph": round(med["langgraph"] / med["aios"], 2),
        "speedup_vs_dbos": round(med["dbos"] / med["aios"], 2),
        "log_bytes_per_step": round(log_bytes, 1),
        "log_entries_per_step": round(entries_per_step, 3),
        "aios_commits_per_step": commits["aios"],
        "langgraph_commits_per_step": commits["langgraph"],
        "sqlite_fsync_commit_ms": round(floor, 4),
        "aios_ms_per_step_without_fsync": round(cpu_ms, 4),
        "aios_ms_per_step_without_fsync_3_secrets": round(cpu_masked_ms, 4),
        "aios_1000_step_ms_per_step": round(long_s * 1000 / LONG, 4),
        "aios_1000_step_total_s": round(long_s, 3),
        "aios_1000_step_cold_ms_per_step": round(long_cold_s * 1000 / LONG, 4),
        "langgraph_1000_step_ms_per_step": round(long_lg_s * 1000 / LONG, 4),
        "target_ms_per_step": TARGET_MS,
        "meets_target": med["aios"] <= TARGET_MS,
        "rounds_ms_per_step": {k: [round(x, 4) for x in v] for k, v in results.items()},
        "runs_per_round": args.runs,
        "steps_per_run": STEPS,
    }
    if args.json:
        print(json.dumps(out))
        return
    print(f"durable per-step overhead, {STEPS}-step no-op workflow, median of {args.rounds} rounds "
          f"x {args.runs} runs:")
    print(f"  aios                   {out['aios_ms_per_step']:8.3f} ms/step  (target <= {TARGET_MS})")
    print(f"  LangGraph+SqliteSaver  {out['langgraph_ms_per_step']:8.3f} ms/step  "
          f"({out['speedup_vs_langgraph']}x aios)")
    print(f"  DBOS on SQLite         {out['dbos_ms_per_step']:8.3f} ms/step  ({out['speedup_vs_dbos']}x aios)")
    print(f"  one fsync'd WAL commit {out['sqlite_fsync_commit_ms']:8.3f} ms (the floor on this disk); commits per "
          f"step: aios {out['aios_commits_per_step']}, LangGraph {out['langgraph_commits_per_step']}")
    print(f"  aios without the fsync {out['aios_ms_per_step_without_fsync']:8.3f} ms/step (interpreter + SQLite CPU)")
    print(f"  … with 3 secrets set   {out['aios_ms_per_step_without_fsync_3_secrets']:8.3f} ms/step (every write masked)")
    print(f"1,000-step run: aios {out['aios_1000_step_ms_per_step']:.3f} ms/step ({out['aios_1000_step_total_s']} s; "
          f"{out['aios_1000_step_cold_ms_per_step']:.3f} ms/step on the first run, compiling its templates), "
          f"LangGraph {out['langgraph_1000_step_ms_per_step']:.3f} ms/step")
    print(f"log: {out['log_bytes_per_step']} bytes and {out['log_entries_per_step']} entries per step")


if __name__ == "__main__":
    main()
