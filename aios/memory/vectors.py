"""Vectors beside the Tantivy index: ``<index dir>/vectors.db``, one SQLite table keyed by the index
document id, and a brute-force cosine top-k over it.

Each row holds the document's group and kind (so deletions by group or kind and the kind filter work
here too), the digest of the text that was embedded, and the vector (float32, unit length), or NULL
while the embedding route could not be reached: such a document is ranked by keywords only until
its vector is made.

``meta`` says which model made the vectors and up to which Tantivy commit (opstamp) they follow the
index; ``aios.memory.embedder`` keeps both in step.

Search loads every vector once into a float32 matrix (reloaded when another connection commits, as
``PRAGMA data_version`` tells) and takes a matrix-vector product: numpy, because in pure Python the
same product costs ~200 times as much (about 10 ms instead of 0.05 ms for 1,400 vectors of 256
dimensions on the bench machine).
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

__all__ = ["VectorStore", "VectorRow", "encode", "FILE_NAME"]

FILE_NAME = "vectors.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vectors (
    id TEXT PRIMARY KEY,
    grp TEXT NOT NULL,
    kind TEXT NOT NULL,
    digest TEXT NOT NULL,
    vec BLOB
);
CREATE INDEX IF NOT EXISTS vectors_grp ON vectors (grp);
CREATE INDEX IF NOT EXISTS vectors_kind ON vectors (kind);
CREATE INDEX IF NOT EXISTS vectors_digest ON vectors (digest);
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
    digest: str
    vec: bytes | None


@dataclass(frozen=True)
class _Matrix:
    ids: tuple[str, ...]
    kinds: Any  # numpy array of kind names
    values: Any  # numpy float32 array, one row per id
    dims: int


class VectorStore:
    """One connection, safe to share between threads (calls are serialised)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise StorageError(f"cannot open the vector store {path}: {err}") from err
        self._lock = threading.RLock()
        self._writes = 0  # own commits do not move data_version
        self._matrix: _Matrix | None = None
        self._matrix_version: tuple[int, int] | None = None

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

    # -- writing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[VectorStore]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._writes += 1

    def put(self, row: VectorRow) -> None:
        self._conn.execute("INSERT OR REPLACE INTO vectors (id, grp, kind, digest, vec) VALUES (?, ?, ?, ?, ?)",
                           (row.id, row.grp, row.kind, row.digest, row.vec))

    def set_vector(self, doc_id: str, digest: str, vec: bytes) -> None:
        """Fill in a missing vector, unless the row changed meanwhile."""
        self._conn.execute("UPDATE vectors SET vec = ? WHERE id = ? AND digest = ? AND vec IS NULL",
                           (vec, doc_id, digest))

    def delete(self, doc_id: str) -> None:
        self._conn.execute("DELETE FROM vectors WHERE id = ?", (doc_id,))

    def delete_group(self, group: str) -> None:
        self._conn.execute("DELETE FROM vectors WHERE grp = ?", (group,))

    def delete_kind(self, kind: str) -> None:
        self._conn.execute("DELETE FROM vectors WHERE kind = ?", (kind,))

    def delete_ids(self, ids: Iterable[str]) -> None:
        self._conn.executemany("DELETE FROM vectors WHERE id = ?", ((i,) for i in ids))

    def clear(self) -> None:
        self._conn.execute("DELETE FROM vectors")

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

    def digests(self) -> dict[str, tuple[str, bool]]:
        """Every row: id -> (digest, has a vector)."""
        with self._lock:
            return {str(i): (str(d), bool(v)) for i, d, v in
                    self._conn.execute("SELECT id, digest, vec IS NOT NULL FROM vectors")}

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
            row = self._conn.execute(
                "SELECT COUNT(vec), COUNT(*) - COUNT(vec) FROM vectors").fetchone()
        return int(row[0]), int(row[1])

    def row(self, doc_id: str) -> VectorRow | None:
        with self._lock:
            found = self._conn.execute("SELECT id, grp, kind, digest, vec FROM vectors WHERE id = ?",
                                       (doc_id,)).fetchone()
        if found is None:
            return None
        return VectorRow(str(found[0]), str(found[1]), str(found[2]), str(found[3]),
                         None if found[4] is None else bytes(found[4]))

    # -- search --------------------------------------------------------------------------------

    def _current(self) -> _Matrix | None:
        import numpy as np

        with self._lock:
            version = (int(self._conn.execute("PRAGMA data_version").fetchone()[0]), self._writes)
            if version == self._matrix_version:
                return self._matrix
            rows = self._conn.execute(
                "SELECT id, kind, vec FROM vectors WHERE vec IS NOT NULL ORDER BY id").fetchall()
        if not rows:
            matrix = None
        else:
            dims = len(rows[0][2]) // 4
            rows = [r for r in rows if len(r[2]) == dims * 4]  # one model per store; a guard, not a case
            values = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype="<f4").reshape(len(rows), dims)
            matrix = _Matrix(tuple(str(r[0]) for r in rows), np.array([str(r[1]) for r in rows]), values, dims)
        with self._lock:
            self._matrix, self._matrix_version = matrix, version
        return matrix

    def top(self, query: Sequence[float], k: int, kinds: Sequence[str] = ()) -> list[tuple[str, float]]:
        """The ``k`` ids most similar to ``query`` (cosine, as vectors are unit length), best first,
        among ``kinds`` if given; only positive similarities."""
        import numpy as np

        matrix = self._current()
        if matrix is None or k <= 0 or len(query) != matrix.dims:
            return []
        q = np.asarray(query, dtype="<f4")
        sims = matrix.values @ q
        if kinds:
            sims = np.where(np.isin(matrix.kinds, list(kinds)), sims, -np.inf)
        n = min(k, len(sims))
        best = np.argpartition(-sims, n - 1)[:n] if n < len(sims) else np.arange(len(sims))
        best = best[np.lexsort((best, -sims[best]))]  # by similarity, ties by id order
        return [(matrix.ids[i], float(sims[i])) for i in best if sims[i] > 0]
