"""The studio's social queue: posts are files in a queue folder, picked up by the scheduler.

``social.schedule`` writes ``<queue>/<post_id>.json`` (settings: ``queue``, default
``outbox/social``; ``delay_minutes``, default 60); ``social.cancel`` (its compensation) removes it.
The post id is derived from the idempotency key, so scheduling the same post twice queues it once.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel

from aios.connectors import Context, Preview, connector
from aios.connectors.localfs import atomic_write, inside, setting_folder


class ScheduleInput(BaseModel):
    url: str
    text: str
    channels: list[str]


class ScheduleOutput(BaseModel):
    post_id: str
    scheduled_for: datetime


class CancelInput(BaseModel):
    post_id: str


class CancelOutput(BaseModel):
    cancelled: bool


def _queue(ctx: Context) -> Path:
    return setting_folder(ctx, "queue", "outbox/social")


def _post_id(ctx: Context) -> str:
    return "post-" + hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:12]


def _slot(ctx: Context) -> datetime:
    delay = float(ctx.settings.get("delay_minutes", 60))
    return (datetime.now(UTC) + timedelta(minutes=delay)).replace(second=0, microsecond=0)


@connector
def schedule(input: ScheduleInput, ctx: Context) -> ScheduleOutput:
    """Queue the post once per idempotency key; a repeated call returns the queued post."""
    post_id = _post_id(ctx)
    path = inside(_queue(ctx), f"{post_id}.json")
    if path.exists():
        queued = json.loads(path.read_text(encoding="utf-8"))
        return ScheduleOutput(post_id=post_id, scheduled_for=queued["scheduled_for"])
    when = _slot(ctx)
    p = ctx.provenance
    post = {"post_id": post_id, "url": input.url, "text": input.text, "channels": input.channels,
            "scheduled_for": when.isoformat(), "run": p.run_id, "step": p.step_id, "plan": p.plan_hash[:16],
            "idempotency_key": ctx.idempotency_key}
    atomic_write(path, json.dumps(post, indent=2, ensure_ascii=False).encode())
    return ScheduleOutput(post_id=post_id, scheduled_for=when)


@schedule.preview
def _preview(input: ScheduleInput, ctx: Context) -> Preview:
    post_id = _post_id(ctx)
    when = _slot(ctx)
    return Preview(f"social queue ({', '.join(input.channels)})",
                   f"would queue {post_id} for {when:%Y-%m-%d %H:%M} UTC: {input.text}",
                   {"url": input.url, "text": input.text, "channels": input.channels},
                   {"post_id": post_id, "scheduled_for": when.isoformat()})


@connector
def cancel(input: CancelInput, ctx: Context) -> CancelOutput:
    """Take a queued post out of the queue (the compensation of social.schedule)."""
    path = inside(_queue(ctx), f"{input.post_id}.json")
    try:
        path.unlink()
    except FileNotFoundError:
        return CancelOutput(cancelled=False)
    return CancelOutput(cancelled=True)
