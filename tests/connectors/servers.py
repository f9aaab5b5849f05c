"""Real servers on 127.0.0.1 for the connector tests: an HTTP API that honours ``Idempotency-Key``
(like a payments API: one effect per key, the first response replayed), and an SMTP server
(aiosmtpd) whose mailbox keeps one copy per Message-ID, as mail stores do.

Both can be scripted to fail: ``http.fail(path, status, ...)`` answers the next requests to a path
with an error before any effect; ``smtp.fail_data(n, code)`` refuses the next ``n`` messages;
recipients starting with ``reject`` are refused with 550, ``busy`` with 450.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["HttpTarget", "SmtpTarget", "free_port", "http_target", "smtp_target"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class HttpTarget:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Received] = []
        self.effects: dict[str, dict[str, Any]] = {}  # idempotency key -> the stored response body
        self._script: dict[str, list[tuple[int, dict[str, str], str]]] = {}
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                status, headers, text = target._answer(self.command, self.path, dict(self.headers.items()), body)
                data = text.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fail(self, path: str, status: int, times: int = 1, headers: dict[str, str] | None = None,
             body: str = "") -> None:
        with self.lock:
            self._script.setdefault(path, []).extend([(status, headers or {}, body)] * times)

    def _answer(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        lower = {k.lower(): v for k, v in headers.items()}
        with self.lock:
            self.requests.append(Received(method, path, headers, body))
            script = self._script.get(path)
            if script:
                status, extra, text = script.pop(0)
                return status, {"Content-Type": "text/plain", **extra}, text or f"scripted {status}"
            if path == "/echo":  # a careless API that sends the request headers back
                return 200, {"Content-Type": "application/json"}, json.dumps({"headers": headers})
            if path.startswith("/effects/"):  # the reconcile endpoint
                from urllib.parse import unquote

                key = unquote(path.removeprefix("/effects/"))
                found = self.effects.get(key)
                if found is None:
                    return 404, {"Content-Type": "application/json"}, json.dumps({"error": "no such key"})
                return 200, {"Content-Type": "application/json"}, json.dumps(found)
            if method in ("GET", "HEAD"):
                return 200, {"Content-Type": "application/json"}, json.dumps({"ok": True, "path": path})
            key = lower.get("idempotency-key")
            if key is None:
                return 400, {"Content-Type": "text/plain"}, "Idempotency-Key header required"
            if key not in self.effects:
                self.effects[key] = {"id": len(self.effects) + 1, "key": key, "received": body}
            return 201, {"Content-Type": "application/json"}, json.dumps(self.effects[key])

    def sent_with(self, key: str) -> list[Received]:
        return [r for r in self.requests if {k.lower(): v for k, v in r.headers.items()}.get("idempotency-key") == key]

    def start(self) -> HttpTarget:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@dataclass
class SmtpTarget:
    """``transmissions``: every message the server accepted; ``mailbox``: one per Message-ID."""

    port: int = 0
    password: str | None = None  # when set, AUTH is required and must use this password
    transmissions: list[Message] = field(default_factory=list)
    mailbox: dict[str, Message] = field(default_factory=dict)
    logins: list[tuple[str, str]] = field(default_factory=list)
    rcpt_attempts: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _data_failures: list[str] = field(default_factory=list)
    _controller: Controller | None = None

    def fail_data(self, times: int, reply: str = "451 4.3.0 Try again later") -> None:
        with self.lock:
            self._data_failures.extend([reply] * times)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        with self.lock:
            self.rcpt_attempts.append(address)
        if address.startswith("reject"):
            return "550 5.1.1 No such user here"
        if address.startswith("busy"):
            return "450 4.2.1 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self._data_failures:
                return self._data_failures.pop(0)
            msg = message_from_bytes(envelope.content)
            self.transmissions.append(msg)
            self.mailbox.setdefault(str(msg["Message-ID"]), msg)
        return "250 Message accepted for delivery"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, pw = auth_data.login.decode(), auth_data.password.decode()
            with self.lock:
                self.logins.append((user, pw))
            return AuthResult(success=pw == self.password, handled=False)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpTarget:
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if self.password is not None:
            kwargs = {"authenticator": self._authenticate, "auth_require_tls": False, "auth_exclude_mechanism": ["LOGIN"]}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def with_id(self, message_id: str) -> list[Message]:
        return [m for m in self.transmissions if str(m["Message-ID"]) == message_id]


def http_target() -> Iterator[HttpTarget]:
    target = HttpTarget().start()
    try:
        yield target
    finally:
        target.stop()


def smtp_target(password: str | None = None) -> Iterator[SmtpTarget]:
    target = SmtpTarget(password=password).start()
    try:
        yield target
    finally:
        target.stop()
