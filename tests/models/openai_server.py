"""A real OpenAI-compatible HTTP server on 127.0.0.1 with a script of responses: replies, error
statuses, hangs and malformed bodies. Every request body is kept for assertions.

``POST .../embeddings`` answers from its own script (``embed_script``: ``status``, ``hang``, ``raw``
or ``vectors`` steps); when that is empty, each input text gets ``embedder(text)`` (by default a
26-dimensional letter histogram), as floats or, when asked, base64 little-endian float32."""

from __future__ import annotations

import base64
import json
import struct
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "reply", "status", "hang", "raw", "vectors", "letters"]


def reply(content: str | dict[str, Any], prompt_tokens: int = 100, completion_tokens: int = 20) -> dict[str, Any]:
    text = content if isinstance(content, str) else json.dumps(content)
    return {"kind": "reply", "content": text, "pt": prompt_tokens, "ct": completion_tokens}


def status(code: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": "status", "code": code, "headers": headers or {}}


def hang(seconds: float) -> dict[str, Any]:
    return {"kind": "hang", "seconds": seconds}


def raw(body: bytes, code: int = 200) -> dict[str, Any]:
    return {"kind": "raw", "body": body, "code": code}


def vectors(values: list[list[float]]) -> dict[str, Any]:
    return {"kind": "vectors", "values": values}


def letters(text: str) -> list[float]:
    """A toy embedding: how often each letter a-z occurs."""
    out = [0.0] * 26
    for c in text.lower():
        if "a" <= c <= "z":
            out[ord(c) - 97] += 1.0
    return out


class FakeOpenAI:
    def __init__(self, embedder: Callable[[str], list[float]] = letters) -> None:
        self.script: deque[dict[str, Any]] = deque()
        self.embed_script: deque[dict[str, Any]] = deque()
        self.embedder = embedder
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
                    if self.path.rstrip("/").endswith("/embeddings"):
                        step = fake.embed_script.popleft() if fake.embed_script else {"kind": "vectors"}
                    else:
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
                if kind == "vectors":
                    self._embeddings(step.get("values"), body)
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

            def _embeddings(self, values: list[list[float]] | None, body: dict[str, Any]) -> None:
                texts = body.get("input", [])
                texts = [texts] if isinstance(texts, str) else list(texts)
                vecs = values if values is not None else [fake.embedder(str(t)) for t in texts]
                b64 = body.get("encoding_format") == "base64"
                data = [{"object": "embedding", "index": i,
                         "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if b64 else v}
                        for i, v in enumerate(vecs)]
                tokens = sum(len(str(t).split()) for t in texts)
                payload = {"object": "list", "data": data, "model": body.get("model", "text-embedding-3-small"),
                           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
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
