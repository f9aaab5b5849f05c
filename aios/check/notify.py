"""``notify:`` in aios.yaml: event kinds, channel kinds, recipients, URLs and signing secrets."""

from __future__ import annotations

from aios.check.context import CheckContext
from aios.plan.notify import ChannelKind, NotifyChannel, NotifyEvent, NotifySettings
from aios.spec.build import SpecDocument
from aios.spec.workspace import WorkspaceDoc

__all__ = ["build_notify"]

_EVENTS = {e.value: e for e in NotifyEvent}
_KINDS = {k.value: k for k in ChannelKind}


def build_notify(ctx: CheckContext, doc: SpecDocument) -> NotifySettings | None:
    ws = doc.model
    assert isinstance(ws, WorkspaceDoc)
    spec = ws.notify
    if spec is None:
        return None
    channels = []
    for name, ch in spec.channels.items():
        at = ("notify", "channels", name)
        kind = _KINDS.get(ch.kind)
        if kind is None:
            ctx.unknown("unknown-channel-kind", "channel kind", ch.kind, _KINDS, doc.spans.value((*at, "kind")))
        events = []
        for i, event in enumerate(ch.events):
            known = _EVENTS.get(event)
            if known is None:
                ctx.unknown("unknown-notify-event", "notification event", event, _EVENTS,
                            doc.spans.value((*at, "events", i)))
            elif known not in events:
                events.append(known)
        if kind is ChannelKind.EMAIL:
            if not ch.to:
                ctx.sink.report("invalid-value", f"email channel `{name}` has no recipients",
                                doc.spans.key((*at, "kind")), hint="add `to: [ops@example.com]`")
            sender = ws.connectors.get("email.send", {}).get("sender")
            if not sender:
                ctx.sink.report("invalid-value", f"email channel `{name}` sends through `email.send`, which has "
                                "no `sender:`", doc.spans.value((*at, "kind")),
                                hint="add `connectors: {email.send: {sender: aios@example.com, outbox: "
                                     "outbox/mail}}` (or a host and port for a real SMTP server)")
        if kind is ChannelKind.WEBHOOK:
            if not ch.url or not ch.url.startswith(("http://", "https://")):
                where = (*at, "url") if ch.url else (*at, "kind")
                ctx.sink.report("invalid-value", f"webhook channel `{name}` needs an http(s) `url:`",
                                doc.spans.value(where) if ch.url else doc.spans.key(where))
            if ch.secret is None:
                ctx.sink.report("invalid-value", f"webhook channel `{name}` needs `secret:`, the name of its "
                                "signing secret", doc.spans.key((*at, "kind")),
                                hint="declare it under `secrets:` and name it here; the receiver verifies "
                                     "X-Aios-Signature with it")
            elif ch.secret not in ws.secrets:
                ctx.unknown("unknown-secret", "secret", ch.secret, ws.secrets, doc.spans.value((*at, "secret")))
        if kind is not None:
            channels.append(NotifyChannel(name, kind, tuple(events), tuple(ch.to or ()), ch.url, ch.secret))
    return NotifySettings(tuple(channels), spec.base_url.rstrip("/") if spec.base_url else None,
                          spec.reminder_before_s)
