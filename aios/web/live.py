"""``GET /events?runs=ID,ID``: server-sent events with the status of the given runs as it changes.

The stream polls the store cheaply (the log's highest seq, one indexed read) and reads the runs'
statuses only when the log moved. Each message is ``event: status`` with ``{"run", "status"}``.
A stream ends after ``_LIFETIME_S`` (the browser's EventSource reconnects) or when the server stops.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from aios.web.host import Host

__all__ = ["routes", "POLL_S"]

POLL_S = 0.25
_LIFETIME_S = 300.0
_MAX_RUNS = 200


def _statuses(host: Host, runs: list[str]) -> tuple[int, dict[str, str]]:
    conn = host.store().conn
    head = conn.execute("SELECT max(seq) FROM log").fetchone()[0] or 0
    marks = ",".join("?" * len(runs))
    rows = conn.execute(f"SELECT id, status FROM runs WHERE id IN ({marks})", runs).fetchall() if runs else []
    return int(head), {str(r[0]): str(r[1]) for r in rows}


def _head(host: Host) -> int:
    return int(host.store().conn.execute("SELECT max(seq) FROM log").fetchone()[0] or 0)


def routes(host: Host) -> list[Route]:
    async def events(request: Request) -> Response:
        runs = [r for r in request.query_params.get("runs", "").split(",") if r][:_MAX_RUNS]

        async def stream() -> AsyncIterator[str]:
            head, known = await run_in_threadpool(_statuses, host, runs)
            yield "retry: 2000\n\n"
            for run_id, status in known.items():
                yield f"event: status\ndata: {json.dumps({'run': run_id, 'status': status})}\n\n"
            started = last_sent = time.monotonic()
            while not host.stopping() and time.monotonic() - started < _LIFETIME_S:
                await asyncio.sleep(POLL_S)
                if await request.is_disconnected():
                    return
                if await run_in_threadpool(_head, host) != head:
                    head, now = await run_in_threadpool(_statuses, host, runs)
                    for run_id, status in now.items():
                        if known.get(run_id) != status:
                            yield f"event: status\ndata: {json.dumps({'run': run_id, 'status': status})}\n\n"
                            last_sent = time.monotonic()
                    known = now
                if time.monotonic() - last_sent > 15:
                    yield ": keep-alive\n\n"
                    last_sent = time.monotonic()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    return [Route("/events", events, methods=["GET"])]
