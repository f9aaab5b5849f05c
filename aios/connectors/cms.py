"""``cms.publish`` and ``cms.unpublish``: a static-site CMS, one markdown page with front matter per
slug in the site folder (any static site generator picks them up).

Settings: ``site_dir`` (default ``site``), ``base_url`` (for the page URL in the output).
The front matter carries the page's provenance (run, step, plan hash, idempotency key). Publishing
is atomic and idempotent by content; unpublishing removes the page and is the compensation.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from aios.connectors.api import Context, Preview, Reconciliation, connector
from aios.connectors.localfs import (
    atomic_write,
    inside,
    os_failure,
    read_if_present,
    remove_file,
    setting_folder,
    workspace_relative,
)
from aios.runtime.connectors import ConnectorFailed

__all__ = ["publish", "unpublish", "PublishInput", "PublishOutput", "UnpublishInput", "UnpublishOutput",
           "render_page"]


class PublishInput(BaseModel):
    slug: str
    title: str
    body: str
    tags: list[str] | None = None


class PublishOutput(BaseModel):
    url: str
    path: str


class UnpublishInput(BaseModel):
    slug: str


class UnpublishOutput(BaseModel):
    removed: bool


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def render_page(input: PublishInput, ctx: Context) -> str:
    """The page file: YAML front matter (title, slug, tags, provenance), then the markdown body."""
    p = ctx.provenance
    lines = ["---", f"title: {_q(input.title)}", f"slug: {_q(input.slug)}"]
    if input.tags:
        lines.append("tags: [" + ", ".join(_q(t) for t in input.tags) + "]")
    lines += ["aios:", f"  run: {_q(p.run_id)}", f"  step: {_q(p.step_id)}", f"  plan: {_q(p.plan_hash[:16])}",
              f"  idempotency_key: {_q(ctx.idempotency_key)}", "---", ""]
    return "\n".join(lines) + input.body.rstrip() + "\n"


def _page(slug: str, ctx: Context) -> Path:
    clean = slug.strip()
    if not clean or "/" in clean or "\\" in clean or clean.startswith("."):
        raise ConnectorFailed(f"slug `{slug}` is not a page name (no slashes, not starting with a dot)",
                              transient=False)
    return inside(setting_folder(ctx, "site_dir", "site"), f"{clean}.md")


def _url(slug: str, ctx: Context) -> str:
    base = str(ctx.settings.get("base_url", "")).rstrip("/")
    return f"{base}/{slug.strip()}" if base else f"/{slug.strip()}"



@connector
def publish(input: PublishInput, ctx: Context) -> PublishOutput:
    """Write the page atomically; the same page again leaves the file untouched."""
    target = _page(input.slug, ctx)
    data = render_page(input, ctx).encode()
    try:
        if read_if_present(target) != data:
            atomic_write(target, data)
    except OSError as err:
        raise os_failure(err, f"cannot write {workspace_relative(ctx, target)}") from err
    return PublishOutput(url=_url(input.slug, ctx), path=workspace_relative(ctx, target))


@publish.preview
def _preview_publish(input: PublishInput, ctx: Context) -> Preview:
    target = _page(input.slug, ctx)
    rel = workspace_relative(ctx, target)
    page = render_page(input, ctx)
    before = read_if_present(target)
    what = "publish" if before is None else ("leave unchanged" if before == page.encode() else "replace")
    url = _url(input.slug, ctx)
    return Preview(f"site page {rel} ({url})", f"would {what} `{input.title}` at {url}",
                   {"path": rel, "page": page}, {"url": url, "path": rel})


@publish.reconcile
def _reconcile_publish(input: PublishInput, ctx: Context) -> Reconciliation:
    target = _page(input.slug, ctx)
    rel = workspace_relative(ctx, target)
    before = read_if_present(target)
    if before == render_page(input, ctx).encode():
        return Reconciliation.happened({"url": _url(input.slug, ctx), "path": rel}, f"{rel} is published")
    return Reconciliation.not_happened(f"{rel} is not there" if before is None else f"{rel} holds another version")


@connector
def unpublish(input: UnpublishInput, ctx: Context) -> UnpublishOutput:
    """Remove the page (the compensation of cms.publish)."""
    return UnpublishOutput(removed=remove_file(ctx, _page(input.slug, ctx)))


@unpublish.preview
def _preview_unpublish(input: UnpublishInput, ctx: Context) -> Preview:
    target = _page(input.slug, ctx)
    rel = workspace_relative(ctx, target)
    exists = target.exists()
    return Preview(f"site page {rel}", f"would remove {rel}" if exists else f"{rel} is not published; nothing to do",
                   {"slug": input.slug}, {"removed": exists})


@unpublish.reconcile
def _reconcile_unpublish(input: UnpublishInput, ctx: Context) -> Reconciliation:
    target = _page(input.slug, ctx)
    rel = workspace_relative(ctx, target)
    if target.exists():
        return Reconciliation.not_happened(f"{rel} is still published")
    return Reconciliation.happened({"removed": True}, f"{rel} is gone")
