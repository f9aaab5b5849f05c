"""`aios connectors list|reconcile`, and the printing of `aios run … --dry-run`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from aios.cli.common import EXIT_ERRORS, EXIT_OK, workspace_root
from aios.cli.output_format import json_option
from aios.cli.state import echo_json, errors_as_exits, fail, open_runtime, short, workspace_option

__all__ = ["connectors", "dry_run_command"]


@click.group()
def connectors() -> None:
    """The connectors a workspace can call: contracts, and reconciliation after a crash."""


@connectors.command("list")
@json_option("Print JSON.")
@workspace_option
def connectors_list(as_json: bool, workspace: str | None) -> None:
    """Every connector the workspace can call: side effect, preview, reconcile, compensation, code."""
    from aios.compiler import compile_workspace
    from aios.connectors.registry import BUILTINS
    from aios.diagnostics.render import SourceLines, render_text

    result = compile_workspace(workspace_root(workspace))
    if result.plan is None:
        click.echo(render_text(result.diagnostics, SourceLines(result.root)), err=True)
        fail(f"the workspace does not compile ({result.errors} error(s)); see `aios validate`")
    rows = []
    for c in sorted(result.plan.connectors, key=lambda c: (not c.builtin, c.name)):
        code = BUILTINS.get(c.name, "") if c.builtin else f"connectors/{c.module}" if c.module else "(none)"
        rows.append({"name": c.name, "side_effect": c.side_effect.value, "preview": c.can_preview,
                     "reconcile": c.can_reconcile, "compensation": c.compensation, "builtin": c.builtin,
                     "code": code, "description": c.description})
    if as_json:
        echo_json(rows)
        return
    from aios.cli.tables import print_table

    print_table(["CONNECTOR", "SIDE EFFECT", "PREVIEW", "RECONCILE", "COMPENSATION", "CODE"],
                [(r["name"], r["side_effect"], "yes" if r["preview"] else "no", "yes" if r["reconcile"] else "no",
                  r["compensation"] or "-", r["code"]) for r in rows])


@connectors.command("reconcile")
@click.option("--run", "run_id", help="Only this run.")
@click.option("--resume", is_flag=True,
              help="Then resume the runs whose every open intent got a definite answer.")
@click.option("--as", "actor", help="Who is reconciling (logged; default: the workspace's actor).")
@json_option("Print JSON.")
@workspace_option
def connectors_reconcile(run_id: str | None, resume: bool, actor: str | None, as_json: bool,
                         workspace: str | None) -> None:
    """Ask targets whether side effects logged as intents (without a result) happened.

    Only runs no live process is executing are looked at. Each answer is recorded in the run's log.
    With --resume, an effect that happened completes its step with the target's answer (it is not
    sent again), and one that did not happen is sent again with the same idempotency key.
    """
    from aios.cli.state import storage_dir
    from aios.connectors.reconcile import open_intents, reconcile, resume_answered

    root = workspace_root(workspace)
    if not (storage_dir(root) / "state.db").exists():  # a fresh workspace: nothing can be left open
        if as_json:
            echo_json({"answers": [], "resumed": []})
        else:
            click.echo("nothing to reconcile: nothing has run in this workspace yet")
        sys.exit(EXIT_OK)
    rt = open_runtime(workspace, quiet=as_json, actor=actor)
    with rt, errors_as_exits():
        intents = open_intents(rt, run_id=run_id)
        answers = reconcile(rt, intents, actor=rt.actor)
        outcomes = resume_answered(rt, answers) if resume else []
    if as_json:
        echo_json({"answers": [a.to_json() for a in answers],
                   "resumed": [{"run_id": o.run_id, "status": o.status.value, "error": o.error} for o in outcomes]})
        sys.exit(EXIT_OK)
    if not answers:
        click.echo("nothing to reconcile: no side effect is waiting for its result")
        return
    for a in answers:
        i = a.intent
        where = f"{i.run_id} {i.step_id}" + (f"#{i.item}" if i.item is not None else "")
        head = f"{where}  {i.connector}{' (compensation)' if i.compensation else ''}  key {i.key}"
        if a.reconciliation is None:
            click.echo(f"{head}\n    cannot ask: {a.reason}")
        else:
            r = a.reconciliation
            click.echo(f"{head}\n    {r.outcome.value.replace('_', ' ')}: {r.detail}"
                       + (f"\n    out: {short(dict(r.output), 100)}" if r.output is not None else ""))
    for o in outcomes:
        click.echo(f"run {o.run_id} {o.status.value}" + (f": {o.error}" if o.error else ""))
    if not resume and any(a.definite for a in answers):
        click.echo("answers recorded; `aios connectors reconcile --resume` (or `aios runs resume --all`) continues "
                   "the runs")


def dry_run_command(playbook: str, event: Any, as_json: bool, quiet: bool, workspace: str | None) -> NoReturn:
    """`aios run PLAYBOOK --event FILE --dry-run`: walk with previews, print what would go where."""
    from aios.compiler import compile_workspace
    from aios.connectors.dryrun import dry_run
    from aios.diagnostics.render import SourceLines, render_text

    root = workspace_root(workspace)
    result = compile_workspace(root)
    if result.plan is None:
        click.echo(render_text(result.diagnostics, SourceLines(result.root)), err=True)
        fail(f"the workspace does not compile ({result.errors} error(s)); see `aios validate`")
    from aios.cli.playbook_arg import playbook_for_event
    from aios.cli.state import ProgressPrinter

    playbook = playbook_for_event(result.plan, root, playbook, event)

    printer = None if quiet or as_json else ProgressPrinter(dry_run=True)
    with errors_as_exits():
        report = dry_run(result.plan, root, playbook, event, retriever=_memory(root, result.plan),
                         progress=printer)
    if as_json:
        echo_json(report.to_json())
    else:
        _print_report(report, root)
    sys.exit(EXIT_OK if report.ok else EXIT_ERRORS)


def _memory(root: Path, plan: Any) -> Any:
    """Retrieve steps search the workspace's memory in a dry run too (reading is no side effect)."""
    try:
        from aios.memory import runtime_retriever
    except ImportError:
        return None
    try:
        return runtime_retriever(root, plan)
    except Exception:  # a broken index must not stop a dry run
        return None


def _print_report(report: Any, root: Path) -> None:
    click.echo(f"dry run of {report.playbook} on {report.event_type}: nothing was sent, written or recorded")
    order = [sid for sid, _ in report.steps]
    effects = sorted(report.effects, key=lambda e: (e.compensation, order.index(e.step_id) if e.step_id in order
                                                    else len(order)))
    approvals = {a.step_id: a for a in report.approvals}
    if not effects and not approvals:
        click.echo("  no side effects")
    for sid in order:
        a = approvals.get(sid)
        if a is not None:
            click.echo(f"  {sid}: would wait for approval ({a.kind}{' ' + a.rule if a.rule else ''}): {a.message} "
                       "— assumed given")
        for e in effects:
            if e.step_id == sid and not e.compensation:
                _print_effect(e)
    for e in effects:
        if e.compensation:
            _print_effect(e)
    if report.ok:
        click.echo("would complete" + (" once the approvals above are given" if report.approvals else ""))
    else:
        verb = {"failed": "fail", "rejected": "be rejected"}.get(report.status, f"end {report.status}")
        click.echo(f"would {verb} at step `{report.failed_step}`: {report.error}")


def _print_effect(e: Any) -> None:
    site = e.step_id + (f"#{e.item}" if e.item is not None else "")
    label = "undo with " if e.compensation else ""
    if e.preview is not None:
        click.echo(f"  {site}: {label}{e.connector} → {e.preview.target}")
        click.echo(f"      {e.preview.summary}")
    elif e.error is not None:
        click.echo(f"  {site}: {label}{e.connector} would fail: {e.error}")
    else:
        click.echo(f"  {site}: {label}{e.connector} ({e.side_effect}; no preview) with {short(dict(e.input), 90)}")
    click.echo(f"      idempotency key {e.key}")
