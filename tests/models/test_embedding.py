"""Embeddings through the model adapter: the offline sketch (deterministic, unit length, lexical) and
litellm's ``embedding()`` against a real OpenAI-compatible ``/v1/embeddings`` server on 127.0.0.1."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from aios.models import ModelError
from aios.models.adapter import ModelAdapter, embed
from aios.models.embedding import EmbeddingRequest, model_id
from aios.models.offline_embedding import DIMS, MODEL_ID, embed_offline, features
from aios.plan.plan import ModelRoute

from .openai_server import FakeOpenAI, hang, letters, raw, status, vectors

OFFLINE = ModelRoute("embed", "offline")


def cos(a: Any, b: Any) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_offline_vectors_are_deterministic_unit_length_and_lexical() -> None:
    texts = ["Heat pumps for old houses", "heat pump retrofits in older housing", "Invoice refund policy", ""]
    a, b = embed(OFFLINE, texts), embed(OFFLINE, texts)
    assert a == b and len(a) == 4 and all(len(v) == DIMS for v in a)
    assert all(math.isclose(math.sqrt(cos(v, v)), 1.0) for v in a[:3])
    assert not any(a[3])  # no words, no direction
    assert cos(a[0], a[1]) > 0.4 > cos(a[0], a[2])
    # Inflections share a stem, and a misspelling shares most trigrams.
    assert "w:pump" in features("pumps pumping") and "w:hous" in features("houses")
    (x, y, z) = embed_offline(["aerodynamic heating", "aerodynamics heated", "supplier invoice"])
    assert cos(x, y) > 0.6 and cos(x, z) < 0.2


def test_offline_vectors_are_the_same_in_another_process() -> None:
    code = "from aios.models.offline_embedding import embed_offline; print(repr(embed_offline(['Rush jobs cost 50 percent more'])[0][:40]))"
    out = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONHASHSEED": seed}, timeout=60).stdout for seed in ("1", "2")]
    assert out[0] == out[1] == repr(embed_offline(["Rush jobs cost 50 percent more"])[0][:40]) + "\n"


def test_model_ids_name_what_made_a_vector() -> None:
    assert model_id(OFFLINE) == MODEL_ID
    assert model_id(ModelRoute("e", "openai/text-embedding-3-small", api_base="http://h/v1")) \
        == "openai/text-embedding-3-small@http://h/v1"


# -- remote, through litellm -------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as s:
        yield s


def remote(server: FakeOpenAI, **kw: Any) -> ModelRoute:
    base: dict[str, Any] = {"timeout_s": 2.0, "max_retries": 2}
    base.update(kw)
    return ModelRoute("embed", "openai/text-embedding-3-small", api_base=server.base, **base)


def adapter() -> ModelAdapter:
    return ModelAdapter(backoff_s=0.01, max_backoff_s=0.05)


def ask(server: FakeOpenAI, texts: tuple[str, ...], **kw: Any) -> Any:
    return adapter().embed(EmbeddingRequest(remote(server, **kw), texts, "sk-embed"))


def test_remote_vectors_come_back_normalised_in_order_with_usage(server: FakeOpenAI) -> None:
    res = ask(server, ("abc", "zzz"), input_cost_per_1k=0.02)
    assert res.attempts == 1 and res.model == f"openai/text-embedding-3-small@{server.base}"
    expected = [x / math.sqrt(sum(y * y for y in letters(t))) for t in ("abc", "zzz") for x in letters(t)]
    assert [x for v in res.vectors for x in v] == pytest.approx(expected)
    assert res.usage.prompt_tokens == 2 and res.usage.cost_usd == pytest.approx(2 / 1000 * 0.02)
    (req,) = server.requests
    assert req["path"] == "/v1/embeddings" and req["auth"] == "Bearer sk-embed"
    assert req["body"]["input"] == ["abc", "zzz"] and req["body"]["model"] == "text-embedding-3-small"


def test_remote_texts_go_in_batches(server: FakeOpenAI) -> None:
    texts = tuple(f"text {i} " + "x" * (i % 7) for i in range(150))
    res = ask(server, texts)
    assert len(res.vectors) == 150 and [len(r["body"]["input"]) for r in server.requests] == [64, 64, 22]
    assert list(res.vectors[149]) == pytest.approx(list(ask(server, (texts[149],)).vectors[0]))


def test_remote_faults_are_retried_each_as_one_request(server: FakeOpenAI) -> None:
    server.embed_script.extend([status(429, {"retry-after": "0"}), status(500), raw(b"not json")])
    res = ask(server, ("abc",), max_retries=3)
    assert res.attempts == 4 and len(server.requests) == 4 and len(res.problems) == 3
    assert "RateLimitError" in res.problems[0]


def test_remote_gives_up_and_says_why(server: FakeOpenAI) -> None:
    server.embed_script.extend([status(503)] * 3)
    with pytest.raises(ModelError) as err:
        ask(server, ("abc",))
    assert err.value.transient and err.value.attempts == 3 and "gave up after 3" in str(err.value)
    server.embed_script.append(status(401))
    with pytest.raises(ModelError) as err:
        ask(server, ("abc",))
    assert not err.value.transient and "AuthenticationError" in str(err.value)


def test_remote_reply_with_the_wrong_number_of_vectors_is_a_fault(server: FakeOpenAI) -> None:
    server.embed_script.extend([vectors([[1.0, 0.0]])] * 3)
    with pytest.raises(ModelError) as err:
        ask(server, ("a", "b"))
    assert "expected 2 vector(s), got 1" in str(err.value)


def test_remote_timeout_is_a_transient_fault(server: FakeOpenAI) -> None:
    server.embed_script.extend([hang(3), hang(3)])
    with pytest.raises(ModelError) as err:
        ask(server, ("abc",), timeout_s=0.3, max_retries=1)
    assert err.value.transient and err.value.attempts == 2
