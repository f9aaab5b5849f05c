"""Vectors beside the Tantivy index: ``<index dir>/vectors.db``, one SQLite table keyed by the index
document id, and a brute-force cosine top-k over it.

Each row holds the document's group and kind (so deletions by group or kind and the kind filter work
here too), its update time (for recency), the digest of the text that was embedded, and the vector
(float32, unit length), or NULL while the embedding route could not be reached: such a document is
ranked by keywords only until its vector is made.

``meta`` says which model made the vectors and up to which Tantivy commit (opstamp) they follow the
index (``aios.memory.embedder`` keeps both in step), and counts changes: every written row gets the
next ``seq``, deletions add to ``deleted``, a clear moves ``epoch``.

Search holds every vector in memory as one float32 matrix and takes a matrix-vector product: numpy,
because in pure Python the same product costs ~200 times as much (about 10 ms instead of 0.05 ms
for 1,400 vectors of 256 dimensions on the bench machine). When the store changed (``PRAGMA
data_version``, or this connection's own commits), only rows with a newer ``seq`` are read; after
deletions, the ids still present (no vectors); after a clear, everything.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aios.errors import StorageError
from aios.runtime.store import use_wal

__all__ = ["VectorStore", "VectorRow", "encode", "FILE_NAME"]

FILE_NAME = "vectors.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vectors (
    id TEXT PRIMARY KEY,
    grp TEXT NOT NULL,
    kind TEXT NOT NULL,
    updated INTEGER,
    digest TEXT NOT NULL,
    seq INTEGER NOT NULL,
    vec BLOB
);
CREATE INDEX IF NOT EXISTS vectors_grp ON vectors (grp);
CREATE INDEX IF NOT EXISTS vectors_kind ON vectors (kind);
CREATE INDEX IF NOT EXISTS vectors_digest ON vectors (digest);
CREATE INDEX IF NOT EXISTS vectors_seq ON vectors (seq);
CREATE INDEX IF NOT EXISTS vectors_pending ON vectors (id) WHERE vec IS NULL;
"""

_CHUNK = 500  # ids per IN (...) query


def encode(vec: Sequence[float]) -> bytes:
    import numpy as np

    return np.asarray(vec, dtype="<f4").tobytes()


@dataclass(frozen=True, slots=True)
class VectorRow:
    id: str
    grp: str
    kind: str
    updated: int | None  # µs since the epoch, as in the index
    digest: str
    vec: bytes | None


class VectorStore:
    """One connection, safe to share between threads (calls are serialised)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
            use_wal(self._conn, 60.0)
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise StorageError(f"cannot open the vector store {path}: {err}") from err
        self._lock = threading.RLock()
        self._writes = 0  # own commits do not move data_version
        self._loaded: _Loaded | None = None
        self._loaded_version: tuple[int, int] | None = None
        self._tx: dict[str, int] = {}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- meta ----------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Inside ``transaction()``."""
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _counters(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT key, value FROM meta WHERE key IN ('seq', 'deleted', 'epoch')")
        out = {"seq": 0, "deleted": 0, "epoch": 0}
        out.update({str(k): int(v) for k, v in rows})
        return out

    # -- writing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[VectorStore]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._tx = self._counters()
                start = dict(self._tx)
                yield self
                for key, value in self._tx.items():
                    if value != start[key]:
                        self.set_meta(key, str(value))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._tx = {}
            self._conn.execute("COMMIT")
            self._writes += 1

    def _next_seq(self) -> int:
        self._tx["seq"] += 1
        return self._tx["seq"]

    def _deleted(self, cursor: sqlite3.Cursor) -> None:
        self._tx["deleted"] += max(0, cursor.rowcount)

    def put(self, row: VectorRow) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO vectors (id, grp, kind, updated, digest, seq, vec) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.id, row.grp, row.kind, row.updated, row.digest, self._next_seq(), row.vec))

    def set_vector(self, doc_id: str, digest: str, vec: bytes) -> None:
        """Fill in a missing vector, unless the row changed meanwhile."""
        self._conn.execute("UPDATE vectors SET vec = ?, seq = ? WHERE id = ? AND digest = ? AND vec IS NULL",
                           (vec, self._next_seq(), doc_id, digest))

    def delete(self, doc_id: str) -> None:
        self._deleted(self._conn.execute("DELETE FROM vectors WHERE id = ?", (doc_id,)))

    def delete_group(self, group: str) -> None:
        self._deleted(self._conn.execute("DELETE FROM vectors WHERE grp = ?", (group,)))

    def delete_kind(self, kind: str) -> None:
        self._deleted(self._conn.execute("DELETE FROM vectors WHERE kind = ?", (kind,)))

    def delete_ids(self, ids: Iterable[str]) -> None:
        for doc_id in ids:
            self.delete(doc_id)

    def clear(self) -> None:
        self._conn.execute("DELETE FROM vectors")
        self._tx["epoch"] += 1

    # -- reading -------------------------------------------------------------------------------

    def vectors_by_digest(self, digests: Iterable[str]) -> dict[str, bytes]:
        """Vectors already made for these texts (under any id)."""
        wanted = list(dict.fromkeys(digests))
        out: dict[str, bytes] = {}
        with self._lock:
            for i in range(0, len(wanted), _CHUNK):
                part = wanted[i:i + _CHUNK]
                marks = ",".join("?" * len(part))
                for digest, vec in self._conn.execute(
                        f"SELECT digest, vec FROM vectors WHERE vec IS NOT NULL AND digest IN ({marks})", part):
                    out.setdefault(str(digest), bytes(vec))
        return out

    def digests(self) -> dict[str, tuple[str, bool, int | None]]:
        """Every row: id -> (digest, has a vector, update time)."""
        with self._lock:
            return {str(i): (str(d), bool(v), u) for i, d, v, u in
                    self._conn.execute("SELECT id, digest, vec IS NOT NULL, updated FROM vectors")}

    def pending(self, limit: int) -> list[tuple[str, str]]:
        """(id, digest) of rows still waiting for their vector."""
        with self._lock:
            return [(str(i), str(d)) for i, d in self._conn.execute(
                "SELECT id, digest FROM vectors WHERE vec IS NULL ORDER BY id LIMIT ?", (limit,))]

    def has_pending(self) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM vectors WHERE vec IS NULL LIMIT 1").fetchone() is not None

    def counts(self) -> tuple[int, int]:
        """(rows with a vector, rows waiting for one)."""
        with self._lock:
            row = self._conn.execute("SELECT COUNT(vec), COUNT(*) - COUNT(vec) FROM vectors").fetchone()
        return int(row[0]), int(row[1])

    def row(self, doc_id: str) -> VectorRow | None:
        with self._lock:
            found = self._conn.execute("SELECT id, grp, kind, updated, digest, vec FROM vectors WHERE id = ?",
                                       (doc_id,)).fetchone()
        if found is None:
            return None
        return VectorRow(str(found[0]), str(found[1]), str(found[2]), found[3], str(found[4]),
                         None if found[5] is None else bytes(found[5]))

    # -- search --------------------------------------------------------------------------------

    def _current(self) -> _Loaded | None:
        """The in-memory vectors, brought up to date. Called under the lock."""
        version = (int(self._conn.execute("PRAGMA data_version").fetchone()[0]), self._writes)
        if version == self._loaded_version:
            return self._loaded
        counters = self._counters()
        loaded = self._loaded
        if loaded is None or loaded.epoch != counters["epoch"] or loaded.dead > max(100, loaded.n // 4):
            loaded = _Loaded(counters["epoch"])
            newer = self._conn.execute(
                "SELECT id, kind, updated, vec FROM vectors WHERE vec IS NOT NULL").fetchall()
        else:
            newer = self._conn.execute("SELECT id, kind, updated, vec FROM vectors WHERE seq > ?",
                                       (loaded.seq,)).fetchall()
            if counters["deleted"] != loaded.deleted:
                present = {str(r[0]) for r in self._conn.execute("SELECT id FROM vectors WHERE vec IS NOT NULL")}
                loaded.keep_only(present)
        for doc_id, kind, updated, vec in newer:
            if vec is None:
                loaded.drop(str(doc_id))
            else:
                loaded.put(str(doc_id), str(kind), updated, bytes(vec))
        loaded.seq, loaded.deleted = counters["seq"], counters["deleted"]
        self._loaded, self._loaded_version = loaded, version
        return loaded

    def top(self, query: Sequence[float], k: int, kinds: Sequence[str] = (), half_life_days: float | None = None,
            now_us: int | None = None) -> list[tuple[str, float]]:
        """The ``k`` ids most similar to ``query`` (cosine, as vectors are unit length), best first,
        among ``kinds`` if given; only positive similarities. With a half-life, each similarity is
        multiplied by ``0.5 ** (age / half_life)`` first, as keyword scores are."""
        with self._lock:
            loaded = self._current()
            if loaded is None or loaded.n == 0 or k <= 0 or len(query) != loaded.dims:
                return []
            return loaded.top(query, k, kinds, half_life_days, now_us)


class _Loaded:
    """Vectors in memory: rows appended (the arrays grow by doubling), replaced in place, or marked
    dead; dead rows are skipped by search and dropped at the next full load."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.seq = 0
        self.deleted = 0
        self.dims = 0
        self.n = 0
        self.dead = 0
        self.ids: list[str] = []
        self.row: dict[str, int] = {}
        self.kind_codes: dict[str, int] = {}
        self.values: Any = None  # float32 [capacity, dims]
        self.kinds: Any = None  # int16 [capacity]
        self.updated: Any = None  # float64 [capacity], NaN: unknown
        self.alive: Any = None  # bool [capacity]

    def _grow(self, dims: int) -> None:
        import numpy as np

        capacity = max(64, 2 * self.n)
        values = np.zeros((capacity, dims), dtype="<f4")
        kinds = np.zeros(capacity, dtype=np.int16)
        updated = np.full(capacity, np.nan)
        alive = np.zeros(capacity, dtype=bool)
        if self.values is not None:
            values[:self.n], kinds[:self.n] = self.values[:self.n], self.kinds[:self.n]
            updated[:self.n], alive[:self.n] = self.updated[:self.n], self.alive[:self.n]
        self.values, self.kinds, self.updated, self.alive, self.dims = values, kinds, updated, alive, dims

    def put(self, doc_id: str, kind: str, updated: int | None, vec: bytes) -> None:
        import numpy as np

        if self.n == 0 and self.values is None:
            self._grow(len(vec) // 4)
        if len(vec) != self.dims * 4:
            return  # one model per store; a guard, not a case
        i = self.row.get(doc_id)
        if i is None:
            if self.n == len(self.values):
                self._grow(self.dims)
            i = self.row[doc_id] = self.n
            self.ids.append(doc_id)
            self.n += 1
        elif not self.alive[i]:
            self.dead -= 1
        self.values[i] = np.frombuffer(vec, dtype="<f4")
        self.kinds[i] = self.kind_codes.setdefault(kind, len(self.kind_codes))
        self.updated[i] = np.nan if updated is None else float(updated)
        self.alive[i] = True

    def drop(self, doc_id: str) -> None:
        i = self.row.get(doc_id)
        if i is not None and self.alive[i]:
            self.alive[i] = False
            self.dead += 1

    def keep_only(self, present: set[str]) -> None:
        for doc_id in self.ids:
            if doc_id not in present:
                self.drop(doc_id)

    def top(self, query: Sequence[float], k: int, kinds: Sequence[str], half_life_days: float | None,
            now_us: int | None) -> list[tuple[str, float]]:
        import numpy as np

        n = self.n
        sims = (self.values[:n] @ np.asarray(query, dtype="<f4")).astype(np.float64)
        if half_life_days and now_us is not None:
            age = np.nan_to_num(np.maximum(0.0, now_us - self.updated[:n]), nan=0.0)
            sims *= np.power(0.5, age / (half_life_days * 86_400e6))
        keep = self.alive[:n]
        if kinds:
            keep = keep & np.isin(self.kinds[:n], [self.kind_codes.get(c, -1) for c in kinds])
        sims = np.where(keep, sims, -np.inf)
        m = min(k, n)
        best = np.argpartition(-sims, m - 1)[:m] if m < n else np.arange(n)
        ids = self.ids
        ordered = sorted(best.tolist(), key=lambda i: (-sims[i], ids[i]))  # ties by id
        return [(ids[i], float(sims[i])) for i in ordered if sims[i] > 0]
