"""`aios graph PLAYBOOK`: the playbook's steps and edges as Mermaid, DOT or a standalone SVG."""

from __future__ import annotations

from pathlib import Path

import click

from aios.cli.choices import unknown_value
from aios.cli.common import workspace_root
from aios.cli.output_format import format_option
from aios.cli.state import echo_json, fail, workspace_option

__all__ = ["graph"]

_FORMATS = ("mermaid", "dot", "svg", "json")


def _steps(value: str | None) -> list[str]:
    return [s.strip() for s in (value or "").split(",") if s.strip()]


@click.command()
@click.argument("playbook")
@format_option(*_FORMATS, help_text="Print the graph's nodes and edges as JSON.")
@workspace_option
@click.option("--highlight", metavar="STEP,…", default=None,
              help="Mark these steps, and the edges between them (e.g. a run's path).")
def graph(playbook: str, fmt: str, workspace: str | None, highlight: str | None) -> None:
    """Print the graph of PLAYBOOK (a playbook's name, or the file declaring it): its steps, `needs`
    edges, branches (then/else), gates, map steps, connectors with their side effect, record writes.
    As Mermaid (a `flowchart`, the default), Graphviz DOT, a standalone SVG laid out by aios itself,
    or JSON (`--json`).

    The workspace is compiled as by `aios validate`; nothing runs. Rendered locally: no Graphviz and
    no network needed, e.g. `aios graph content-pipeline --format svg > pipeline.svg`.

    Exit status: 0 printed, 1 the workspace has errors, 2 usage error (an unknown playbook or step).
    """
    from aios.cli.playbook_arg import resolve_playbook
    from aios.compiler import compile_workspace
    from aios.diagnostics.render import SourceLines, render_text
    from aios.plan.graph import build_graph
    from aios.plan.graph_render import render

    root = workspace_root(workspace if workspace is not None or not Path(playbook).is_file() else playbook)
    result = compile_workspace(root)
    if result.plan is None:
        click.echo(render_text(result.diagnostics, SourceLines(result.root)), err=True)
        fail(f"the workspace does not compile ({result.errors} error(s)); see `aios validate`")
    pb = resolve_playbook(result.plan, root, playbook)
    marked = _steps(highlight)
    known = [s.id for s in pb.steps]
    for step in marked:
        if step not in known:
            raise click.BadParameter(unknown_value(step, known, "step"), param_hint="--highlight")
    g = build_graph(pb, result.plan.connector_map)
    if fmt == "json":
        echo_json(g.as_dict())
        return
    click.echo(render(g, fmt, highlight=marked), nl=False)
