"""`aios approvals list`, `aios approve`, `aios reject` and `aios alerts`."""

from __future__ import annotations

import sys

import click

from aios.cli.choices import OneOf
from aios.cli.common import EXIT_OK
from aios.cli.output_format import json_option
from aios.cli.run import _exit_for
from aios.cli.state import (
    echo_json,
    echo_next,
    errors_as_exits,
    open_runtime,
    open_store,
    short,
    workspace_actor,
    workspace_option,
)
from aios.runtime.alerts import Severity
from aios.runtime.approvals import ApprovalStatus

__all__ = ["approvals_group", "approve", "reject", "alerts_cmd"]


@click.group("approvals")
def approvals_group() -> None:
    """Approvals asked for by gates and `require approval` rules."""


@approvals_group.command("list")
@click.option("--all", "all_", is_flag=True, help="Include decided approvals.")
@click.option("--status", type=OneOf([s.value for s in ApprovalStatus], "approval status"),
              help="Only approvals with this status (implies --all for decided ones).")
@click.option("--run", "run_id", help="Only this run's approvals.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000),
              help="How many approvals, oldest first.")
@click.option("--after", "cursor", metavar="CURSOR", help="Continue after the page that printed this cursor.")
@json_option("Print JSON (the page's approvals; the next page's cursor goes to stderr).")
@workspace_option
def approvals_list(all_: bool, status: str | None, run_id: str | None, limit: int, cursor: str | None,
                   as_json: bool, workspace: str | None) -> None:
    """List pending approvals, oldest first, a page at a time (with --all, decided ones too)."""
    from aios.runtime import approvals

    store = open_store(workspace)
    with store, errors_as_exits():
        items, nxt = approvals.page(store.conn, include_decided=all_, run_id=run_id,
                                    status=ApprovalStatus(status) if status else None, after=cursor, limit=limit)
    if nxt:
        echo_next(nxt)
    if as_json:
        import dataclasses

        echo_json([{**dataclasses.asdict(a), "kind": a.kind.value, "status": a.status.value} for a in items])
        return
    if not items:
        click.echo("no pending approvals" if not (all_ or status) else "no approvals")
        return
    for a in items:
        who = f" ({', '.join(a.approvers)})" if a.approvers else ""
        line = f"{a.id}  {a.status.value:<9} run {a.run_id} step {a.step_id}  {a.kind.value}{who}"
        if a.rule:
            line += f"  rule {a.rule}"
        click.echo(line)
        click.echo(f"    {short(a.message, 110)}")
        if a.status.value != "pending":
            click.echo(f"    {a.status.value} by {a.decided_by} at {a.decided_at}" + (f": {a.note}" if a.note else ""))
        elif a.expires_at:
            click.echo(f"    requested {a.requested_at}; {a.on_timeout} at {a.expires_at} if nobody decides")


def _decide(approval_id: str, approve_: bool, note: str | None, actor: str | None, resume: bool, as_json: bool,
            workspace: str | None, edited: str | None = None) -> None:
    edited_input = None
    if edited is not None:
        from aios.cli.live import _read_payload

        edited_input = _read_payload(edited)
    rt = open_runtime(workspace, quiet=as_json, actor=actor)
    with rt, errors_as_exits():
        decided, outcome = rt.decide(approval_id, approve=approve_, note=note, resume=resume,
                                     edited_input=edited_input)
    if not as_json:
        click.echo(f"approval {decided.id} {decided.status.value} by {decided.decided_by} at {decided.decided_at}")
    if outcome is None:
        if as_json:
            echo_json({"approval": decided.id, "status": decided.status.value, "by": decided.decided_by})
        sys.exit(EXIT_OK)
    # a rejection did what was asked when its run ends `rejected` (or goes on without a rejected map item)
    _exit_for(outcome, as_json, expected=("completed",) if approve_ else ("rejected", "completed"))


_note = click.option("--note", "-m", help="Why (logged with who and when).")
_actor = click.option("--as", "actor", help="Who decides (default: the workspace's actor, or $AIOS_ACTOR).")
_no_resume = click.option("--no-resume", is_flag=True, help="Only record the decision; resume later.")
_json = json_option("Print the outcome as JSON.")


@click.command()
@click.argument("approval_id")
@_note
@_actor
@_no_resume
@click.option("--input", "edited", metavar="JSON|@FILE|-",
              help="Edit then approve: call the connector with this input instead (checked against its contract "
                   "and the policies again first; both versions are logged).")
@_json
@workspace_option
def approve(approval_id: str, note: str | None, actor: str | None, no_resume: bool, edited: str | None,
            as_json: bool, workspace: str | None) -> None:
    """Approve APPROVAL_ID and resume its run (who, when and why are logged).

    With --input, the connector call the approval is about is made with the edited input; an input
    off the connector's contract, or one the policies deny, is refused and the approval stays pending.
    """
    _decide(approval_id, True, note, actor, not no_resume, as_json, workspace, edited)


@click.command()
@click.argument("approval_id")
@_note
@_actor
@_no_resume
@_json
@workspace_option
def reject(approval_id: str, note: str | None, actor: str | None, no_resume: bool, as_json: bool,
           workspace: str | None) -> None:
    """Reject APPROVAL_ID; its run ends rejected after compensating completed effects."""
    _decide(approval_id, False, note, actor, not no_resume, as_json, workspace)


@click.command("alerts")
@click.option("--all", "all_", is_flag=True, help="Include acknowledged alerts.")
@click.option("--severity", type=OneOf([s.value for s in Severity], "alert severity"),
              help="Only alerts of this severity.")
@click.option("--ack", "ack", type=int, multiple=True, help="Acknowledge the alert with this id (repeatable).")
@click.option("--as", "actor", help="Who acknowledges (default: $AIOS_ACTOR, or the workspace's runtime.actor).")
@json_option("Print JSON.")
@workspace_option
def alerts_cmd(all_: bool, severity: str | None, ack: tuple[int, ...], actor: str | None, as_json: bool,
               workspace: str | None) -> None:
    """Operator alerts: failed runs, failed compensations, opened circuit breakers.

    Acknowledging an alert that does not exist or is acknowledged already is a usage error (exit 2).
    """
    from aios.runtime import alerts, log

    store = open_store(workspace)
    with store:
        if ack:
            open_ids = {a.id for a in alerts.listing(store.conn)}
            missing = [str(i) for i in ack if i not in open_ids]
            if missing:
                listed = ", ".join(str(i) for i in sorted(open_ids)) or "none"
                raise click.BadParameter(f"no unacknowledged alert {', '.join(missing)} (unacknowledged: {listed})",
                                         param_hint="--ack")
            who = actor or workspace_actor(workspace)
            with store.transaction() as conn:
                for alert_id in ack:
                    alerts.acknowledge(conn, alert_id, log.now_iso(), actor=who)
        items = alerts.listing(store.conn, include_acknowledged=all_)
    items = [a for a in items if severity is None or a.severity.value == severity]
    if as_json:
        echo_json([{"id": a.id, "run_id": a.run_id, "step_id": a.step_id, "severity": a.severity.value,
                    "message": a.message, "created_at": a.created_at, "acknowledged_at": a.acknowledged_at,
                    "acknowledged_by": a.acknowledged_by}
                   for a in items])
        return
    if not items:
        click.echo("no alerts")
        return
    from aios.cli.tables import print_table

    print_table(["#", "SEVERITY", "RAISED", "MESSAGE", "ACKNOWLEDGED"],
                [(a.id, a.severity.value, a.created_at, a.message,
                  (a.acknowledged_at or "") + (f" by {a.acknowledged_by}" if a.acknowledged_by else "")) for a in items],
                right=["#"])
