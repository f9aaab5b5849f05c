"""The litellm path against a real OpenAI-compatible server on 127.0.0.1: 429, 500, timeouts,
malformed bodies, structured output validated and retried with the validation error, token and
cost accounting, and the per-run budget (in the adapter and through the interpreter)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aios.models import BudgetExceeded, ModelAdapter, ModelError, ModelRequest
from aios.plan.plan import Agent, ModelRoute, RecordWrite, Secret, StepKind
from aios.runtime.interpreter import Runtime
from aios.runtime.runstate import RunStatus
from tests.runtime.planbuild import make_plan, record, step, tpl

from .openai_server import FakeOpenAI, hang, raw, reply, status

NOTE = record("Note", title="str", words="int")
GOOD = {"title": "Heat pumps", "words": 120}


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        yield s


def route(server: FakeOpenAI, **kw: Any) -> ModelRoute:
    base = {"timeout_s": 2.0, "max_retries": 2}
    base.update(kw)
    return ModelRoute("smart", "openai/gpt-4o-mini", api_base=server.base, **base)


def adapter() -> ModelAdapter:
    return ModelAdapter(backoff_s=0.01, max_backoff_s=0.05)


def ask(server: FakeOpenAI, budget: float | None = None, **kw: Any) -> Any:
    return adapter().complete(ModelRequest(route(server, **kw), "You write notes.", "Write a note about heat pumps.",
                                           {"topic": "heat pumps"}, NOTE, "sk-test", budget))


def test_structured_output_tokens_and_cost(server: FakeOpenAI) -> None:
    server.script.append(reply(GOOD, 1000, 500))
    res = ask(server, input_cost_per_1k=0.15, output_cost_per_1k=0.6)
    assert res.output == GOOD and res.attempts == 1 and res.model == "openai/gpt-4o-mini"
    assert (res.usage.prompt_tokens, res.usage.completion_tokens) == (1000, 500)
    assert res.usage.cost_usd == pytest.approx(1000 / 1000 * 0.15 + 500 / 1000 * 0.6)
    (req,) = server.requests
    assert req["auth"] == "Bearer sk-test"
    body = req["body"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["title", "words"]
    assert "JSON Schema" in body["messages"][0]["content"]


def test_cost_from_litellm_price_map_when_the_route_sets_none(server: FakeOpenAI) -> None:
    server.script.append(reply(GOOD, 1000, 1000))
    res = ask(server)
    assert res.usage.cost_usd > 0  # gpt-4o-mini is priced in litellm's bundled map


def test_429_is_retried(server: FakeOpenAI) -> None:
    server.script.extend([status(429, {"retry-after": "0"}), reply(GOOD)])
    res = ask(server)
    assert res.output == GOOD and res.attempts == 2 and len(server.requests) == 2
    assert "RateLimitError" in res.problems[0]


def test_500_is_retried_then_given_up(server: FakeOpenAI) -> None:
    server.script.extend([status(500), status(500), reply(GOOD)])
    assert ask(server).attempts == 3
    server.script.extend([status(500)] * 3)
    with pytest.raises(ModelError) as err:
        ask(server)
    assert err.value.transient and err.value.attempts == 3 and "gave up" in str(err.value)
    assert len(server.requests) == 6


def test_timeout_is_retried(server: FakeOpenAI) -> None:
    server.script.extend([hang(3.0), reply(GOOD)])
    t0 = time.monotonic()
    res = ask(server, timeout_s=0.5)
    assert res.output == GOOD and res.attempts == 2
    assert "Timeout" in res.problems[0] or "timed out" in res.problems[0].lower()
    assert time.monotonic() - t0 < 3.0


def test_malformed_body_is_retried(server: FakeOpenAI) -> None:
    server.script.extend([raw(b"{this is not json"), reply(GOOD)])
    res = ask(server)
    assert res.output == GOOD and res.attempts == 2 and len(res.problems) == 1


def test_invalid_output_is_sent_back_with_the_validation_error(server: FakeOpenAI) -> None:
    server.script.extend([reply({"title": 3}), reply("```json\n" + '{"title": "ok", "words": 7}' + "\n```")])
    res = ask(server)
    assert res.output == {"title": "ok", "words": 7} and res.attempts == 2
    second = server.requests[1]["body"]["messages"]
    assert second[-2] == {"role": "assistant", "content": '{"title": 3}'}
    assert "field `title`: expected str" in second[-1]["content"]
    assert "field `words` is required" in second[-1]["content"]


def test_output_that_never_validates_fails_permanently(server: FakeOpenAI) -> None:
    server.script.extend([reply("not json at all")] * 3)
    with pytest.raises(ModelError) as err:
        ask(server)
    assert not err.value.transient and "did not match Note" in str(err.value)
    assert err.value.usage.prompt_tokens == 300  # failed attempts are still counted


def test_auth_errors_are_not_retried(server: FakeOpenAI) -> None:
    server.script.append(status(401))
    with pytest.raises(ModelError) as err:
        ask(server)
    assert not err.value.transient and len(server.requests) == 1


def test_budget_stops_further_attempts(server: FakeOpenAI) -> None:
    server.script.extend([reply({"title": 1}, 1000, 1000), reply(GOOD)])
    with pytest.raises(BudgetExceeded) as err:
        ask(server, budget=0.5, input_cost_per_1k=0.25, output_cost_per_1k=0.5)
    assert err.value.usage.cost_usd == pytest.approx(0.75) and len(server.requests) == 1


def test_run_budget_and_cost_accounting_through_the_interpreter(server: FakeOpenAI, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOS_TEST_KEY", "sk-from-env")
    plan = make_plan(
        [step(f"s{i}", StepKind.AGENT, agent="writer", input=tpl("{{ event.payload }}"),
              needs=((f"s{i - 1}",) if i else ()), writes=RecordWrite("Note") if i == 0 else None)
         for i in range(3)],
        schemas=[NOTE], agents=[Agent("writer", "Write.", "smart", "p.j2", output_schema="Note")],
        prompts=[("p.j2", "{{ input }}")], budget_usd=0.015,
        routes=[route(server, api_key_secret="key", input_cost_per_1k=0.01, output_cost_per_1k=0.0)])
    plan = dataclasses.replace(plan, secrets=(Secret("key", "AIOS_TEST_KEY"),))
    server.script.extend([reply(GOOD, 1000, 10), reply(GOOD, 1000, 10), reply(GOOD, 1000, 10)])
    with Runtime(plan, tmp_path, storage=tmp_path / ".aios", sleep=lambda s: None) as rt:
        out = rt.start("pb", {"type": "test.event", "payload": {"topic": "x"}})
        assert out.status is RunStatus.FAILED and out.failed_step == "s2" and "budget" in (out.error or "")
        assert len(server.requests) == 2 and server.requests[0]["auth"] == "Bearer sk-from-env"
        row = rt.store.query("SELECT cost_usd, tokens FROM runs")[0]
        assert row["cost_usd"] == pytest.approx(0.02) and row["tokens"] == 2020
        costs = rt.store.query("SELECT json_extract(body, '$.cost.usd'), json_extract(body, '$.cost.pt') "
                               "FROM log WHERE type = 'step.completed'")
        assert [tuple(c) for c in costs] == [(0.01, 1000), (0.01, 1000)]
        assert "sk-from-env" not in "".join(r[0] for r in rt.store.query("SELECT body FROM log"))
