"""A real OpenAI-compatible HTTP server on 127.0.0.1 with a script of responses: replies, error
statuses, hangs and malformed bodies. Every request body is kept for assertions."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "reply", "status", "hang", "raw"]


def reply(content: str | dict[str, Any], prompt_tokens: int = 100, completion_tokens: int = 20) -> dict[str, Any]:
    text = content if isinstance(content, str) else json.dumps(content)
    return {"kind": "reply", "content": text, "pt": prompt_tokens, "ct": completion_tokens}


def status(code: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": "status", "code": code, "headers": headers or {}}


def hang(seconds: float) -> dict[str, Any]:
    return {"kind": "hang", "seconds": seconds}


def raw(body: bytes, code: int = 200) -> dict[str, Any]:
    return {"kind": "raw", "body": body, "code": code}


class FakeOpenAI:
    def __init__(self) -> None:
        self.script: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                try:
                    length = int(self.headers.get("content-length", "0"))
                    body = json.loads(self.rfile.read(length) or b"{}")
                    fake.requests.append({"path": self.path, "body": body,
                                          "auth": self.headers.get("authorization")})
                    step = fake.script.popleft() if fake.script else reply("{}")
                    self._answer(step, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, code: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, step: dict[str, Any], body: dict[str, Any]) -> None:
                kind = step["kind"]
                if kind == "hang":
                    fake.stopping.wait(step["seconds"])
                    self.close_connection = True
                    return
                if kind == "raw":
                    self._send(step["code"], step["body"])
                    return
                if kind == "status":
                    err = {"error": {"message": f"scripted {step['code']}", "type": "server_error",
                                     "code": str(step["code"])}}
                    self._send(step["code"], json.dumps(err).encode(), step["headers"])
                    return
                payload = {
                    "id": f"chatcmpl-{len(fake.requests)}", "object": "chat.completion", "created": 1700000000,
                    "model": body.get("model", "gpt-4o-mini"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": step["content"]}}],
                    "usage": {"prompt_tokens": step["pt"], "completion_tokens": step["ct"],
                              "total_tokens": step["pt"] + step["ct"]},
                }
                self._send(200, json.dumps(payload).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
