"""One adapter for every model call: requests and results are frozen values, errors say whether a
retry may help, and cost and tokens are reported even when a call fails."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aios.errors import RunError
from aios.models import offline
from aios.plan.plan import ModelRoute
from aios.plan.types import RecordType

if TYPE_CHECKING:
    from aios.models.embedding import EmbeddingRequest, EmbeddingResult

__all__ = ["ModelRequest", "ModelResult", "ModelError", "BudgetExceeded", "ModelAdapter", "Usage", "embed"]


@dataclass(frozen=True, slots=True)
class ModelRequest:
    route: ModelRoute
    system: str  # the agent's role
    prompt: str  # the rendered prompt template
    input: Any  # the step's rendered input (JSON)
    schema: RecordType | None  # the output schema; None means free text
    api_key: str | None = field(default=None, repr=False)  # resolved from the secret's env var, never logged
    budget_usd: float | None = None  # what is left of the run's budget


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def plus(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                     self.cost_usd + other.cost_usd)


@dataclass(frozen=True, slots=True)
class ModelResult:
    output: Any
    model: str
    usage: Usage
    attempts: int = 1
    problems: tuple[str, ...] = ()  # transient errors and validation errors met on the way


class ModelError(RunError):
    """A model call failed. ``transient`` says whether retrying the step may help."""

    def __init__(self, message: str, *, transient: bool, usage: Usage = Usage(), attempts: int = 1) -> None:
        super().__init__(message)
        self.transient = transient
        self.usage = usage
        self.attempts = attempts


class BudgetExceeded(ModelError):
    def __init__(self, message: str, usage: Usage = Usage(), attempts: int = 0) -> None:
        super().__init__(message, transient=False, usage=usage, attempts=attempts)


class ModelAdapter:
    """Routes a request to the offline model or to litellm.

    ``backoff_s`` is the first delay between retries of transient provider errors (doubled each time,
    capped at ``max_backoff_s``, or the provider's ``Retry-After`` when it is shorter than the cap).
    """

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep, backoff_s: float = 0.5,
                 max_backoff_s: float = 8.0) -> None:
        self.sleep = sleep
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s

    def complete(self, request: ModelRequest) -> ModelResult:
        if request.route.offline:
            return self._offline(request)
        from aios.models.remote import complete_remote

        return complete_remote(request, self)

    def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """One unit-length vector per text: the offline sketch (see ``aios.models.offline_embedding``)
        for an offline route, litellm's ``embedding()`` for any other. Raises ``ModelError``."""
        from aios.models.embedding import embed_request

        return embed_request(request, self)

    @staticmethod
    def _offline(request: ModelRequest) -> ModelResult:
        output = offline.generate(request.schema, request.input, request.prompt)
        prompt_text = request.system + "\n" + request.prompt + "\n" + json.dumps(request.input, default=str)
        usage = Usage(offline.count_tokens(prompt_text),
                      offline.count_tokens(json.dumps(output, default=str)), 0.0)
        return ModelResult(output, "offline", usage)


def embed(route: ModelRoute, texts: list[str] | tuple[str, ...], api_key: str | None = None
          ) -> list[tuple[float, ...]]:
    """``embed(route, texts) -> list[vector]`` through a default adapter (see ``ModelAdapter.embed``)."""
    from aios.models.embedding import EmbeddingRequest

    return list(ModelAdapter().embed(EmbeddingRequest(route, tuple(texts), api_key)).vectors)
