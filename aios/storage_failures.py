"""What a failure of the storage under aios means to the operator, and what to do about it.

SQLite reports a full disk, a failing disk, a lock held too long, a file it cannot open or may not
write, and a damaged file as ``sqlite3.OperationalError`` / ``DatabaseError``; the file system
reports some of the same as ``OSError``. ``storage_error`` turns each into a `StorageError` with a
message that says what happened, that nothing committed was lost (a failed write is rolled back
whole: the episodic log and the runs stay as their last commit left them), and how to continue.
The CLI renders these at its edge, so no command shows a traceback for them.
"""

from __future__ import annotations

import errno
import sqlite3

from aios.errors import StorageError

__all__ = ["storage_error", "is_storage_failure", "STORAGE_ERRNOS"]

#: OSError numbers that are the storage's fault, not the command's
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG})

_KEPT = ("nothing of the write that failed was kept, and everything committed before it is intact "
         "(`aios log verify` checks)")
_CONTINUE = "then repeat the command (`aios runs resume --all` continues any run it interrupted)"

# SQLite's primary result codes (the low byte of the extended code)
_FULL, _IOERR, _BUSY, _LOCKED, _CANTOPEN, _READONLY, _CORRUPT, _NOTADB, _PERM = 13, 10, 5, 6, 14, 8, 11, 26, 3

_BY_TEXT = (("disk is full", _FULL), ("disk i/o error", _IOERR), ("is locked", _BUSY), ("unable to open", _CANTOPEN),
            ("readonly", _READONLY), ("malformed", _CORRUPT), ("not a database", _NOTADB))


def _code(err: sqlite3.Error) -> int | None:
    code = getattr(err, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(err).lower()
    return next((c for needle, c in _BY_TEXT if needle in text), None)


def is_storage_failure(err: BaseException) -> bool:
    """Whether ``err`` is a failure of the storage (SQLite's, or an OS error such as a full disk)."""
    if isinstance(err, sqlite3.Error):
        return True
    return isinstance(err, OSError) and err.errno in STORAGE_ERRNOS


def storage_error(err: BaseException) -> StorageError:
    """A `StorageError` saying what ``err`` (a SQLite error or a storage OSError) means and what to do."""
    if isinstance(err, OSError):
        where = f" ({err.filename})" if err.filename else ""
        reason = err.strerror or str(err)
        if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return StorageError(f"no space left on the disk{where}: {reason}. Free some space, {_CONTINUE}")
        if err.errno == errno.EROFS:
            return StorageError(f"the file system is read-only{where}: {reason}. Nothing was written")
        return StorageError(f"a storage error{where}: {reason}. Check the disk; {_CONTINUE}")
    said = f"(SQLite: {err})"
    code = _code(err) if isinstance(err, sqlite3.Error) else None
    if code == _FULL:
        return StorageError(f"the disk is full {said}; {_KEPT}. Free some space, {_CONTINUE}")
    if code == _IOERR:
        return StorageError(f"a disk I/O error {said}: the disk may be full, failing or gone; {_KEPT}. "
                            f"Check the disk, {_CONTINUE}")
    if code in (_BUSY, _LOCKED):
        return StorageError(f"the state store is locked by another process {said}, and stayed locked longer "
                            "than aios waits; nothing was changed. Try again when the other process (a server, "
                            "a long command) is done")
    if code == _CANTOPEN:
        return StorageError(f"cannot open a database file {said}: its folder is missing or not writable, or the "
                            "disk is full. Check the storage folder (`storage:` in aios.yaml)")
    if code in (_READONLY, _PERM):
        return StorageError(f"the state store is read-only {said}: check the permissions of the storage folder "
                            f"and its files, or a read-only mount; nothing was written. Fix them, {_CONTINUE}")
    if code in (_CORRUPT, _NOTADB):
        return StorageError(f"a database file is damaged or not an aios store {said}. Stop writing to it and "
                            "restore the storage folder from a backup")
    return StorageError(f"a storage error {said}; {_KEPT}. {_CONTINUE[0].upper()}{_CONTINUE[1:]} once it is fixed")
