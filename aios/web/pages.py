"""Pages and actions: one context dict per view, rendered as HTML and served as the JSON API.

`page` gives a view two routes, ``PATH`` (HTML through its template) and ``/api/PATH`` (the same dict
as JSON), so the UI and the API cannot drift. `action` gives a state-changing operation two routes
too: ``POST PATH`` from a form (answers with a redirect) and ``POST /api/PATH`` with a JSON body.
The context is masked (`aios.masking`) before it is rendered or encoded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from aios import masking
from aios.web.auth import Actor, actor_of
from aios.web.csrf import csrf_token
from aios.web.host import Host

__all__ = ["PageError", "Pages", "Context", "Params"]

Context = dict[str, Any]
Params = Mapping[str, str]
View = Callable[[Host, Request], Context]
Act = Callable[[Host, Actor, str, Params], Context]

_TEMPLATES = Path(__file__).parent / "templates"
NAV = (("overview", "/overview", "Overview"), ("runs", "/runs", "Runs"), ("approvals", "/approvals", "Approvals"),
       ("records", "/records", "Records"), ("playbooks", "/playbooks", "Playbooks"), ("alerts", "/alerts", "Alerts"))


class PageError(Exception):
    """A view's refusal: an HTTP status and a message (404 unknown run, 403 not an approver, …)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["pretty"] = _pretty
    return env


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=str).encode()


class Pages:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.env = environment()

    def render(self, request: Request, template: str, ctx: Context, status: int = 200) -> HTMLResponse:
        actor = actor_of(request.scope)
        html = self.env.get_template(template).render(
            page=ctx, actor=actor.to_json() if actor else None, csrf_token=csrf_token(request.scope),
            nav=NAV, path=request.url.path, query=request.url.query)
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, err: PageError, api: bool) -> Response:
        if api:
            return JSONResponse({"error": err.message, "status": err.status}, status_code=err.status)
        return self.render(request, "error.html", {"title": f"Error {err.status}", "message": err.message},
                           status=err.status)

    def page(self, path: str, template: str, view: View) -> list[Route]:
        async def handle(request: Request, api: bool) -> Response:
            try:
                ctx = await run_in_threadpool(view, self.host, request)
            except PageError as err:
                return self.error(request, err, api)
            ctx = masking.active().mask_value(ctx)
            if api:
                return Response(_dumps(ctx), media_type="application/json")
            return self.render(request, template, ctx)

        async def html(request: Request) -> Response:
            return await handle(request, False)

        async def api(request: Request) -> Response:
            return await handle(request, True)

        return [Route(path, html, methods=["GET"]), Route("/api" + path, api, methods=["GET"])]

    def action(self, path: str, act: Act, *, back: Callable[[str], str]) -> list[Route]:
        """``act(host, actor, id, params)`` for ``POST path`` (a form; redirects to ``back(id)``) and
        ``POST /api/path`` (a JSON object body; answers the result as JSON)."""

        async def handle(request: Request, api: bool) -> Response:
            actor = actor_of(request.scope)
            assert actor is not None  # AuthMiddleware refuses requests without one
            body = await request.body()
            params: dict[str, str] = {}
            try:
                if api and body.strip():
                    data = json.loads(body)
                    if not isinstance(data, dict):
                        raise ValueError("not an object")
                    # an object or a list (an edited input) stays JSON text
                    params = {k: v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)
                              for k, v in data.items() if v is not None}
                elif not api:
                    params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            except ValueError:
                return self.error(request, PageError(400, "the body must be a JSON object, e.g. {\"note\": \"…\"}"),
                                  api)
            ident = str(request.path_params.get("ident", ""))
            try:
                result = await run_in_threadpool(act, self.host, actor, ident, params)
            except PageError as err:
                return self.error(request, err, api)
            if api:
                return Response(_dumps(masking.active().mask_value(result)), media_type="application/json")
            return RedirectResponse(back(ident), status_code=303)

        async def html(request: Request) -> Response:
            return await handle(request, False)

        async def api(request: Request) -> Response:
            return await handle(request, True)

        return [Route(path, html, methods=["POST"]), Route("/api" + path, api, methods=["POST"])]
