"""``email.send``: one email over SMTP (smtplib). The ``Message-ID`` is derived from the idempotency
key, so a message sent twice (a resume after a crash that struck after the server accepted it) is
the same message to every mail store, which keeps one copy per Message-ID.

Settings: ``sender`` (required), ``host`` (127.0.0.1), ``port`` (25), ``username`` (default: the
sender), ``password_secret`` (a secret name from aios.yaml; no login without it), ``starttls``
(false), ``ssl`` (false), ``timeout_s`` (30).

With ``outbox: <folder>`` instead, nothing is sent: the message a server would receive is written
to ``<folder>/<Message-ID digest>.eml`` (atomically; the same key writes the same file once), for a
workspace without a mail server at hand. Drop ``outbox`` and name the server to send for real.

Failures: SMTP 4xx replies, dropped connections and timeouts are transient; 5xx replies (a refused
recipient, failed authentication) are permanent. Not reconcilable: SMTP cannot be asked whether a
message arrived. A sent message is noted in the effect journal, so the same key is not sent twice
by this workspace.
"""

from __future__ import annotations

import hashlib
import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from pydantic import BaseModel

from aios.connectors.api import Context, Preview, connector
from aios.connectors.journal import EffectJournal
from aios.connectors.localfs import atomic_write, os_failure, setting_folder, workspace_relative
from aios.runtime.connectors import ConnectorFailed

__all__ = ["send", "SendInput", "SendOutput", "message_id_for", "build_message"]

_PREVIEW_CHARS = 2000


class SendInput(BaseModel):
    to: str
    subject: str
    body: str
    cc: list[str] | None = None


class SendOutput(BaseModel):
    message_id: str


def _sender(ctx: Context) -> str:
    sender = ctx.settings.get("sender")
    if not sender:
        raise ConnectorFailed("email.send needs `sender:` in its aios.yaml settings", transient=False)
    return str(sender)


def message_id_for(key: str, sender: str) -> str:
    """``<digest@sender-domain>``: the same key from the same sender is the same message."""
    domain = sender.rsplit("@", 1)[-1].strip(">").strip() or "aios.invalid"
    digest = hashlib.sha256(f"{sender}\x1f{key}".encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build_message(input: SendInput, ctx: Context) -> EmailMessage:
    sender = _sender(ctx)
    p = ctx.provenance
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = input.to
    if input.cc:
        msg["Cc"] = ", ".join(input.cc)
    msg["Subject"] = input.subject
    msg["Message-ID"] = message_id_for(ctx.idempotency_key, sender)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["X-Aios-Run"] = p.run_id
    msg["X-Aios-Step"] = p.step_id
    msg["X-Aios-Plan"] = p.plan_hash[:16]
    msg.set_content(input.body)
    return msg


def _where(ctx: Context) -> tuple[str, int]:
    return str(ctx.settings.get("host", "127.0.0.1")), int(ctx.settings.get("port", 25))


def _reply_failure(err: smtplib.SMTPResponseException, what: str) -> ConnectorFailed:
    text = err.smtp_error.decode(errors="replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
    return ConnectorFailed(f"{what}: SMTP {err.smtp_code} {text}".rstrip(), transient=400 <= err.smtp_code < 500)


@connector
def send(input: SendInput, ctx: Context) -> SendOutput:
    """Send the message once per idempotency key."""
    journal = EffectJournal(ctx.storage)
    done = journal.get(ctx.connector, ctx.idempotency_key)
    if done is not None:
        return SendOutput.model_validate(done)
    msg = build_message(input, ctx)
    if ctx.settings.get("outbox"):
        return _to_outbox(msg, ctx, journal)
    host, port = _where(ctx)
    what = f"smtp://{host}:{port}"
    timeout = float(ctx.timeout_s or ctx.settings.get("timeout_s", 30.0))
    secret = ctx.settings.get("password_secret")
    password = ctx.secret(str(secret)) if secret else None
    try:
        smtp_cls = smtplib.SMTP_SSL if ctx.settings.get("ssl") else smtplib.SMTP
        with smtp_cls(host, port, timeout=timeout) as smtp:
            if ctx.settings.get("starttls"):
                smtp.starttls()
            if password is not None:
                smtp.login(str(ctx.settings.get("username") or _sender(ctx)), password)
            refused = smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as err:
        codes = [code for code, _ in err.recipients.values()]
        transient = all(400 <= c < 500 for c in codes)
        raise ConnectorFailed(f"{what}: every recipient was refused ("
                              + ", ".join(f"{r}: {c}" for r, (c, _) in err.recipients.items()) + ")",
                              transient=transient) from err
    except smtplib.SMTPAuthenticationError as err:
        raise ConnectorFailed(f"{what}: authentication failed (SMTP {err.smtp_code})", transient=False) from err
    except smtplib.SMTPResponseException as err:
        raise _reply_failure(err, what) from err
    except smtplib.SMTPNotSupportedError as err:
        raise ConnectorFailed(f"{what}: {err}", transient=False) from err
    except (TimeoutError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError) as err:
        raise ConnectorFailed(f"{what}: {type(err).__name__}: {err}", transient=True) from err
    except (smtplib.SMTPException, OSError) as err:
        raise ConnectorFailed(f"{what}: {type(err).__name__}: {err}", transient=True) from err
    out = {"message_id": str(msg["Message-ID"])}
    if refused:  # some recipients were refused, the others got the message: it happened
        out["refused"] = sorted(refused)  # type: ignore[assignment]
    journal.put(ctx.connector, ctx.idempotency_key, out)
    return SendOutput.model_validate(out)


def _outbox_file(ctx: Context, message_id: str) -> Path:
    name = message_id.strip("<>").split("@", 1)[0]
    return setting_folder(ctx, "outbox", "outbox/mail") / f"{name}.eml"


def _to_outbox(msg: EmailMessage, ctx: Context, journal: EffectJournal) -> SendOutput:
    target = _outbox_file(ctx, str(msg["Message-ID"]))
    try:
        if not target.exists():  # written once per key: a resume finds the file and leaves it
            atomic_write(target, msg.as_bytes())
    except OSError as err:
        raise os_failure(err, f"cannot write {workspace_relative(ctx, target)}") from err
    out = {"message_id": str(msg["Message-ID"])}
    journal.put(ctx.connector, ctx.idempotency_key, out)
    return SendOutput.model_validate(out)


def _target(ctx: Context, to: str) -> str:
    if ctx.settings.get("outbox"):
        return f"{workspace_relative(ctx, setting_folder(ctx, 'outbox', 'outbox/mail'))}/ (no server) → {to}"
    host, port = _where(ctx)
    return f"smtp://{host}:{port} → {to}"


@send.preview
def _preview_send(input: SendInput, ctx: Context) -> Preview:
    sender = _sender(ctx)
    mid = message_id_for(ctx.idempotency_key, sender)
    rcpt = input.to + (f" (cc {', '.join(input.cc)})" if input.cc else "")
    body = input.body if len(input.body) <= _PREVIEW_CHARS else input.body[:_PREVIEW_CHARS] + "…"
    done = EffectJournal(ctx.storage).get(ctx.connector, ctx.idempotency_key)
    summary = (f"already sent as {mid}; would not send again" if done is not None
               else f"would send `{input.subject}` to {rcpt} as {mid}")
    payload = {"from": sender, "to": input.to, "cc": input.cc or [], "subject": input.subject, "body": body,
               "message_id": mid, "auth": "password (secret)" if ctx.settings.get("password_secret") else "none"}
    return Preview(_target(ctx, input.to), summary, payload, {"message_id": mid})
