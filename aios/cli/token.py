"""`aios token create|list|revoke`: operator tokens for the dashboard and its JSON API."""

from __future__ import annotations

import os

import click

from aios.cli.common import workspace_root
from aios.cli.output_format import json_option
from aios.cli.state import _workspace_file, echo_json, errors_as_exits, storage_dir, workspace_option

__all__ = ["token"]


def _default_actor(data: dict[str, object]) -> str:
    runtime = data.get("runtime")
    actor = runtime.get("actor") if isinstance(runtime, dict) else None
    return os.environ.get("AIOS_ACTOR") or (actor if isinstance(actor, str) and actor else "operator")


@click.group("token")
def token() -> None:
    """Operator tokens for the dashboard (`aios serve`): log in with one, or send it as
    `Authorization: Bearer TOKEN` to /api/. Only a hash of each token is stored."""


@token.command("create")
@click.option("--name", required=True, help="A name for the token (unique; used to revoke it).")
@click.option("--actor", help="Who acts with it: approvals, cancels and resumes are logged as this actor "
                              "(default: $AIOS_ACTOR, or the workspace's runtime.actor).")
@json_option("Print the token and its record as JSON.")
@workspace_option
def token_create(name: str, actor: str | None, as_json: bool, workspace: str | None) -> None:
    """Create a token and print it once; it cannot be shown again."""
    from aios.web.tokens import TokenStore

    root = workspace_root(workspace)
    who = actor or _default_actor(_workspace_file(root))
    with errors_as_exits(), TokenStore(storage_dir(root)) as store:
        record, secret = store.create(name, who)
    if as_json:
        echo_json({**record.to_json(), "token": secret})
        return
    click.echo(f"token `{record.name}` for actor {record.actor} ({record.id}):")
    click.echo(secret)
    click.echo("store it now: it is shown only once (only its hash is kept).", err=True)


@token.command("list")
@click.option("--all", "all_", is_flag=True, help="Include revoked tokens.")
@json_option("Print JSON.")
@workspace_option
def token_list(all_: bool, as_json: bool, workspace: str | None) -> None:
    """List tokens (names, actors, when created and last used; never the tokens themselves)."""
    from aios.web.tokens import TokenStore

    root = workspace_root(workspace)
    with errors_as_exits(), TokenStore(storage_dir(root)) as store:
        items = store.listing(include_revoked=all_)
    if as_json:
        echo_json([t.to_json() for t in items])
        return
    if not items:
        click.echo("no tokens (create one with `aios token create --name NAME`)")
        return
    from aios.cli.tables import print_table

    print_table(["NAME", "ACTOR", "ID", "CREATED", "LAST USED", "REVOKED"],
                [(t.name, t.actor, t.id, t.created_at, t.last_used_at or "", t.revoked_at or "") for t in items])


@token.command("revoke")
@click.argument("name")
@workspace_option
def token_revoke(name: str, workspace: str | None) -> None:
    """Revoke the token NAME (or id): its API calls and browser sessions stop working at once."""
    from aios.web.tokens import TokenStore

    root = workspace_root(workspace)
    with errors_as_exits(), TokenStore(storage_dir(root)) as store:
        record = store.revoke(name)
    click.echo(f"token `{record.name}` revoked at {record.revoked_at}")
