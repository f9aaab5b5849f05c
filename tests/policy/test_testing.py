"""Policy test files and coverage, on hand-written cases and on the example workspace."""

from __future__ import annotations

from pathlib import Path

from aios.compiler import compile_workspace
from aios.diagnostics import DiagnosticSink
from aios.policy import CompiledPolicySet
from aios.policy.testing import load_cases, run_tests
from tests.conftest import ROOT
from tests.policy.plans import PLAN

RULES = [("policies/p.rules", '''policy p
rule big when action.connector == "supplier.order" and action.input.quantity > 100 deny "big"
rule orders when action.connector == "supplier.order" require approval
rule models when action.kind == "model" and (action.route == "smart" or run.cost_usd > 1 USD) deny
''')]

TESTS = '''
defaults:
  now: "2026-11-23T10:00:00Z"
  action: {connector: supplier.order}
cases:
  - name: small order
    input: {action: {input: {sku: a, quantity: 5, supplier_email: o@x.example, total_eur: 9}}}
    expect: require_approval
    rules: [p.orders]
  - name: big order
    input: {action: {input: {sku: a, quantity: 500, supplier_email: o@x.example, total_eur: 9}}}
    expect: deny
    rules: [p.big]
  - name: wrong expectation
    input: {action: {kind: model, route: default, connector: null}}
    expect: deny
'''


def test_cases_run_and_coverage_is_counted() -> None:
    sink = DiagnosticSink()
    cases = load_cases("policies/p.test.yaml", TESTS, sink)
    assert list(sink) == [] and [c.name for c in cases] == ["small order", "big order", "wrong expectation"]
    report, policy_set, _ = run_tests(PLAN, RULES, cases, sink)
    assert isinstance(policy_set, CompiledPolicySet)
    assert [r.passed for r in report.results] == [True, True, False]
    assert report.failed[0].message == "expected deny, got allow"
    assert {c.id: c.fired for c in report.rules} == {"p.big": 1, "p.orders": 2, "p.models": 0}
    assert round(report.rule_coverage, 1) == 66.7
    seen = {(c.rule, c.span.col): (c.seen_true, c.seen_false) for c in report.clauses}
    assert seen[("p.big", 14)] == (True, True)   # the guard: false for the model call, via the index
    assert seen[("p.models", 17)] == (True, True)
    assert seen[("p.models", 45)] == (False, True) and seen[("p.models", 72)] == (False, True)
    assert report.clause_coverage < 100


def test_wrong_deciding_rules_fail_the_case() -> None:
    text = TESTS.replace("rules: [p.big]", "rules: [p.orders]")
    sink = DiagnosticSink()
    report, _, _ = run_tests(PLAN, RULES, load_cases("policies/p.test.yaml", text, sink), sink)
    assert "expected deciding rules [p.orders], got [p.big]" in report.failed[0].message


def test_malformed_test_files_are_positioned_diagnostics() -> None:
    sink = DiagnosticSink()
    cases = load_cases("policies/bad.test.yaml", '''cases:
  - name: no expectation
    input: {now: "2026-01-01T00:00:00Z", action: {connector: x}}
  - name: bad effect
    input: {now: "2026-01-01T00:00:00Z", action: {connector: x}}
    expect: maybe
  - name: bad input
    input: {now: "2026-01-01T00:00:00Z", action: {kind: tool}}
    expect: deny
  - name: extra key
    input: {now: "2026-01-01T00:00:00Z", action: {connector: x}}
    expect: deny
    expected: deny
''', sink)
    assert cases == []
    assert [(d.code, d.span.line + 1) for d in sink.sorted() if d.span] == [
        ("policy-test-invalid", 2), ("policy-test-invalid", 6), ("policy-test-invalid", 8),
        ("policy-test-invalid", 13)]


def test_example_workspace_policies_pass_with_full_coverage() -> None:
    result = compile_workspace(ROOT)
    assert result.plan is not None, [d.message for d in result.diagnostics]
    sink = DiagnosticSink()
    cases = []
    for path in sorted((ROOT / "policies").glob("*.test.yaml")):
        rel = path.relative_to(ROOT).as_posix()
        cases.extend(load_cases(rel, path.read_text(encoding="utf-8"), sink))
    rules = [(f.path, f.text) for f in result.sources.rules_files]
    report, _, _ = run_tests(result.plan, rules, cases, sink)
    assert list(sink) == []
    assert [r.case.name for r in report.failed] == []
    assert report.rule_coverage == 100.0
    assert report.clause_coverage == 100.0
    assert len(report.rules) == len(rules and report.rules) >= 15


def test_example_workspace_compiles_policies_into_the_plan() -> None:
    result = compile_workspace(ROOT)
    assert result.plan is not None
    compiled = result.plan.policies.compiled
    assert isinstance(compiled, CompiledPolicySet)
    assert compiled.content_hash == result.plan.policies.content_hash
    assert {p for p, _ in result.plan.policies.sources} == {
        p.relative_to(ROOT).as_posix() for p in Path(ROOT / "policies").glob("*.rules")}
    assert compile_workspace(ROOT).plan.content_hash == result.plan.content_hash  # type: ignore[union-attr]


CONTRACT_CASES = '''defaults:
  now: "2026-11-23T10:00:00Z"
cases:
  - name: misspelt input field
    input:
      action: {connector: email.send, input: {to: a@b.example, subjct: s, body: b}}
    expect: require_approval
  - name: wrong value type
    input:
      action: {connector: supplier.order, input: {sku: a, quantity: many, supplier_email: o@x.example, total_eur: 9}}
    expect: require_approval
  - name: misspelt connector
    input:
      action: {connector: email.sned, input: {to: a@b.example}}
    expect: deny
  - name: misspelt record field
    input:
      action: {kind: record}
      record: {schema: Project, fields: {title: t, budjet_eur: 5}}
    expect: allow
  - name: well formed
    input:
      action: {connector: email.send, input: {to: a@b.example, subject: s, body: b}}
    expect: require_approval
'''


def test_case_inputs_are_checked_against_contracts_and_schemas() -> None:
    sink = DiagnosticSink()
    cases = load_cases("policies/c.test.yaml", CONTRACT_CASES, sink, plan=PLAN)
    assert [c.name for c in cases] == ["well formed"]
    got = [(d.code, d.span.line + 1, d.span.col + 1, d.message, d.hint) for d in sink.sorted() if d.span]
    codes = {g[0] for g in got}
    assert codes == {"policy-test-input"}, got
    where = [(g[1], g[2]) for g in got]
    assert len(where) == 4, got  # one per mistake; fields left out are allowed (fail-closed cases)
    assert (6, 64) in where  # the `subjct` key
    assert (10, 69) in where  # the value `many`
    assert (14, 27) in where  # the connector name
    assert (19, 52) in where  # the `budjet_eur` key
    hints = " ".join(g[4] or "" for g in got)
    assert "`subject`" in hints and "`email.send`" in hints and "`budget_eur`" in hints
    messages = " ".join(g[3] for g in got)
    assert "many" in messages and "int" in messages


def test_without_a_plan_inputs_are_not_checked_against_contracts() -> None:
    sink = DiagnosticSink()
    assert len(load_cases("policies/c.test.yaml", CONTRACT_CASES, sink)) == 5
    assert list(sink) == []
