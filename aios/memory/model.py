"""The values that cross the memory layer's boundary: what goes into the index, how a search is asked,
and what comes back. Frozen dataclasses only; nothing here imports tantivy.

Every indexed document carries exactly one provenance value saying where its text came from:

- ``FileSource``: a knowledge note chunk (workspace-relative file, 1-based inclusive line range);
- ``RecordSource``: the current version of a canonical record (schema, id, version, and the run and
  step that wrote it);
- ``RunSource``: a run's summary or a log entry of a run (run, step, log sequence range);
- ``ArchiveSource``: a log entry found in a cold archive segment (archive file, sequence).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aios.errors import UsageError

__all__ = [
    "DocKind", "FileSource", "RecordSource", "RunSource", "ArchiveSource", "Provenance",
    "IndexDocument", "FieldFilter", "Query", "Hit", "FIELD_PATH", "describe_provenance", "utc",
]

#: A record field path usable in a filter: identifiers joined by dots (``customer.country``).
FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

Scalar = str | int | float | bool


class DocKind(enum.Enum):
    RECORD = "record"    # the current version of a canonical record
    NOTE = "note"        # a heading-sized chunk of a knowledge file
    SUMMARY = "summary"  # an extractive summary of a finished run (warm tier)
    EPISODE = "episode"  # a log entry (hot in SQLite, cold in an archive segment)


@dataclass(frozen=True, slots=True)
class FileSource:
    path: str  # workspace-relative, POSIX style
    line_start: int  # 1-based, inclusive
    line_end: int  # 1-based, inclusive


@dataclass(frozen=True, slots=True)
class RecordSource:
    schema: str
    record_id: str
    version: int
    run_id: str | None = None
    step_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunSource:
    run_id: str
    step_id: str | None = None
    seq_start: int | None = None  # log sequence range the text was taken from
    seq_end: int | None = None


@dataclass(frozen=True, slots=True)
class ArchiveSource:
    archive: str  # path of the segment file, relative to the storage dir
    seq: int
    run_id: str | None = None
    step_id: str | None = None


Provenance = FileSource | RecordSource | RunSource | ArchiveSource


def describe_provenance(p: Provenance) -> str:
    """One short human line: ``knowledge/pricing.md:12-30``, ``Customer c-1 v3 (run r1, step s)``."""
    if isinstance(p, FileSource):
        return f"{p.path}:{p.line_start}-{p.line_end}"
    if isinstance(p, RecordSource):
        origin = f" (run {p.run_id}" + (f", step {p.step_id})" if p.step_id else ")") if p.run_id else ""
        return f"{p.schema} {p.record_id} v{p.version}{origin}"
    if isinstance(p, RunSource):
        text = f"run {p.run_id}" + (f", step {p.step_id}" if p.step_id else "")
        if p.seq_start is not None:
            text += f", log {p.seq_start}" + (f"-{p.seq_end}" if p.seq_end not in (None, p.seq_start) else "")
        return text
    return f"{p.archive}#{p.seq}" + (f" (run {p.run_id})" if p.run_id else "")


def utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to it."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class IndexDocument:
    """One unit of retrieval. ``id`` is unique in the index; writing a document with an existing id
    replaces it. ``group`` names everything that came from one source (a file, a record, a run) so
    the whole group can be replaced at once; by default it is derived from the provenance."""

    id: str
    kind: DocKind
    title: str
    body: str
    provenance: Provenance
    tags: tuple[str, ...] = ()
    created: datetime | None = None
    updated: datetime | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False)
    group: str = ""

    def source_group(self) -> str:
        if self.group:
            return self.group
        p = self.provenance
        if isinstance(p, FileSource):
            return f"file:{p.path}"
        if isinstance(p, RecordSource):
            return f"record:{p.schema}:{p.record_id}"
        if isinstance(p, RunSource):
            return f"run:{p.run_id}"
        return f"archive:{p.archive}"


@dataclass(frozen=True, slots=True)
class FieldFilter:
    """A condition on a record field (``fields.<path>``): equal to any of ``equals``, and/or within
    the numeric bounds. Several filters on one query must all hold."""

    path: str
    equals: tuple[Scalar, ...] = ()
    gte: float | None = None
    lte: float | None = None

    def __post_init__(self) -> None:
        if not FIELD_PATH.match(self.path):
            raise UsageError(f"`{self.path}` is not a record field path (letters, digits, `_`, dots)")
        if not self.equals and self.gte is None and self.lte is None:
            raise UsageError(f"the filter on `{self.path}` has no condition")


@dataclass(frozen=True, slots=True)
class Query:
    """A search. ``text`` is free user text: quoted parts are phrases, everything else is terms; it
    is never handed to a query parser, so no input can be a syntax error.

    Filters (all must hold): ``kinds`` (any of), ``tags`` (all of), ``schemas`` (any of, records
    only), ``since``/``until`` on the document's update time, and record ``fields``.
    ``half_life_days`` turns on recency: a document that old scores half (see docs/memory.md).
    ``expand`` turns pseudo-relevance feedback on or off; by default (None) it is on for open-ended
    searches and off for lookups narrowed by tags, schemas, record fields or dates, where the
    filters already say what is wanted. ``fuzzy`` lets unknown words match close spellings.
    """

    text: str = ""
    kinds: tuple[DocKind, ...] = ()
    tags: tuple[str, ...] = ()
    schemas: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    fields: tuple[FieldFilter, ...] = ()
    limit: int = 10
    half_life_days: float | None = None
    expand: bool | None = None
    fuzzy: bool = True
    snippets: bool = True

    @property
    def feedback(self) -> bool:
        """Whether pseudo-relevance feedback applies (see ``expand``)."""
        if self.expand is not None:
            return self.expand
        return not (self.tags or self.schemas or self.fields or self.since or self.until)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise UsageError(f"limit must be at least 1 (got {self.limit})")
        if self.half_life_days is not None and self.half_life_days <= 0:
            raise UsageError(f"half_life_days must be positive (got {self.half_life_days})")


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    kind: DocKind
    title: str
    score: float
    snippet: str
    provenance: Provenance
    tags: tuple[str, ...] = ()
    updated: datetime | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False)
    #: With vector fusion: the hit's 1-based rank in each ranking that found it ("keyword", "vector").
    ranks: Mapping[str, int] = field(default_factory=dict, hash=False)
    #: Why the ranking is not what the workspace asked for (e.g. the embedding route failed).
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """The shape recorded in the episodic log and printed by ``aios memory search --json``
        (``ranks`` and ``note`` only when vector fusion is configured)."""
        from dataclasses import asdict

        prov = asdict(self.provenance)
        prov["type"] = type(self.provenance).__name__.removesuffix("Source").lower()
        out = {
            "id": self.id, "kind": self.kind.value, "title": self.title, "score": round(self.score, 6),
            "snippet": self.snippet, "provenance": prov, "tags": list(self.tags),
            "updated": self.updated.isoformat() if self.updated else None, "fields": dict(self.fields),
        }
        if self.ranks:
            out["ranks"] = dict(self.ranks)
        if self.note:
            out["note"] = self.note
        return out
