"""The runs list: newest first, keyset-paginated on (created_at, id) with an opaque ``_next`` token.

Filters and what serves each (never OFFSET; ``tests/web/test_runs_filters.py`` checks the plans):

- ``playbook``, ``status``: the ``runs_playbook_created`` / ``runs_status_created`` index, in order;
- ``since`` / ``until`` (ISO times or dates; ``until`` excluded): a ``created_at`` range of that index;
- ``record`` (``SCHEMA/ID``): the runs in that record's versions (the ``records`` primary key), at
  most one per version, sorted;
- ``approver``, ``cost_min``, ``cost_max``, and ``status`` together with ``playbook``: a bounded scan.
  The indexed part is read in keyset order ``SCAN_CHUNK`` rows at a time and filtered, at most
  ``SCAN_LIMIT`` rows per request; when the scan stops before the page is full, the page is shorter
  and ``next`` continues from the last row examined (``scanned`` says how many were), so every match
  still comes exactly once across pages and no request reads more than ``SCAN_LIMIT`` rows.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.routing import Route

from aios.runtime.runstate import RunStatus
from aios.web.host import Host
from aios.web.pages import Context, PageError, Pages

__all__ = ["routes", "build", "encode_next", "decode_next", "page_size", "PAGE_SIZE", "MAX_PAGE_SIZE",
           "SCAN_CHUNK", "SCAN_LIMIT"]

SCAN_CHUNK = 500
SCAN_LIMIT = 5000
_FILTERS = ("playbook", "status", "since", "until", "record", "approver", "cost_min", "cost_max")

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_COLUMNS = "id, playbook, status, created_at, updated_at, finished_at, cost_usd, tokens, error, rerun_of"


def encode_next(created_at: str, run_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, run_id]).encode()).decode().rstrip("=")


def decode_next(token: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        data = None
    if not (isinstance(data, list) and len(data) == 2 and all(isinstance(x, str) for x in data)):
        raise PageError(400, "`_next` is not a token this page gave out; start from the first page")
    return data[0], data[1]


def page_size(raw: str | None) -> int:
    """``_size`` of a listing: 1 to ``MAX_PAGE_SIZE``, ``PAGE_SIZE`` when absent; a 400 otherwise."""
    if raw is None or raw == "":
        return PAGE_SIZE
    try:
        n = int(raw)
    except ValueError:
        raise PageError(400, f"`_size` must be a number from 1 to {MAX_PAGE_SIZE}") from None
    if not 1 <= n <= MAX_PAGE_SIZE:
        raise PageError(400, f"`_size` must be a number from 1 to {MAX_PAGE_SIZE}")
    return n


def _time(name: str, raw: str | None) -> str | None:
    """An ISO date or time as the store writes them (``2026-11-21T09:30:00.123Z``), for a range bound."""
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise PageError(400, f"`{name}` must be an ISO date or time, e.g. 2026-11-21 or 2026-11-21T09:30Z") from None
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _cost(name: str, raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise PageError(400, f"`{name}` must be a number of USD, e.g. 0.05")
    return value


class _Filter:
    """The parsed filters: the SQL the indexes serve, and the residual checks of a bounded scan."""

    def __init__(self, q: Any) -> None:
        statuses = [s.value for s in RunStatus]
        self.playbook: str | None = q.get("playbook") or None
        self.status: str | None = q.get("status") or None
        if self.status is not None and self.status not in statuses:
            raise PageError(400, f"unknown status `{self.status}` (one of {', '.join(statuses)})")
        self.since = _time("since", q.get("since"))
        self.until = _time("until", q.get("until"))
        self.record: tuple[str, str] | None = None
        if q.get("record"):
            schema, _, rid = str(q.get("record")).partition("/")
            if not schema or not rid:
                raise PageError(400, "`record` is SCHEMA/ID, e.g. Project/prj-1")
            self.record = (schema, rid)
        self.approver: str | None = q.get("approver") or None
        self.cost_min = _cost("cost_min", q.get("cost_min"))
        self.cost_max = _cost("cost_max", q.get("cost_max"))
        # status with playbook: the playbook's index is read and the status checked row by row
        self.status_residual = self.status is not None and self.playbook is not None
        self.raw = {k: str(q.get(k)) for k in _FILTERS if q.get(k)}

    @property
    def scans(self) -> bool:
        return (self.approver is not None or self.cost_min is not None or self.cost_max is not None
                or self.status_residual)

    def where(self, after: tuple[str, str] | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if self.record is not None:
            clauses.append("id IN (SELECT run_id FROM records WHERE schema = ? AND id = ?)")
            args += list(self.record)
        if self.playbook is not None:
            clauses.append("playbook = ?")
            args.append(self.playbook)
        elif self.status is not None:
            clauses.append("status = ?")
            args.append(self.status)
        if self.since is not None:
            clauses.append("created_at >= ?")
            args.append(self.since)
        if self.until is not None:
            clauses.append("created_at < ?")
            args.append(self.until)
        if after is not None:
            clauses.append("(created_at, id) < (?, ?)")
            args += list(after)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", args

    def keep(self, conn: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows of one scanned chunk that pass the residual filters."""
        out = [r for r in rows
               if (not self.status_residual or r["status"] == self.status)
               and (self.cost_min is None or r["cost_usd"] >= self.cost_min)
               and (self.cost_max is None or r["cost_usd"] <= self.cost_max)]
        if self.approver is not None and out:
            marks = ",".join("?" * len(out))
            decided = {str(x[0]) for x in conn.execute(
                f"SELECT DISTINCT run_id FROM approvals WHERE run_id IN ({marks}) AND decided_by = ?",
                (*[r["id"] for r in out], self.approver))}
            out = [r for r in out if r["id"] in decided]
        return out


def _select(conn: Any, flt: _Filter, after: tuple[str, str] | None, limit: int) -> list[dict[str, Any]]:
    where, args = flt.where(after)
    return [dict(r) for r in conn.execute(
        f"SELECT {_COLUMNS} FROM runs {where} ORDER BY created_at DESC, id DESC LIMIT ?", (*args, limit))]


def query(conn: Any, flt: _Filter, after: tuple[str, str] | None, size: int,
          ) -> tuple[list[dict[str, Any]], tuple[str, str] | None, int]:
    """A page of runs, the key to continue after (None on the last page), and how many rows the scan read."""
    if not flt.scans:
        rows = _select(conn, flt, after, size + 1)
        more = len(rows) > size
        rows = rows[:size]
        return rows, ((rows[-1]["created_at"], rows[-1]["id"]) if more else None), len(rows)
    found: list[dict[str, Any]] = []
    scanned = 0
    cursor = after
    while scanned < SCAN_LIMIT:
        want = min(SCAN_CHUNK, SCAN_LIMIT - scanned)
        chunk = _select(conn, flt, cursor, want)
        if not chunk:
            return found, None, scanned
        for row in flt.keep(conn, chunk):
            found.append(row)
            if len(found) == size:
                scanned += chunk.index(row) + 1
                return found, (row["created_at"], row["id"]), scanned
        scanned += len(chunk)
        cursor = (chunk[-1]["created_at"], chunk[-1]["id"])
        if len(chunk) < want:
            return found, None, scanned
    return found, cursor, scanned


def build(host: Host, request: Request) -> Context:
    q = request.query_params
    flt = _Filter(q)
    size = page_size(q.get("_size"))
    token = q.get("_next")
    runs, after, scanned = query(host.store().conn, flt, decode_next(token) if token else None, size)
    nxt = encode_next(*after) if after is not None else None
    filters = dict(flt.raw)
    if size != PAGE_SIZE:
        filters["_size"] = str(size)
    return {
        "title": "Runs",
        "runs": runs,
        "filters": {k: flt.raw.get(k) for k in _FILTERS},
        "playbooks": sorted(host.plan().playbook_map),
        "statuses": [s.value for s in RunStatus],
        "scanned": scanned if flt.scans else None,
        "next": nxt,
        "next_url": f"/runs?{urlencode({**filters, '_next': nxt})}" if nxt else None,
    }


def routes(pages: Pages) -> list[Route]:
    return pages.page("/runs", "runs.html", build)
