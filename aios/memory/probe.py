"""Cheap answers to "did the sources change?", asked before every search.

- The state store: a long-lived read connection asks ``PRAGMA data_version``, which SQLite changes
  whenever another connection commits. Only then are the two maxima (``records.rowid``,
  ``log.seq``) queried again. A fresh connection would instead parse the whole schema every time.
- Knowledge files: a file whose size and modification time are unchanged since it was last hashed
  in this process keeps its digest; anything else is read and hashed again.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from aios.memory.knowledge import KNOWLEDGE_SUFFIXES, file_digest
from aios.memory.settings import MemorySettings

__all__ = ["SourceProbe", "resolve"]


def resolve(settings: MemorySettings, rel: str) -> Path:
    p = Path(rel)
    return p if p.is_absolute() else settings.root / p


class SourceProbe:
    def __init__(self, settings: MemorySettings) -> None:
        self.settings = settings
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._maxima = (0, 0)
        self._stats: dict[str, tuple[int, int, str]] = {}
        self._base: str | None = None
        self._root = ""

    def maxima(self) -> tuple[int, int]:
        """(highest records.rowid, highest log seq, counting archived segments) in the state store."""
        db = self.settings.state_db
        if self._conn is None:
            if not db.is_file():
                return (0, 0)
            self._conn = sqlite3.connect(str(db), timeout=30.0, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA query_only=1")
        conn = self._conn
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if version != self._version:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            rowid = conn.execute("SELECT coalesce(max(rowid), 0) FROM records").fetchone()[0] \
                if "records" in tables else 0
            seq = conn.execute("SELECT coalesce(max(seq), 0) FROM log").fetchone()[0] if "log" in tables else 0
            if not seq and "log_segments" in tables:
                seq = conn.execute("SELECT coalesce(max(last_seq), 0) FROM log_segments").fetchone()[0]
            self._maxima = (int(rowid), int(seq))
            self._version = version
        return self._maxima

    def digests(self, known: Iterable[str]) -> dict[str, str | None]:
        """Digest (None: gone or unreadable) of every knowledge file and every known file."""
        out: dict[str, str | None] = dict.fromkeys(self._knowledge())
        for rel in known:
            out.setdefault(rel, None)
        for rel in out:
            path = resolve(self.settings, rel)
            try:
                st = os.stat(path)
                cached = self._stats.get(rel)
                if cached is not None and cached[:2] == (st.st_size, st.st_mtime_ns):
                    out[rel] = cached[2]
                    continue
                digest = file_digest(path.read_bytes())
            except (OSError, ValueError):
                self._stats.pop(rel, None)
                continue
            self._stats[rel] = (st.st_size, st.st_mtime_ns, digest)
            out[rel] = digest
        return out

    def _knowledge(self) -> list[str]:
        """Workspace-relative paths of the knowledge files (os.walk on strings: this runs per search)."""
        if self._base is None:
            self._base = str(self.settings.knowledge_dir.resolve())
            self._root = str(self.settings.root.resolve())
        if not os.path.isdir(self._base):
            return []
        found = []
        for folder, dirs, files in os.walk(self._base):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                if not name.startswith(".") and os.path.splitext(name)[1].lower() in KNOWLEDGE_SUFFIXES:
                    full = os.path.join(folder, name)
                    inside = full.startswith(self._root + os.sep)
                    found.append(os.path.relpath(full, self._root).replace(os.sep, "/") if inside else full)
        return sorted(found)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
