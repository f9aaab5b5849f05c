"""Read paths over runs and records that cost what they return (keyset pages, prefix ranges).

The CLI and the dashboard call these, so both list the same rows in the same order. Each query is
an index range: ``runs_created``, ``runs_status_created`` or ``runs_playbook_created`` for runs (newest
first, ``(created_at, id)`` as the key), ``records_head_written`` for current records, the primary
key for a run id prefix. A page reads about ``limit`` index entries whatever the store holds;
``tests/runtime/test_query_plans.py`` checks the plans, ``bench/scale.py`` the costs.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from aios.runtime.cursor import decode_cursor, encode_cursor

__all__ = ["RUN_COLUMNS", "runs_page", "records_page", "runs_with_prefix"]

RUN_COLUMNS = "id, playbook, status, created_at, finished_at, cost_usd, error, plan_hash"


def runs_page(conn: sqlite3.Connection, *, playbook: str | None = None, status: str | None = None,
              before: str | None = None, limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
    """Runs newest first (``created_at``, then ``id``), at most ``limit``, and the cursor of the next
    page (None on the last). ``before`` is a cursor from an earlier page. With both ``playbook`` and
    ``status``, the playbook's index is read and the status filtered: flat while the playbook's runs
    of that status are not rare."""
    clauses: list[str] = []
    args: list[Any] = []
    if playbook is not None:
        clauses.append("playbook = ?")
        args.append(playbook)
    if status is not None:
        clauses.append("status = ?")
        args.append(status)
    if before is not None:
        clauses.append("(created_at, id) < (?, ?)")
        args.extend(decode_cursor(before, 2))
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = _dicts(conn, f"SELECT {RUN_COLUMNS} FROM runs {where} "
                        "ORDER BY created_at DESC, id DESC LIMIT ?", (*args, limit + 1))
    return rows[:limit], _next(rows, limit, ("created_at", "id"))


def records_page(conn: sqlite3.Connection, schema: str, *, before: str | None = None, limit: int = 50,
                 ) -> tuple[list[dict[str, Any]], str | None]:
    """The current version of ``schema``'s records, most recently written first (then by id, descending),
    and the cursor of the next page: a range of ``records_head_written``, one primary-key lookup per row."""
    clauses, args = ["h.schema = ?"], [schema]
    if before is not None:
        clauses.append("(h.written_at, h.id) < (?, ?)")
        args.extend(str(v) for v in decode_cursor(before, 2))
    rows = _dicts(
        conn, "SELECT r.* FROM records_head h "
        "JOIN records r ON r.schema = h.schema AND r.id = h.id AND r.version = h.version "
        f"WHERE {' AND '.join(clauses)} ORDER BY h.written_at DESC, h.id DESC LIMIT ?",
        (*args, limit + 1))
    return rows[:limit], _next(rows, limit, ("written_at", "id"))


def runs_with_prefix(conn: sqlite3.Connection, prefix: str, limit: int = 2) -> list[str]:
    """Run ids starting with ``prefix`` (case-sensitive), at most ``limit``: a primary-key range
    ``prefix <= id < prefix'`` where ``prefix'`` is ``prefix`` with its last character incremented."""
    if not prefix:
        rows = conn.execute("SELECT id FROM runs ORDER BY id LIMIT ?", (limit,)).fetchall()
    elif ord(prefix[-1]) >= 0x10FFFF:
        rows = conn.execute("SELECT id FROM runs WHERE id >= ? ORDER BY id LIMIT ?", (prefix, limit)).fetchall()
        rows = [r for r in rows if str(r[0]).startswith(prefix)]
    else:
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = conn.execute("SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                            (prefix, upper, limit)).fetchall()
    return [str(r[0]) for r in rows]


def _dicts(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    cur = conn.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _next(rows: list[dict[str, Any]], limit: int, key: tuple[str, str]) -> str | None:
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor([last[key[0]], last[key[1]]])
