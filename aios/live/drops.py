"""Drop folders: a file that appears in a folder named by a ``file_drop`` trigger becomes an event.

A file is taken once it has stopped changing (its modification time is at least ``settle_ms`` old and
its size and time are the same before and after reading it), so a file still being copied in is left
for the next pass. Hidden files and usual partial-download names (``.part``, ``.tmp``, ``~``…) are
ignored. The event is committed first; only then is the file moved out of the folder, into
``<storage>/drops/<event id>/<name>`` (that path is in ``payload.file.path``). A crash between the two
leaves the file in place; the next pass derives the same event id from it, finds the event already
journaled, and only moves the file.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from aios.live import journal
from aios.live.console import Console
from aios.live.current import CurrentPlan
from aios.live.events import INLINE_LIMIT, LiveEvent, drop_event
from aios.live.routing import drop_folders
from aios.plan.plan import Plan
from aios.runtime.store import Store

__all__ = ["DropWatcher", "scan_folder", "is_partial_name"]

_PARTIAL = (".part", ".partial", ".tmp", ".crdownload", ".download", ".swp", "~")


def is_partial_name(name: str) -> bool:
    return name.startswith((".", "#")) or name.lower().endswith(_PARTIAL)


def _read(path: Path) -> tuple[str, int, bytes | None]:
    """SHA-256 and size of a file read in chunks; the bytes too when small enough to inline."""
    digest = hashlib.sha256()
    kept = bytearray()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            if size <= INLINE_LIMIT:
                kept += chunk
    return digest.hexdigest(), size, bytes(kept) if size <= INLINE_LIMIT else None


def _archive(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dest)
    except OSError:  # another file system: copy, then remove
        shutil.copy2(src, dest)
        src.unlink(missing_ok=True)


def scan_folder(root: Path, storage_dir: Path, store: Store, folder: str, *, settle_ms: int = 200
                ) -> tuple[list[LiveEvent], int]:
    """Journal the settled files of one drop folder; returns the new events and how many files are
    still settling (so the caller looks again soon)."""
    base = root / folder
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except OSError:
        return [], 0
    archive_rel = os.path.relpath(storage_dir / "drops", root).replace(os.sep, "/")
    new: list[LiveEvent] = []
    settling = 0
    now_ns = time.time_ns()
    for entry in entries:
        if is_partial_name(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            before = entry.stat(follow_symlinks=False)
            if now_ns - before.st_mtime_ns < settle_ms * 1_000_000:
                settling += 1
                continue
            sha, size, content = _read(Path(entry.path))
            after = os.stat(entry.path, follow_symlinks=False)
        except OSError:
            continue
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or size != after.st_size:
            settling += 1
            continue
        media = mimetypes.guess_type(entry.name)[0]
        ev = drop_event(folder, entry.name, size, sha, after.st_mtime_ns, media, archive_rel, content)
        with store.transaction() as conn:
            fresh = journal.accept(conn, [ev])[0]
        _archive(Path(entry.path), storage_dir / "drops" / ev.id / entry.name)
        if fresh:
            new.append(ev)
    return new, settling


class DropWatcher:
    """A thread watching the live plan's drop folders (watchfiles, plus a rescan while files settle)."""

    def __init__(self, root: Path, storage_dir: Path, current: CurrentPlan, console: Console, *,
                 on_event: Callable[[], None], settle_ms: int = 200, force_polling: bool | None = None) -> None:
        self.root = root
        self.storage_dir = storage_dir
        self.current = current
        self.console = console
        self.on_event = on_event
        self.settle_ms = settle_ms
        self.force_polling = force_polling
        self._stop = threading.Event()
        self._restart = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aios-drops", daemon=True)
        current.on_swap(self._plan_changed)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _plan_changed(self, old: Plan, new: Plan) -> None:
        if drop_folders(old) != drop_folders(new):
            self._restart.set()

    def _halted(self) -> bool:
        return self._stop.is_set() or self._restart.is_set()

    def _scan(self, store: Store, folders: list[str]) -> int:
        settling = 0
        for folder in folders:
            try:
                events, waiting = scan_folder(self.root, self.storage_dir, store, folder, settle_ms=self.settle_ms)
            except Exception as err:  # a bad file must not stop the watcher
                self.console.line(f"drop folder {folder}: {type(err).__name__}: {err}")
                continue
            settling += waiting
            for ev in events:
                self.console.line(f"file dropped in {folder}/: {ev.payload['file']['name']} → event {ev.id}")
            if events:
                self.on_event()
        return settling

    def _loop(self) -> None:
        import watchfiles

        store = journal.open_store(self.storage_dir)
        halt = _Halt(self)
        try:
            while not self._stop.is_set():
                self._restart.clear()
                folders = sorted(drop_folders(self.current.plan))
                if not folders:  # nothing to watch until a plan names a drop folder
                    self._stop.wait(0.5)
                    continue
                for f in folders:
                    (self.root / f).mkdir(parents=True, exist_ok=True)
                self._scan(store, folders)
                for _ in watchfiles.watch(*(self.root / f for f in folders), stop_event=halt, step=50,
                                          debounce=1000, rust_timeout=max(self.settle_ms, 100),
                                          yield_on_timeout=True, raise_interrupt=False,
                                          force_polling=self.force_polling, poll_delay_ms=100, recursive=False):
                    self._scan(store, folders)
                    if self._halted():
                        break
        finally:
            store.close()


class _Halt:
    def __init__(self, watcher: DropWatcher) -> None:
        self._w = watcher

    def is_set(self) -> bool:
        return self._w._halted()
