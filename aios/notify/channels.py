"""Delivering one notification through its channel, with the connector machinery: the idempotency
key is the notification's id, and the effect journal (``.aios/connectors.db``) notes each accepted
delivery, so a repeated attempt after the target answered sends nothing.

- email: the built-in ``email.send`` connector with the workspace's ``email.send`` settings (an
  ``outbox:`` folder offline, SMTP when a host is configured). The Message-ID is derived from the
  key, so a message resent after a crash that struck between the server's acceptance and the
  journal's note is the same message to the mail store, which keeps one copy.
- webhook: ``notify.webhook``, a POST of JSON ``{"event", "title", "text", "url", "id", …}`` (the
  ``text``/``title`` fields suit Slack- and ntfy-style receivers), signed like aios' own webhook
  intake (`aios.signing.sign_v1`): ``X-Aios-Signature: v1=<hex>`` over
  ``v1\\n<timestamp>\\n<delivery>\\n<event>\\n<body>`` with ``X-Aios-Timestamp``, ``X-Aios-Delivery`` (the
  notification id, also sent as ``Idempotency-Key``: a receiver dedupes on it) and ``X-Aios-Event``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from aios.connectors.api import Context, connector, mask_secrets
from aios.connectors.journal import EffectJournal
from aios.plan.notify import ChannelKind, NotifyChannel
from aios.runtime.connectors import ConnectorCall, ConnectorFailed, Provenance
from aios.signing import sign_v1

__all__ = ["WEBHOOK_CONNECTOR", "webhook", "WebhookInput", "body_for", "deliver"]

WEBHOOK_CONNECTOR = "notify.webhook"
_RETRYABLE = frozenset({408, 425, 429, *range(500, 600)})


class WebhookInput(BaseModel):
    url: str
    body: str  # the exact JSON text that is signed and sent
    event: str
    secret: str  # the name of the signing secret


class WebhookOutput(BaseModel):
    status: int


@connector
def webhook(input: WebhookInput, ctx: Context) -> WebhookOutput:
    """POST the signed body once per idempotency key (the notification id)."""
    import httpx

    journal = EffectJournal(ctx.storage)
    done = journal.get(ctx.connector, ctx.idempotency_key)
    if done is not None:
        return WebhookOutput.model_validate(done)
    secret = ctx.secret(input.secret)
    if not secret:
        raise ConnectorFailed(f"the signing secret `{input.secret}` is not set", transient=False)
    body = input.body.encode()
    ts = int(time.time())
    headers = {"content-type": "application/json", "x-aios-timestamp": str(ts), "x-aios-event": input.event,
               "x-aios-delivery": ctx.idempotency_key, "idempotency-key": ctx.idempotency_key,
               "x-aios-signature": sign_v1(secret, body, ts, delivery=ctx.idempotency_key, event=input.event)}
    what = f"POST {input.url}"
    try:
        with httpx.Client(timeout=float(ctx.timeout_s or 30.0), follow_redirects=False) as client:
            resp = client.post(input.url, content=body, headers=headers)
    except httpx.TimeoutException as err:
        raise ConnectorFailed(f"{what}: timed out", transient=True) from err
    except httpx.TransportError as err:
        raise ConnectorFailed(f"{what}: {type(err).__name__}: {err}", transient=True) from err
    except httpx.HTTPError as err:
        raise ConnectorFailed(f"{what}: {type(err).__name__}: {err}", transient=False) from err
    if resp.status_code >= 400:
        text = mask_secrets(resp.text.strip()[:200], [secret])
        raise ConnectorFailed(f"{what}: HTTP {resp.status_code} {text}".rstrip(),
                              transient=resp.status_code in _RETRYABLE)
    out = {"status": resp.status_code}
    journal.put(ctx.connector, ctx.idempotency_key, out)
    return WebhookOutput.model_validate(out)


def body_for(nid: str, event: str, title: str, text: str, url: str | None, data: Mapping[str, Any]) -> str:
    """The webhook's JSON: ``text`` and ``title`` first (what chat and push receivers show)."""
    shown = text + (f"\n{url}" if url else "")
    return json.dumps({"text": shown, "title": title, "url": url, "event": event, "id": nid, **dict(data)},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=False)


def deliver(channel: NotifyChannel, *, nid: str, event: str, title: str, text: str, url: str | None,
            data: Mapping[str, Any], workspace: Path, storage: Path, plan_hash: str,
            email_settings: Mapping[str, Any], secret: Callable[[str], str | None]) -> dict[str, Any]:
    """Send one notification; `ConnectorFailed` (transient or not) when it did not go out."""
    run_id = str(data.get("run") or "-")
    prov = Provenance(run_id=run_id, step_id=f"notify:{channel.name}", plan_hash=plan_hash,
                      playbook=str(data.get("playbook") or "-"))
    if channel.kind is ChannelKind.EMAIL:
        from aios.connectors.mail import send

        body = text + (f"\n\nOpen the approval (sign-in required; the link works once): {url}\n" if url else "\n")
        call = ConnectorCall("email.send", {"to": ", ".join(channel.to), "subject": title, "body": body}, nid, prov,
                             settings=email_settings, workspace=workspace, storage=storage, secret=secret)
        return dict(send(call))
    assert channel.url is not None and channel.secret is not None
    call = ConnectorCall(WEBHOOK_CONNECTOR, {"url": channel.url, "body": body_for(nid, event, title, text, url, data),
                                             "event": event, "secret": channel.secret}, nid, prov,
                         workspace=workspace, storage=storage, secret=secret, timeout_s=30.0)
    return dict(webhook(call))
