"""Remote models through litellm (imported here, on the first remote call, never at start-up).

Provider faults (429, 5xx, timeouts, connection errors, unparseable responses) are retried up to the
route's ``max_retries`` with exponential backoff (a provider's ``Retry-After`` is honoured up to the
cap); client errors (auth, bad request, unknown model) are not. Structured output is requested with
the schema, parsed, validated, and on failure sent back to the model with the validation errors, up
to ``max_retries`` more times. Every attempt's tokens and cost are added up, failed ones included,
and the run's remaining budget is checked before each attempt.
"""

from __future__ import annotations

import functools
import json
import random
import re
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aios.models.adapter import BudgetExceeded, ModelError, ModelRequest, ModelResult, Usage
from aios.runtime.validation import validate_record

if TYPE_CHECKING:
    from aios.models.adapter import ModelAdapter
    from aios.plan.plan import ModelRoute

__all__ = ["complete_remote", "extract_json", "ProviderRetries", "RETRY"]

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def extract_json(text: str) -> Any:
    """Parse the model's reply as JSON, tolerating a Markdown code fence around it."""
    stripped = text.strip()
    m = _FENCE.match(stripped)
    if m:
        stripped = m.group(1)
    return json.loads(stripped)


def _retry_after(err: BaseException) -> float | None:
    response = getattr(err, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        value = headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _usage_of(litellm: Any, route: Any, response: Any) -> Usage:
    usage = getattr(response, "usage", None)
    pt = int(getattr(usage, "prompt_tokens", 0) or 0)
    ct = int(getattr(usage, "completion_tokens", 0) or 0)
    if route.input_cost_per_1k is not None or route.output_cost_per_1k is not None:
        cost = pt / 1000 * (route.input_cost_per_1k or 0.0) + ct / 1000 * (route.output_cost_per_1k or 0.0)
    else:
        try:
            cost = float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:  # an unpriced model: tokens are still counted
            cost = 0.0
    return Usage(pt, ct, cost)


def _messages(request: ModelRequest) -> list[dict[str, str]]:
    system = request.system
    if request.schema is not None:
        system += ("\n\nReply with one JSON object only, matching this JSON Schema:\n"
                   + json.dumps(request.schema.to_json_schema(), separators=(",", ":")))
    user = request.prompt
    if request.input is not None and not request.prompt.strip():
        user = json.dumps(request.input, ensure_ascii=False, default=str)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_PERMANENT = ("AuthenticationError", "BadRequestError", "NotFoundError", "PermissionDeniedError",
              "UnprocessableEntityError")
RETRY = object()  # what `ProviderRetries.call` returns when the caller should try again


class ProviderRetries:
    """The retry policy of every provider call (completions, embeddings): client errors fail at once;
    provider faults (429, 5xx, timeouts, connection errors, malformed replies) are retried up to the
    route's ``max_retries``, with the adapter's backoff and any Retry-After the provider sent."""

    def __init__(self, litellm: Any, route: ModelRoute, adapter: ModelAdapter) -> None:
        self.permanent = tuple(getattr(litellm, name) for name in _PERMANENT)
        self.route = route
        self.adapter = adapter
        self.left = route.max_retries

    def call(self, fn: Callable[[], Any], *, attempts: int, spent: Usage, problems: list[str]) -> Any:
        """``fn()``'s result, or `RETRY` after a fault that leaves retries (the backoff is already slept)."""
        try:
            return fn()
        except self.permanent as err:
            raise ModelError(f"{self.route.model}: {type(err).__name__}: {_short(err)}", transient=False,
                             usage=spent, attempts=attempts) from err
        except Exception as err:  # 429, 5xx, timeouts, connection errors, unparseable responses
            problem = _connection_failure(err, self.route.api_base) or f"{type(err).__name__}: {_short(err)}"
            problems.append(f"attempt {attempts}: {problem}")
            if self.left <= 0:
                raise ModelError(f"{self.route.model}: gave up after {attempts} attempt(s): {problems[-1]}",
                                 transient=True, usage=spent, attempts=attempts) from err
            self.left -= 1
            self.adapter.sleep(_delay(self.adapter, self.route.max_retries - self.left, _retry_after(err)))
            return RETRY


def complete_remote(request: ModelRequest, adapter: ModelAdapter) -> ModelResult:
    from aios.models.litellm_loader import load_litellm

    litellm = load_litellm()

    route = request.route
    messages = _messages(request)
    response_format: dict[str, Any] | None = None
    if request.schema is not None:
        response_format = {"type": "json_schema", "json_schema": {
            "name": request.schema.name, "schema": request.schema.to_json_schema(), "strict": False}}
    retries = ProviderRetries(litellm, route, adapter)
    invalid_left = route.max_retries
    spent = Usage()
    problems: list[str] = []
    attempts = 0
    while True:
        if request.budget_usd is not None and spent.cost_usd >= request.budget_usd:
            raise BudgetExceeded(f"run budget exhausted after {attempts} attempt(s) "
                                 f"(${spent.cost_usd:.6f} of ${request.budget_usd:.6f} left)", spent, attempts)
        attempts += 1
        kwargs: dict[str, Any] = {
            "model": route.model, "messages": messages, "temperature": route.temperature,
            "timeout": route.timeout_s, "num_retries": 0, "max_retries": 0,
        }
        if route.api_base:
            kwargs["api_base"] = route.api_base
        if request.api_key:
            kwargs["api_key"] = request.api_key
        if route.max_tokens:
            kwargs["max_tokens"] = route.max_tokens
        if response_format is not None:
            kwargs["response_format"] = response_format
        response = retries.call(functools.partial(litellm.completion, **kwargs), attempts=attempts,
                                spent=spent, problems=problems)
        if response is RETRY:
            continue
        spent = spent.plus(_usage_of(litellm, route, response))
        try:
            content = response.choices[0].message.content or ""
        except (AttributeError, IndexError) as err:
            content = ""
            problems.append(f"attempt {attempts}: response has no message ({err})")
        if request.schema is None:
            return ModelResult(content, route.model, spent, attempts, tuple(problems))
        try:
            value = extract_json(content)
            clean, errors = validate_record(request.schema, value)
        except json.JSONDecodeError as err:
            errors = [f"the reply is not JSON ({err.msg} at position {err.pos})"]
            clean = {}
        if not errors:
            return ModelResult(clean, route.model, spent, attempts, tuple(problems))
        problems.append(f"attempt {attempts}: output invalid: " + "; ".join(errors))
        if invalid_left <= 0:
            raise ModelError(f"{route.model}: output did not match {request.schema.name} after {attempts} "
                             f"attempt(s): " + "; ".join(errors), transient=False, usage=spent,
                             attempts=attempts)
        invalid_left -= 1
        messages = [*messages, {"role": "assistant", "content": content},
                    {"role": "user", "content": "That reply does not validate against the schema:\n- "
                     + "\n- ".join(errors) + "\nReply again with only the corrected JSON object."}]


def _delay(adapter: ModelAdapter, retry_no: int, retry_after: float | None) -> float:
    if retry_after is not None and retry_after >= 0:
        return float(min(retry_after, adapter.max_backoff_s))
    base = min(adapter.backoff_s * (2 ** (retry_no - 1)), adapter.max_backoff_s)
    return float(base / 2 + random.uniform(0, base / 2))


def _connection_failure(err: BaseException, api_base: str | None) -> str | None:
    """``cannot connect to <api_base>: connection refused`` when the call failed because no connection
    could be made (litellm reports that as an `InternalServerError`); the cause is found in the chain
    of exceptions that led to ``err``."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    reason: str | None = None
    url: str | None = None
    while todo:
        exc = todo.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        if isinstance(exc, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(exc, socket.gaierror):
            reason = reason or "the host name does not resolve"
        elif isinstance(exc, ConnectionError):
            reason = reason or (exc.strerror or type(exc).__name__).lower()
        if url is None:
            try:
                request = getattr(exc, "request", None)  # httpx raises when an error carries no request
            except RuntimeError:
                request = None
            found: Any = getattr(request, "url", None)
            if found is not None and hasattr(found, "netloc"):
                url = f"{found.scheme}://{found.netloc.decode()}"
        todo.extend((exc.__cause__, exc.__context__))
    if reason is None:
        return None
    return f"cannot connect to {api_base or url or 'the provider'}: {reason}"


def _short(err: BaseException) -> str:
    text = str(err).replace("\n", " ")
    return text if len(text) <= 240 else text[:237] + "..."
