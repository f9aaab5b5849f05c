"""Webhook intake: a small ASGI app (Starlette) that verifies, normalizes and durably journals events.

``POST /hooks/<source>`` with a JSON body (an envelope ``{type?, id?, time?, payload}`` or a bare
payload), signed with the source's secret in one of two ways:

- ``X-Aios-Signature: v1=<hex>`` with ``X-Aios-Timestamp: <unix seconds>``: HMAC-SHA256 over
  ``v1\n<timestamp>\n<X-Aios-Delivery>\n<X-Aios-Event>\n<body>`` (absent headers as empty
  strings). It binds the optional headers ``X-Aios-Delivery`` (the event id, the de-duplication key)
  and ``X-Aios-Event`` (the event type) to the body, and a delivery older or newer than the replay
  window (``--replay-window``, 300 s) is refused, so a captured request cannot be replayed later, nor
  replayed now under another id or type.
- ``X-Aios-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` (GitHub's ``X-Hub-Signature-256``
  too): the body alone. The id and type then come from the body (its envelope, or a hash of it), so
  a replay is a duplicate; ``X-Aios-Delivery`` / ``X-Aios-Event`` with such a signature are refused,
  because nothing vouches for them.

Checks run cheapest first and the body is never parsed before its signature is verified. Answers are
JSON: ``202`` accepted (durable: the event is committed before the answer), ``200`` a redelivery of a
known id (nothing new happens), ``400`` malformed or beyond a payload limit of `aios.limits` (NaN or
infinity, nesting, integer length, lone surrogates; the ``error`` field names which), ``401`` a missing, wrong or expired signature or
unsigned id/type headers, ``404`` unknown source, ``413`` body too large, ``415`` not JSON, ``503`` source not configured or server stopping.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aios.live.events import EventError, webhook_event
from aios.live.journal import GroupCommitter
from aios.live.routing import WEBHOOK_SECRET_PREFIX, WebhookSource, webhook_sources
from aios.plan.plan import Plan
from aios.signing import sign, sign_v1

__all__ = ["IntakeConfig", "webhook_app", "sign", "sign_v1", "signed_headers", "DEFAULT_MAX_BODY",
           "DEFAULT_REPLAY_WINDOW_S"]

DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_REPLAY_WINDOW_S = 300.0
_SIGNATURE_HEADERS = ("x-aios-signature", "x-hub-signature-256")


def signed_headers(secret: str, body: bytes, *, delivery: str | None = None, event: str | None = None,
                   timestamp: int | None = None) -> dict[str, str]:
    """Every header a sender needs for a ``v1`` delivery (timestamped now unless given)."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"content-type": "application/json", "x-aios-timestamp": str(ts),
               "x-aios-signature": sign_v1(secret, body, ts, delivery=delivery, event=event)}
    if delivery is not None:
        headers["x-aios-delivery"] = delivery
    if event is not None:
        headers["x-aios-event"] = event
    return headers


def _verify(secret: str, body: bytes, headers: Mapping[str, str], window_s: float) -> tuple[str, str] | None:
    """None when the delivery is authentic and fresh; else (error code, message) for a 401."""
    given = next((headers[h] for h in _SIGNATURE_HEADERS if h in headers), None)
    if given is None:
        return "signature-missing", "the request has no X-Aios-Signature header"
    given = given.strip()
    delivery, event = headers.get("x-aios-delivery"), headers.get("x-aios-event")
    if given.startswith("v1="):
        stamp = headers.get("x-aios-timestamp", "").strip()
        if not stamp.isdigit():
            return "timestamp-missing", "a v1 signature needs X-Aios-Timestamp: <unix seconds>"
        expected = sign_v1(secret, body, int(stamp), delivery=delivery, event=event)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return "signature-invalid", ("the signature does not match the timestamp, delivery id, event type "
                                         "and body")
        skew = time.time() - int(stamp)
        if abs(skew) > window_s:
            return "signature-expired", (f"the delivery is timestamped {abs(skew):.0f} s in the "
                                         f"{'past' if skew > 0 else 'future'}; the replay window is {window_s:g} s")
        return None
    if not hmac.compare_digest(given.encode(), sign(secret, body).encode()):
        return "signature-invalid", "the signature does not match the body"
    if delivery is not None or event is not None:
        return "headers-unsigned", ("X-Aios-Delivery and X-Aios-Event are accepted only with a v1 signature, "
                                    "which covers them; a sha256= signature covers the body alone")
    return None


@dataclass
class IntakeConfig:
    plan: Callable[[], Plan]  # the live plan (read per request, so a reload applies at once)
    journal: GroupCommitter
    max_body: int = DEFAULT_MAX_BODY
    replay_window_s: float = DEFAULT_REPLAY_WINDOW_S
    closing: bool = False
    status: Callable[[], dict[str, object]] | None = None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _json_media_type(value: str | None) -> bool:
    if not value:
        return True
    media = value.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json", "text/plain") or media.endswith("+json")


def webhook_app(config: IntakeConfig) -> Starlette:
    cache: dict[str, dict[str, WebhookSource]] = {}

    def sources() -> dict[str, WebhookSource]:
        plan = config.plan()
        found = cache.get(plan.content_hash)
        if found is None:
            cache.clear()
            found = cache[plan.content_hash] = webhook_sources(plan)
        return found

    async def hook(request: Request) -> Response:
        if config.closing:
            return _error(503, "shutting-down", "the server is stopping; deliver again later")
        name = request.path_params["source"]
        source = sources().get(name)
        if source is None:
            return _error(404, "unknown-source", f"no webhook source `{name}` in this workspace")
        secret = os.environ.get(source.env) if source.env else None
        if not secret:
            return _error(503, "source-not-configured",
                          f"webhook source `{name}` has no signing secret configured on the server "
                          f"(a secret `{WEBHOOK_SECRET_PREFIX}{name}` in aios.yaml, set in the environment)")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > config.max_body):
            if not length.isdigit():
                return _error(400, "bad-content-length", "Content-Length is not a number")
            return _error(413, "body-too-large", f"the body is larger than {config.max_body} bytes")
        if not _json_media_type(request.headers.get("content-type")):
            return _error(415, "unsupported-media-type", "the body must be JSON (Content-Type: application/json)")
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > config.max_body:
                    return _error(413, "body-too-large", f"the body is larger than {config.max_body} bytes")
        except ClientDisconnect:
            return Response(status_code=400)
        refused = _verify(secret, bytes(body), request.headers, config.replay_window_s)
        if refused is not None:
            return _error(401, *refused)
        try:
            event = webhook_event(name, bytes(body), event_type=request.headers.get("x-aios-event"),
                                  delivery_id=request.headers.get("x-aios-delivery"))
        except EventError as err:  # malformed, or beyond a payload limit: sending it again cannot help
            return _error(413 if err.code == "payload-too-large" else 400, err.code, str(err))
        try:
            new = await asyncio.wrap_future(config.journal.submit(event))
        except Exception:
            return _error(503, "store-unavailable", "the event could not be stored; deliver again later")
        return JSONResponse({"accepted": True, "id": event.id, "type": event.type, "duplicate": not new},
                            status_code=202 if new else 200)

    async def health(request: Request) -> Response:
        plan = config.plan()
        body: dict[str, object] = {"ok": not config.closing, "plan": plan.content_hash}
        if config.status is not None:
            body.update(config.status())
        return JSONResponse(body)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, "not-found", "POST /hooks/<source> delivers an event; GET /healthz reports status")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, "method-not-allowed", f"{request.method} is not allowed here")

    return Starlette(routes=[Route("/hooks/{source}", hook, methods=["POST"]),
                             Route("/healthz", health, methods=["GET"])],
                     exception_handlers={404: not_found, 405: not_allowed})
