"""Parsing, typing and linting details that golden files do not show well."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from aios.diagnostics import DiagnosticSink
from aios.policy import ast
from aios.policy.decision import Effect
from aios.policy.parser import lark_parser, parse_rules
from tests.policy.plans import codes, compile_ok, compile_text


def parse(text: str) -> tuple[ast.PolicyFile, DiagnosticSink]:
    sink = DiagnosticSink()
    return parse_rules("policies/t.rules", text, sink), sink


def test_the_parser_is_built_once() -> None:
    assert lark_parser() is lark_parser()


def test_a_full_file_parses_with_spans() -> None:
    f, sink = parse('''# comment
policy finance   # the policy name

rule refund_cap
  when action.connector == "payments.refund" and action.input.amount_eur > 200.50 EUR
  require approval "Refund above 200 EUR" by "owner", "ops" timeout 1h30m

rule weekend when now.weekday in ["sat", "sun"] deny "No \\"weekend\\" work"
default allow
''')
    assert list(sink) == []
    assert f.policy == "finance" and f.complete and f.default is not None and f.default.effect is Effect.ALLOW
    cap, weekend = f.rules
    assert (cap.span.line, cap.span.col, cap.name_span.col) == (3, 0, 5)
    assert cap.effect.approvers == ("owner", "ops") and cap.effect.timeout_s == 5400
    assert weekend.effect.reason == 'No "weekend" work'
    money = cap.when.right.right  # type: ignore[union-attr]
    assert isinstance(money, ast.Literal) and (money.value, money.currency) == (200.5, "EUR")
    assert (money.span.line, money.span.col, money.span.end_col) == (4, 75, 85)


@pytest.mark.parametrize("text, kind, value", [
    ("30m", ast.LitKind.DURATION, dt.timedelta(minutes=30)),
    ("2h30m", ast.LitKind.DURATION, dt.timedelta(hours=2, minutes=30)),
    ("250ms", ast.LitKind.DURATION, dt.timedelta(milliseconds=250)),
    ("2026-03-01", ast.LitKind.DATE, dt.date(2026, 3, 1)),
    ("2026-03-01T10:00Z", ast.LitKind.DATETIME, dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)),
    ("2026-03-01T10:00", ast.LitKind.DATETIME, dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)),
    ("12", ast.LitKind.NUMBER, 12), ("-1.5", ast.LitKind.NUMBER, -1.5), ("7 USD", ast.LitKind.MONEY, 7),
    ('"a\\tb"', ast.LitKind.STRING, "a\tb"), ("null", ast.LitKind.NULL, None), ("true", ast.LitKind.BOOL, True),
])
def test_literals(text: str, kind: ast.LitKind, value: object) -> None:
    f, sink = parse(f"rule r when x == {text} allow")
    lit = f.rules[0].when.right  # type: ignore[union-attr]
    assert list(sink) == [] and isinstance(lit, ast.Literal) and (lit.kind, lit.value) == (kind, value)


def test_keywords_are_fine_after_a_dot() -> None:
    policies, diags = compile_text('rule r when record.schema == "Project" and record.default == 1 allow')
    assert codes(diags) == ["rule-unknown-field"]  # parsed; only the schema lacks the field
    f, sink = parse("rule r when action.input.rule == action.input.in allow")
    assert list(sink) == [] and len(f.rules) == 1


def test_recovery_reports_every_broken_statement_and_keeps_the_rest() -> None:
    f, sink = parse("rule a when x == allow\nrule b allow\nrule c when ( deny\nrule d deny\n")
    assert [d.code for d in sink] == ["rule-syntax", "rule-syntax"]
    assert [d.span.line for d in sink if d.span] == [0, 2]
    assert [r.name for r in f.rules] == ["b", "d"] and not f.complete


@pytest.mark.parametrize("source", [
    'a and b or not c', 'not (a or b) and c', 'a + b * c - d % 2 > 3', '(a + b) * c == 1',
    'x in ["a", "b"] and y not in [1, 2]', 'len(lower(x)) >= 3 or matches(y, "^a")', '-a < -(b - c)',
    'now.date < 2026-01-01 and d > 2h30m and m > 12.5 EUR',
])
def test_unparse_round_trips(source: str) -> None:
    f, _ = parse(f"rule r when {source} allow")
    when = f.rules[0].when
    assert when is not None
    text = ast.unparse(when)
    again, _ = parse(f"rule r when {text} allow")
    assert again.rules[0].when == when


def test_narrowing_through_or_and_negation() -> None:
    compile_ok('''
        rule a when action.connector != "supplier.order" or action.input.quantity > 3 deny
        rule b when not (action.connector != "payments.refund") and action.input.amount_eur > 1 EUR deny
        rule c when (action.connector == "supplier.order" or action.connector == "payments.refund")
          and action.connector == "supplier.order" and action.input.total_eur > 1 EUR deny
        rule d when action.kind == "connector" and starts_with(action.connector, "supplier.")
          and action.input.quantity > 1 deny
    ''')
    _, diags = compile_text('rule d when starts_with(action.connector, "supplier.") deny')
    assert codes(diags) == ["rule-nullable"]  # a model call has no connector


def test_fields_shared_by_several_guarded_connectors() -> None:
    compile_ok('rule r when action.connector in ["cms.publish", "cms.unpublish"] and action.input.slug == "x" deny')
    _, diags = compile_text('rule r when action.connector in ["cms.publish", "email.send"] and action.input.slug == "x" deny')
    assert codes(diags) == ["rule-unknown-field"]
    assert "email.send" in diags[0].message


def test_fields_with_a_default_read_as_the_default() -> None:
    from aios.policy import DecisionContext
    from tests.policy.plans import MONDAY

    policies = compile_ok('rule posts when action.connector == "http.request" and action.input.method == "POST" deny')
    ctx = DecisionContext.for_connector("http.request", {"url": "https://x.example"}, now=MONDAY)
    assert policies.decide(ctx).rule_ids == ("p0.posts",)


def test_rules_are_indexed_by_their_guards() -> None:
    policies = compile_ok('''
        rule a when action.connector == "supplier.order" allow
        rule b when action.connector in ["cms.publish", "email.send"] allow
        rule c when action.kind == "model" allow
        rule d when action.kind != "model" and actor == "x" allow
        rule e when action.connector != "cms.publish" and actor == "x" allow
        rule f when actor == "x" allow
    ''')
    by_id = {r.id: (r.kinds, r.connectors) for r in policies.rules}
    assert by_id["p0.a"] == (frozenset({"connector"}), frozenset({"supplier.order"}))
    assert by_id["p0.b"] == (frozenset({"connector"}), frozenset({"cms.publish", "email.send"}))
    assert by_id["p0.c"] == (frozenset({"model"}), None)
    assert by_id["p0.d"] == (frozenset({"connector", "record"}), None)
    assert by_id["p0.e"] == (None, None)  # a model call has no connector: `!=` holds for it
    assert by_id["p0.f"] == (None, None)


def test_duplicate_policy_names_across_files() -> None:
    _, diags = compile_text(("policies/a.rules", "policy money\nrule a allow"),
                            ("policies/b.rules", "policy money\nrule b allow"))
    assert [(d.code, d.span.file, d.span.line) for d in diags if d.span and d.severity.value == "error"] == [
        ("policy-duplicate", "policies/b.rules", 0)]


def test_same_rule_name_in_two_policies_is_fine() -> None:
    policies = compile_ok(("policies/a.rules", 'rule x when actor == "a" allow'),
                          ("policies/b.rules", 'rule x when actor == "b" allow'))
    assert [r.id for r in policies.rules] == ["a.x", "b.x"]


def test_shadowing_by_a_stricter_implied_rule() -> None:
    _, diags = compile_text('''
        rule no_orders when action.connector == "supplier.order" deny
        rule big when action.connector == "supplier.order" and action.input.quantity > 9 require approval
        rule fine when action.connector == "supplier.order" and action.input.quantity > 9 deny "also"
        rule other when action.connector == "payments.refund" allow
    ''')
    assert [(d.code, d.span.line) for d in diags if d.span] == [("rule-shadowed", 2)]


def test_every_policy_code_is_registered_with_a_summary() -> None:
    from aios.diagnostics import CODES
    from aios.policy.codes import POLICY_CODES

    for code in POLICY_CODES:
        assert CODES[code.name] == code and code.summary and code.stage == "policy"


def test_the_parser_is_kept_between_processes_and_a_damaged_copy_is_rebuilt(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    parse = ("from aios.diagnostics import DiagnosticSink; from aios.policy.parser import parse_rules; "
             "sink = DiagnosticSink(); f = parse_rules('p.rules', 'policy p\\nrule r\\n  when true\\n  allow \"ok\"\\n', "
             "sink); print(len(f.rules), [d.code for d in sink.items])")
    env = {**os.environ, "AIOS_CACHE_DIR": str(tmp_path / "cache")}

    def run() -> str:
        out = subprocess.run([sys.executable, "-c", parse], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stderr == "", out.stderr
        return out.stdout.strip()

    assert run() == "1 []"
    cached = tmp_path / "cache" / "rules-parser.lark"
    assert cached.stat().st_size > 1000  # what the first process built
    assert run() == "1 []"  # the next process loads it
    cached.write_bytes(cached.read_bytes()[:200])  # half-written (two processes racing, a full disk)
    assert run() == "1 []"  # rebuilt, silently
    assert cached.stat().st_size > 1000  # and stored whole again
