"""`aios memory add|search|stats|reindex|compact|verify`: the workspace's searchable memory.

Each command builds a ``Memory`` for the workspace (settings read from aios.yaml, no compile) and
calls one method; library errors become clean exits.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from aios.cli.choices import OneOf
from aios.cli.common import EXIT_ERRORS, workspace_root
from aios.cli.output_format import json_option
from aios.cli.state import echo_json, errors_as_exits, fail, workspace_option
from aios.memory.model import DocKind

if TYPE_CHECKING:
    from aios.memory.memory import Memory

__all__ = ["memory"]


def _memory(workspace: str | None) -> Memory:
    from aios.memory.memory import Memory

    return Memory.for_workspace(workspace_root(workspace))


def _report(report: object) -> dict[str, object]:
    from dataclasses import asdict, is_dataclass

    assert is_dataclass(report) and not isinstance(report, type)
    return asdict(report)


@click.group()
def memory() -> None:
    """Search and maintain the workspace's memory: records, knowledge notes, run summaries, archives."""


@memory.command("add")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@workspace_option
def memory_add(path: Path, workspace: str | None) -> None:
    """Index a knowledge file, or every .md/.txt file under a folder (kept in step afterwards)."""
    with errors_as_exits():
        report = _memory(workspace).add(path)
    for problem in report.problems:
        click.echo(f"aios: warning: {problem}", err=True)
    click.echo(f"indexed {report.notes} chunk(s)")


@memory.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--kind", "kinds", multiple=True, type=OneOf([k.value for k in DocKind], "kind"),
              help="Only documents of this kind (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Only documents with this tag (repeatable: all must match).")
@click.option("--schema", "schemas", multiple=True, help="Only records of this schema (repeatable).")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", help="Record field equals value (repeatable).")
@click.option("--since", help="Updated on or after: an ISO date or an age such as 30d.")
@click.option("--until", help="Updated on or before: an ISO date or an age such as 7d.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000), help="How many hits.")
@click.option("--half-life", "half_life", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Recency half-life in days (default: memory.half_life_days of aios.yaml).")
@click.option("--no-recency", is_flag=True, help="Rank by relevance only.")
@click.option("--cold", is_flag=True, help="Also search archived (cold) log segments.")
@json_option("Print JSON.")
@workspace_option
def memory_search(query: tuple[str, ...], kinds: tuple[str, ...], tags: tuple[str, ...], schemas: tuple[str, ...],
                  fields: tuple[str, ...], since: str | None, until: str | None, limit: int, half_life: float | None,
                  no_recency: bool, cold: bool, as_json: bool, workspace: str | None) -> None:
    """Search QUERY (free text; "quoted words" are phrases). Every hit shows where it came from."""
    from aios.memory.memory import query_from_filter
    from aios.memory.model import describe_provenance

    filters: dict[str, object] = {}
    if kinds:
        filters["kind"] = list(kinds)
    if tags:
        filters["tag"] = list(tags)
    if schemas:
        filters["schema"] = list(schemas)
    if since:
        filters["since"] = since
    if until:
        filters["until"] = until
    for item in fields:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"--field takes NAME=VALUE, got `{item}`")
        filters.setdefault(name, [])
        existing = filters[name]
        assert isinstance(existing, list)
        existing.append(value)
    with errors_as_exits():
        mem = _memory(workspace)
        hl = None if no_recency else (half_life or mem.settings.half_life_days)
        q = query_from_filter(" ".join(query), limit, filters, hl)
        hits = mem.search(q, cold=cold)
    if as_json:
        echo_json([h.to_json() for h in hits])
        return
    if not hits:
        click.echo("no hits")
        return
    for n, h in enumerate(hits, 1):
        click.echo(f"{n:>2}. [{h.kind.value}] {h.title}  (score {h.score:.3f})")
        click.echo(f"    {describe_provenance(h.provenance)}")
        if h.snippet:
            click.echo(f"    {h.snippet}")


@memory.command("stats")
@json_option("Print JSON.")
@workspace_option
def memory_stats(as_json: bool, workspace: str | None) -> None:
    """How many documents of each kind the index holds, its size and how far it has caught up."""
    with errors_as_exits():
        mem = _memory(workspace)
        stats = mem.stats()
        from aios.memory.store_reader import StoreReader

        with StoreReader(mem.settings.state_db) as st:
            segments = st.segments()
    data = _report(stats)
    data["archive_segments"] = len(segments)
    data["archived_entries"] = sum(last - first + 1 for first, last, _, _ in segments)
    if as_json:
        echo_json(data)
        return
    click.echo(f"documents      {stats.documents}")
    for kind, n in stats.by_kind:
        click.echo(f"  {kind:<12} {n}")
    click.echo(f"segments       {stats.segments}  ({stats.size_bytes / 1024:.0f} KiB)")
    click.echo(f"knowledge      {stats.knowledge_files} file(s)")
    for name, mark in stats.watermarks:
        click.echo(f"synced {name:<7} up to {mark}")
    click.echo(f"cold archive   {data['archive_segments']} segment(s), {data['archived_entries']} entries")


@memory.command("reindex")
@workspace_option
def memory_reindex(workspace: str | None) -> None:
    """Rebuild the index from the state store, the archive and the knowledge folder."""
    with errors_as_exits():
        report = _memory(workspace).reindex()
    for problem in report.problems:
        click.echo(f"aios: warning: {problem}", err=True)
    click.echo(f"reindexed: {report.records} record(s), {report.summaries} summary(ies), "
               f"{report.episodes} episode(s), {report.notes} note chunk(s)")


@memory.command("compact")
@click.option("--older-than", "older_than", type=click.FloatRange(min=0), default=None,
              help="Archive finished log entries older than this many days (default: memory.cold_after_days).")
@workspace_option
def memory_compact(older_than: float | None, workspace: str | None) -> None:
    """Move memory down the tiers: summarize finished runs, archive old log segments (verifiably)."""
    with errors_as_exits():
        report = _memory(workspace).compact(cold_after_days=older_than)
    click.echo(f"summaries: {report.sync.summaries} new; archived {report.archived_entries} log entr"
               f"{'y' if report.archived_entries == 1 else 'ies'} older than {report.cutoff:%Y-%m-%d %H:%M} UTC")
    for name in report.segments:
        click.echo(f"  sealed archive/{name}")


@memory.command("verify")
@json_option("Print JSON.")
@workspace_option
def memory_verify(as_json: bool, workspace: str | None) -> None:
    """Verify the whole episodic log: archived segments, then the live log from their last hash."""
    with errors_as_exits():
        result = _memory(workspace).verify()
    if as_json:
        echo_json({"ok": result.ok, "message": result.message, "live_entries": result.live_entries,
                   "archived_entries": result.archive.entries,
                   "segments": [_report(s) for s in result.archive.segments]})
    else:
        click.echo(result.message)
    if not result.ok:
        raise SystemExit(EXIT_ERRORS)
