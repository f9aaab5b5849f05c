"""Files inside the workspace for the file-based connectors: confined paths and atomic writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from aios.runtime.connectors import ConnectorCall, ConnectorFailed

__all__ = ["atomic_write", "read_if_present", "remove_file", "setting_folder", "inside", "workspace_relative", "os_failure"]


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader (or a crash) sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dir_fd)


def setting_folder(call: ConnectorCall, key: str, default: str) -> Path:
    """The folder named by setting ``key`` (workspace-relative), confined to the workspace."""
    return call.path_in_workspace(str(call.settings.get(key, default)))


def inside(folder: Path, relative: str) -> Path:
    """``folder / relative``, refusing absolute paths and anything that escapes ``folder``."""
    if not relative or relative.startswith(("/", "\\")) or Path(relative).is_absolute():
        raise ConnectorFailed(f"path `{relative}` must be relative to {folder.name}/", transient=False)
    base = folder.resolve()
    target = (base / relative).resolve()
    if base not in target.parents:
        raise ConnectorFailed(f"path `{relative}` is outside {folder.name}/", transient=False)
    return target


def workspace_relative(call: ConnectorCall, path: Path) -> str:
    return path.relative_to(call.workspace.resolve()).as_posix()


def os_failure(err: OSError, what: str) -> ConnectorFailed:
    """A file system error as a transient failure (a full disk, a permission, a folder in the way
    can be fixed while the run retries)."""
    return ConnectorFailed(f"{what}: {err.strerror or type(err).__name__}", transient=True)


def remove_file(call: ConnectorCall, target: Path) -> bool:
    """Remove ``target``; False when it was already gone (so a compensation can run twice)."""
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    except OSError as err:
        raise os_failure(err, f"cannot remove {workspace_relative(call, target)}") from err
    return True


def read_if_present(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist (what reconcile and previews compare)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
