"""`aios records list|show` and `aios log verify`."""

from __future__ import annotations

import sys
from typing import Any

import click

from aios.cli.choices import require_known
from aios.cli.common import EXIT_ERRORS, EXIT_OK, workspace_root
from aios.cli.output_format import json_option
from aios.cli.state import echo_json, echo_next, errors_as_exits, fail, open_store, short, workspace_option

__all__ = ["records", "log_group"]


def _check_schema(schema: str, rs: Any, workspace: str | None) -> None:
    """An unknown schema name is a usage error with a did-you-mean, not an empty listing. Known: the
    schemas the workspace declares and those the store holds records of (a schema since removed). When
    the workspace does not compile, what it declares is not known, so nothing is refused."""
    stored = [name for name, _ in rs.schemas()]
    if schema in stored:
        return
    from aios.compiler import compile_workspace

    plan = compile_workspace(workspace_root(workspace)).plan
    if plan is not None:
        require_known(schema, [*stored, *plan.schema_map], "schema", "SCHEMA")


@click.group()
def records() -> None:
    """Canonical records: the current version of each, and full history with provenance."""


@records.command("list")
@click.argument("schema", required=False)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000),
              help="How many records, most recently written first.")
@click.option("--after", "cursor", metavar="CURSOR", help="Continue after the page that printed this cursor.")
@json_option("Print JSON (the page's records; the next page's cursor goes to stderr).")
@workspace_option
def records_list(schema: str | None, limit: int, cursor: str | None, as_json: bool, workspace: str | None) -> None:
    """List current records of SCHEMA, a page at a time (without SCHEMA: how many records each schema has)."""
    from aios.runtime.records import RecordStore

    store = open_store(workspace)
    with store:
        rs = RecordStore(store.conn)
        if schema is None:
            counts = rs.schemas()
            if as_json:
                echo_json(dict(counts))
            else:
                if counts:
                    from aios.cli.tables import print_table

                    print_table(["SCHEMA", "RECORDS"], counts, right=["RECORDS"])
                else:
                    click.echo("no records")
            return
        _check_schema(schema, rs, workspace)
        with errors_as_exits():
            items, nxt = rs.page(schema, before=cursor, limit=limit)
    if nxt:
        echo_next(nxt)
    if as_json:
        echo_json([{"id": r.id, "version": r.version, "data": r.data, "run_id": r.run_id, "step_id": r.step_id,
                    "plan_hash": r.plan_hash, "written_at": r.written_at} for r in items])
        return
    if not items:
        click.echo(f"no {schema} records")
        return
    from aios.cli.tables import print_table

    print_table(["ID", "VERSION", "WRITTEN", "RUN", "STEP", "DATA"],
                [(r.id, f"v{r.version}", r.written_at, r.run_id, r.step_id, short(r.data, 70)) for r in items])


@records.command("show")
@click.argument("schema")
@click.argument("record_id")
@click.option("--history", is_flag=True, help="Every version, oldest first.")
@json_option("Print JSON.")
@workspace_option
def records_show(schema: str, record_id: str, history: bool, as_json: bool, workspace: str | None) -> None:
    """Show a record's current version (or its whole history) with provenance."""
    from aios.runtime.records import RecordStore

    store = open_store(workspace)
    with store:
        rs = RecordStore(store.conn)
        _check_schema(schema, rs, workspace)
        versions = rs.history(schema, record_id) if history else [v for v in [rs.get(schema, record_id)] if v]
    if not versions:
        fail(f"no {schema} record `{record_id}` (see `aios records list {schema}`)")
    if as_json:
        echo_json([{"schema": v.schema, "id": v.id, "version": v.version, "data": v.data, "run_id": v.run_id,
                    "step_id": v.step_id, "plan_hash": v.plan_hash, "written_at": v.written_at, "sha256": v.sha256}
                   for v in versions])
        return
    for v in versions:
        click.echo(f"{v.schema} {v.id} v{v.version}  written {v.written_at} by run {v.run_id} step {v.step_id} "
                   f"(plan {str(v.plan_hash)[:12]})")
        for k, value in v.data.items():
            click.echo(f"  {k}: {short(value, 100)}")


@click.group("log")
def log_group() -> None:
    """The episodic log."""


@log_group.command("verify")
@json_option("Print JSON.")
@workspace_option
def log_verify(as_json: bool, workspace: str | None) -> None:
    """Check the hash chain of the whole log; say where it breaks. Exit 1 when it does.

    Segments archived by `aios memory compact` are verified too, so the chain is checked from the
    first entry ever written, not only from what is still in the live log.
    """
    from aios.runtime import log

    store = open_store(workspace)
    with store:
        v = log.verify(store.conn)
        archived = store.conn.execute("SELECT count(*) FROM log_segments").fetchone()[0]
    if archived:
        from aios.memory.settings import MemorySettings
        from aios.memory.tiers import verify_all

        full = verify_all(MemorySettings.from_workspace(workspace_root(workspace)))
        if as_json:
            echo_json({"ok": full.ok, "entries": v.entries, "archived_segments": archived, "head": v.head,
                       "broken_at": v.broken_at, "reason": None if full.ok else full.message})
        else:
            click.echo(full.message)
        sys.exit(EXIT_OK if full.ok else EXIT_ERRORS)
    if as_json:
        echo_json({"ok": v.ok, "entries": v.entries, "head": v.head, "broken_at": v.broken_at, "run_id": v.run_id,
                   "step_id": v.step_id, "reason": v.reason})
    else:
        click.echo(v.describe())
    sys.exit(EXIT_OK if v.ok else EXIT_ERRORS)
