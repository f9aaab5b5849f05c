"""`aios playbooks list|pause|resume`: manual mode for a playbook (see docs/live.md, Paused playbooks)."""

from __future__ import annotations

import sys
from typing import Any

import click

from aios.cli.common import EXIT_OK, workspace_root
from aios.cli.output_format import json_option
from aios.cli.state import echo_json, errors_as_exits, open_runtime, storage_dir, workspace_option

__all__ = ["playbooks"]


@click.group("playbooks")
def playbooks() -> None:
    """List playbooks with their status; pause one (its events are queued, no run starts) or resume it."""


def _runtime(workspace: str | None, actor: str | None, quiet: bool) -> Any:
    from aios.live import journal

    rt = open_runtime(workspace, quiet=quiet, actor=actor)
    with rt.store.transaction() as conn:
        journal.ensure_live_schema(conn)
    return rt


def _line(state: dict[str, Any]) -> str:
    line = f"{state['playbook']}  {state['status']}  queued {state['queued']}"
    if state["status"] == "paused":
        line += f"  (by {state['paused_by']} at {state['paused_at']}" + (
            f": {state['note']})" if state["note"] else ")")
    return line


@playbooks.command("list")
@json_option("Print JSON.")
@workspace_option
def list_cmd(as_json: bool, workspace: str | None) -> None:
    """Every playbook: active or paused (by whom, when, why) and how many events wait for it."""
    from aios.live import pauses

    rt = _runtime(workspace, None, True)
    with rt, errors_as_exits():
        items = [s.to_json() for s in pauses.states(rt.store.conn, rt.plan.playbook_map)]
    if as_json:
        echo_json(items)
        return
    for item in items:
        click.echo(_line(item))


_note = click.option("--note", "-m", help="Why (logged with who and when).")
_actor = click.option("--as", "actor", help="Who does it (default: the workspace's actor, or $AIOS_ACTOR).")


@playbooks.command("pause")
@click.argument("name")
@_note
@_actor
@json_option("Print JSON.")
@workspace_option
def pause_cmd(name: str, note: str | None, actor: str | None, as_json: bool, workspace: str | None) -> None:
    """Pause playbook NAME: its events are stored and queued, but no run starts until it resumes."""
    from aios.live import pauses

    rt = _runtime(workspace, actor, True)
    with rt, errors_as_exits():
        state, changed = pauses.set_paused(rt.store, rt.plan.playbook_map, name, paused_=True, actor=rt.actor,
                                           note=note)
    out = {**state.to_json(), "changed": changed}
    if as_json:
        echo_json(out)
    else:
        click.echo(_line(out) if changed else f"{name} was already paused; " + _line(out))


@playbooks.command("resume")
@click.argument("name")
@_note
@_actor
@click.option("--queue-only", is_flag=True,
              help="Only resume; a running or later `aios serve` starts the queued runs.")
@json_option("Print JSON.")
@workspace_option
def resume_cmd(name: str, note: str | None, actor: str | None, queue_only: bool, as_json: bool,
               workspace: str | None) -> None:
    """Resume playbook NAME: its queued events start their runs, in arrival order.

    If `aios serve` runs for this workspace, it starts them; otherwise (unless --queue-only) this
    command does, and runs them until they complete, fail or wait for an approval.
    """
    from aios.live import pauses
    from aios.live.lock import LockHeld, ServerLock

    rt = _runtime(workspace, actor, as_json)
    runs: list[dict[str, Any]] = []
    server = None
    with rt, errors_as_exits():
        state, changed = pauses.set_paused(rt.store, rt.plan.playbook_map, name, paused_=False, actor=rt.actor,
                                           note=note)
        queued = state.queued
        lock = ServerLock(storage_dir(workspace_root(workspace)))
        if not queue_only:
            try:
                lock.acquire({"mode": "resume"})
            except LockHeld as err:
                server = err.holder.get("url")
            else:
                try:
                    runs = _release_here(rt)
                finally:
                    lock.release()
    out = {**state.to_json(), "changed": changed, "released": queued, "runs": runs, "server": server}
    if as_json:
        echo_json(out)
        sys.exit(EXIT_OK)
    click.echo(f"{name} resumed by {rt.actor}" if changed else f"{name} was not paused")
    if server:
        click.echo(f"  {queued} queued event(s) start their runs on the server at {server}")
    for r in runs:
        click.echo(f"  run {r['run_id']} {r['status']}" + (f" for approval {r['approval']}" if r["approval"] else ""))


def _release_here(rt: Any) -> list[dict[str, Any]]:
    from aios.live.dispatch import release_held

    out = []
    while True:
        done = release_held(rt)
        for d in done:
            for run_id in d.new_runs:
                outcome = rt.resume(run_id)
                out.append({"run_id": run_id, "status": outcome.status.value,
                            "approval": outcome.approval.id if outcome.approval else None})
        if len(done) < 100:
            return out
