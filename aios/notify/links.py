"""Signed, single-use, expiring links to an approval page: ``<base_url>/approvals/<id>?t=<token>``.

The token is ``<payload>.<signature>``: the payload (base64url JSON) names the approval, the expiry
(unix seconds) and a nonce; the signature is HMAC-SHA256 over the payload with a server key kept in
``<storage>/notify.key`` (created on first use, mode 0600, never logged). `redeem_link` refuses a
forged, expired or already used token; used nonces are kept in the state store (``notify_link_uses``).
The link only deep-links: the page it opens still requires a login.

The nonce is derived from the notification's id, so the same notification renders the same link on
every delivery attempt (a resend after a crash carries the link of the first attempt).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote

from aios.errors import AiosError
from aios.runtime import log
from aios.runtime.store import Store

__all__ = ["LinkRefused", "KEY_FILE", "DEFAULT_TTL_S", "server_key", "make_token", "approval_link", "redeem_link"]

KEY_FILE = "notify.key"
DEFAULT_TTL_S = 7 * 24 * 3600.0
_DDL = "CREATE TABLE IF NOT EXISTS notify_link_uses (nonce TEXT PRIMARY KEY, approval_id TEXT NOT NULL, used_at TEXT NOT NULL)"


class LinkRefused(AiosError):
    """The token is forged, malformed, expired or already used (``reason`` says which)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def server_key(storage_dir: Path) -> bytes:
    """The signing key, created (32 random bytes, 0600) on first use."""
    path = storage_dir / KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    storage_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # the first writer wins; a concurrent one reads the winner's key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(key: bytes, approval_id: str, expires: int, nonce: str) -> str:
    payload = _b64(json.dumps({"a": approval_id, "e": expires, "n": nonce}, separators=(",", ":")).encode())
    sig = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{sig}"


def approval_link(storage_dir: Path, base_url: str, approval_id: str, nonce_from: str, expires: int) -> str:
    """The link for one notification (``nonce_from``: its id) to one approval."""
    nonce = hashlib.sha256(f"link\x1f{nonce_from}".encode()).hexdigest()[:32]
    token = make_token(server_key(storage_dir), approval_id, expires, nonce)
    return f"{base_url.rstrip('/')}/approvals/{quote(approval_id, safe='')}?t={token}"


def redeem_link(store: Store, token: str, *, approval_id: str | None = None, now: float | None = None) -> str:
    """The approval id the token grants a deep link to, marking it used; `LinkRefused` otherwise.
    With ``approval_id`` (from the URL path) the token must name that approval."""
    payload, _, sig = token.partition(".")
    key = server_key(store.path.parent)
    try:
        given = _unb64(sig)
    except (ValueError, TypeError):
        raise LinkRefused("forged", "the link's signature is not valid") from None
    if not payload or not hmac.compare_digest(given, hmac.new(key, payload.encode(), hashlib.sha256).digest()):
        raise LinkRefused("forged", "the link's signature is not valid")
    try:
        data = json.loads(_unb64(payload))
        target, expires, nonce = str(data["a"]), int(data["e"]), str(data["n"])
    except (ValueError, TypeError, KeyError):
        raise LinkRefused("forged", "the link is malformed") from None
    if approval_id is not None and approval_id != target:
        raise LinkRefused("forged", "the link is for another approval")
    if (time.time() if now is None else now) >= expires:
        raise LinkRefused("expired", "the link has expired; open the approvals inbox instead")
    with store.transaction() as conn:
        conn.execute(_DDL)
        cur = conn.execute("INSERT OR IGNORE INTO notify_link_uses(nonce, approval_id, used_at) VALUES (?,?,?)",
                           (nonce, target, log.now_iso()))
        if cur.rowcount == 0:
            raise LinkRefused("used", "the link was already used; open the approvals inbox instead")
    return target
