"""`aios run` and `aios runs …`: start, list, inspect, resume, cancel and re-run playbook runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from aios.cli.choices import OneOf
from aios.cli.common import EXIT_ERRORS, EXIT_OK, workspace_root
from aios.cli.output_format import json_option
from aios.cli.state import (
    EXIT_WAITING,
    echo_json,
    echo_next,
    errors_as_exits,
    fail,
    open_runtime,
    open_store,
    short,
    workspace_option,
)
from aios.runtime.runstate import RunStatus

__all__ = ["run", "runs"]

_RUN_STATUSES = tuple(s.value for s in RunStatus)


def _exit_for(outcome: Any, as_json: bool, *, expected: tuple[str, ...] = ("completed",)) -> None:
    """Print the outcome; exit 0 when the run ended as ``expected`` (`completed`; after `aios reject`
    also `rejected`), 3 when it waits for an approval, 1 otherwise."""
    if as_json:
        echo_json({"run_id": outcome.run_id, "status": outcome.status.value, "error": outcome.error,
                   "failed_step": outcome.failed_step, "cost_usd": outcome.cost_usd,
                   "approval": outcome.approval.id if outcome.approval else None})
    else:
        line = f"run {outcome.run_id} {outcome.status.value}"
        if outcome.status is RunStatus.WAITING and outcome.approval is not None:
            a = outcome.approval
            line += (f" for approval {a.id}: {a.message}\n  approve: aios approve {a.id} --note \"…\"\n"
                     f"  reject:  aios reject {a.id} --note \"…\"")
        elif outcome.error:
            where = f" at step `{outcome.failed_step}`" if outcome.failed_step else ""
            line += f"{where}: {outcome.error}"
        click.echo(line)
    if outcome.status.value in expected:
        sys.exit(EXIT_OK)
    sys.exit(EXIT_WAITING if outcome.status is RunStatus.WAITING else EXIT_ERRORS)


def _read_event(spec: str) -> Any:
    """The event file (or standard input) as JSON within the payload limits, or one clear error line."""
    from aios.limits import MAX_PAYLOAD_BYTES, PayloadError, read_json

    where = "on stdin" if spec == "-" else spec
    try:
        if spec == "-":
            data = sys.stdin.buffer.read(MAX_PAYLOAD_BYTES + 1)
        else:
            with Path(spec).open("rb") as f:
                data = f.read(MAX_PAYLOAD_BYTES + 1)
    except OSError as err:
        fail(f"cannot read the event file {spec}: {err.strerror}")
    if len(data) > MAX_PAYLOAD_BYTES:
        fail(f"the event {where} is larger than the limit of {MAX_PAYLOAD_BYTES} bytes [payload-too-large]")
    try:
        return read_json(data, what=f"the event {where}")
    except PayloadError as err:
        fail(f"{err} [{err.code}]")


@click.command()
@click.argument("playbook", metavar="PLAYBOOK|FILE")
@click.option("--event", "event_file", required=True, metavar="FILE|-",
              help="The triggering event as JSON: {type, id, source, time, payload} or a bare payload.")
@json_option("Print the outcome as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No live progress.")
@click.option("--dry-run", is_flag=True,
              help="Walk the playbook with connector previews instead of side effects; record nothing.")
@workspace_option
def run(playbook: str, event_file: str, as_json: bool, quiet: bool, dry_run: bool, workspace: str | None) -> None:
    """Run PLAYBOOK on an event, durably, until it completes, fails or waits for an approval.

    PLAYBOOK is a playbook's name, or the file declaring it (when the file declares only that one).

    The run is recorded before its id is printed; progress goes to stderr. Exit status: 0 completed,
    1 failed, rejected or cancelled, 3 waiting for an approval. With --dry-run, print what would be
    sent where (approvals are assumed given) and exit 0 if the walk completes, 1 if it would fail.
    """
    from aios.cli.playbook_arg import playbook_for_event

    event = _read_event(event_file)
    if dry_run:
        from aios.cli.connectors import dry_run_command

        dry_run_command(playbook, event, as_json, quiet, workspace)
    rt = open_runtime(workspace, quiet=quiet or as_json)
    with rt, errors_as_exits():
        playbook = playbook_for_event(rt.plan, workspace_root(workspace), playbook, event)
        interrupted = rt.store.query("SELECT count(*) FROM runs WHERE status IN ('admitted','running',"
                                     "'compensating') AND (owner IS NULL OR owner != ?)", (rt.owner,))[0][0]
        outcome = rt.start(playbook, event)
    if interrupted and not as_json:
        click.echo(f"note: {interrupted} interrupted run(s) in this workspace; `aios runs resume --all` continues "
                   "them", err=True)
    _exit_for(outcome, as_json)


@click.group()
def runs() -> None:
    """List, inspect, resume, cancel and re-run runs."""


@runs.command("list")
@click.option("--status", type=OneOf(_RUN_STATUSES, "run status"), help="Only runs with this status.")
@click.option("--playbook", help="Only runs of this playbook.")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 10_000),
              help="How many runs, newest first.")
@click.option("--after", "cursor", metavar="CURSOR",
              help="Continue after the page that printed this cursor (the `next:` line, or `next` in JSON).")
@json_option("Print JSON (the page's runs; the next page's cursor goes to stderr).")
@workspace_option
def runs_list(status: str | None, playbook: str | None, limit: int, cursor: str | None, as_json: bool,
              workspace: str | None) -> None:
    """List runs, newest first, a page at a time (each page costs the same whatever the store holds)."""
    from aios.runtime.queries import runs_page

    store = open_store(workspace)
    with store, errors_as_exits():
        rows, nxt = runs_page(store.conn, playbook=playbook, status=status, before=cursor, limit=limit)
    if as_json:
        echo_json(rows)
    elif not rows:
        click.echo("no runs")
    else:
        from aios.cli.tables import print_table

        print_table(["RUN", "PLAYBOOK", "STATUS", "STARTED", "COST", "PLAN", "ERROR"],
                    [(r["id"], r["playbook"], r["status"], r["created_at"], f"${r['cost_usd']:.4f}",
                      r["plan_hash"][:12], short(r["error"], 60) if r["error"] else "") for r in rows], right=["COST"])
    if nxt:
        echo_next(nxt)


@runs.command("show")
@click.argument("run_id")
@json_option("Print the whole trace as JSON.")
@click.option("--full", is_flag=True, help="Do not shorten inputs and outputs.")
@workspace_option
def runs_show(run_id: str, as_json: bool, full: bool, workspace: str | None) -> None:
    """The causal trace of a run: each step's inputs, decision and deciding rule, outputs, cost, timing."""
    from aios.runtime.trace import format_trace, load_trace

    store = open_store(workspace)
    with store, errors_as_exits():
        trace = load_trace(store.conn, run_id)
    if as_json:
        echo_json(trace.to_json())
        return
    click.echo(format_trace(trace, 10_000 if full else 110))


@runs.command("resume")
@click.argument("run_id", required=False)
@click.option("--all", "all_", is_flag=True, help="Resume every interrupted run (and runs whose approval timed out).")
@click.option("--force", is_flag=True, help="Take over even if another live process claims the run.")
@click.option("--note", help="Why (logged with a RUN's resume).")
@click.option("--as", "actor", help="Who is resuming (default: the workspace's actor, or $AIOS_ACTOR).")
@json_option("Print the outcome as JSON.")
@workspace_option
def runs_resume(run_id: str | None, all_: bool, force: bool, note: str | None, actor: str | None, as_json: bool,
                workspace: str | None) -> None:
    """Continue a run from its last durable point; completed steps are not executed again.

    Resuming a RUN is logged (`run.resumed`) with who resumed it; --all is recovery and logs no actor."""
    if bool(run_id) == all_:
        fail("give a RUN id or --all", 2)
    rt = open_runtime(workspace, quiet=as_json, actor=actor)
    with rt, errors_as_exits():
        if all_:
            outcomes = rt.recover()
            if as_json:
                echo_json([{"run_id": o.run_id, "status": o.status.value, "error": o.error} for o in outcomes])
            else:
                for o in outcomes:
                    click.echo(f"run {o.run_id} {o.status.value}" + (f": {o.error}" if o.error else ""))
                if not outcomes:
                    click.echo("no interrupted runs")
            sys.exit(EXIT_OK if all(o.status.value in ("completed", "waiting") for o in outcomes) else EXIT_ERRORS)
        outcome = rt.resume(run_id, force=force, actor=rt.actor, note=note)
    _exit_for(outcome, as_json)


@runs.command("cancel")
@click.argument("run_id")
@click.option("--note", help="Why (logged).")
@click.option("--as", "actor", help="Who is cancelling (default: the workspace's actor, or $AIOS_ACTOR).")
@workspace_option
def runs_cancel(run_id: str, note: str | None, actor: str | None, workspace: str | None) -> None:
    """Cancel a run that has not finished. Completed effects are not undone."""
    rt = open_runtime(workspace, quiet=True, actor=actor)
    with rt, errors_as_exits():
        outcome = rt.cancel(run_id, note=note)
    click.echo(f"run {outcome.run_id} {outcome.status.value}")


@runs.command("rerun")
@click.argument("run_id")
@click.option("--from", "from_step", required=True, help="The first step to execute again.")
@json_option("Print the outcome as JSON.")
@workspace_option
def runs_rerun(run_id: str, from_step: str, as_json: bool, workspace: str | None) -> None:
    """Start a new run on the same event, reusing the outputs of steps before --from."""
    rt = open_runtime(workspace, quiet=as_json)
    with rt, errors_as_exits():
        outcome = rt.rerun(run_id, from_step)
    _exit_for(outcome, as_json)
