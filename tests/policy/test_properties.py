"""Property tests: random rule files never crash the parser or the checker, and on random contexts the
compiled evaluator decides exactly like the reference tree-walking evaluator (tests/policy/reference.py)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aios.diagnostics import DiagnosticSink
from aios.policy.context import DecisionContext
from aios.policy.parser import lark_parser, parse_rules
from tests.policy.plans import PLAN, compile_text
from tests.policy.reference import Reference

# ---------------------------------------------------------------------------------------------
# Random text never crashes
# ---------------------------------------------------------------------------------------------

TERMINALS = {t.name for t in lark_parser().terminals} | {"$END"}
VOCAB = [
    "rule", "r1", "r2", "when", "allow", "deny", "require", "approval", '"why"', "by", "timeout", "2h", "policy",
    "default", "and", "or", "not", "in", "==", "!=", "<", ">=", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",",
    ".", "action", "connector", "input", "kind", "run", "cost_usd", "record", "schema", "now", "weekday", "actor",
    "len", "matches", "money", '"cms.publish"', '"sat"', "200 EUR", "3 USD", "2026-01-01", "2026-01-01T10:00Z",
    "12", "1.5", "true", "false", "null", "#", "\n", "'", "=", "&&", "{", "\\", '"', "AND", "x", "quantity",
    "total_eur", "supplier", "order", "\t", "é", "\x00",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(VOCAB), max_size=60))
def test_random_token_soup_never_crashes(tokens: list[str]) -> None:
    text = " ".join(tokens)
    _, diags = compile_text(("policies/fuzz.rules", text))
    lines = text.split("\n")
    for d in diags:
        assert d.span is not None and d.span.file == "policies/fuzz.rules"
        assert 0 <= d.span.line <= len(lines)
        if d.code == "rule-syntax":  # in words: no grammar terminal names outside quoted source text
            words = re.sub(r"`[^`]*`", "", d.message)
            assert not TERMINALS & set(re.findall(r"[A-Z_$]{3,}", words)), d.message


GOOD = """policy p
rule a when action.connector == "supplier.order" and action.input.total_eur > 200 EUR
  require approval "big" by "operator" timeout 1d
rule b when action.kind == "model" and run.cost_usd >= 1 USD deny "budget"
rule c when now.weekday in ["sat", "sun"] and action.connector == "cms.publish" deny
default allow
"""


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_files_never_crash(data: st.DataObject) -> None:
    text = GOOD
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["delete", "insert", "swap"]))
        if op == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 6)):]
        elif op == "insert":
            text = text[:pos] + data.draw(st.sampled_from(VOCAB)) + text[pos:]
        elif pos + 1 < len(text):
            text = text[:pos] + text[pos + 1] + text[pos] + text[pos + 2:]
    compile_text(("policies/m.rules", text))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    compile_text(("policies/t.rules", text))


# ---------------------------------------------------------------------------------------------
# Compiled evaluator == reference evaluator
# ---------------------------------------------------------------------------------------------

ANY_CLAUSES = [
    'now.weekday in ["sat", "sun"]', "now.hour >= {n}", "run.cost_usd > {n} USD", "run.steps_taken % 2 == 0",
    'actor == "operator"', 'run.playbook == "content-pipeline"', "now - run.started_at > 2h",
    "10 / run.steps_taken > 2", "run.steps_taken * 2 < {n}", 'lower(actor) != "bot"', "now.date > 2026-06-01",
    'action.side_effect == "irreversible"', "run.cost_usd * 2 + 1 USD <= {n} USD", "true", "false",
]
GUARDED: dict[str, list[str]] = {
    'action.connector == "supplier.order"': [
        "action.input.quantity > {n}", "action.input.total_eur >= {n} EUR", 'action.input.sku == "A{n}"',
        'starts_with(action.input.sku, "A")', "action.input.note != null and len(action.input.note) > {n}",
        "action.input.due != null and action.input.due < now.date", "action.input.quantity / 2 > {n}",
        "abs(action.input.total_eur - {n} EUR) < 5 EUR", 'matches(action.input.supplier_email, "@a\\\\.example$")',
    ],
    'action.connector in ["payments.refund", "email.send"]': ['action.connector == "email.send"'],
    'action.connector == "payments.refund"': [
        "action.input.amount_eur > {n} EUR", "action.input.amount_usd == null",
        "action.input.amount_usd != null and action.input.amount_usd > {n} USD",
        'contains(action.input.customer, "x")',
    ],
    'action.connector == "http.request"': [
        'action.input.method == "GET"', "action.input.json.flag == true",
        "action.input.sent_at != null and action.input.sent_at < now",
    ],
    'action.kind == "model"': ['action.route == "smart"', 'action.agent == "editor"', "action.model == null"],
    'action.kind == "record"': ['record.schema == "Order"'],
    'record.schema == "Project"': [
        "record.budget_eur > {n} EUR", '"x" in record.topics', 'record.status == "active"',
        "record.deadline != null and record.deadline < 2026-12-01",
    ],
}


@st.composite
def clause(draw: st.DrawFn, options: list[str]) -> str:
    text = draw(st.sampled_from(options)).replace("{n}", str(draw(st.integers(0, 30))))
    if draw(st.booleans()) and draw(st.booleans()):
        text = f"not ({text})"
    return text


@st.composite
def condition(draw: st.DrawFn) -> str | None:
    guard = draw(st.sampled_from([None, *GUARDED]))
    options = ANY_CLAUSES + (GUARDED[guard] if guard else [])
    parts = [draw(clause(options)) for _ in range(draw(st.integers(0, 3)))]
    body = ""
    for part in parts:
        body = part if not body else f"({body}) {draw(st.sampled_from(['and', 'or']))} {part}"
    if guard and body:
        return f"{guard} and ({body})"
    return guard or body or None


@st.composite
def rule_file(draw: st.DrawFn) -> str:
    lines = []
    for i in range(draw(st.integers(1, 12))):
        cond = draw(condition())
        effect = draw(st.sampled_from(['allow', 'deny "no"', 'require approval "look"']))
        lines.append(f"rule r{i}{' when ' + cond if cond else ''} {effect}")
    default = draw(st.sampled_from([None, "allow", "deny", "require approval"]))
    if default:
        lines.append(f"default {default}")
    return "\n".join(lines) + "\n"


def maybe(draw: st.DrawFn, value: st.SearchStrategy[Any]) -> dict[str, Any]:
    return draw(st.sampled_from([{}, {"v": draw(value)}]))


@st.composite
def context(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["connector", "connector", "model", "record"]))
    nums = st.one_of(st.integers(-5, 40), st.floats(-5, 40, allow_nan=False), st.sampled_from(["12.5", "x", True]))
    words = st.sampled_from(["A1", "A7", "B2", "xyz", "Ax"])
    action: dict[str, Any] = {"kind": kind}
    if kind == "connector":
        connector = draw(st.sampled_from(["supplier.order", "payments.refund", "http.request", "email.send",
                                          "cms.publish", "search.web", "unknown.thing"]))
        action["connector"] = connector
        inputs: dict[str, Any] = {
            "sku": draw(words), "quantity": draw(nums), "total_eur": draw(nums), "supplier_email":
                draw(st.sampled_from(["o@a.example", "o@b.example"])), "amount_eur": draw(nums),
            "customer": draw(words), "method": draw(st.sampled_from(["GET", "POST"])),
        }
        optional: dict[str, Any] = {
            "note": draw(st.sampled_from([None, "short", "a much longer note than thirty characters!"])),
            "due": draw(st.sampled_from([None, "2026-01-05", "2027-03-01", "not a date"])),
            "amount_usd": draw(st.sampled_from([None, 3, 25.5])),
            "json": draw(st.sampled_from([None, {"flag": True}, {"flag": False}, {}, [1]])),
            "sent_at": draw(st.sampled_from([None, "2026-01-01T00:00:00Z", "2030-01-01T00:00:00+02:00"])),
        }
        for key, value in {**inputs, **optional}.items():
            if draw(st.integers(0, 9)) > 0:
                action.setdefault("input", {})[key] = value
    elif kind == "model":
        action.update(route=draw(st.sampled_from(["default", "smart"])),
                      agent=draw(st.sampled_from(["editor", "buyer", None])))
    now = draw(st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 12, 31),
                            timezones=st.just(dt.UTC)))
    started = now - dt.timedelta(minutes=draw(st.integers(0, 300)))
    ctx: dict[str, Any] = {
        "action": action, "now": now.isoformat(), "actor": draw(st.sampled_from(["operator", "Bot"])),
        "run": {"playbook": draw(st.sampled_from(["content-pipeline", "stock-replenishment", None])),
                "cost_usd": draw(st.floats(0, 40, allow_nan=False)), "steps_taken": draw(st.integers(0, 20)),
                "started_at": started.isoformat()},
    }
    if kind == "record" or draw(st.integers(0, 3)) == 0:
        schema = draw(st.sampled_from(["Project", "Order"]))
        fields: dict[str, Any] = ({"title": "t", "budget_eur": draw(nums), "topics": draw(st.sampled_from([[], ["x"]])),
                                   "deadline": draw(st.sampled_from([None, "2026-03-01", "2027-01-01"])),
                                   "status": draw(st.sampled_from(["active", "done"]))}
                                  if schema == "Project" else {"sku": "A1", "quantity": 3, "total_eur": 9})
        ctx["record"] = {"schema": schema, "id": "r-1", "fields": fields}
    return ctx


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_file(), st.lists(context(), min_size=1, max_size=8))
def test_compiled_matches_reference(text: str, contexts: list[dict[str, Any]]) -> None:
    policy_set, diags = compile_text(("policies/p.rules", text))
    assume(not any(d.code == "rule-never-matches" for d in diags))  # the generator wrote `x and not x`
    errors = [f"{d.span.show() if d.span else ''} {d.code} {d.message}" for d in diags if d.severity.value == "error"]
    assert errors == [], f"{text}\n{errors}"
    parsed = parse_rules("policies/p.rules", text, DiagnosticSink())
    reference = Reference(PLAN, [parsed])
    for ctx_json in contexts:
        ctx = DecisionContext.from_json(ctx_json)
        decision = policy_set.decide(ctx)
        effect, rules, errored = reference.decide(ctx_json)
        assert (decision.effect.label, list(decision.rule_ids), sorted(e.rule.id for e in decision.errors)) == \
            (effect, rules, sorted(errored)), f"{text}\n{ctx_json}\n{decision.explain()}"
