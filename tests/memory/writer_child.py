"""A separate process for the crash and concurrency tests.

    writer_child.py docs INDEX_DIR PREFIX COUNT BATCH     add COUNT documents in batches
    writer_child.py records WORKSPACE PREFIX COUNT [slow] write records, syncing the index after each

With ``slow``, every document added to an index batch takes 20 ms longer, so that a kill from the
parent very likely lands inside a batch (between a record's commit and its index commit).
"""

from __future__ import annotations

import sys
from pathlib import Path


def docs(index_dir: Path, prefix: str, count: int, batch: int) -> None:
    from aios.memory.index import MemoryIndex
    from aios.memory.model import DocKind, FileSource, IndexDocument

    index = MemoryIndex(index_dir)
    for start in range(0, count, batch):
        index.write([IndexDocument(f"{prefix}-{i}", DocKind.NOTE, f"{prefix} {i}", f"note number {i} from {prefix}",
                                   FileSource(f"{prefix}.md", i + 1, i + 1)) for i in range(start, start + batch)])


def records(workspace: Path, prefix: str, count: int) -> None:
    from aios.memory.memory import Memory
    from aios.plan.types import FieldDef, FieldType, RecordType, TypeKind
    from aios.runtime.log import now_iso
    from aios.runtime.records import RecordStore
    from aios.runtime.store import Store

    rt = RecordType("Customer", (FieldDef("name", FieldType(TypeKind.STR), True),
                                 FieldDef("note", FieldType(TypeKind.STR), True)))
    memory = Memory.for_workspace(workspace)
    store = Store.open(workspace / ".aios")
    rs = RecordStore(store.conn)
    try:
        for i in range(count):
            with store.transaction():
                # A new record, and a new version of an earlier one.
                rs.write(rt, f"{prefix}-{i}", {"name": f"{prefix} customer {i}", "note": f"token{prefix}x{i}"},
                         run_id=None, step_id=None, plan_hash=None, at=now_iso())
                if i:
                    rs.write(rt, f"{prefix}-{i // 2}", {"name": f"{prefix} customer {i // 2}",
                                                        "note": f"token{prefix}x{i // 2} revised at {i}"},
                             run_id=None, step_id=None, plan_hash=None, at=now_iso())
            memory.sync()
    finally:
        store.close()


def _slow_batches() -> None:
    import time

    from aios.memory import index

    add = index.WriteBatch.add

    def slow_add(self: index.WriteBatch, doc: object) -> None:
        add(self, doc)  # type: ignore[arg-type]
        time.sleep(0.02)

    index.WriteBatch.add = slow_add  # type: ignore[method-assign]


if __name__ == "__main__":
    mode, target, prefix, count = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    if sys.argv[5:] == ["slow"]:
        _slow_batches()
    if mode == "docs":
        docs(target, prefix, count, int(sys.argv[5]))
    else:
        records(target, prefix, count)
