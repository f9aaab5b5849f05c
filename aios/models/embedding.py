"""Embeddings through the model adapter: one vector per text, from the offline sketch or from a
provider through litellm (imported on the first remote call only).

Remote calls send the texts in batches of ``BATCH``; provider faults (429, 5xx, timeouts, connection
errors, malformed bodies) are retried up to the route's ``max_retries`` with the adapter's backoff;
client errors (auth, bad request, unknown model) are not. A reply must hold one vector per text, all of
one length, or the call fails. Vectors are returned L2-normalised, so a dot product is a cosine.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aios.models.adapter import ModelError, Usage
from aios.plan.plan import ModelRoute

if TYPE_CHECKING:
    from aios.models.adapter import ModelAdapter

__all__ = ["EmbeddingRequest", "EmbeddingResult", "BATCH", "embed_request", "model_id", "normalise"]

BATCH = 64  # texts per provider request


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    route: ModelRoute
    texts: tuple[str, ...]
    api_key: str | None = field(default=None, repr=False)  # resolved from the secret's env var, never logged


@dataclass(frozen=True, slots=True)
class EmbeddingResult:
    vectors: tuple[tuple[float, ...], ...]  # one unit-length vector per text, in order
    model: str
    usage: Usage = Usage()
    attempts: int = 1
    problems: tuple[str, ...] = ()


def model_id(route: ModelRoute) -> str:
    """What produced a vector: vectors of different ids are never compared."""
    if route.offline:
        from aios.models.offline_embedding import MODEL_ID

        return MODEL_ID
    return f"{route.model}@{route.api_base or ''}"


def normalise(vec: Sequence[float]) -> tuple[float, ...]:
    norm = math.sqrt(sum(x * x for x in vec))
    return tuple(x / norm for x in vec) if norm > 0 else tuple(float(x) for x in vec)


def embed_request(request: EmbeddingRequest, adapter: ModelAdapter) -> EmbeddingResult:
    if not request.texts:
        return EmbeddingResult((), model_id(request.route))
    if request.route.offline:
        from aios.models.offline_embedding import MODEL_ID, embed_offline

        vectors = tuple(tuple(v) for v in embed_offline(request.texts))
        return EmbeddingResult(vectors, MODEL_ID)
    return _remote(request, adapter)


def _remote(request: EmbeddingRequest, adapter: ModelAdapter) -> EmbeddingResult:
    from aios.models.litellm_loader import load_litellm
    from aios.models.remote import RETRY, ProviderRetries

    litellm = load_litellm()  # quiet: no banner, no log lines of its own
    _build_response_types(litellm)

    route = request.route
    vectors: list[tuple[float, ...]] = []
    spent = Usage()
    problems: list[str] = []
    attempts = 0
    for start in range(0, len(request.texts), BATCH):
        chunk = list(request.texts[start:start + BATCH])
        retries = ProviderRetries(litellm, route, adapter)  # each batch has the route's retries
        while True:
            attempts += 1
            kwargs: dict[str, Any] = {"model": route.model, "input": chunk, "timeout": route.timeout_s,
                                      "num_retries": 0, "max_retries": 0, "encoding_format": "float"}
            if route.api_base:
                kwargs["api_base"] = route.api_base
            if request.api_key:
                kwargs["api_key"] = request.api_key
            client = _openai_client(litellm, route, request.api_key)
            if client is not None:
                kwargs["client"] = client
            def attempt(kwargs: dict[str, Any] = kwargs, size: int = len(chunk)) -> Any:
                response = litellm.embedding(**kwargs)
                return response, _vectors_of(response, size)  # a malformed reply is a provider fault

            try:
                outcome = retries.call(attempt, attempts=attempts, spent=spent, problems=problems)
            finally:
                if client is not None:
                    client.close()
            if outcome is RETRY:
                continue
            response, got = outcome
            spent = spent.plus(_usage_of(litellm, route, response))
            vectors.extend(got)
            break
    dims = {len(v) for v in vectors}
    if len(dims) > 1:
        raise ModelError(f"{route.model}: vectors of different lengths {sorted(dims)}", transient=False,
                         usage=spent, attempts=attempts)
    return EmbeddingResult(tuple(vectors), model_id(route), spent, attempts, tuple(problems))


@functools.cache
def _build_response_types(litellm: Any) -> None:
    """Build litellm's chat response types now. pydantic builds them on first use and warns about
    their ``ReadOnly`` items; litellm silences that with a filter set when it is imported, which a
    process that resets its filters afterwards (a test runner) no longer has when a completion later
    builds them."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*`ReadOnly` qualifier.*")
        litellm.ModelResponse()


def _openai_client(litellm: Any, route: ModelRoute, api_key: str | None) -> Any:
    """For the OpenAI provider, a client that never retries by itself. litellm's ``embedding()``
    turns ``max_retries=0`` into its default (2) and sets that on any client it is given, so the
    client ignores the setting; retries are counted (and backed off) here, as for completions."""
    if not api_key:
        return None
    try:
        provider = litellm.get_llm_provider(model=route.model, api_base=route.api_base)[1]
    except Exception:
        return None
    if provider != "openai":
        return None
    return _no_retry_client_class()(api_key=api_key, base_url=route.api_base, timeout=route.timeout_s)


@functools.cache
def _no_retry_client_class() -> type[Any]:
    import openai

    class NoRetryOpenAI(openai.OpenAI):
        @property
        def max_retries(self) -> int:
            return 0

        @max_retries.setter
        def max_retries(self, value: int) -> None:
            return

    return NoRetryOpenAI


class _MalformedReply(ValueError):
    pass


def _vectors_of(response: Any, expected: int) -> list[tuple[float, ...]]:
    data = getattr(response, "data", None)
    if not isinstance(data, list) or len(data) != expected:
        raise _MalformedReply(f"expected {expected} vector(s), got {len(data) if isinstance(data, list) else 'none'}")
    items = []
    for pos, item in enumerate(data):
        index = item.get("index", pos) if isinstance(item, dict) else getattr(item, "index", pos)
        vec = item.get("embedding") if isinstance(item, dict) else getattr(item, "embedding", None)
        if not isinstance(vec, list) or not vec or not all(isinstance(x, (int, float)) for x in vec):
            raise _MalformedReply(f"item {pos} holds no vector of numbers")
        items.append((int(index), normalise([float(x) for x in vec])))
    items.sort(key=lambda iv: iv[0])
    if [i for i, _ in items] != list(range(expected)):
        raise _MalformedReply("the reply's vector indexes do not match the texts")
    return [v for _, v in items]


def _usage_of(litellm: Any, route: ModelRoute, response: Any) -> Usage:
    usage = getattr(response, "usage", None)
    pt = int(getattr(usage, "prompt_tokens", 0) or 0)
    if route.input_cost_per_1k is not None:
        return Usage(pt, 0, pt / 1000 * route.input_cost_per_1k)
    try:
        cost = float(litellm.completion_cost(completion_response=response, call_type="embedding") or 0.0)
    except Exception:  # an unpriced model: tokens are still counted
        cost = 0.0
    return Usage(pt, 0, cost)
