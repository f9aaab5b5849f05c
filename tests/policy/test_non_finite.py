"""A non-finite number never passes a rule: meeting NaN or infinity is an evaluation error (so a deny).

`nan > 1000` is false in Python, so before this a `deny when amount > 1000 EUR` rule let a NaN
amount through with no error at all. Every comparison and every arithmetic result in a rule must
refuse NaN and infinity, whatever their form: a float, a Decimal, or a string coerced to decimal.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from aios.cli.main import cli
from aios.policy import DecisionContext, Effect, RunInfo
from aios.policy.context import ContextError
from tests.policy.plans import MONDAY, compile_ok

RULES = """
    rule ok when action.connector == "payments.refund" allow
    rule cap when action.connector == "payments.refund" and action.input.amount_eur > 1000 EUR deny "cap"
    rule any_ok when action.connector == "http.request" allow
    rule any_cap when action.connector == "http.request" and action.input.json.amount > 1000 deny "any cap"
"""

NON_FINITE = ["NaN", "nan", " NaN ", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "1e999",
              float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"),
              Decimal("-Infinity")]


def refund(amount: object) -> DecisionContext:
    return DecisionContext.for_connector("payments.refund", {"amount_eur": amount, "customer": "c"}, now=MONDAY,
                                         run=RunInfo(playbook="p", started_at=MONDAY))


def http(json_value: object) -> DecisionContext:
    return DecisionContext.for_connector("http.request", {"url": "https://x.example", "json": json_value},
                                         now=MONDAY, run=RunInfo(playbook="p", started_at=MONDAY))


@pytest.mark.parametrize("amount", NON_FINITE, ids=repr)
def test_a_non_finite_decimal_fails_the_deny_rule_closed(amount: object) -> None:
    d = compile_ok(RULES).decide(refund(amount))
    assert d.effect is Effect.DENY, d.reason
    assert d.rule_ids == ("p0.cap",)
    assert [e.rule.id for e in d.errors] == ["p0.cap"]
    assert "finite" in d.errors[0].error


@pytest.mark.parametrize("amount", NON_FINITE, ids=repr)
def test_a_non_finite_number_in_an_any_field_fails_closed(amount: object) -> None:
    d = compile_ok(RULES).decide(http({"amount": amount}))
    assert d.effect is Effect.DENY, d.reason
    assert [e.rule.id for e in d.errors] == ["p0.any_cap"]


@pytest.mark.parametrize("value", [float("nan"), Decimal("NaN"), float("inf")], ids=repr)
def test_a_non_finite_any_field_read_directly_fails_closed(value: object) -> None:
    policies = compile_ok("""
        rule ok when action.connector == "http.request" allow
        rule low when action.connector == "http.request" and action.input.json < 5 deny "low"
    """)
    d = policies.decide(http(value))
    assert d.effect is Effect.DENY and [e.rule.id for e in d.errors] == ["p0.low"]


def test_arithmetic_that_leaves_the_finite_numbers_is_an_error() -> None:
    policies = compile_ok("""
        rule ok when action.connector == "supplier.order" allow
        rule small when action.connector == "supplier.order" and action.input.total_eur * 2 < 1000 EUR
          require approval "small"
        rule cap when action.connector == "supplier.order" and action.input.total_eur * action.input.quantity < 1 EUR
          deny "cap"
    """)

    def order(total: str, quantity: int) -> DecisionContext:
        return DecisionContext.for_connector(
            "supplier.order", {"sku": "A", "quantity": quantity, "supplier_email": "o@a.example", "total_eur": total},
            now=MONDAY, run=RunInfo(playbook="p", started_at=MONDAY))

    d = policies.decide(order("1e300", 10 ** 10))  # 1e310 overflows a float: inf < 1 would be false
    assert d.effect is Effect.DENY
    assert [e.rule.id for e in d.errors] == ["p0.cap"] and "finite" in d.errors[0].error
    d = policies.decide(order("10", 3))
    assert d.effect is Effect.REQUIRE_APPROVAL and d.errors == ()


def test_an_allow_rule_that_meets_nan_grants_nothing() -> None:
    policies = compile_ok("""
        rule small when action.connector == "payments.refund" and action.input.amount_eur < 100 EUR allow
    """)
    d = policies.decide(refund("NaN"))
    assert d.effect is Effect.DENY and d.by_default
    assert [e.rule.id for e in d.errors] == ["p0.small"]


def test_finite_values_decide_as_before() -> None:
    policies = compile_ok(RULES)
    for amount in (5, 5.5, "5", Decimal("5.00"), "2000", Decimal("1E+3")):
        d = policies.decide(refund(amount))
        assert d.errors == ()
    assert policies.decide(refund("2000")).effect is Effect.DENY
    assert policies.decide(refund(Decimal("999.99"))).effect is Effect.ALLOW
    assert policies.decide(http({"amount": 3})).effect is Effect.ALLOW


@pytest.mark.parametrize("cost", ["NaN", "Infinity", "-inf"])
def test_a_context_with_a_non_finite_run_cost_is_refused(cost: str) -> None:
    with pytest.raises(ContextError, match="finite"):
        DecisionContext.from_json({"action": {"connector": "x"}, "now": "2026-01-01T00:00:00Z",
                                   "run": {"cost_usd": cost}})


# ---- aios policy eval ----------------------------------------------------------------------------

POLICY = """\
policy pay
rule ok when action.connector == "pay.send" allow
rule cap when action.connector == "pay.send" and action.input.amount_eur > 1000 EUR deny "too much"
"""


@pytest.fixture
def pay_workspace(tmp_path: Path) -> Path:
    from tests.runtime.test_hostile_events import write_pay_workspace

    return write_pay_workspace(tmp_path / "ws")


def _eval(root: Path, body: bytes | str) -> tuple[int, str]:
    path = root / "ctx.json"
    path.write_bytes(body.encode() if isinstance(body, str) else body)
    result = CliRunner().invoke(cli, ["policy", "eval", "-w", str(root), "--input", str(path), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_policy_eval_denies_a_nan_text_amount_with_the_error(pay_workspace: Path) -> None:
    ctx = {"action": {"connector": "pay.send", "input": {"to": "acme", "amount_eur": "NaN"}},
           "now": "2026-11-23T10:00:00Z"}
    code, out = _eval(pay_workspace, json.dumps(ctx))
    assert code == 4, out
    decision = json.loads(out)
    assert decision["effect"] == "deny"
    assert [r["id"] for r in decision["rules"]] == ["pay.cap"] and decision["rules"][0]["errored"] is True


@pytest.mark.parametrize("body, code", [
    ('{"action": {"connector": "pay.send", "input": {"to": "a", "amount_eur": NaN}}, "now": "2026-11-23T10:00:00Z"}',
     "payload-non-finite"),
    ('{"action": {"connector": "pay.send", "input": {"amount_eur": 1e999}}, "now": "2026-11-23T10:00:00Z"}',
     "payload-non-finite"),
    ('{"now": "2026-11-23T10:00:00Z", "actor": "\\ud800"}', "payload-bad-text"),
    ('{"now": "2026-11-23T10:00:00Z", "action": ' + "[" * 5000 + "]" * 5000 + "}", "payload-too-deep"),
    ('{"now": "2026-11-23T10:00:00Z", "n": ' + "9" * 5000 + "}", "payload-number-too-long"),
    ('{"now": "2026-11-23T10:00:00Z"}'.encode("utf-16"), "payload-not-utf8"),
    (b'{"now": "\xff"}', "payload-not-utf8"),
], ids=["nan", "overflow", "surrogate", "deep", "long-int", "utf16", "latin1"])
def test_policy_eval_refuses_a_hostile_context_file_in_one_line(pay_workspace: Path, body: str | bytes,
                                                                code: str) -> None:
    exit_code, out = _eval(pay_workspace, body)
    assert exit_code == 1, out
    assert "Traceback" not in out
    first = out.strip().splitlines()[0]
    assert first.startswith("aios: error: ") and "ctx.json" in first and f"[{code}]" in first, out


def test_policy_diff_inputs_refuse_hostile_lines_one_by_one(tmp_path: Path) -> None:
    from aios.policy.diff import read_jsonl

    good = '{"action": {"connector": "pay.send", "input": {"amount_eur": "5"}}, "now": "2026-11-23T10:00:00Z"}'
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join([good.encode(), b'{"now": NaN}', b'{"x": "caf\xe9"}', b"[" * 5000 + b"]" * 5000,
                                 b'{"x": "\\ud800"}', b"{oops", good.encode()]))
    inputs, errors = read_jsonl(path, "in.jsonl")
    assert [i.source for i in inputs] == ["in.jsonl:1", "in.jsonl:7"]
    assert [(source, message.rsplit("[", 1)[1]) for source, message in errors] == [
        ("in.jsonl:2", "payload-non-finite]"), ("in.jsonl:3", "payload-not-utf8]"), ("in.jsonl:4", "payload-too-deep]"),
        ("in.jsonl:5", "payload-bad-text]"), ("in.jsonl:6", "payload-not-json]")]
