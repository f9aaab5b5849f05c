"""Cold log segments: a run of the episodic log moved out of SQLite into a compressed file that still
verifies.

A segment file (``<storage>/archive/log-<first>-<last>.jsonl.gz``) is gzip'd JSON lines: a header
``{"format": "aios-log-segment", "version": 1, "first_seq", "last_seq", "prev_hash", "last_hash",
"count"}`` then one object per entry with the stored columns, the body as the exact stored text and
the hashes in hex. Verifying a segment recomputes every entry's hash with the runtime's own
``entry_hash`` from the previous segment's last hash (genesis for the first), so an archived log
verifies exactly like a live one; the runtime's ``log_segments`` table anchors the live part at
the last segment's last hash.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aios.errors import StorageError
from aios.memory.store_reader import LogRow
from aios.runtime.log import GENESIS, entry_hash

__all__ = ["SEGMENT_FORMAT", "GENESIS", "SegmentHeader", "SegmentCheck", "ArchiveVerification", "segment_name",
           "write_segment", "read_segment", "verify_segments", "iter_archived"]

SEGMENT_FORMAT = "aios-log-segment"


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    first_seq: int
    last_seq: int
    prev_hash: str
    last_hash: str
    count: int


@dataclass(frozen=True, slots=True)
class SegmentCheck:
    path: str
    first_seq: int
    last_seq: int
    ok: bool
    reason: str | None = None
    broken_at: int | None = None


@dataclass(frozen=True, slots=True)
class ArchiveVerification:
    ok: bool
    segments: tuple[SegmentCheck, ...]
    entries: int
    head: str  # hex hash the live log must continue from

    def describe(self) -> str:
        if self.ok:
            return f"archive verified: {len(self.segments)} segment(s), {self.entries} entries, head {self.head[:16]}"
        bad = next(s for s in self.segments if not s.ok)
        where = f" at seq {bad.broken_at}" if bad.broken_at is not None else ""
        return f"archive segment {bad.path} does not verify{where}: {bad.reason}"


def segment_name(first: int, last: int) -> str:
    return f"log-{first:012d}-{last:012d}.jsonl.gz"


def write_segment(path: Path, entries: list[LogRow], prev_hash: bytes) -> SegmentHeader:
    """Write (tmp file, fsync, rename, fsync folder) and read back; raises StorageError on mismatch."""
    if not entries:
        raise StorageError("an archive segment needs at least one entry")
    header = SegmentHeader(entries[0].seq, entries[-1].seq, prev_hash.hex(), entries[-1].hash.hex(), len(entries))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write((json.dumps({"format": SEGMENT_FORMAT, "version": 1, "first_seq": header.first_seq,
                                  "last_seq": header.last_seq, "prev_hash": header.prev_hash,
                                  "last_hash": header.last_hash, "count": header.count}) + "\n").encode())
            for e in entries:
                gz.write((json.dumps({"seq": e.seq, "run_id": e.run_id, "step_id": e.step_id, "type": e.type,
                                      "at": e.at, "body": e.body_text, "prev": e.prev.hex(),
                                      "hash": e.hash.hex()}, ensure_ascii=False) + "\n").encode("utf-8"))
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    check = _check(path, prev_hash)
    if not check.ok:
        raise StorageError(f"the archive segment {path} did not read back intact: {check.reason}")
    return header


def read_segment(path: Path) -> tuple[SegmentHeader, list[LogRow]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines = iter(fh)
            head = json.loads(next(lines))
            if head.get("format") != SEGMENT_FORMAT:
                raise StorageError(f"{path} is not an aios log segment")
            header = SegmentHeader(int(head["first_seq"]), int(head["last_seq"]), str(head["prev_hash"]),
                                   str(head["last_hash"]), int(head["count"]))
            rows = [_row(json.loads(line)) for line in lines if line.strip()]
    except (OSError, EOFError, ValueError, KeyError, StopIteration) as err:
        raise StorageError(f"cannot read the archive segment {path}: {err}") from err
    return header, rows


def _row(d: dict[str, Any]) -> LogRow:
    return LogRow(int(d["seq"]), d["run_id"], d["step_id"], str(d["type"]), str(d["at"]), str(d["body"]),
                  bytes.fromhex(d["prev"]), bytes.fromhex(d["hash"]))


def _check(path: Path, prev: bytes, expected_last: bytes | None = None,
           expected_range: tuple[int, int] | None = None) -> SegmentCheck:
    name = path.name
    try:
        header, rows = read_segment(path)
    except StorageError as err:
        return SegmentCheck(name, 0, 0, False, str(err))
    first, last = header.first_seq, header.last_seq
    if expected_range is not None and expected_range != (first, last):
        return SegmentCheck(name, first, last, False,
                            f"covers {first}-{last}, the store registered {expected_range[0]}-{expected_range[1]}")
    if header.prev_hash != prev.hex():
        return SegmentCheck(name, first, last, False, "its first link does not continue the previous segment")
    expected_seq = first - 1
    for e in rows:
        expected_seq += 1
        if e.seq != expected_seq:
            return SegmentCheck(name, first, last, False, f"entry {expected_seq} is missing", e.seq)
        if e.prev != prev:
            return SegmentCheck(name, first, last, False, "its link does not match the previous entry", e.seq)
        if entry_hash(prev, e.seq, e.run_id, e.step_id, e.type, e.at, e.body_text) != e.hash:
            return SegmentCheck(name, first, last, False, "its content does not match its hash", e.seq)
        prev = e.hash
    if expected_seq != last or len(rows) != header.count:
        return SegmentCheck(name, first, last, False, f"ends at {expected_seq}, its header says {last}")
    if prev.hex() != header.last_hash or (expected_last is not None and prev != expected_last):
        return SegmentCheck(name, first, last, False, "its last hash differs from the registered one")
    return SegmentCheck(name, first, last, True)


def verify_segments(archive_dir: Path, segments: list[tuple[int, int, bytes, str]]) -> ArchiveVerification:
    """Check every registered segment ((first, last, last_hash, path) oldest first) and their chain."""
    prev = GENESIS
    checks: list[SegmentCheck] = []
    entries = 0
    expected_first = 1
    for first, last, last_hash, rel in segments:
        path = archive_dir / Path(rel).name
        if first != expected_first:
            checks.append(SegmentCheck(Path(rel).name, first, last, False,
                                       f"starts at {first}, the previous segment ended at {expected_first - 1}"))
            return ArchiveVerification(False, tuple(checks), entries, prev.hex())
        check = _check(path, prev, last_hash, (first, last))
        checks.append(check)
        if not check.ok:
            return ArchiveVerification(False, tuple(checks), entries, prev.hex())
        entries += last - first + 1
        prev = last_hash
        expected_first = last + 1
    return ArchiveVerification(True, tuple(checks), entries, prev.hex())


def iter_archived(archive_dir: Path, segments: list[tuple[int, int, bytes, str]]) -> Iterator[tuple[str, LogRow]]:
    """(segment path relative to the storage dir, entry) for every archived entry, oldest first."""
    for _, _, _, rel in segments:
        path = archive_dir / Path(rel).name
        _, rows = read_segment(path)
        for row in rows:
            yield f"archive/{path.name}", row
