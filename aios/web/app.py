"""The dashboard ASGI app, and `mount_dashboard`, which `aios serve` / `aios dev` use to serve it on
their port beside the webhooks (``/hooks/…`` and ``/healthz`` still go to the webhook app).

Middleware, outermost first: `ResponseMiddleware` (masking, security headers) → `AuthMiddleware`
(the actor, once) → `CSRFMiddleware` → routes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from aios.web.auth import SESSION_COOKIE, AuthMiddleware, LoginLimiter, SessionSigner, client_of
from aios.web.csrf import CSRFMiddleware
from aios.web.host import Host
from aios.web.live import routes as live_routes
from aios.web.pages import Pages
from aios.web.responses import ResponseMiddleware
from aios.web.tokens import TokenStore, server_key
from aios.web.views import alerts, approval, approvals, interventions, overview, playbooks, records, run, runs

__all__ = ["dashboard_app", "mount_dashboard", "Dashboard"]

_STATIC = Path(__file__).parent / "static"
_WEBHOOK_PATHS = ("/hooks/", "/healthz")


def _safe_next(target: str | None) -> str:
    """Only a path on this server (never ``//host``, ``/\\host`` or a scheme, nor control characters a
    browser would drop, as a tab in ``/<TAB>/host``): no open redirect after login."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target)):
        return "/runs"
    return target


class Dashboard:
    """The app and what it holds (the token store, the login limiter), closed together."""

    def __init__(self, host: Host, *, session_s: float = 12 * 3600, limiter: LoginLimiter | None = None) -> None:
        self.host = host
        self.tokens = TokenStore(host.storage_dir)
        self.signer = SessionSigner(server_key(host.storage_dir), session_s)
        self.limiter = limiter or LoginLimiter()
        self.pages = Pages(host)
        inner = Starlette(routes=self._routes())
        self.app: ASGIApp = ResponseMiddleware(AuthMiddleware(CSRFMiddleware(inner), self.tokens, self.signer))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        self.tokens.close()
        self.host.close()

    def _routes(self) -> list[BaseRoute]:
        pages = self.pages

        async def home(request: Request) -> Response:
            return RedirectResponse("/runs", status_code=303)

        async def login_form(request: Request) -> Response:
            return pages.render(request, "login.html", {"title": "Log in", "error": None,
                                                        "next": _safe_next(request.query_params.get("next"))})

        async def login(request: Request) -> Response:
            client = client_of(request.scope)
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
            nxt = _safe_next(form.get("next"))
            if self.limiter.blocked(client):
                return pages.render(request, "login.html", {"title": "Log in", "next": nxt,
                                                            "error": "Too many failed attempts; wait a minute."},
                                    status=429)
            token = self.tokens.verify(form.get("token", "").strip())
            if token is None:
                self.limiter.failed(client)
                return pages.render(request, "login.html", {"title": "Log in", "next": nxt,
                                                            "error": "Unknown or revoked token."}, status=401)
            response = RedirectResponse(nxt, status_code=303)
            response.set_cookie(SESSION_COOKIE, self.signer.issue(token.id), max_age=int(self.signer.lifetime_s),
                                httponly=True, samesite="strict", path="/",
                                secure=request.url.scheme == "https")
            return response

        async def logout(request: Request) -> Response:
            response = RedirectResponse("/login", status_code=303)
            response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
            return response

        return [Route("/", home, methods=["GET"]),
                Route("/login", login_form, methods=["GET"]),
                Route("/login", login, methods=["POST"]),
                Route("/logout", logout, methods=["POST"]),
                Mount("/static", StaticFiles(directory=str(_STATIC)), name="static"),
                *runs.routes(pages), *run.routes(pages), *approvals.routes(pages), *approval.routes(pages),
                *alerts.routes(pages),
                *records.routes(pages), *playbooks.routes(pages), *overview.routes(pages), *interventions.routes(pages),
                *live_routes(self.host)]


def dashboard_app(host: Host, **options: Any) -> Dashboard:
    return Dashboard(host, **options)


def mount_dashboard(webhooks: ASGIApp, host: Host) -> ASGIApp:
    """One app for the server's port: ``/hooks/…`` and ``/healthz`` to ``webhooks``, the rest to the
    dashboard."""
    dashboard = Dashboard(host)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope["type"] == "http" and (path.startswith(_WEBHOOK_PATHS[0]) or path == _WEBHOOK_PATHS[1]):
            await webhooks(scope, receive, send)
        elif scope["type"] == "http":
            await dashboard(scope, receive, send)
        else:
            await webhooks(scope, receive, send)

    return app
