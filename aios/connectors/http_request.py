"""``http.request``: one HTTP request with httpx; the idempotency key goes out as the
``Idempotency-Key`` header, the provenance as ``X-Aios-Run``/``X-Aios-Step``/``X-Aios-Plan``.

Settings (all optional): ``timeout_s`` (30), ``max_retry_after_s`` (60), ``headers`` (sent with every
request), ``bearer_secret`` (a secret name: ``Authorization: Bearer <value>``), ``header_secrets``
(``{Header-Name: secret name}``), ``reconcile_url`` (``https://api.example/requests/{key}``: asked
with ``reconcile_method``, default GET; 2xx means the effect happened, 404/410 that it did not).

Failures: 408, 425, 429 and 5xx are transient (the interpreter retries with the same key); a
``Retry-After`` up to ``max_retry_after_s`` is waited out before the retry, a longer one fails the
call; connection errors and timeouts are transient; every other 4xx is permanent. A completed
non-GET call is noted in the effect journal, so the same key is not sent twice by this workspace.
"""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from aios.connectors.api import Context, Preview, Reconciliation, connector, mask_secrets
from aios.connectors.journal import EffectJournal
from aios.runtime.connectors import ConnectorFailed

__all__ = ["request", "RequestInput", "RequestOutput", "RETRYABLE", "retry_after_seconds"]

RETRYABLE = frozenset({408, 425, 429, *range(500, 600)})
_BODY_CHARS = 400
_MASK = "***"


class RequestInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] | None = None
    payload: Any = Field(default=None, alias="json")


class RequestOutput(BaseModel):
    status: int
    body: Any = None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: an integer, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _headers(input: RequestInput, ctx: Context, *, masked: bool, used: list[str] | None = None) -> dict[str, str]:
    """The request headers; with ``masked`` secrets show as ``***``; secret values go into ``used``."""
    p = ctx.provenance
    out: dict[str, str] = {}
    static = ctx.settings.get("headers") or {}
    if isinstance(static, dict):
        out.update({str(k): str(v) for k, v in static.items()})
    out.update(input.headers or {})
    out.update({"Idempotency-Key": ctx.idempotency_key, "X-Aios-Run": p.run_id, "X-Aios-Step": p.step_id,
                "X-Aios-Plan": p.plan_hash[:16]})
    secret_headers: list[tuple[str, str, str]] = []  # (header, secret name, value prefix)
    if ctx.settings.get("bearer_secret"):
        secret_headers.append(("Authorization", str(ctx.settings["bearer_secret"]), "Bearer "))
    named = ctx.settings.get("header_secrets") or {}
    if isinstance(named, dict):
        secret_headers += [(str(k), str(v), "") for k, v in named.items()]
    for header, secret, prefix in secret_headers:
        if masked:
            out[header] = _MASK
            continue
        value = ctx.secret(secret)
        if value is None:
            raise ConnectorFailed(f"secret `{secret}` for the {header} header is not set", transient=False)
        if used is not None:
            used.append(value)
        out[header] = prefix + value
    return out


def _timeout(ctx: Context) -> float:
    return float(ctx.timeout_s or ctx.settings.get("timeout_s", 30.0))


def _body(resp: Any) -> Any:
    if not resp.content:
        return None
    if "json" in resp.headers.get("content-type", ""):
        try:
            return resp.json()
        except ValueError:
            pass
    return resp.text


def _short(resp: Any) -> str:
    text = str(resp.text).strip().replace("\n", " ")
    return text if len(text) <= _BODY_CHARS else text[:_BODY_CHARS] + "…"


@connector
def request(input: RequestInput, ctx: Context) -> RequestOutput:
    """Send the request once per idempotency key; classify failures as transient or permanent."""
    import httpx

    journal = EffectJournal(ctx.storage)
    if input.method != "GET":
        done = journal.get(ctx.connector, ctx.idempotency_key)
        if done is not None:
            return RequestOutput.model_validate(done)
    used: list[str] = []
    headers = _headers(input, ctx, masked=False, used=used)
    what = f"{input.method} {input.url}"
    try:
        with httpx.Client(timeout=_timeout(ctx), follow_redirects=False) as client:
            resp = client.request(input.method, input.url, headers=headers, json=input.payload)
    except httpx.TimeoutException as err:
        raise ConnectorFailed(f"{what}: timed out ({type(err).__name__})", transient=True) from err
    except httpx.TransportError as err:
        raise ConnectorFailed(f"{what}: {type(err).__name__}: {err}", transient=True) from err
    except httpx.HTTPError as err:  # an invalid URL and the like
        raise ConnectorFailed(f"{what}: {type(err).__name__}: {err}", transient=False) from err
    status = resp.status_code
    if status in RETRYABLE:
        wait = retry_after_seconds(resp.headers.get("retry-after"))
        limit = float(ctx.settings.get("max_retry_after_s", 60.0))
        if wait is not None and wait > limit:
            raise ConnectorFailed(f"{what}: HTTP {status}; the server asks to retry after {wait:.0f} s, more than "
                                  f"max_retry_after_s ({limit:.0f} s)", transient=False)
        if wait:
            time.sleep(wait)
        raise ConnectorFailed(f"{what}: HTTP {status} {mask_secrets(_short(resp), used)}".rstrip(), transient=True)
    if status >= 400:
        raise ConnectorFailed(f"{what}: HTTP {status} {mask_secrets(_short(resp), used)}".rstrip(), transient=False)
    out = RequestOutput(status=status, body=mask_secrets(_body(resp), used))  # a target echoing a token
    if input.method != "GET":
        journal.put(ctx.connector, ctx.idempotency_key, out.model_dump(mode="json"))
    return out


@request.preview
def _preview_request(input: RequestInput, ctx: Context) -> Preview:
    headers = _headers(input, ctx, masked=True)
    payload: dict[str, Any] = {"method": input.method, "url": input.url, "headers": headers}
    if input.payload is not None:
        payload["json"] = input.payload
    done = EffectJournal(ctx.storage).get(ctx.connector, ctx.idempotency_key) if input.method != "GET" else None
    if done is not None:
        return Preview(f"{input.method} {input.url}", f"already sent with key {ctx.idempotency_key}; would not send "
                       "again", payload, done)
    return Preview(f"{input.method} {input.url}",
                   f"would send {input.method} {input.url} with Idempotency-Key {ctx.idempotency_key}", payload)


@request.reconcile
def _reconcile_request(input: RequestInput, ctx: Context) -> Reconciliation:
    import httpx

    done = EffectJournal(ctx.storage).get(ctx.connector, ctx.idempotency_key)
    if done is not None:
        return Reconciliation.happened(done, "this workspace recorded the target's answer")
    template = ctx.settings.get("reconcile_url")
    if not template:
        return Reconciliation.unknown("no `reconcile_url` is configured for http.request")
    url = str(template).replace("{key}", quote(ctx.idempotency_key, safe=""))
    method = str(ctx.settings.get("reconcile_method", "GET")).upper()
    used: list[str] = []
    headers = _headers(input, ctx, masked=False, used=used)
    try:
        with httpx.Client(timeout=_timeout(ctx)) as client:
            resp = client.request(method, url, headers=headers)
    except httpx.HTTPError as err:
        return Reconciliation.unknown(f"{method} {url}: {type(err).__name__}")
    if 200 <= resp.status_code < 300:
        return Reconciliation.happened({"status": resp.status_code, "body": mask_secrets(_body(resp), used)},
                                       f"{method} {url}: HTTP {resp.status_code}")
    if resp.status_code in (404, 410):
        return Reconciliation.not_happened(f"{method} {url}: HTTP {resp.status_code}")
    return Reconciliation.unknown(f"{method} {url}: HTTP {resp.status_code}")
