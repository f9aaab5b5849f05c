"""`make demo`: the example workspace end to end, offline.

Runs in place in the example workspace (the repository root; its state goes to `.aios/`, the files
its connectors write to `site/`, `outbox/` and `data/`, all git-ignored), so that afterwards
`aios runs show <id>`, `aios approvals list`, `aios records list` and `aios memory search …` work from
the same folder. It validates the workspace, runs the content pipeline on ``events/lead.json``,
stops at each approval, approves it, and shows the finished trace and the records written.

Each demo run gives the lead event a fresh id (``lead-2026-0042-demo-<time>``), so running it again
starts a new run next to the earlier ones instead of being refused or replayed.

    python -m aios.demo [--workspace DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "demo_event"]

_NOTES = {"gate": "Scope and budget look right; go ahead.",
          "policy": "Read the draft; fine to go out now."}


def _say(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 76 - len(title)))


def _example_root() -> Path:
    here = Path(__file__).resolve().parent.parent
    if (here / "aios.yaml").is_file():
        return here
    return Path.cwd()


def demo_event(root: Path, now: dt.datetime | None = None) -> dict[str, Any]:
    """``events/lead.json`` with an id of its own for this demo run."""
    event = json.loads((root / "events" / "lead.json").read_text(encoding="utf-8"))
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S%f")
    return {**event, "id": f"{event.get('id', 'lead')}-demo-{stamp}"}


def _connectors(root: Path, plan: Any) -> Any:
    from aios.runtime.connectors import ConnectorRegistry

    return ConnectorRegistry(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the example workspace end to end, in place.")
    parser.add_argument("--workspace", "-w", type=Path, default=None,
                        help="the workspace to run in (default: the example workspace, the repository root)")
    args = parser.parse_args(argv)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

    from aios.cli.state import ProgressPrinter
    from aios.compiler import compile_workspace
    from aios.diagnostics.render import SourceLines, render_text, summary
    from aios.runtime import log
    from aios.runtime.interpreter import Runtime
    from aios.runtime.runstate import RunStatus
    from aios.runtime.trace import format_trace, load_trace

    work = (args.workspace or _example_root()).resolve()

    _say("1. validate the example workspace")
    result = compile_workspace(work)
    text = render_text(result.diagnostics, SourceLines(result.root))
    if text:
        print(text)
    print(summary(result.diagnostics) + (f"; plan {result.plan.content_hash[:12]}" if result.plan else ""))
    if result.plan is None:
        return 1
    plan = result.plan

    retriever = None
    try:
        from aios.memory import runtime_retriever

        retriever = runtime_retriever(work, plan)
    except Exception as err:  # memory is optional for the demo
        print(f"  note: retrieval unavailable ({err})")

    _say("2. run content-pipeline on events/lead.json")
    event = demo_event(work)
    rt = Runtime(plan, work, connectors=_connectors(work, plan), progress=ProgressPrinter(err=False),
                 retriever=retriever,
                 actor="operator")
    with rt:
        outcome = rt.start("content-pipeline", event)
        print(f"run {outcome.run_id} {outcome.status.value}")
        approvals_seen = 0
        while outcome.status is RunStatus.WAITING and outcome.approval is not None and approvals_seen < 5:
            approvals_seen += 1
            a = outcome.approval
            _say(f"3.{approvals_seen} approval {a.id} ({a.kind.value}) at step `{a.step_id}`")
            print(f"  asks: {a.message}" + (f"  [rule {a.rule}]" if a.rule else ""))
            print("  the run is paused durably; `aios approve` from any process would resume it. Approving:")
            decided, _ = rt.decide(a.id, approve=True, note=_NOTES[a.kind.value], actor="operator", resume=False)
            print(f"  {decided.status.value} by {decided.decided_by} at {decided.decided_at}: {decided.note}")
            outcome = rt.resume(outcome.run_id)
        print(f"run {outcome.run_id} {outcome.status.value}" + (f": {outcome.error}" if outcome.error else ""))

        _say("4. the finished trace (aios runs show)")
        print(format_trace(load_trace(rt.store.conn, outcome.run_id)))

        _say("5. records written (aios records list / show --history)")
        for rv in rt.records.written_by_run(outcome.run_id):
            print(f"  {rv.schema} {rv.id} v{rv.version} (run {rv.run_id}, step {rv.step_id}, "
                  f"plan {str(rv.plan_hash)[:12]}, {rv.written_at})")
            for k, v in rv.data.items():
                text_v = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                text_v = text_v.replace("\n", " ")
                print(f"      {k}: {text_v[:90]}{'…' if len(text_v) > 90 else ''}")

        _say("6. the episodic log (aios log verify)")
        print("  " + log.verify(rt.store.conn).describe())
        published = sorted(p.relative_to(work).as_posix() for p in (work / "site").glob("*.md")) \
            if (work / "site").is_dir() else []
        if published:
            print(f"  published: {', '.join(published)}")

    where = "" if work == Path.cwd().resolve() else f" -w {work}"
    _say("next")
    print(f"The workspace's state is kept in {work / '.aios'}; try (with .venv/bin on your PATH):")
    print(f"  aios runs show {outcome.run_id}{where}")
    print(f"  aios records list{where}")
    print(f"  aios approvals list --all{where}")
    print(f"  aios memory search \"heat pump series\"{where}")
    return 0 if outcome.status is RunStatus.COMPLETED else 1


if __name__ == "__main__":
    sys.exit(main())
