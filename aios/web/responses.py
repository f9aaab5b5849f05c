"""The response layer, applied once to everything the dashboard sends.

* **Secrets masked**: HTML and JSON bodies are buffered and passed through the process's masker
  (`aios.masking.active`) before they leave; each server-sent event too. The pages also mask their
  context data before rendering (`pages`), so a secret is caught before HTML escaping could change it.
* **Security headers**: a CSP without inline script or style, no framing, no sniffing, same-origin
  referrers, no caching of pages that show operational data.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aios import masking

__all__ = ["ResponseMiddleware", "SECURITY_HEADERS"]

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
_MASKED_TYPES = (b"text/html", b"application/json", b"text/plain")


class ResponseMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        mode = "pass"  # "buffer" (HTML/JSON), "stream" (SSE: mask each chunk) or "pass" (static files)
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start, mode
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in dict(SECURITY_HEADERS)]
                headers += SECURITY_HEADERS
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                if ctype.startswith(b"text/event-stream"):
                    mode = "stream"
                elif ctype.startswith(_MASKED_TYPES):
                    mode = "buffer"
                start = {**message, "headers": headers}
                if mode != "buffer":
                    await send(start)
                return
            if message["type"] != "http.response.body" or mode == "pass":
                await send(message)
                return
            body = message.get("body", b"")
            if mode == "stream":
                await send({**message, "body": _mask(body)})
                return
            chunks.append(body)
            if message.get("more_body", False):
                return
            out = _mask(b"".join(chunks))
            assert start is not None
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(out)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": out})

        await self.app(scope, receive, wrapped)


def _mask(body: bytes) -> bytes:
    masker = masking.active()
    if not masker or not body:
        return body
    text = body.decode("utf-8", "surrogateescape")
    if not masker.hit(text):
        return body
    return masker.mask(text).encode("utf-8", "surrogateescape")
