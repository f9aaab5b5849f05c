"""The canonical event: one shape for everything that can start a run.

Webhook deliveries, schedule ticks, dropped files and `aios emit` are all normalized here into a
`LiveEvent` (type, source, id, time, payload). The ``source`` says where an event came from and is what
non-``event`` triggers match on (see `aios.live.routing`):

=====================  ==================================  ================================
origin                 source                              type
=====================  ==================================  ================================
webhook ``shop``       ``webhook:shop``                    ``X-Aios-Event`` header, the
                                                           envelope's ``type``, or
                                                           ``webhook.shop``
schedule tick          ``schedule:<playbook>``             ``schedule.tick``
file dropped           ``file_drop:<folder>``              ``file.dropped``
``aios emit TYPE``     ``cli`` (or ``--source``)           ``TYPE``
=====================  ==================================  ================================

The id is the de-duplication key: a redelivered event (same id) never starts a second run. When the
sender gives none, the id is derived from the content, so an identical redelivery is recognised.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aios.errors import AiosError
from aios.limits import PayloadError, check_value, read_json

__all__ = ["LiveEvent", "EventError", "now_iso", "webhook_event", "emitted_event", "schedule_event",
           "drop_event", "EVENT_TYPE", "ENVELOPE_KEYS", "INLINE_LIMIT"]

EVENT_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")
_EVENT_ID = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces
ENVELOPE_KEYS = frozenset({"type", "id", "source", "time", "payload"})
_MALFORMED = {"payload-not-json": "malformed-body", "payload-not-utf8": "malformed-body"}  # codes senders know


class EventError(AiosError):
    """An incoming event is malformed; the message is safe to show to the sender."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class LiveEvent:
    id: str
    type: str
    source: str
    time: str
    payload: Any

    def payload_json(self) -> str:
        return json.dumps(self.payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "source": self.source, "time": self.time, "payload": self.payload}


def _content_id(source: str, etype: str, body: bytes | str) -> str:
    data = body.encode() if isinstance(body, str) else body
    digest = hashlib.sha256(source.encode() + b"\x1f" + etype.encode() + b"\x1f" + data).hexdigest()
    return "evt_" + digest[:24]


def _check_type(etype: object) -> str:
    if not isinstance(etype, str) or not EVENT_TYPE.match(etype) or len(etype) > 200:
        raise EventError("invalid-type", f"event type {etype!r} is not valid (letters, digits, `_`, `-`, "
                                         "separated by dots, e.g. `order.created`)")
    return etype


def _check_id(eid: object) -> str:
    if not isinstance(eid, str) or not _EVENT_ID.match(eid):
        raise EventError("invalid-id", "event id must be 1-200 printable ASCII characters without spaces")
    return eid


def _check_time(value: object) -> str:
    if not isinstance(value, str):
        raise EventError("invalid-time", "event time must be an ISO 8601 string")
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EventError("invalid-time", f"event time {value!r} is not ISO 8601") from None
    return value


def _split_envelope(data: Any) -> tuple[dict[str, Any], Any]:
    """``{type?, id?, source?, time?, payload}`` is an envelope; anything else is a bare payload."""
    if isinstance(data, Mapping) and "payload" in data and set(data) <= ENVELOPE_KEYS:
        return dict(data), data["payload"]
    return {}, data


def webhook_event(source_name: str, body: bytes, *, event_type: str | None = None,
                  delivery_id: str | None = None) -> LiveEvent:
    """A webhook delivery: the body is JSON (an envelope or a bare payload) within the payload limits
    (`aios.limits`). A body that is not UTF-8 JSON is ``malformed-body``; one that breaks a limit
    gets the limit's code (``payload-non-finite``, ``payload-too-deep``, …)."""
    try:
        data = read_json(body, what="the body")
    except PayloadError as err:
        raise EventError(_MALFORMED.get(err.code, err.code), str(err)) from None
    envelope, payload = _split_envelope(data)
    source = f"webhook:{source_name}"
    etype = _check_type(event_type or envelope.get("type") or f"webhook.{source_name}")
    raw_id = delivery_id or envelope.get("id")
    eid = _check_id(raw_id) if raw_id is not None else _content_id(source, etype, body)
    time = _check_time(envelope["time"]) if envelope.get("time") is not None else now_iso()
    return LiveEvent(eid, etype, source, time, payload)


def emitted_event(etype: str, payload: Any, *, event_id: str | None = None, source: str = "cli",
                  time: str | None = None) -> LiveEvent:
    """`aios emit TYPE --payload …`: without --id, the id comes from type and payload."""
    _check_type(etype)
    try:
        check_value(payload, what="the payload")
    except PayloadError as err:
        raise EventError(err.code, str(err)) from None
    canonical = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    eid = _check_id(event_id) if event_id is not None else _content_id(source, etype, canonical)
    return LiveEvent(eid, etype, source, _check_time(time) if time else now_iso(), payload)


def schedule_event(playbook: str, tick: dt.datetime, *, missed: bool = False) -> LiveEvent:
    """One tick of a schedule; the id is fixed by playbook and minute, so a tick runs at most once."""
    stamp = tick.isoformat(timespec="minutes")
    digest = hashlib.sha256(f"{playbook}\x1f{stamp}".encode()).hexdigest()[:24]
    return LiveEvent(f"sched_{digest}", "schedule.tick", f"schedule:{playbook}", now_iso(),
                     {"playbook": playbook, "scheduled_for": stamp, "missed": missed})


INLINE_LIMIT = 256 * 1024  # a dropped file's content goes into the payload up to this size


def drop_event(folder: str, name: str, size: int, sha256: str, mtime_ns: int, media_type: str | None,
               archive_dir: str, content: bytes | None = None) -> LiveEvent:
    """A file that appeared in a drop folder. The id covers name, size, content hash and modification
    time, so the same file seen again after a crash is the same event, while a new drop of it is a new
    one. ``payload.file.path`` is where the file is kept once accepted (``<archive_dir>/<id>/<name>``);
    ``content`` (the bytes, for files up to `INLINE_LIMIT`) fills ``text`` and, for ``.json``, ``json``."""
    digest = hashlib.sha256(f"{folder}\x1f{name}\x1f{size}\x1f{mtime_ns}\x1f{sha256}".encode()).hexdigest()[:24]
    eid = f"drop_{digest}"
    text: str | None = None
    if content is not None and len(content) <= INLINE_LIMIT:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    parsed: Any = None
    if text is not None and name.lower().endswith(".json"):
        try:
            parsed = read_json(text, what=f"the file {name}")
        except PayloadError:
            parsed = None  # not JSON, or beyond the limits: the file is still delivered, as text
    payload = {"file": {"name": name, "path": f"{archive_dir}/{eid}/{name}", "size": size, "sha256": sha256,
                        "media_type": media_type},
               "text": text, "json": parsed}
    return LiveEvent(eid, "file.dropped", f"file_drop:{folder}", now_iso(), payload)
