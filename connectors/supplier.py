"""Purchase orders to the supplier, written as order files to the supplier outbox.

``supplier.order`` writes ``<outbox>/<order_ref>.json`` (settings: ``outbox``, default
``outbox/orders``; ``token_secret``: the secret whose value signs the order, HMAC-SHA256, so the
supplier can verify it; the token itself is never written). The order reference is derived from
the idempotency key: the same order placed twice is one order. Reconcilable: the order file is
the supplier's record of the order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel

from aios.connectors import Context, Preview, Reconciliation, connector
from aios.connectors.localfs import atomic_write, inside, setting_folder


class OrderInput(BaseModel):
    sku: str
    quantity: int
    supplier_email: str
    total_eur: Decimal


class OrderOutput(BaseModel):
    order_ref: str


def _ref(ctx: Context) -> str:
    return "PO-" + hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:10].upper()


def _path(ctx: Context) -> Path:
    return inside(setting_folder(ctx, "outbox", "outbox/orders"), f"{_ref(ctx)}.json")


def _document(input: OrderInput, ctx: Context) -> dict[str, object]:
    p = ctx.provenance
    return {"order_ref": _ref(ctx), "sku": input.sku, "quantity": input.quantity, "to": input.supplier_email,
            "total_eur": str(input.total_eur), "run": p.run_id, "step": p.step_id, "plan": p.plan_hash[:16],
            "idempotency_key": ctx.idempotency_key}


@connector
def order(input: OrderInput, ctx: Context) -> OrderOutput:
    """Place the order once per idempotency key."""
    path = _path(ctx)
    if not path.exists():
        doc = _document(input, ctx)
        body = json.dumps(doc, sort_keys=True, ensure_ascii=False)
        secret = ctx.settings.get("token_secret")
        token = ctx.secret(str(secret)) if secret else None
        doc["signature"] = hmac.new(token.encode(), body.encode(), hashlib.sha256).hexdigest() if token else None
        atomic_write(path, json.dumps(doc, indent=2, ensure_ascii=False).encode())
    return OrderOutput(order_ref=_ref(ctx))


@order.preview
def _preview(input: OrderInput, ctx: Context) -> Preview:
    ref = _ref(ctx)
    state = "already placed; nothing would change" if _path(ctx).exists() else "would place"
    return Preview(f"supplier {input.supplier_email}",
                   f"{state} order {ref}: {input.quantity} × {input.sku} for {input.total_eur} EUR",
                   _document(input, ctx), {"order_ref": ref})


@order.reconcile
def _reconcile(input: OrderInput, ctx: Context) -> Reconciliation:
    path = _path(ctx)
    if path.exists():
        return Reconciliation.happened({"order_ref": _ref(ctx)}, f"{path.name} is in the supplier outbox")
    return Reconciliation.not_happened(f"no {path.name} in the supplier outbox")
