"""Operator tokens: ``aios token create`` shows one once; only its SHA-256 is kept.

Tokens live in their own small SQLite file, ``<storage>/web.db``, beside the state store: they are
credentials for the dashboard, not part of the runs' history, and revoking one must not touch the
hash-chained log. The server key that signs session cookies is ``<storage>/web.key`` (mode 0600).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from aios.errors import AiosError

__all__ = ["Token", "TokenError", "TokenStore", "server_key", "TOKEN_PREFIX"]

TOKEN_PREFIX = "aios_"
_DDL = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, actor TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL, revoked_at TEXT, last_used_at TEXT
);
"""


class TokenError(AiosError):
    """A token that cannot be created or revoked (a name taken, an unknown name)."""


@dataclass(frozen=True, slots=True)
class Token:
    id: str
    name: str
    actor: str
    created_at: str
    revoked_at: str | None
    last_used_at: str | None

    def to_json(self) -> dict[str, str | None]:
        return {"id": self.id, "name": self.name, "actor": self.actor, "created_at": self.created_at,
                "revoked_at": self.revoked_at, "last_used_at": self.last_used_at}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _row(r: sqlite3.Row) -> Token:
    return Token(r["id"], r["name"], r["actor"], r["created_at"], r["revoked_at"], r["last_used_at"])


class TokenStore:
    """``<storage>/web.db``. One connection per thread (`sqlite3` connections are not shared)."""

    def __init__(self, storage_dir: Path) -> None:
        from aios.runtime.store import use_wal

        storage_dir.mkdir(parents=True, exist_ok=True)
        self.path = storage_dir / "web.db"
        self.conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA busy_timeout=30000")
        use_wal(self.conn)
        self.conn.executescript(_DDL)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> TokenStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create(self, name: str, actor: str) -> tuple[Token, str]:
        """A new token: the record, and the secret (shown once, never stored)."""
        if not name.strip() or not actor.strip():
            raise TokenError("a token needs a name and an actor")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = Token("tok_" + secrets.token_hex(6), name, actor, _now(), None, None)
        try:
            self.conn.execute("INSERT INTO tokens(id, name, actor, hash, created_at) VALUES (?,?,?,?,?)",
                              (token.id, name, actor, _digest(secret), token.created_at))
        except sqlite3.IntegrityError:
            raise TokenError(f"a token named `{name}` exists already (revoke it first, or pick another name)") \
                from None
        return token, secret

    def listing(self, *, include_revoked: bool = False) -> list[Token]:
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        return [_row(r) for r in self.conn.execute(f"SELECT * FROM tokens {where} ORDER BY rowid")]

    def revoke(self, name: str) -> Token:
        row = self.conn.execute("SELECT * FROM tokens WHERE name = ? OR id = ?", (name, name)).fetchone()
        if row is None:
            names = ", ".join(t.name for t in self.listing()) or "none"
            raise TokenError(f"no token `{name}` (tokens: {names})")
        if row["revoked_at"] is None:
            self.conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ?", (_now(), row["id"]))
        got = self.get(row["id"])
        assert got is not None
        return got

    def get(self, token_id: str) -> Token | None:
        row = self.conn.execute("SELECT * FROM tokens WHERE id = ?", (token_id,)).fetchone()
        return _row(row) if row else None

    def verify(self, secret: str) -> Token | None:
        """The live token with this secret, or None (unknown or revoked)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        row = self.conn.execute("SELECT * FROM tokens WHERE hash = ?", (_digest(secret),)).fetchone()
        if row is None or row["revoked_at"] is not None:
            return None
        if not hmac.compare_digest(row["hash"], _digest(secret)):
            return None
        now = _now()
        if (row["last_used_at"] or "")[:16] != now[:16]:  # at most one write a minute per token
            self.conn.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (now, row["id"]))
        return _row(row)


def server_key(storage_dir: Path) -> bytes:
    """The key that signs session cookies, created on first use (``<storage>/web.key``, mode 0600).
    Deleting it logs every browser out."""
    path = storage_dir / "web.key"
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    storage_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile
        return path.read_bytes()
    try:
        os.write(fd, key)
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return key
