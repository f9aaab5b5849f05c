"""CSRF, once for the whole dashboard (double-submit, as asgi-csrf does).

Every response to a browser carries an ``aios_csrf`` cookie (random, HttpOnly, SameSite=Strict); the
pages put its value in each form as ``csrf_token``. A POST, PUT, PATCH or DELETE must send the same
value in that form field or in an ``X-CSRF-Token`` header, else 403. Requests authenticated with
``Authorization: Bearer`` are exempt: a browser never attaches that header on its own, so a forged
cross-site request cannot carry it.
"""

from __future__ import annotations

import hmac
import json
import secrets
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aios.web.auth import _cookies, _header, actor_of

__all__ = ["CSRFMiddleware", "CSRF_COOKIE", "CSRF_FIELD", "CSRF_HEADER", "csrf_token"]

CSRF_COOKIE = "aios_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = b"x-csrf-token"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
_MAX_FORM = 256 * 1024


def csrf_token(scope: Scope) -> str:
    return str(scope.get("state", {}).get("csrf", ""))


class CSRFMiddleware:
    def __init__(self, app: ASGIApp, *, secure_cookie: bool = False) -> None:
        self.app = app
        self.secure = secure_cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = _cookies(scope).get(CSRF_COOKIE, "")
        fresh = not (16 <= len(cookie) <= 100 and cookie.replace("-", "").replace("_", "").isalnum())
        token = secrets.token_urlsafe(24) if fresh else cookie
        scope.setdefault("state", {})["csrf"] = token
        actor = actor_of(scope)
        if scope["method"] in _UNSAFE and not (actor is not None and actor.via == "bearer"):
            sent = _header(scope, CSRF_HEADER)
            body = b""
            if sent is None:
                body, receive = await _buffer(receive)
                ctype = _header(scope, b"content-type") or ""
                if ctype.startswith("application/x-www-form-urlencoded") and len(body) <= _MAX_FORM:
                    sent = (parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD) or [""])[0]
            if fresh or not sent or not hmac.compare_digest(sent, cookie):
                data = json.dumps({"error": "csrf", "message": "missing or wrong CSRF token; reload the page "
                                   "and try again (scripts: use Authorization: Bearer)"}).encode()
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(data)).encode())]})
                await send({"type": "http.response.body", "body": data})
                return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and fresh:
                attrs = f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if self.secure else "")
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", attrs.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body, and a receive that replays it to the app."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= _MAX_FORM:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
