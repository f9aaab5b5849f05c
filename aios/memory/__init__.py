"""The memory layer: a Tantivy index over records, knowledge notes and run summaries, kept in step
with the state store, searched with BM25 + feedback + filters + recency, every hit with provenance.

Importing this package does not import tantivy; the index adapter does, when it is first used.
The interpreter's entry points are ``retrieve`` and ``runtime_retriever`` (see ``aios.memory.memory``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from aios.memory.embedder import Vectors
    from aios.memory.memory import Memory, query_from_filter, retrieve, runtime_retriever
    from aios.memory.settings import EmbeddingSettings, MemorySettings

__all__ = [
    "ArchiveSource", "DocKind", "FieldFilter", "FileSource", "Hit", "IndexDocument", "Provenance", "Query",
    "RecordSource", "RunSource", "describe_provenance", "Memory", "MemorySettings", "retrieve",
    "runtime_retriever", "query_from_filter", "EmbeddingSettings", "Vectors",
]

_LAZY = {"Memory": "aios.memory.memory", "retrieve": "aios.memory.memory",
         "runtime_retriever": "aios.memory.memory", "query_from_filter": "aios.memory.memory",
         "MemorySettings": "aios.memory.settings", "EmbeddingSettings": "aios.memory.settings",
         "Vectors": "aios.memory.embedder"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aios.memory' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
