"""`aios policy`: test, explain and review the rule policies (policies/*.rules)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from aios.cli.common import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, workspace_root
from aios.cli.output_format import format_option, json_option
from aios.compiler import CompileResult, compile_workspace
from aios.diagnostics import Diagnostic, DiagnosticSink, Severity
from aios.diagnostics.render import SourceLines, render_text, summary
from aios.errors import AiosError
from aios.plan import Plan
from aios.policy.compiled import CompiledPolicySet
from aios.policy.context import ContextError
from aios.policy.gitinfo import head_commit

__all__ = ["policy"]

_WORKSPACE = click.option("-w", "--workspace", type=click.Path(file_okay=False),
                          help="The workspace folder (default: the one holding the current directory).")


def _fail(message: str, hint: str | None = None, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"aios: error: {message}", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)
    sys.exit(code)


def _show_diagnostics(diags: tuple[Diagnostic, ...] | list[Diagnostic], root: Path,
                      overrides: dict[str, str] | None = None) -> None:
    text = render_text(list(diags), SourceLines(root, overrides))
    if text:
        click.echo(text, err=True)


def _compile(workspace: str | None) -> tuple[CompileResult, Plan, CompiledPolicySet]:
    root = workspace_root(workspace)
    result = compile_workspace(root)
    if result.plan is None:
        _show_diagnostics(result.diagnostics, result.root)
        _fail(f"the workspace does not compile ({summary(result.diagnostics)})",
              "run `aios validate` and fix the errors first", EXIT_ERRORS)
    compiled = result.plan.policies.compiled
    assert isinstance(compiled, CompiledPolicySet)
    return result, result.plan, compiled.with_git_commit(head_commit(result.root))


def _test_files(root: Path) -> list[Path]:
    folder = root / "policies"
    if not folder.is_dir():
        return []
    found = {p for pattern in ("*.test.yaml", "*.test.yml") for p in folder.rglob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


@click.group()
def policy() -> None:
    """Test, explain and review the rule policies (policies/*.rules)."""


# --------------------------------------------------------------------------------------------------
# aios policy test
# --------------------------------------------------------------------------------------------------

@policy.command("test")
@_WORKSPACE
@click.option("--min-coverage", type=click.FloatRange(0, 100), default=None, metavar="N",
              help="Fail when fewer than N% of the rules fire in some case.")
@click.option("--min-clause-coverage", type=click.FloatRange(0, 100), default=None, metavar="N",
              help="Fail when fewer than N% of clause outcomes (true and false) are seen.")
@click.option("-k", "select", default=None, metavar="TEXT", help="Only run cases whose name contains TEXT.")
@format_option("text", "json", help_text="Print the results as JSON.")
def test_cmd(workspace: str | None, min_coverage: float | None, min_clause_coverage: float | None,
             select: str | None, fmt: str) -> None:
    """Run the cases in policies/*.test.yaml and report rule and clause coverage.

    Exit status: 0 all cases pass (and coverage is met), 1 otherwise, 2 usage error.
    """
    from aios.policy.testing import load_cases, run_tests

    result, plan, _ = _compile(workspace)
    root = result.root
    sink = DiagnosticSink()
    cases = []
    texts: dict[str, str] = {}
    for path in _test_files(root):
        rel = path.relative_to(root).as_posix()
        texts[rel] = path.read_text(encoding="utf-8")
        cases.extend(load_cases(rel, texts[rel], sink))
    if select:
        cases = [c for c in cases if select in c.name]
    rules = [(f.path, f.text) for f in result.sources.rules_files]
    report, _, _ = run_tests(plan, rules, cases, sink)
    invalid = [d for d in sink.sorted() if d.severity is Severity.ERROR and d.code != "policy-test-failed"]
    below = []
    if min_coverage is not None and report.rule_coverage < min_coverage:
        below.append(f"rule coverage {report.rule_coverage:.1f}% is below {min_coverage:g}%")
    if min_clause_coverage is not None and report.clause_coverage < min_clause_coverage:
        below.append(f"clause coverage {report.clause_coverage:.1f}% is below {min_clause_coverage:g}%")
    failed = bool(report.failed or invalid or below)
    if fmt == "json":
        click.echo(json.dumps(_test_json(report, invalid, below), indent=2))
        sys.exit(EXIT_ERRORS if failed else EXIT_OK)
    if invalid:
        _show_diagnostics(invalid, root, texts)
    sources = SourceLines(root, texts)
    failures = {(d.span.file, d.span.line): d for d in sink.items if d.code == "policy-test-failed" and d.span}
    for r in report.failed:
        diag = failures.get((r.case.span.file, r.case.span.line))
        if diag is None or r.decision is None:
            continue
        click.echo(render_text([diag], sources))
        for line in r.decision.explain().splitlines():
            click.echo(f"    {line}")
        click.echo(f"    input: {json.dumps(r.decision.input.to_json(), sort_keys=True)}")
    passed = len(report.results) - len(report.failed)
    click.echo(f"{passed} passed, {len(report.failed)} failed ({len(report.results)} cases)")
    fired = sum(1 for c in report.rules if c.fired)
    click.echo(f"rule coverage: {fired}/{len(report.rules)} rules ({report.rule_coverage:.1f}%)")
    for c in report.rules:
        if not c.fired:
            why = "never evaluated" if not c.evaluated else f"evaluated {c.evaluated}x, never matched"
            click.echo(f"  not covered: {c.id} at {c.span.show()} ({why})")
    rule_lines = SourceLines(root)
    outcomes = sum(int(c.seen_true) + int(c.seen_false) for c in report.clauses)
    click.echo(f"clause coverage: {outcomes}/{2 * len(report.clauses)} outcomes ({report.clause_coverage:.1f}%)")
    for cl in report.clauses:
        if not (cl.seen_true and cl.seen_false):
            missing = "true" if not cl.seen_true else "false"
            if not cl.seen_true and not cl.seen_false:
                missing = "true or false"
            src = rule_lines.line(cl.span.file, cl.span.line) or ""
            end = cl.span.end_col if cl.span.end_line == cl.span.line else len(src)
            click.echo(f"  never {missing}: {cl.span.show()} `{src[cl.span.col:end].strip()}` ({cl.rule})")
    for line in below:
        click.echo(f"FAILED {line}")
    sys.exit(EXIT_ERRORS if failed else EXIT_OK)


def _test_json(report: Any, invalid: list[Diagnostic], below: list[str]) -> dict[str, Any]:
    return {
        "passed": len(report.results) - len(report.failed),
        "failed": len(report.failed),
        "cases": [
            {"name": r.case.name, "file": r.case.file, "line": r.case.span.line + 1, "passed": r.passed,
             "expected": r.case.expect.label, "got": r.decision.effect.label if r.decision else None,
             "message": r.message, "rules": list(r.decision.rule_ids) if r.decision else []}
            for r in report.results
        ],
        "rule_coverage": report.rule_coverage,
        "clause_coverage": report.clause_coverage,
        "rules": [{"id": c.id, "file": c.span.file, "line": c.span.line + 1, "evaluated": c.evaluated,
                   "fired": c.fired} for c in report.rules],
        "clauses": [{"rule": c.rule, "file": c.span.file, "line": c.span.line + 1, "column": c.span.col + 1,
                     "seen_true": c.seen_true, "seen_false": c.seen_false} for c in report.clauses],
        "invalid": [{"code": d.code, "message": d.message, "file": d.span.file if d.span else None,
                     "line": d.span.line + 1 if d.span else None} for d in invalid],
        "coverage_failures": below,
    }


# --------------------------------------------------------------------------------------------------
# aios policy eval
# --------------------------------------------------------------------------------------------------

@policy.command("eval")
@_WORKSPACE
@click.option("--input", "input_file", required=True, type=click.File("rb"),
              help="A decision context as JSON ('-' reads standard input).")
@json_option("Print the decision as JSON (what the log records).")
@click.option("--source", "show_source", is_flag=True, help="Also print the generated Python of the rules.")
def eval_cmd(workspace: str | None, input_file: Any, as_json: bool, show_source: bool) -> None:
    """Decide one action and explain the decision.

    Exit status: 0 allow, 3 require approval, 4 deny, 1 errors, 2 usage error.
    """
    from aios.limits import PayloadError, read_json

    _, _, compiled = _compile(workspace)
    name = "standard input" if input_file.name == "<stdin>" else input_file.name
    try:
        data = read_json(input_file.read(), what=f"the decision context in {name}")
    except PayloadError as err:
        _fail(f"{name}: {err} [{err.code}]", code=EXIT_ERRORS)
    try:
        ctx = compiled.context_from_json(data)
    except ContextError as err:
        _fail(f"{input_file.name}: {err}", "see docs/policies.md, \"The decision context\"", EXIT_ERRORS)
    decision = compiled.decide(ctx)
    if as_json:
        click.echo(json.dumps(decision.to_json(), indent=2))
    else:
        click.echo(decision.explain())
        candidates = compiled.rules_for(ctx)
        click.echo(f"  {len(candidates)} of {len(compiled.rules)} rules apply to this action: "
                   + (", ".join(r.id for r in candidates) or "none"))
    if show_source:
        click.echo(compiled.source)
    sys.exit({0: EXIT_OK, 1: 3, 2: 4}[int(decision.effect)])


# --------------------------------------------------------------------------------------------------
# aios policy diff
# --------------------------------------------------------------------------------------------------

def _log_inputs(root: Path, plan: Any) -> list[Any]:
    from aios.policy.diff import decisions_in_log
    from aios.runtime.log import all_entries
    from aios.runtime.store import Store

    storage = root / plan.settings.storage
    if not (storage / "state.db").is_file():
        _fail(f"no episodic log at {storage}: nothing has run in this workspace yet")
    store = Store.open(storage)
    try:
        return decisions_in_log(all_entries(store.conn))
    finally:
        store.close()


@policy.command("diff")
@_WORKSPACE
@click.argument("rev")
@click.option("--inputs", "input_files", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="JSONL of decision inputs (or recorded decisions) to replay; repeatable. "
                   "Default: the inputs of every case in policies/*.test.yaml.")
@click.option("--from-log", "from_log", is_flag=True,
              help="Replay every decision recorded in the episodic log (archived segments included).")
@json_option("Print the report as JSON.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when some decision flips.")
def diff_cmd(workspace: str | None, rev: str, input_files: tuple[str, ...], from_log: bool, as_json: bool,
             exit_code: bool) -> None:
    """Compile the policies at git revision REV and in the working tree, replay the same decision
    inputs through both, and list every input whose decision flips, grouped by rule.
    """
    from aios.policy.compiler import build_policy_set, check_policies
    from aios.policy.diff import ReplayInput, flips_json, read_jsonl, replay, rule_changes, summarize_input
    from aios.policy.gitinfo import rules_at_revision
    from aios.policy.testing import load_cases

    result, plan, new_set = _compile(workspace)
    root = result.root
    try:
        old_files = rules_at_revision(root, rev)
    except AiosError as err:
        _fail(str(err), "REV is any git revision: a commit, a branch, HEAD~1 …")
    old_sink = DiagnosticSink()
    old_checked = check_policies(plan, old_files, old_sink)
    if not old_checked.ok:
        _show_diagnostics(old_sink.sorted(), root, dict(old_files))
        _fail(f"the policies at {rev} do not compile against the current workspace", code=EXIT_ERRORS)
    old_set = build_policy_set(old_checked).with_git_commit(rev)
    new_checked = check_policies(plan, [(f.path, f.text) for f in result.sources.rules_files], DiagnosticSink())
    inputs: list[ReplayInput] = []
    read_errors: list[tuple[str, str]] = []
    if from_log:
        inputs.extend(_log_inputs(root, plan))
    if input_files:
        for name in input_files:
            got, errs = read_jsonl(Path(name), name)
            inputs.extend(got)
            read_errors.extend(errs)
    if not input_files and not from_log:
        sink = DiagnosticSink()
        for path in _test_files(root):
            rel = path.relative_to(root).as_posix()
            for case in load_cases(rel, path.read_text(encoding="utf-8"), sink):
                inputs.append(ReplayInput(f"{case.span.show()} {case.name}", case.input))
    report = replay(inputs, old_set, new_set)
    changes = rule_changes(old_checked, new_checked)
    errors = [*read_errors, *report.errors]
    if as_json:
        click.echo(json.dumps({
            "rev": rev, "old_policy_hash": old_set.content_hash, "new_policy_hash": new_set.content_hash,
            "inputs": report.inputs, "flips": flips_json(report),
            "groups": {", ".join(k): len(v) for k, v in report.groups().items()},
            "rules": {"added": list(changes.added), "removed": list(changes.removed),
                      "changed": list(changes.changed)},
            "errors": [{"source": s, "message": m} for s, m in errors],
        }, indent=2))
    else:
        click.echo(f"policies {old_set.content_hash[:12]} ({rev}) -> {new_set.content_hash[:12]} (working tree)")
        for label, ids in (("added", changes.added), ("removed", changes.removed), ("changed", changes.changed)):
            if ids:
                click.echo(f"rules {label}: {', '.join(ids)}")
        click.echo(f"{len(report.flips)} of {report.inputs} decisions flip")
        spans = {r.id: r.ref.span for r in (*new_set.rules, *old_set.rules)}
        for group, flips in report.groups().items():
            where = ", ".join(f"{g} ({spans[g].show()})" if g in spans else g for g in group)
            click.echo(f"\n{where}: {len(flips)}")
            for f in flips:
                click.echo(f"  {f.old.effect.label} -> {f.new.effect.label}  {f.source}  "
                           f"[{summarize_input(f.new.input.to_json())}]")
        for source, message in errors:
            click.echo(f"skipped {source}: {message}", err=True)
    sys.exit(EXIT_ERRORS if (exit_code and report.flips) or errors else EXIT_OK)
