"""Policy tests: ``policies/*.test.yaml`` cases (input context -> expected effect and deciding rules),
run against a coverage build of the policy set.

A test file::

    defaults:                       # merged into every case's input (mappings merge key by key)
      now: "2026-11-23T10:00:00+01:00"
      run: {playbook: content-pipeline}
    cases:
      - name: weekday publishing is routine
        input:
          action: {kind: connector, connector: cms.publish, input: {slug: a, title: A, body: text}}
        expect: allow               # allow | deny | require_approval
        rules: [publishing.weekday_publish]   # optional: the exact deciding rules

Coverage: a rule is covered when its condition held in some case; a clause (an operand of
``and``/``or``/``not``, or a whole condition) is fully covered when it was seen both true and false.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aios.diagnostics import DiagnosticSink
from aios.load.nodes import YMap, YNode, YScalar, YSeq, to_python
from aios.load.yaml_reader import read_yaml
from aios.plan import Plan
from aios.policy.case_input import check_case_input
from aios.policy.codegen import CoverageRecorder
from aios.policy.compiled import CompiledPolicySet
from aios.policy.compiler import CheckedPolicies, build_policy_set, check_policies
from aios.policy.context import ContextError, DecisionContext
from aios.policy.decision import Decision, Effect
from aios.span import Span

__all__ = ["TestCase", "CaseResult", "RuleCoverage", "ClauseCoverage", "TestReport", "load_cases", "run_tests",
           "merge"]


@dataclass(frozen=True, slots=True)
class TestCase:
    __test__ = False  # not a pytest class

    file: str
    name: str
    input: Mapping[str, Any]
    expect: Effect
    rules: tuple[str, ...] | None
    span: Span
    input_span: Span


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: TestCase
    passed: bool
    decision: Decision | None
    message: str  # why it failed ("" when it passed)


@dataclass(frozen=True, slots=True)
class RuleCoverage:
    id: str
    span: Span
    evaluated: int
    fired: int


@dataclass(frozen=True, slots=True)
class ClauseCoverage:
    rule: str
    span: Span
    seen_true: bool
    seen_false: bool


@dataclass(frozen=True, slots=True)
class TestReport:
    __test__ = False

    results: tuple[CaseResult, ...]
    rules: tuple[RuleCoverage, ...]
    clauses: tuple[ClauseCoverage, ...]

    @property
    def failed(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def rule_coverage(self) -> float:
        """Percentage of rules whose condition held in at least one case (100 with no rules)."""
        if not self.rules:
            return 100.0
        return 100.0 * sum(1 for r in self.rules if r.fired) / len(self.rules)

    @property
    def clause_coverage(self) -> float:
        """Percentage of clause outcomes (true, false) seen."""
        if not self.clauses:
            return 100.0
        seen = sum(int(c.seen_true) + int(c.seen_false) for c in self.clauses)
        return 100.0 * seen / (2 * len(self.clauses))


def merge(base: Any, over: Any) -> Any:
    """Deep merge for case inputs: mappings merge key by key, anything else is replaced."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(out[key], value) if key in out else value
        return out
    return over


def _span_at(node: YNode, path: Sequence[str]) -> Span:
    """The span of the deepest node along ``path`` (a ContextError path like ``action.input.x``)."""
    current = node
    for key in path:
        if isinstance(current, YMap):
            nxt = current.get(key)
            if nxt is None:
                key_node = current.key_node(key)
                return key_node.span if key_node is not None else current.span
            current = nxt
        else:
            break
    return current.span


def _locate_in(nodes: Sequence[YNode]) -> Callable[[tuple[str, ...], bool], Span]:
    """Where a path of a merged case input is written: the case's `input` first, then `defaults`."""
    def locate(path: tuple[str, ...], key: bool) -> Span:
        for node in nodes:
            current: YNode | None = node
            for part in path[:-1]:
                current = current.get(part) if isinstance(current, YMap) else None
            if isinstance(current, YMap) and current.get(path[-1]) is not None:
                key_node = current.key_node(path[-1])
                value = current.get(path[-1])
                assert value is not None
                return key_node.span if key and key_node is not None else value.span
        return _span_at(nodes[0], path)
    return locate


def load_cases(path: str, text: str, sink: DiagnosticSink, plan: Plan | None = None,
               broken: frozenset[tuple[str, str]] = frozenset()) -> list[TestCase]:
    """Read one test file; problems are `policy-test-invalid` diagnostics. With ``plan``, each case's
    input is also checked against its contracts and schemas (`policy-test-input`); names in ``broken``
    ((kind, name) of documents that did not build) are not reported as unknown."""
    docs = read_yaml(path, text, sink)
    cases: list[TestCase] = []
    for doc in docs:
        root = doc.root
        if not isinstance(root, YMap):
            sink.report("policy-test-invalid", "a policy test file is a mapping with `cases:`", root.span)
            continue
        for key in root.keys():  # noqa: SIM118 - YMap is not a dict
            if key not in ("defaults", "cases"):
                k = root.key_node(key)
                sink.report("policy-test-invalid", f"unknown key `{key}`; expected `defaults` and `cases`",
                            k.span if k else root.span)
        defaults_node = root.get("defaults")
        defaults: Any = {}
        if defaults_node is not None:
            defaults = to_python(defaults_node)
            if not isinstance(defaults, dict):
                sink.report("policy-test-invalid", "`defaults` must be a mapping", defaults_node.span)
                defaults = {}
        seq = root.get("cases")
        if not isinstance(seq, YSeq):
            sink.report("policy-test-invalid", "`cases` must be a list of test cases",
                        seq.span if seq is not None else root.span)
            continue
        for item in seq.items:
            case = _case(path, item, defaults, defaults_node, sink, plan, broken)
            if case is not None:
                cases.append(case)
    return cases


def _case(path: str, item: YNode, defaults: Any, defaults_node: YNode | None, sink: DiagnosticSink,
          plan: Plan | None, broken: frozenset[tuple[str, str]]) -> TestCase | None:
    if not isinstance(item, YMap):
        sink.report("policy-test-invalid", "a test case is a mapping with `name`, `input` and `expect`", item.span)
        return None
    ok = True
    for key in item.keys():  # noqa: SIM118 - YMap is not a dict
        if key not in ("name", "input", "expect", "rules"):
            k = item.key_node(key)
            sink.report("policy-test-invalid", f"unknown key `{key}` in a test case", k.span if k else item.span,
                        hint="a case has name, input, expect and optionally rules")
            ok = False
    name_node = item.get("name")
    name = str(name_node.value) if isinstance(name_node, YScalar) and name_node.value is not None else ""
    if not name:
        sink.report("policy-test-invalid", "a test case needs a `name`", item.span)
        ok = False
    expect_node = item.get("expect")
    expect: Effect | None = None
    if not isinstance(expect_node, YScalar) or not isinstance(expect_node.value, str):
        sink.report("policy-test-invalid", "a test case needs `expect: allow | deny | require_approval`",
                    expect_node.span if expect_node is not None else item.span)
        ok = False
    else:
        try:
            expect = Effect.parse(expect_node.value)
        except ValueError as exc:
            sink.report("policy-test-invalid", str(exc), expect_node.span)
            ok = False
    rules_node = item.get("rules")
    rules: tuple[str, ...] | None = None
    if rules_node is not None:
        raw = to_python(rules_node)
        if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
            sink.report("policy-test-invalid", "`rules` is a list of rule ids (`policy.rule`)", rules_node.span)
            ok = False
        else:
            rules = tuple(raw)
    input_node = item.get("input")
    if input_node is None or not isinstance(input_node, YMap):
        sink.report("policy-test-invalid", "a test case needs an `input` mapping (the decision context)",
                    input_node.span if input_node is not None else item.span)
        return None
    if not ok or expect is None:
        return None
    merged = merge(defaults, to_python(input_node))
    try:
        DecisionContext.from_json(merged)
    except ContextError as err:
        sink.report("policy-test-invalid", f"case `{name}`: {err}", _span_at(input_node, err.path.split(".")),
                    hint="see docs/policies.md, \"The decision context\"")
        return None
    written = [input_node] + ([defaults_node] if defaults_node is not None else [])
    if plan is not None and not check_case_input(plan, merged, _locate_in(written), name, sink, broken):
        return None
    return TestCase(path, name, merged, expect, rules, item.span, input_node.span)


def _check_case(case: TestCase, decision: Decision) -> str:
    problems = []
    if decision.effect is not case.expect:
        problems.append(f"expected {case.expect.label}, got {decision.effect.label}")
    if case.rules is not None and sorted(case.rules) != sorted(decision.rule_ids):
        got = ", ".join(decision.rule_ids) or "the default"
        problems.append(f"expected deciding rules [{', '.join(case.rules)}], got [{got}]")
    return "; ".join(problems)


def _skipped_guards(policy_set: CompiledPolicySet, ctx: DecisionContext, recorder: CoverageRecorder) -> None:
    """Rules the index skipped for ``ctx`` had their kind/connector guards decided without running."""
    applied = {id(r) for r in policy_set.rules_for(ctx)}
    kind, connector = ctx.action.kind.value, ctx.action.connector
    for rule in policy_set.rules:
        if id(rule) in applied or rule.fn_index < 0:
            continue
        for index, kinds, connectors in rule.guards:
            holds = (kinds is None or kind in kinds) and (connectors is None or connector in connectors)
            recorder.clause(index, holds)


def run_tests(
    plan: Plan, rule_files: Sequence[tuple[str, str]], cases: Sequence[TestCase],
    sink: DiagnosticSink,
) -> tuple[TestReport, CompiledPolicySet, CheckedPolicies]:
    """Compile ``rule_files`` with coverage against ``plan`` and decide every case."""
    checked = check_policies(plan, rule_files, sink)
    recorder = CoverageRecorder(checked.clause_count)
    policy_set = build_policy_set(checked, coverage=recorder)
    results: list[CaseResult] = []
    for case in cases:
        try:
            ctx = DecisionContext.from_json(case.input, side_effects=policy_set.side_effects)
        except ContextError as err:
            results.append(CaseResult(case, False, None, f"invalid input: {err}"))
            sink.report("policy-test-invalid", f"case `{case.name}`: {err}", case.input_span)
            continue
        decision = policy_set.decide(ctx)
        _skipped_guards(policy_set, ctx, recorder)
        message = _check_case(case, decision)
        results.append(CaseResult(case, not message, decision, message))
        if message:
            sink.report("policy-test-failed", f"case `{case.name}`: {message}", case.span)
    rules: list[RuleCoverage] = []
    clauses: list[ClauseCoverage] = []
    for rule in policy_set.rules:
        evaluated = recorder.evaluated[rule.fn_index] if rule.fn_index >= 0 else 0
        fired = recorder.fired[rule.fn_index] if rule.fn_index >= 0 else 0
        rules.append(RuleCoverage(rule.id, rule.ref.span, evaluated, fired))
        for index, span in rule.clause_items():
            bits = recorder.clauses[index] if rule.fn_index >= 0 else 0
            clauses.append(ClauseCoverage(rule.id, span, bool(bits & 1), bool(bits & 2)))
    return TestReport(tuple(results), tuple(rules), tuple(clauses)), policy_set, checked
