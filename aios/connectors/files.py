"""``files.write`` and ``files.delete``: files in the workspace's outbox folder.

Settings (aios.yaml ``connectors:``): ``outbox`` (default ``outbox``), for both connectors.
A write is atomic (temp file, fsync, rename), so the outbox never holds half a file. It is
idempotent by content: a repeated call with the same key finds the same bytes and leaves the file
untouched. ``files.delete`` (the compensation) only deletes inside the outbox.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from aios.connectors.api import Context, Preview, Reconciliation, connector
from aios.connectors.localfs import (
    atomic_write,
    inside,
    os_failure,
    read_if_present,
    remove_file,
    setting_folder,
    workspace_relative,
)

__all__ = ["write", "delete", "WriteInput", "WriteOutput", "DeleteInput", "DeleteOutput"]

_PREVIEW_CHARS = 2000


class WriteInput(BaseModel):
    path: str
    content: str


class WriteOutput(BaseModel):
    path: str
    bytes: int


class DeleteInput(BaseModel):
    path: str


class DeleteOutput(BaseModel):
    deleted: bool


def _outbox(ctx: Context) -> Path:
    return setting_folder(ctx, "outbox", "outbox")



@connector
def write(input: WriteInput, ctx: Context) -> WriteOutput:
    """Write ``content`` to ``outbox/<path>`` atomically (unchanged bytes are not rewritten)."""
    target = inside(_outbox(ctx), input.path)
    data = input.content.encode()
    try:
        if read_if_present(target) != data:
            atomic_write(target, data)
    except OSError as err:
        raise os_failure(err, f"cannot write {workspace_relative(ctx, target)}") from err
    return WriteOutput(path=workspace_relative(ctx, target), bytes=len(data))


@write.preview
def _preview_write(input: WriteInput, ctx: Context) -> Preview:
    target = inside(_outbox(ctx), input.path)
    data = input.content.encode()
    before = read_if_present(target)
    what = "create" if before is None else ("leave unchanged" if before == data else "replace")
    rel = workspace_relative(ctx, target)
    content = input.content if len(input.content) <= _PREVIEW_CHARS else input.content[:_PREVIEW_CHARS] + "…"
    return Preview(f"file {rel}", f"would {what} {rel} ({len(data)} bytes)", {"path": rel, "content": content},
                   {"path": rel, "bytes": len(data)})


@write.reconcile
def _reconcile_write(input: WriteInput, ctx: Context) -> Reconciliation:
    target = inside(_outbox(ctx), input.path)
    data = input.content.encode()
    rel = workspace_relative(ctx, target)
    before = read_if_present(target)
    if before == data:
        return Reconciliation.happened({"path": rel, "bytes": len(data)}, f"{rel} holds the expected content")
    if before is None:
        return Reconciliation.not_happened(f"{rel} does not exist")
    return Reconciliation.not_happened(f"{rel} exists with other content")


def _delete_target(input: DeleteInput, ctx: Context) -> Path:
    """``path`` as files.write returns it (``outbox/a.md``) or as it was given (``a.md``)."""
    outbox = _outbox(ctx)
    prefix = workspace_relative(ctx, outbox) + "/"
    rel = input.path[len(prefix):] if input.path.startswith(prefix) else input.path
    return inside(outbox, rel)


@connector
def delete(input: DeleteInput, ctx: Context) -> DeleteOutput:
    """Remove a file from the outbox (the compensation of files.write)."""
    return DeleteOutput(deleted=remove_file(ctx, _delete_target(input, ctx)))


@delete.preview
def _preview_delete(input: DeleteInput, ctx: Context) -> Preview:
    target = _delete_target(input, ctx)
    rel = workspace_relative(ctx, target)
    exists = target.exists()
    return Preview(f"file {rel}", f"would delete {rel}" if exists else f"{rel} does not exist; nothing to delete",
                   {"path": rel}, {"deleted": exists})


@delete.reconcile
def _reconcile_delete(input: DeleteInput, ctx: Context) -> Reconciliation:
    target = _delete_target(input, ctx)
    rel = workspace_relative(ctx, target)
    if target.exists():
        return Reconciliation.not_happened(f"{rel} still exists")
    return Reconciliation.happened({"deleted": True}, f"{rel} is gone")
