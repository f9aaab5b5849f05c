"""Decision semantics: precedence, defaults, indexing and every fail-closed case."""

from __future__ import annotations

import json

import pytest

from aios.policy import DecisionContext, Effect, RunInfo
from tests.policy.plans import MONDAY, SATURDAY, compile_ok, compile_text

ORDER = {"sku": "A1", "quantity": 5, "supplier_email": "o@a.example", "total_eur": 120}


def order(**changes: object) -> DecisionContext:
    data = {**ORDER, **changes}
    return DecisionContext.for_connector("supplier.order", {k: v for k, v in data.items() if v is not None},
                                         now=MONDAY, run=RunInfo(playbook="stock-replenishment", started_at=MONDAY))


def test_deny_beats_require_approval_beats_allow() -> None:
    policies = compile_ok("""
        rule ok when action.connector == "supplier.order" allow
        rule look when action.connector == "supplier.order" and action.input.quantity > 10 require approval "look"
        rule no when action.connector == "supplier.order" and action.input.quantity > 100 deny "no"
    """)
    assert policies.decide(order(quantity=5)).effect is Effect.ALLOW
    d = policies.decide(order(quantity=50))
    assert (d.effect, d.rule_ids, d.reason) == (Effect.REQUIRE_APPROVAL, ("p0.look",), "look")
    d = policies.decide(order(quantity=500))
    assert (d.effect, d.rule_ids, d.reason) == (Effect.DENY, ("p0.no",), "no")


def test_every_fired_rule_of_the_winning_effect_decides() -> None:
    policies = compile_ok("""
        rule a when action.connector == "supplier.order" require approval "a" by "ops" timeout 2h
        rule b when action.connector == "supplier.order" and action.input.total_eur > 100 EUR
          require approval "b" by "owner", "ops" timeout 30m
    """)
    d = policies.decide(order())
    assert d.rule_ids == ("p0.a", "p0.b")
    assert d.reason == "a; b"
    assert d.approvers == ("ops", "owner")
    assert d.timeout_s == 1800
    assert d.rules[0].span.line == 1 and d.rules[0].span.file == "policies/p0.rules"


# ---- fail closed ---------------------------------------------------------------------------------

def test_erroring_deny_rule_counts_as_fired() -> None:
    policies = compile_ok("""
        rule ok when action.connector == "supplier.order" allow
        rule cap when action.connector == "supplier.order" and action.input.total_eur > 1000 EUR deny "cap"
    """)
    d = policies.decide(order(total_eur=None))  # the contract requires total_eur; it is missing
    assert d.effect is Effect.DENY
    assert d.rule_ids == ("p0.cap",)
    assert [(e.rule.id, e.error) for e in d.errors] == [("p0.cap", "missing field 'total_eur'")]
    assert d.errored("p0.cap") and d.to_json()["rules"][0]["errored"] is True


def test_erroring_approval_rule_counts_as_fired() -> None:
    policies = compile_ok("""
        rule ok when action.connector == "supplier.order" allow
        rule look when action.connector == "supplier.order" and action.input.quantity > 10 require approval
    """)
    d = policies.decide(order(quantity="many"))
    assert d.effect is Effect.REQUIRE_APPROVAL and d.rule_ids == ("p0.look",)
    assert d.errors[0].error.startswith("TypeError: expected a number")


def test_erroring_allow_rule_grants_nothing() -> None:
    policies = compile_ok('rule ok when action.connector == "supplier.order" and action.input.quantity < 10 allow')
    d = policies.decide(order(quantity="x"))
    assert d.effect is Effect.DENY and d.by_default and d.rule_ids == ()
    assert [e.rule.id for e in d.errors] == ["p0.ok"]


def test_erroring_allow_is_recorded_even_when_another_allow_decides() -> None:
    policies = compile_ok("""
        rule small when action.connector == "supplier.order" and action.input.quantity < 10 allow
        rule any when action.connector == "supplier.order" allow
    """)
    d = policies.decide(order(quantity="x"))
    assert d.effect is Effect.ALLOW and d.rule_ids == ("p0.any",) and [e.rule.id for e in d.errors] == ["p0.small"]


def test_division_by_zero_fails_closed() -> None:
    policies = compile_ok("rule per_step when action.kind == \"model\" and run.cost_usd / run.steps_taken > 1 USD deny")
    d = policies.decide(DecisionContext.for_model("default", now=MONDAY, run=RunInfo(steps_taken=0, started_at=MONDAY)))
    assert d.effect is Effect.DENY and "ZeroDivisionError" in d.errors[0].error


def test_a_rule_that_did_not_compile_fails_closed() -> None:
    policies, diags = compile_text('rule broken when action.conector == "x" deny "broken"')
    assert [d.code for d in diags] == ["rule-unknown-field"]
    d = policies.decide(DecisionContext.for_model("default", now=MONDAY))
    assert d.effect is Effect.DENY and d.rule_ids == ("p0.broken",) and "did not compile" in d.errors[0].error


def test_rules_for_other_connectors_never_run() -> None:
    policies = compile_ok("""
        rule cap when action.connector == "supplier.order" and action.input.total_eur > 10 EUR deny
        rule web when action.connector == "search.web" allow
    """)
    d = policies.decide(DecisionContext.for_connector("search.web", {"query": "q", "limit": 3}, now=MONDAY))
    assert d.effect is Effect.ALLOW and d.errors == ()
    assert [r.id for r in policies.rules_for(d.input)] == ["p0.web"]


# ---- defaults ------------------------------------------------------------------------------------

def test_without_policy_files_side_effects_are_denied_and_the_rest_allowed() -> None:
    policies = compile_ok()
    assert policies.decide(order()).effect is Effect.DENY
    assert policies.decide(DecisionContext.for_model("default", now=MONDAY)).effect is Effect.ALLOW
    assert policies.decide(DecisionContext.for_record("Order", dict(ORDER), now=MONDAY)).effect is Effect.ALLOW
    web = DecisionContext.for_connector("search.web", {"query": "q", "limit": 1}, now=MONDAY)
    assert policies.decide(web).effect is Effect.ALLOW


def test_the_plan_contract_beats_the_context_side_effect() -> None:
    policies = compile_ok()
    lying = DecisionContext.for_connector("supplier.order", dict(ORDER), now=MONDAY, side_effect="none")
    assert policies.decide(lying).effect is Effect.DENY


def test_unknown_connectors_count_as_irreversible() -> None:
    policies = compile_ok("default allow")
    unknown = DecisionContext.for_connector("nobody.knows", {}, now=MONDAY)
    assert policies.decide(unknown).effect is Effect.ALLOW  # the default says so
    assert compile_ok().decide(unknown).effect is Effect.DENY
    assert compile_ok().side_effect_of(unknown) == "irreversible"


@pytest.mark.parametrize("default, effect", [("allow", Effect.ALLOW), ("deny \"closed\"", Effect.DENY),
                                             ("require approval", Effect.REQUIRE_APPROVAL)])
def test_a_file_default_applies_when_nothing_fires(default: str, effect: Effect) -> None:
    d = compile_ok(f"default {default}").decide(DecisionContext.for_model("default", now=MONDAY))
    assert d.effect is effect and d.by_default


def test_the_strictest_default_wins_and_conflicts_are_reported() -> None:
    policies, diags = compile_text("default allow", "default require approval")
    assert [(d.code, d.span.file) for d in diags if d.span] == [("policy-default-conflict", "policies/p0.rules")]
    assert policies.decide(order()).effect is Effect.REQUIRE_APPROVAL


# ---- the decision value --------------------------------------------------------------------------

def test_decision_records_hash_commit_and_input_snapshot() -> None:
    policies = compile_ok('rule weekend when now.weekday in ["sat", "sun"] deny "weekend"').with_git_commit("abc123")
    ctx = DecisionContext.for_model("smart", now=SATURDAY, agent="editor", step="draft",
                                    run=RunInfo(id="r1", playbook="content-pipeline", cost_usd=0.5, started_at=SATURDAY))
    d = policies.decide(ctx)
    data = json.loads(json.dumps(d.to_json()))
    assert data["effect"] == "deny" and data["git_commit"] == "abc123"
    assert data["policy_hash"] == policies.content_hash and len(policies.content_hash) == 64
    assert data["rules"][0] == {"id": "p0.weekend", "effect": "deny", "file": "policies/p0.rules", "line": 1,
                                "column": 1, "reason": "weekend", "errored": False}
    replayed = policies.decide(policies.context_from_json(data["input"]))
    assert replayed.to_json() == d.to_json()
    assert "decided by p0.weekend at policies/p0.rules:1:1" in d.explain()


def test_same_files_same_hash() -> None:
    a = compile_ok(("policies/x.rules", "rule a allow"), ("policies/y.rules", "rule b deny"))
    b = compile_ok(("policies/y.rules", "rule b deny"), ("policies/x.rules", "rule a allow"))
    c = compile_ok(("policies/x.rules", "rule a allow "), ("policies/y.rules", "rule b deny"))
    assert a.content_hash == b.content_hash != c.content_hash


def test_record_rules_read_typed_fields() -> None:
    policies = compile_ok("""
        rule big when record.schema == "Project" and record.budget_eur > 10000 EUR require approval
        rule late when record.schema == "Project" and record.deadline != null and record.deadline < now.date deny
        rule status when record.schema == "Project" and record.status == "proposed" and "x" in record.topics allow
    """)
    def project(**fields: object) -> DecisionContext:
        base = {"title": "t", "budget_eur": "12000.50", "topics": ["x"]}
        return DecisionContext.for_record("Project", {**base, **fields}, now=MONDAY)
    assert policies.decide(project()).rule_ids == ("p0.big",)
    assert policies.decide(project(budget_eur=10, deadline="2020-01-01")).rule_ids == ("p0.late",)
    d = policies.decide(project(budget_eur=10))
    assert d.effect is Effect.ALLOW and d.rule_ids == ("p0.status",)  # status defaults to "proposed"


def test_time_arithmetic() -> None:
    policies = compile_ok("""
        rule long_run when action.kind == "model" and now - run.started_at > 2h deny "too long"
        rule evening when action.kind == "model" and now.hour >= 18 and (now - run.started_at).minutes > 5 deny
    """)
    import datetime as dt
    started = MONDAY - dt.timedelta(hours=3)
    d = policies.decide(DecisionContext.for_model("default", now=MONDAY, run=RunInfo(started_at=started)))
    assert d.rule_ids == ("p0.long_run",)
    late = MONDAY.replace(hour=19)
    d = policies.decide(DecisionContext.for_model("default", now=late, run=RunInfo(started_at=late - dt.timedelta(minutes=10))))
    assert d.rule_ids == ("p0.evening",)
