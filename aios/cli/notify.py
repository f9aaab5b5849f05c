"""`aios notify`: the notification outbox (see docs/notifications.md)."""

from __future__ import annotations

from typing import Any

import click

from aios.cli.output_format import json_option
from aios.cli.state import echo_json, errors_as_exits, fail, open_runtime, workspace_option

__all__ = ["notify"]


@click.group()
def notify() -> None:
    """List and deliver notifications (approval requests, reminders, timeouts, failed runs, alerts)."""


@notify.command("flush")
@json_option("Print JSON.")
@workspace_option
def flush(as_json: bool, workspace: str | None) -> None:
    """Deliver the notifications that are due, once each.

    `aios serve` does this by itself about every second; use this command when no server runs (after
    `aios run` or `aios approve`, from cron). With a server running it does nothing: the server is the
    one sender.
    """
    from aios.live.lock import ServerLock
    from aios.notify.sender import Sender, recover

    with errors_as_exits():
        rt = open_runtime(workspace, quiet=True)
        try:
            if rt.plan.settings.notify is None:
                fail("aios.yaml declares no `notify:`; see docs/notifications.md")
            holder = ServerLock(rt.storage_dir).holder()
            lock = ServerLock(rt.storage_dir)
            try:
                lock.acquire({"mode": "notify flush"})
            except Exception:
                url = holder.get("url", "a running server")
                if as_json:
                    echo_json({"sent": [], "retrying": [], "failed": [], "skipped": [], "server": url})
                else:
                    click.echo(f"a server is running ({url}); it delivers the notifications")
                return
            try:
                recover(rt.store)
                report = Sender(rt).flush()
            finally:
                lock.release()
        finally:
            rt.close()
    out: dict[str, Any] = {"sent": report.sent, "retrying": report.retrying, "failed": report.failed,
                           "skipped": report.skipped}
    if as_json:
        echo_json(out)
        return
    click.echo(f"{len(report.sent)} sent, {len(report.retrying)} to retry, {len(report.failed)} failed, "
               f"{len(report.skipped)} skipped")


@notify.command("list")
@click.option("--status", type=click.Choice(["pending", "sending", "sent", "failed", "skipped"]),
              help="Only notifications with this status.")
@json_option("Print JSON.")
@workspace_option
def list_cmd(status: str | None, as_json: bool, workspace: str | None) -> None:
    """List the notifications in the outbox, oldest first."""
    from aios.cli.state import open_store
    from aios.notify.outbox import listing

    with errors_as_exits():
        store = open_store(workspace)
        try:
            rows = listing(store.conn, status=status)
        finally:
            store.close()
    data = [{"id": n.id, "event": n.event.value, "subject": n.subject, "channel": n.channel, "status": n.status,
             "attempts": n.attempts, "created_at": n.created_at, "due_at": n.due_at, "sent_at": n.sent_at,
             "error": n.error, "title": n.title} for n in rows]
    if as_json:
        echo_json({"notifications": data})
        return
    if not data:
        click.echo("no notifications")
        return
    for d in data:
        click.echo(f"{d['id']}  {d['status']:<8} {d['event']:<19} {d['channel']:<12} {d['title']}"
                   + (f"  ({d['error']})" if d["error"] else ""))
