"""The effect journal: which irreversible calls completed at their target, by idempotency key.

``http.request`` and ``email.send`` write here right after the target accepted a call, and look
here before sending: a repeated call with the same key (a retry after the target answered, a resume
after a crash that struck after the answer) returns the first output instead of sending again. The
only window left is a crash between the target's answer and this write; the target's own
deduplication (the ``Idempotency-Key`` header, the ``Message-ID``) covers it.

One small SQLite file in the workspace's storage folder (``.aios/connectors.db``); no secrets are
ever written to it (outputs only; secrets in them are masked, as in the state store).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aios.runtime.store import MaskingConnection, use_wal

__all__ = ["EffectJournal", "JOURNAL_FILE"]

JOURNAL_FILE = "connectors.db"


class EffectJournal:
    def __init__(self, storage: Path) -> None:
        self.path = storage / JOURNAL_FILE

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, factory=MaskingConnection)
        try:
            use_wal(conn)
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("CREATE TABLE IF NOT EXISTS effects (connector TEXT NOT NULL, key TEXT NOT NULL, "
                         "output TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (connector, key))")
            yield conn
        finally:
            conn.close()

    def get(self, connector: str, key: str) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        with self._connect() as conn:
            row = conn.execute("SELECT output FROM effects WHERE connector = ? AND key = ?",
                               (connector, key)).fetchone()
        if row is None:
            return None
        value = json.loads(row[0])
        return value if isinstance(value, dict) else None

    def put(self, connector: str, key: str, output: dict[str, Any]) -> None:
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._connect() as conn:
            conn.execute("INSERT OR IGNORE INTO effects(connector, key, output, at) VALUES (?,?,?,?)",
                         (connector, key, json.dumps(output, default=str), at))
