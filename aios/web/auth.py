"""Who is asking: the actor is resolved once per request, from a Bearer token or a session cookie.

* ``Authorization: Bearer <token>`` (scripts): the token's actor. Carries no ambient credential, so
  such requests need no CSRF token.
* The ``aios_session`` cookie (browsers), set by the login form: ``<payload>.<hmac>``, the payload
  naming the token and an expiry, signed with the server key (`tokens.server_key`). The token is
  checked on every request, so revoking it ends its sessions at once. HttpOnly, SameSite=Strict.

Anything but the login page and static files needs an actor: pages redirect to ``/login``, the API
and the event stream answer 401. Failed logins are rate-limited per client (`LoginLimiter`).
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

from aios.web.tokens import TokenStore

__all__ = ["Actor", "AuthMiddleware", "LoginLimiter", "SessionSigner", "SESSION_COOKIE", "actor_of",
           "PUBLIC_PREFIXES"]

SESSION_COOKIE = "aios_session"
PUBLIC_PREFIXES = ("/login", "/static/")


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    token_id: str
    token_name: str
    via: str  # "session" or "bearer"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "token": self.token_name, "via": self.via}


def actor_of(scope: Scope) -> Actor | None:
    actor = scope.get("state", {}).get("actor")
    return actor if isinstance(actor, Actor) else None


class SessionSigner:
    """Signs and checks session cookie values: ``base64url(json).hex(hmac-sha256)``."""

    def __init__(self, key: bytes, lifetime_s: float = 12 * 3600) -> None:
        self.key = key
        self.lifetime_s = lifetime_s

    def _mac(self, payload: bytes) -> str:
        return hmac.new(self.key, b"session\x00" + payload, hashlib.sha256).hexdigest()

    def issue(self, token_id: str, now: float | None = None) -> str:
        exp = int((now or time.time()) + self.lifetime_s)
        payload = base64.urlsafe_b64encode(json.dumps({"t": token_id, "exp": exp}).encode()).rstrip(b"=")
        return payload.decode() + "." + self._mac(payload)

    def check(self, value: str, now: float | None = None) -> str | None:
        """The token id of a valid, unexpired session value, else None."""
        payload_text, _, mac = value.partition(".")
        payload = payload_text.encode()
        if not mac or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("t"), str) or not isinstance(data.get("exp"), int):
            return None
        if data["exp"] <= (now or time.time()):
            return None
        return str(data["t"])


class LoginLimiter:
    """At most ``max_failures`` failed logins per client per ``window_s``; then 429 until they age out."""

    def __init__(self, max_failures: int = 5, window_s: float = 60.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, collections.deque[float]] = {}

    def _recent(self, client: str) -> collections.deque[float]:
        q = self._failures.setdefault(client, collections.deque())
        cutoff = time.monotonic() - self.window_s
        while q and q[0] < cutoff:
            q.popleft()
        if len(self._failures) > 10_000:  # a flood of clients: forget the idle ones
            for k in [k for k, v in self._failures.items() if not v][:5000]:
                del self._failures[k]
        return q

    def blocked(self, client: str) -> bool:
        return len(self._recent(client)) >= self.max_failures

    def failed(self, client: str) -> None:
        self._recent(client).append(time.monotonic())


def _cookies(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k and k not in out:
                    out[k] = v
    return out


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return str(v.decode("latin-1"))
    return None


class AuthMiddleware:
    """Resolves ``scope["state"]["actor"]`` once; refuses what needs an actor and has none."""

    def __init__(self, app: ASGIApp, tokens: TokenStore, signer: SessionSigner) -> None:
        self.app = app
        self.tokens = tokens
        self.signer = signer

    def resolve(self, scope: Scope) -> Actor | None:
        auth = _header(scope, b"authorization")
        if auth is not None:
            scheme, _, secret = auth.partition(" ")
            if scheme.lower() != "bearer":
                return None
            token = self.tokens.verify(secret.strip())
            return Actor(token.actor, token.id, token.name, "bearer") if token else None
        value = _cookies(scope).get(SESSION_COOKIE)
        if not value:
            return None
        token_id = self.signer.check(value)
        if token_id is None:
            return None
        token = self.tokens.get(token_id)
        if token is None or token.revoked_at is not None:
            return None
        return Actor(token.actor, token.id, token.name, "session")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        actor = self.resolve(scope)
        scope["state"]["actor"] = actor
        path: str = scope["path"]
        if actor is None and not path.startswith(PUBLIC_PREFIXES):
            await _refuse(scope, send, path)
            return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, path: str) -> None:
    if path.startswith(("/api/", "/events")) or scope["method"] != "GET":
        body = json.dumps({"error": "unauthenticated",
                           "message": "log in, or send Authorization: Bearer <token> (aios token create)"}).encode()
        headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json"),
                                              (b"www-authenticate", b'Bearer realm="aios"')]
        status = 401
    else:
        qs = scope.get("query_string", b"").decode("latin-1")
        target = path + ("?" + qs if qs else "")
        body = b""
        headers = [(b"location", ("/login?next=" + quote(target, safe="")).encode())]
        status = 303
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def client_of(scope: Scope) -> str:
    client: Any = scope.get("client")
    return str(client[0]) if client else "unknown"
