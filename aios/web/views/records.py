"""Records: browse a schema's current records (keyset pages of ``records_head``, newest write first),
and one record's history: every version, a field-by-field diff against the version before it, and
its provenance (the run, the step and the plan hash that wrote it) as links to the run pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.routing import Route

from aios.runtime.cursor import CursorError
from aios.runtime.records import RecordStore, RecordVersion
from aios.web.host import Host
from aios.web.pages import Context, PageError, Pages
from aios.web.views.runs import page_size

__all__ = ["routes", "browse", "record", "diff"]

_MISSING = object()


def diff(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """The changes from ``before`` to ``after``: one ``{field, change, before, after}`` per field added,
    removed or changed (``change`` one of `added`, `removed`, `changed`); objects are compared field by
    field (a nested field's name is dotted: ``address.city``), anything else as a whole value."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[dict[str, Any]] = []
        for key in [*before, *(k for k in after if k not in before)]:
            name = f"{path}.{key}" if path else str(key)
            old, new = before.get(key, _MISSING), after.get(key, _MISSING)
            if old is _MISSING:
                out.append({"field": name, "change": "added", "before": None, "after": new})
            elif new is _MISSING:
                out.append({"field": name, "change": "removed", "before": old, "after": None})
            else:
                out += diff(old, new, name)
        return out
    if before == after and type(before) is type(after):
        return []
    return [{"field": path or "(value)", "change": "changed", "before": before, "after": after}]


def _link(schema: str, record_id: str) -> str:
    return f"/records/{quote(schema, safe='')}/{quote(record_id, safe='')}"


def _row(v: RecordVersion) -> dict[str, Any]:
    return {"schema": v.schema, "id": v.id, "version": v.version, "written_at": v.written_at,
            "run_id": v.run_id, "step_id": v.step_id, "plan_hash": v.plan_hash, "data": v.data,
            "url": _link(v.schema, v.id)}


def browse(host: Host, request: Request) -> Context:
    q = request.query_params
    store = RecordStore(host.store().conn)
    counts = dict(store.schemas())
    declared = sorted({*counts, *host.plan().schema_map})
    schema = q.get("schema") or (declared[0] if declared else None)
    size = page_size(q.get("_size"))
    records: list[dict[str, Any]] = []
    nxt: str | None = None
    if schema is not None:
        try:
            page, nxt = store.page(schema, before=q.get("_next") or None, limit=size)
        except CursorError:
            raise PageError(400, "`_next` is not a token this page gave out; start from the first page") from None
        records = [_row(v) for v in page]
    params = {"schema": schema or "", **({"_size": str(size)} if q.get("_size") else {})}
    return {
        "title": "Records" + (f" · {schema}" if schema else ""),
        "schemas": [{"name": s, "count": counts.get(s, 0), "url": "/records?" + urlencode({"schema": s})}
                    for s in declared],
        "schema": schema,
        "records": records,
        "next": nxt,
        "next_url": "/records?" + urlencode({**params, "_next": nxt}) if nxt else None,
    }


def record(host: Host, request: Request) -> Context:
    schema, record_id = str(request.path_params["schema"]), str(request.path_params["ident"])
    history = RecordStore(host.store().conn).history(schema, record_id)
    if not history:
        raise PageError(404, f"no record `{record_id}` of schema `{schema}`")
    versions = []
    previous: dict[str, Any] | None = None
    for v in history:
        row = _row(v)
        row["changes"] = diff(previous, v.data) if previous is not None else diff({}, v.data)
        row["run_url"] = f"/runs/{quote(v.run_id, safe='')}" if v.run_id else None
        versions.append(row)
        previous = v.data
    versions.reverse()  # newest first
    return {
        "title": f"{schema} {record_id}",
        "schema": schema,
        "id": record_id,
        "current": versions[0],
        "versions": versions,
        "runs_url": "/runs?" + urlencode({"record": f"{schema}/{record_id}"}),
    }


def routes(pages: Pages) -> list[Route]:
    return [*pages.page("/records", "records.html", browse),
            *pages.page("/records/{schema}/{ident}", "record.html", record)]
