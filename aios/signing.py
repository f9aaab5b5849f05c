"""Webhook signatures, one scheme for both directions: aios' own intake verifies them
(`aios.live.webhooks`) and its notifications send them (`aios.notify.channels`)."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["sign", "sign_v1"]


def sign(secret: str, body: bytes) -> str:
    """The body-only signature header value: ``sha256=<hex>`` (GitHub's scheme)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_v1(secret: str, body: bytes, timestamp: int, *, delivery: str | None = None,
            event: str | None = None) -> str:
    """The ``v1=<hex>`` signature: it covers the timestamp, the delivery id and event type headers, and
    the body (header values never contain a newline, so the message is unambiguous)."""
    message = f"v1\n{timestamp}\n{delivery or ''}\n{event or ''}\n".encode() + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
