"""The memory of one workspace, as the CLI and the interpreter use it.

``Memory`` opens the index under the storage dir and keeps it in step with its sources: every
search first runs an incremental sync (a no-op costing two SQL maxima and a few file hashes when
nothing changed), so a search always sees every committed record and log entry.

For the interpreter's ``retrieve`` step:

- ``retrieve(plan, storage_dir, query)`` → ``list[Hit]``, one call, or
- ``runtime_retriever(root, plan)`` → the ``Retriever`` callable ``aios.runtime`` expects
  (``(query, top_k, filter, half_life_days) -> list[dict]``), returning ``Hit.to_json()`` values
  that the step records in the episodic log, scores and provenance included.

A retrieve step's ``filter`` mapping (see docs/memory.md): ``kind`` / ``kinds``, ``tag`` / ``tags``,
``schema`` / ``schemas``, ``since`` / ``until`` (ISO date or datetime, or an age like ``30d``), and
any other key is a record field: a scalar (equal), a list (any of) or ``{gte, lte}`` (range).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aios.errors import AiosError, RunError, UsageError
from aios.memory.model import DocKind, FieldFilter, Hit, Query
from aios.memory.settings import MemorySettings

if TYPE_CHECKING:
    from aios.memory.embedder import Vectors
    from aios.memory.index import IndexStats, MemoryIndex
    from aios.memory.sync import SyncReport
    from aios.memory.tiers import CompactReport, FullVerification
    from aios.plan.plan import Plan

__all__ = ["Memory", "retrieve", "runtime_retriever", "query_from_filter", "parse_when", "interleave"]

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d|w)\s*$")
_AGE_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_RESERVED = {"kind", "kinds", "tag", "tags", "schema", "schemas", "since", "until"}


class Memory:
    def __init__(self, settings: MemorySettings) -> None:
        import weakref

        from aios.memory.probe import SourceProbe

        self.settings = settings
        self._index: MemoryIndex | None = None
        self._vectors: Vectors | None = None
        self._probe = SourceProbe(settings)
        self._finalizer = weakref.finalize(self, self._probe.close)
        self._vector_finalizer: weakref.finalize[Any, Any] | None = None

    def close(self) -> None:
        """Release the read connection kept for change detection (also done when collected)."""
        self._finalizer()
        if self._vector_finalizer is not None:
            self._vector_finalizer()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def for_workspace(cls, root: Path, plan: Plan | None = None, storage: Path | None = None) -> Memory:
        if plan is not None:
            return cls(MemorySettings.from_plan(plan, root, storage))
        settings = MemorySettings.from_workspace(root)
        if storage is not None:
            from dataclasses import replace

            settings = replace(settings, storage=storage)
        return cls(settings)

    @property
    def index(self) -> MemoryIndex:
        if self._index is None:
            from aios.memory.index import MemoryIndex

            self._index = MemoryIndex(self.settings.index_dir)
            if self.settings.embedding is not None:
                import weakref

                from aios.memory.embedder import Vectors

                self._vectors = Vectors(self._index, self.settings.embedding)
                self._vector_finalizer = weakref.finalize(self, self._vectors.close)
        return self._index

    @property
    def vectors(self) -> Vectors | None:
        """The document vectors, when ``memory.embedding`` names a route (None otherwise)."""
        _ = self.index
        return self._vectors

    def sync(self, *, force: bool = False) -> SyncReport:
        from aios.memory.sync import sync

        report = sync(self.index, self.settings, force=force, probe=self._probe)
        if self._vectors is not None:
            self._vectors.catch_up()
        return report

    def reindex(self) -> SyncReport:
        from aios.memory.sync import reindex

        return reindex(self.index, self.settings)

    def add(self, path: Path) -> SyncReport:
        from aios.memory.sync import add_path

        if not path.exists():
            raise UsageError(f"{path} does not exist")
        return add_path(self.index, self.settings, path)

    def search(self, query: Query, *, cold: bool = False, now: datetime | None = None) -> list[Hit]:
        """Sync, then search the index; with ``cold``, the archived log segments too, the two rankings
        merged by reciprocal rank (their BM25 scores come from different collections and are not
        comparable; each hit keeps its own)."""
        from aios.memory.ranking import DEFAULT_RANKING, search

        self.sync()
        hits = search(self.index, query, DEFAULT_RANKING, now, self._vectors)
        if cold:
            from aios.memory.tiers import search_cold

            hits = interleave(hits, search_cold(self.settings, query), query.limit)
        return hits

    def stats(self) -> IndexStats:
        self.sync()
        return self.index.stats()

    def compact(self, *, cold_after_days: float | None = None, now: datetime | None = None) -> CompactReport:
        from aios.memory.tiers import compact

        return compact(self.index, self.settings, cold_after_days=cold_after_days, now=now)

    def verify(self) -> FullVerification:
        from aios.memory.tiers import verify_all

        return verify_all(self.settings)


def interleave(first: list[Hit], second: list[Hit], limit: int, k: int = 60) -> list[Hit]:
    """Reciprocal rank fusion of two rankings: ``1 / (k + rank)`` summed over the lists a hit is in."""
    from aios.memory.fusion import reciprocal_rank

    fused = reciprocal_rank([[h.id for h in first], [h.id for h in second]], k)
    by_id: dict[str, Hit] = {}
    for hit in (*first, *second):
        by_id.setdefault(hit.id, hit)
    order = sorted(fused, key=lambda i: -fused[i])
    return [by_id[i] for i in order[:limit]]


# -- the retrieve step -----------------------------------------------------------------------------


def parse_when(value: Any, now: datetime | None = None) -> datetime:
    """An ISO date/datetime, or an age (``90d``, ``12h``, ``2w``) counted back from now."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    m = _AGE.match(text)
    if m:
        return (now or datetime.now(UTC)) - float(m.group(1)) * _AGE_UNITS[m.group(2)]
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"`{text}` is neither an ISO date nor an age like `30d`") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _strings(value: Any, key: str) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else [value]
    if not all(isinstance(v, str) for v in items):
        raise UsageError(f"filter `{key}` takes a name or a list of names")
    return tuple(items)


def _kinds(value: Any) -> tuple[DocKind, ...]:
    out = []
    for name in _strings(value, "kind"):
        try:
            out.append(DocKind(name))
        except ValueError:
            known = ", ".join(k.value for k in DocKind)
            raise UsageError(f"unknown kind `{name}` (known: {known})") from None
    return tuple(out)


def _field_filter(key: str, value: Any) -> FieldFilter:
    if isinstance(value, Mapping):
        unknown = set(value) - {"gte", "lte", "eq", "in"}
        if unknown:
            raise UsageError(f"filter `{key}`: unknown condition(s) {', '.join(sorted(map(str, unknown)))} "
                             "(use gte, lte, eq, in)")
        equals = tuple(value.get("in") or ()) + ((value["eq"],) if "eq" in value else ())
        bounds = {k: value.get(k) for k in ("gte", "lte")}
        for k, v in bounds.items():
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise UsageError(f"filter `{key}`: `{k}` needs a number")
        return FieldFilter(key, equals, bounds["gte"], bounds["lte"])
    if isinstance(value, (list, tuple)):
        return FieldFilter(key, tuple(value))
    if value is None or isinstance(value, (str, int, float, bool)):
        if value is None:
            raise UsageError(f"filter `{key}` has no value")
        return FieldFilter(key, (value,))
    raise UsageError(f"filter `{key}` takes a value, a list of values or {{gte, lte}}")


def query_from_filter(text: str, top_k: int, filters: Mapping[str, Any], half_life_days: float | None,
                      now: datetime | None = None) -> Query:
    """The ``Query`` of a retrieve step (or CLI search) from its text, top_k and filter mapping."""
    kinds: tuple[DocKind, ...] = ()
    tags: tuple[str, ...] = ()
    schemas: tuple[str, ...] = ()
    since = until = None
    fields = []
    for key, value in filters.items():
        if key in ("kind", "kinds"):
            kinds += _kinds(value)
        elif key in ("tag", "tags"):
            tags += _strings(value, key)
        elif key in ("schema", "schemas"):
            schemas += _strings(value, key)
        elif key == "since":
            since = parse_when(value, now)
        elif key == "until":
            until = parse_when(value, now)
        else:
            fields.append(_field_filter(str(key), value))
    return Query(text, kinds=kinds, tags=tags, schemas=schemas, since=since, until=until, fields=tuple(fields),
                 limit=max(1, int(top_k)), half_life_days=half_life_days)


def retrieve(plan: Plan, storage_dir: Path, query: Query, root: Path | None = None) -> list[Hit]:
    """Search a workspace's memory (syncing it first). ``root`` defaults to the storage dir's parent."""
    base = Path(root) if root is not None else Path(storage_dir).resolve().parent
    return Memory.for_workspace(base, plan, Path(storage_dir)).search(query)


Retriever = Callable[[str, int, Mapping[str, Any], "float | None"], list[dict[str, Any]]]


def runtime_retriever(root: Path, plan: Plan, storage: Path | None = None) -> Retriever:
    """The callable ``aios.runtime.Runtime(retriever=…)`` takes. The index opens on first use; a bad
    filter or an unusable index raises ``RunError``, which fails the step with the reason."""
    memory = Memory.for_workspace(Path(root), plan, storage)
    default_half_life = plan.settings.half_life_days

    def retriever(text: str, top_k: int, filters: Mapping[str, Any], half_life_days: float | None
                  ) -> list[dict[str, Any]]:
        try:
            query = query_from_filter(text, top_k, filters or {},
                                      half_life_days if half_life_days is not None else default_half_life)
            return [hit.to_json() for hit in memory.search(query)]
        except RunError:
            raise
        except AiosError as err:  # a bad filter or an unusable index fails the step, with the reason
            raise RunError(f"retrieve: {err}") from err

    return retriever
