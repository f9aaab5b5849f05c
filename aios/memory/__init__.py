"""The memory layer: a Tantivy index over records, knowledge notes and run summaries, kept in step
with the state store, searched with BM25 + feedback + filters + recency, every hit with provenance.

Importing this package does not import tantivy; the index adapter does, when it is first used.
"""

from aios.memory.model import (
    ArchiveSource,
    DocKind,
    FieldFilter,
    FileSource,
    Hit,
    IndexDocument,
    Provenance,
    Query,
    RecordSource,
    RunSource,
    describe_provenance,
)

__all__ = [
    "ArchiveSource", "DocKind", "FieldFilter", "FileSource", "Hit", "IndexDocument", "Provenance", "Query",
    "RecordSource", "RunSource", "describe_provenance",
]
