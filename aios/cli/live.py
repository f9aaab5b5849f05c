"""`aios dev`, `aios serve` and `aios emit`: live operation (see docs/live.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from aios.cli.common import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, workspace_root
from aios.cli.output_format import json_option
from aios.cli.state import EXIT_WAITING, echo_json, fail, storage_dir, workspace_option

__all__ = ["dev", "serve", "emit"]

_host = click.option("--host", default="127.0.0.1", show_default=True,
                     help="Interface to listen on (keep it on loopback; put a proxy in front for the internet).")
_port = click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535),
                     help="Port for the dashboard, webhooks and /healthz (0: any free port, printed at start).")
_workers = click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
                        help="Runs executed at the same time.")
_max_body = click.option("--max-body", default=1024 * 1024, show_default=True, type=click.IntRange(1),
                         help="Largest webhook body accepted, in bytes (larger: 413).")
_replay_window = click.option("--replay-window", default=300.0, show_default=True, type=click.FloatRange(1),
                              help="Seconds a v1-signed webhook's timestamp may be off the server's clock "
                                   "(older or newer: 401 signature-expired).")
_grace = click.option("--grace", default=10.0, show_default=True, type=click.FloatRange(0),
                      help="Seconds to let running runs reach a stop on shutdown (the rest stay resumable).")
_no_schedules = click.option("--no-schedules", is_flag=True, help="Do not fire schedule triggers.")
_no_drops = click.option("--no-drops", is_flag=True, help="Do not watch drop folders.")


def _options(host: str, port: int, workers: int, max_body: int, grace: float, no_schedules: bool,
             no_drops: bool, **extra: Any) -> Any:
    from aios.live.server import ServeOptions

    return ServeOptions(host=host, port=port, workers=workers, max_body=max_body, grace_s=grace,
                        schedules=not no_schedules, drops=not no_drops, **extra)


def _dashboard(webhooks: Any, hooks: Any) -> Any:
    """The dashboard beside the webhooks on the server's port (imported only when serving)."""
    from aios.web.app import mount_dashboard
    from aios.web.host import Host

    return mount_dashboard(webhooks, Host(hooks.root, hooks.storage_dir, hooks.plan, release=hooks.release,
                                          stopping=hooks.stopping))


def _run_server(root: Path, plan: Any, options: Any, console: Any, reloader: Any, mode: str) -> None:
    from aios.live.lock import LockHeld
    from aios.live.server import LiveServer

    server = LiveServer(root, plan, options, console, reloader=reloader, mode=mode, wrap_app=_dashboard)
    try:
        code = server.run()
    except LockHeld as err:
        fail(f"{err}; stop it first, or send events to it (aios emit queues them for it)")
    sys.exit(code)


@click.command()
@_host
@_port
@_workers
@_max_body
@_replay_window
@_grace
@_no_schedules
@_no_drops
@workspace_option
def serve(host: str, port: int, workers: int, max_body: int, replay_window: float, grace: float, no_schedules: bool,
          no_drops: bool, workspace: str | None) -> None:
    """Run the workspace live: webhooks, schedules, drop folders and queued events start runs.

    Every event is stored durably before it is processed and starts at most one run per playbook, even
    when delivered twice or after a crash. Runs paused for approval resume when the approval is
    decided. SIGINT/SIGTERM stop gracefully. The plan is compiled once; use `aios dev` to reload it.
    """
    from aios.compiler import compile_workspace
    from aios.live.console import Console
    from aios.live.reload import validate_text

    root = workspace_root(workspace)
    result = compile_workspace(root)
    if result.plan is None:
        click.echo(validate_text(result.diagnostics, result.root, None), err=True)
        fail(f"the workspace does not compile ({result.errors} error(s)); see `aios validate`")
    _run_server(root, result.plan, _options(host, port, workers, max_body, grace, no_schedules, no_drops,
                                            replay_window_s=replay_window), Console(prefix="serve"), None, "serve")


@click.command()
@_host
@_port
@_workers
@_max_body
@_replay_window
@_grace
@_no_schedules
@_no_drops
@click.option("--step-ms", default=30, show_default=True, type=click.IntRange(10, 2000),
              help="Quiet time after a file change before reloading (editors write in several steps).")
@click.option("--poll", is_flag=True, help="Poll the file system instead of OS notifications (network mounts).")
@workspace_option
def dev(host: str, port: int, workers: int, max_body: int, replay_window: float, grace: float, no_schedules: bool,
        no_drops: bool, step_ms: int, poll: bool, workspace: str | None) -> None:
    """`aios serve` plus hot reload: edit playbooks, policies, prompts, connectors or aios.yaml and save.

    Each change recompiles the whole workspace. A clean plan is swapped in for new runs (runs already
    started finish on the plan they started on); a broken one leaves the last good plan running, marked
    stale, and prints the diagnostics as `aios validate` does. One status line per reload.
    """
    from aios.live.console import Console
    from aios.live.reload import Reloader, validate_text

    root = workspace_root(workspace)
    console = Console(prefix="dev")
    reloader = Reloader(root, None, console, step_ms=step_ms, force_polling=True if poll else None)
    result = reloader.compile()
    if result.diagnostics or result.plan is None:
        console.block(validate_text(result.diagnostics, result.root,
                                    result.plan.content_hash if result.plan else None))
    if result.plan is None:
        console.line("the workspace does not compile; waiting for a fix (Ctrl-C to quit)")
        result = _wait_until_clean(reloader, console)
        if result is None:
            sys.exit(EXIT_ERRORS)
    options = _options(host, port, workers, max_body, grace, no_schedules, no_drops, reload=True, step_ms=step_ms,
                       force_polling=True if poll else None, replay_window_s=replay_window)
    _run_server(root, result.plan, options, console, reloader, "dev")


def _wait_until_clean(reloader: Any, console: Any) -> Any:
    """Before the first good plan: recompile on each change until the workspace compiles."""
    import threading

    stop = threading.Event()
    try:
        return reloader.wait_until_clean(stop)
    except KeyboardInterrupt:
        return None
    finally:
        stop.set()


def _read_payload(spec: str) -> Any:
    """The payload (inline, @file or stdin) as JSON within the payload limits, or one clear error line."""
    from aios.limits import MAX_PAYLOAD_BYTES, PayloadError, read_json

    data: bytes | str
    if spec == "-":
        data, where = sys.stdin.buffer.read(MAX_PAYLOAD_BYTES + 1), "stdin"
    elif spec.startswith("@"):
        where = spec[1:]
        try:
            with Path(where).open("rb") as f:
                data = f.read(MAX_PAYLOAD_BYTES + 1)
        except OSError as err:
            fail(f"cannot read the payload file {where}: {err.strerror}", EXIT_USAGE)
    else:
        data, where = spec, "--payload"
    if len(data) > MAX_PAYLOAD_BYTES:
        fail(f"the payload ({where}) is larger than the limit of {MAX_PAYLOAD_BYTES} bytes [payload-too-large]",
             EXIT_USAGE)
    try:
        return read_json(data, what=f"the payload ({where})")
    except PayloadError as err:
        fail(f"{err} [{err.code}]", EXIT_USAGE)


@click.command()
@click.argument("event_type")
@click.option("--payload", "payload_spec", default="{}", show_default=True, metavar="JSON|@FILE|-",
              help="The event payload: inline JSON, @file.json, or - for stdin.")
@click.option("--id", "event_id", help="The event id (the de-duplication key; default: derived from type and payload).")
@click.option("--source", default="cli", show_default=True, help="The event source.")
@click.option("--queue-only", is_flag=True, help="Only store the event; a running or later `aios serve` processes it.")
@json_option("Print the result as JSON.")
@workspace_option
def emit(event_type: str, payload_spec: str, event_id: str | None, source: str, queue_only: bool, as_json: bool,
         workspace: str | None) -> None:
    """Put an event of type EVENT_TYPE into the workspace's event stream.

    The event is stored durably first. If `aios serve`/`aios dev` is running for this workspace, it
    processes the event; otherwise (unless --queue-only) this command does: it starts the runs the event
    triggers and runs them until they complete, fail or wait for an approval. An event id seen before
    starts nothing new. Exit status: 0 done or queued, 1 a run failed, 3 a run waits for an approval.
    """
    from aios.live import journal
    from aios.live.events import EventError, emitted_event
    from aios.live.lock import LockHeld, ServerLock

    root = workspace_root(workspace)
    try:
        event = emitted_event(event_type, _read_payload(payload_spec), event_id=event_id, source=source)
    except EventError as err:
        fail(str(err), EXIT_USAGE)
    storage = storage_dir(root)
    store = journal.open_store(storage)
    with store, store.transaction() as conn:
        fresh = journal.accept(conn, [event])[0]
    report: dict[str, Any] = {"event": event.id, "type": event.type, "duplicate": not fresh, "queued": True,
                              "runs": []}
    lock = ServerLock(storage)
    if not queue_only:
        try:
            lock.acquire({"mode": "emit"})
        except LockHeld as err:
            report["server"] = err.holder.get("url")
        else:
            try:
                report.update(_process_here(root, event.id))
            finally:
                lock.release()
    _finish(report, as_json)


def _process_here(root: Path, event_id: str) -> dict[str, Any]:
    """No server is running: dispatch what is pending and run this event's new runs to their stop."""
    from aios.cli.state import errors_as_exits, open_runtime
    from aios.live.dispatch import dispatch_pending

    rt = open_runtime(str(root), quiet=True)
    runs = []
    with rt, errors_as_exits():
        mine = None
        while True:
            done = dispatch_pending(rt)
            mine = next((d for d in done if d.event_id == event_id), mine)
            if len(done) < 100:
                break
        if mine is None:
            row = rt.store.conn.execute("SELECT status, runs, note FROM live_events WHERE id = ?",
                                        (event_id,)).fetchone()
            ids = json.loads(row["runs"] or "[]")
            return {"queued": False, "status": row["status"], "note": row["note"],
                    "runs": [_run_summary(rt, r, None) for r in ids]}
        for run_id in mine.runs:
            outcome = rt.resume(run_id) if run_id in mine.new_runs else None
            runs.append(_run_summary(rt, run_id, outcome))
    return {"queued": False, "status": mine.status, "note": mine.note, "runs": runs}


def _run_summary(rt: Any, run_id: str, outcome: Any) -> dict[str, Any]:
    row = rt.store.conn.execute("SELECT playbook, status, error FROM runs WHERE id = ?", (run_id,)).fetchone()
    out = {"run_id": run_id, "playbook": row["playbook"], "status": row["status"], "error": row["error"],
           "new": outcome is not None, "approval": None}
    if outcome is not None and outcome.approval is not None:
        out["approval"] = outcome.approval.id
    return out


def _finish(report: dict[str, Any], as_json: bool) -> None:
    statuses = [r["status"] for r in report["runs"] if r["new"]]
    if as_json:
        echo_json(report)
    else:
        head = f"event {report['event']} ({report['type']})"
        if report["duplicate"]:
            click.echo(f"{head}: already received; nothing new starts")
        elif report["queued"]:
            where = f" by the server at {report['server']}" if report.get("server") else " by the next `aios serve`"
            click.echo(f"{head}: stored; it will be processed{where}")
        elif report.get("status") != "dispatched":
            click.echo(f"{head}: {report.get('status')}" + (f": {report['note']}" if report.get("note") else ""))
        else:
            click.echo(f"{head}: dispatched")
        for r in report["runs"]:
            line = f"  run {r['run_id']} {r['playbook']} {r['status']}"
            if r["approval"]:
                line += f" for approval {r['approval']} (aios approve {r['approval']})"
            elif r["error"]:
                line += f": {r['error']}"
            click.echo(line)
    if "failed" in statuses or "rejected" in statuses:
        sys.exit(EXIT_ERRORS)
    sys.exit(EXIT_WAITING if "waiting" in statuses else EXIT_OK)

