"""Notifications in the plan: which events go to which channels (frozen types only).

Built by the compiler from ``notify:`` in aios.yaml; read by `aios.notify`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["NotifyEvent", "ChannelKind", "NotifyChannel", "NotifySettings", "DEFAULT_REMINDER_BEFORE_S"]

DEFAULT_REMINDER_BEFORE_S = 3600.0


class NotifyEvent(enum.Enum):
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_REMINDER = "approval.reminder"
    APPROVAL_TIMED_OUT = "approval.timed_out"
    RUN_FAILED = "run.failed"
    ALERT_RAISED = "alert.raised"


class ChannelKind(enum.Enum):
    EMAIL = "email"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class NotifyChannel:
    name: str
    kind: ChannelKind
    events: tuple[NotifyEvent, ...]
    to: tuple[str, ...] = ()  # email: the recipients
    url: str | None = None  # webhook: where the signed JSON is POSTed
    secret: str | None = None  # webhook: the name of the signing secret in `secrets:`


@dataclass(frozen=True, slots=True)
class NotifySettings:
    channels: tuple[NotifyChannel, ...]
    base_url: str | None = None  # links in notifications; default http://127.0.0.1:<port> of `aios serve`
    reminder_before_s: float = DEFAULT_REMINDER_BEFORE_S

    def channels_for(self, event: NotifyEvent) -> tuple[NotifyChannel, ...]:
        return tuple(c for c in self.channels if event in c.events)
