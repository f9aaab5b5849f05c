"""The decision context's JSON form: round trips and positioned errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from aios.plan import SideEffect
from aios.policy import ActionKind, ContextError, DecisionContext, RunInfo
from tests.policy.plans import MONDAY


def test_round_trip_of_every_kind() -> None:
    run = RunInfo(id="r1", playbook="content-pipeline", cost_usd=0.25, steps_taken=3, started_at=MONDAY)
    contexts = [
        DecisionContext.for_connector("supplier.order", {"total_eur": Decimal("12.50"), "due": dt.date(2026, 1, 2)},
                                      now=MONDAY, side_effect=SideEffect.IRREVERSIBLE, step="place", run=run),
        DecisionContext.for_model("smart", now=MONDAY, model="openai/gpt-4o-mini", agent="editor", run=run),
        DecisionContext.for_record("Project", {"budget_eur": 8000}, id="p-1", now=MONDAY, actor="schedule"),
    ]
    for ctx in contexts:
        again = DecisionContext.from_json(ctx.to_json())
        assert again.to_json() == ctx.to_json()
    first = contexts[0].to_json()
    assert first["action"]["input"] == {"total_eur": "12.50", "due": "2026-01-02"}
    assert first["action"]["side_effect"] == "irreversible"


def test_minimal_json_fills_defaults() -> None:
    ctx = DecisionContext.from_json({"action": {"connector": "cms.publish"}, "now": "2026-11-23T10:00:00"},
                                    side_effects={"cms.publish": "reversible"})
    assert ctx.action.kind is ActionKind.CONNECTOR and ctx.action.side_effect == "reversible"
    assert ctx.now.tzinfo is not None and ctx.run.started_at == ctx.now and ctx.actor == "operator"
    assert ctx.record.schema is None


@pytest.mark.parametrize("data, path", [
    ({"action": {"connector": "x"}}, "now"),
    ({"now": "2026-01-01T00:00:00Z"}, "action"),
    ({"now": "yesterday", "action": {"connector": "x"}}, "now"),
    ({"now": "2026-01-01T00:00:00Z", "action": {"kind": "tool"}}, "action.kind"),
    ({"now": "2026-01-01T00:00:00Z", "action": {"kind": "connector"}}, "action.connector"),
    ({"now": "2026-01-01T00:00:00Z", "action": {"kind": "model"}}, "action.route"),
    ({"now": "2026-01-01T00:00:00Z", "action": {"connector": "x", "inputs": {}}}, "action.inputs"),
    ({"now": "2026-01-01T00:00:00Z", "action": {"connector": "x"}, "run": {"cost_usd": "lots"}}, "run.cost_usd"),
    ({"now": "2026-01-01T00:00:00Z", "action": {"connector": "x"}, "run": {"steps_taken": 1.5}}, "run.steps_taken"),
    ({"now": "2026-01-01T00:00:00Z", "action": {"connector": "x"}, "record": {"id": "1"}}, "record.schema"),
    ({"now": "2026-01-01T00:00:00Z", "action": {"connector": "x"}, "actor": 3}, "actor"),
    ({"now": "2026-01-01T00:00:00Z", "action": {"connector": "x"}, "acter": "a"}, "acter"),
    ([], ""),
])
def test_malformed_json_names_the_path(data: object, path: str) -> None:
    with pytest.raises(ContextError) as info:
        DecisionContext.from_json(data)
    assert info.value.path == path


def test_now_must_be_aware() -> None:
    with pytest.raises(ContextError):
        DecisionContext.for_model("default", now=dt.datetime(2026, 1, 1))
