"""Webhook intake: a small ASGI app (Starlette) that verifies, normalizes and durably journals events.

``POST /hooks/<source>`` with a JSON body (an envelope ``{type?, id?, time?, payload}`` or a bare
payload) and ``X-Aios-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` (GitHub's
``X-Hub-Signature-256`` is accepted too). Optional headers: ``X-Aios-Event`` (the event type) and
``X-Aios-Delivery`` (the event id, the de-duplication key).

Checks run cheapest first and the body is never parsed before its signature is verified. Answers are
JSON: ``202`` accepted (durable: the event is committed before the answer), ``200`` a redelivery of a
known id (nothing new happens), ``400`` malformed, ``401`` missing or wrong signature, ``404`` unknown
source, ``413`` body too large, ``415`` not JSON, ``503`` source not configured or server stopping.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aios.live.events import EventError, webhook_event
from aios.live.journal import GroupCommitter
from aios.live.routing import WEBHOOK_SECRET_PREFIX, WebhookSource, webhook_sources
from aios.plan.plan import Plan

__all__ = ["IntakeConfig", "webhook_app", "sign", "DEFAULT_MAX_BODY"]

DEFAULT_MAX_BODY = 1024 * 1024
_SIGNATURE_HEADERS = ("x-aios-signature", "x-hub-signature-256")


def sign(secret: str, body: bytes) -> str:
    """The signature header value a sender computes: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class IntakeConfig:
    plan: Callable[[], Plan]  # the live plan (read per request, so a reload applies at once)
    journal: GroupCommitter
    max_body: int = DEFAULT_MAX_BODY
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
        given = next((request.headers[h] for h in _SIGNATURE_HEADERS if h in request.headers), None)
        if given is None:
            return _error(401, "signature-missing", "the request has no X-Aios-Signature header")
        if not hmac.compare_digest(given.strip().encode(), sign(secret, bytes(body)).encode()):
            return _error(401, "signature-invalid", "the signature does not match the body")
        try:
            event = webhook_event(name, bytes(body), event_type=request.headers.get("x-aios-event"),
                                  delivery_id=request.headers.get("x-aios-delivery"))
        except EventError as err:
            return _error(400, err.code, str(err))
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
