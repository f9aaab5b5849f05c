"""The runs list: newest first, keyset-paginated on (created_at, id) with an opaque ``_next`` token."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.routing import Route

from aios.runtime.runstate import RunStatus
from aios.web.host import Host
from aios.web.pages import Context, PageError, Pages

__all__ = ["routes", "build", "encode_next", "decode_next", "PAGE_SIZE", "MAX_PAGE_SIZE"]

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


def _size(raw: str | None) -> int:
    if raw is None or raw == "":
        return PAGE_SIZE
    try:
        n = int(raw)
    except ValueError:
        raise PageError(400, f"`_size` must be a number from 1 to {MAX_PAGE_SIZE}") from None
    if not 1 <= n <= MAX_PAGE_SIZE:
        raise PageError(400, f"`_size` must be a number from 1 to {MAX_PAGE_SIZE}")
    return n


def build(host: Host, request: Request) -> Context:
    q = request.query_params
    playbook = q.get("playbook") or None
    status = q.get("status") or None
    statuses = [s.value for s in RunStatus]
    if status is not None and status not in statuses:
        raise PageError(400, f"unknown status `{status}` (one of {', '.join(statuses)})")
    size = _size(q.get("_size"))
    clauses: list[str] = []
    args: list[Any] = []
    if playbook:
        clauses.append("playbook = ?")
        args.append(playbook)
    if status:
        clauses.append("status = ?")
        args.append(status)
    token = q.get("_next")
    if token:
        created_at, run_id = decode_next(token)
        clauses.append("(created_at, id) < (?, ?)")
        args += [created_at, run_id]
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = host.store().conn.execute(
        f"SELECT {_COLUMNS} FROM runs {where} ORDER BY created_at DESC, id DESC LIMIT ?", (*args, size + 1)
    ).fetchall()
    runs = [dict(r) for r in rows[:size]]
    nxt = encode_next(runs[-1]["created_at"], runs[-1]["id"]) if len(rows) > size else None
    filters = {k: v for k, v in (("playbook", playbook), ("status", status)) if v}
    if size != PAGE_SIZE:
        filters["_size"] = str(size)
    return {
        "title": "Runs",
        "runs": runs,
        "filters": {"playbook": playbook, "status": status},
        "playbooks": sorted(host.plan().playbook_map),
        "statuses": statuses,
        "next": nxt,
        "next_url": f"/runs?{urlencode({**filters, '_next': nxt})}" if nxt else None,
    }


def routes(pages: Pages) -> list[Route]:
    return pages.page("/runs", "runs.html", build)
