"""Which playbooks an event starts, and what the live plan listens on.

A playbook with ``trigger: {event: T}`` runs for every event of type ``T``, whatever its source. The
other trigger kinds match the event's source:

* ``{webhook: shop}`` runs for every delivery to ``POST /hooks/shop`` (source ``webhook:shop``);
* ``{file_drop: inbox/}`` for every file dropped in ``inbox/`` (source ``file_drop:inbox``);
* ``{schedule: "0 9 * * mon"}`` for its own ticks (source ``schedule:<playbook>``).

Webhook sources and their secrets: the secret of source ``shop`` is the secret named
``webhook_shop`` in aios.yaml (``secrets: {webhook_shop: {env: SHOP_WEBHOOK_SECRET}}``). A source is
open when a playbook triggers on it or its secret is declared (then its events can feed ``event:``
triggers through the ``X-Aios-Event`` header).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from aios.live.events import LiveEvent
from aios.plan.plan import Plan, Playbook, Trigger

__all__ = ["route", "source_key", "WebhookSource", "webhook_sources", "drop_folders", "scheduled",
           "normalize_folder", "WEBHOOK_SECRET_PREFIX"]

from aios.plan.plan import WEBHOOK_SECRET_PREFIX  # noqa: E402  (the convention lives with the plan)


def normalize_folder(folder: str) -> str:
    """``inbox/``, ``./inbox`` and ``inbox`` are one folder (workspace-relative, POSIX)."""
    return posixpath.normpath(folder.replace("\\", "/")).strip("/") or "."


def source_key(pb: Playbook) -> str | None:
    """The event source a non-``event`` trigger listens to."""
    t: Trigger = pb.trigger
    if t.webhook is not None:
        return f"webhook:{t.webhook}"
    if t.file_drop is not None:
        return f"file_drop:{normalize_folder(t.file_drop)}"
    if t.schedule is not None:
        return f"schedule:{pb.name}"
    return None


@dataclass(frozen=True, slots=True)
class _Routes:
    by_type: dict[str, tuple[Playbook, ...]]
    by_source: dict[str, tuple[Playbook, ...]]


_CACHE: dict[str, _Routes] = {}


def _routes(plan: Plan) -> _Routes:
    cached = _CACHE.get(plan.content_hash)
    if cached is not None:
        return cached
    by_type: dict[str, list[Playbook]] = {}
    by_source: dict[str, list[Playbook]] = {}
    for pb in plan.playbooks:
        if pb.trigger.event is not None:
            by_type.setdefault(pb.trigger.event, []).append(pb)
        key = source_key(pb)
        if key is not None:
            by_source.setdefault(key, []).append(pb)
    routes = _Routes({k: tuple(v) for k, v in by_type.items()}, {k: tuple(v) for k, v in by_source.items()})
    if len(_CACHE) > 16:
        _CACHE.clear()
    _CACHE[plan.content_hash] = routes
    return routes


def route(plan: Plan, event: LiveEvent) -> tuple[Playbook, ...]:
    """The playbooks ``event`` starts, in plan order, each once."""
    r = _routes(plan)
    found = {pb.name: pb for pb in (*r.by_type.get(event.type, ()), *r.by_source.get(event.source, ()))}
    return tuple(pb for pb in plan.playbooks if pb.name in found)


@dataclass(frozen=True, slots=True)
class WebhookSource:
    name: str
    secret: str | None  # the secret's name in aios.yaml
    env: str | None  # the environment variable holding its value
    playbooks: tuple[str, ...]


def webhook_sources(plan: Plan) -> dict[str, WebhookSource]:
    names: dict[str, list[str]] = {}
    for pb in plan.playbooks:
        if pb.trigger.webhook is not None:
            names.setdefault(pb.trigger.webhook, []).append(pb.name)
    for s in plan.secrets:
        if s.name.startswith(WEBHOOK_SECRET_PREFIX) and len(s.name) > len(WEBHOOK_SECRET_PREFIX):
            names.setdefault(s.name[len(WEBHOOK_SECRET_PREFIX):], [])
    out = {}
    for name, pbs in names.items():
        secret = plan.secret_map.get(WEBHOOK_SECRET_PREFIX + name)
        out[name] = WebhookSource(name, secret.name if secret else None, secret.env if secret else None, tuple(pbs))
    return out


def drop_folders(plan: Plan) -> dict[str, tuple[str, ...]]:
    """Drop folder (normalized) → the playbooks it triggers."""
    out: dict[str, list[str]] = {}
    for pb in plan.playbooks:
        if pb.trigger.file_drop is not None:
            out.setdefault(normalize_folder(pb.trigger.file_drop), []).append(pb.name)
    return {k: tuple(v) for k, v in out.items()}


def scheduled(plan: Plan) -> tuple[Playbook, ...]:
    return tuple(pb for pb in plan.playbooks if pb.trigger.schedule is not None)
