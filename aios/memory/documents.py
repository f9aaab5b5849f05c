"""What each source becomes in the index: records, log entries (episodes), run summaries and
record-history summaries. Pure functions of the stored rows, so an incremental sync and a full
reindex produce the same documents.

Tiers, as the index sees them:

- **hot**: an open run's step-level log entries are ``episode`` documents;
- **warm**: once a run is finished, its episodes are replaced by one ``summary`` document (what
  happened, which records it wrote, an extractive summary of its texts by the offline model) that
  points back at the run's log range; a record with several versions gets a history summary;
- **cold**: archived log segments are not in the index; ``aios.memory.archive`` searches them on
  demand.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from aios.memory.model import ArchiveSource, DocKind, IndexDocument, RecordSource, RunSource
from aios.memory.store_reader import LogRow, RecordRow, RunRow

__all__ = ["record_document", "record_id", "history_document", "history_id", "episode_document",
           "EPISODE_TYPES", "run_summary_document", "summary_id", "episodes_group", "archived_document",
           "parse_time", "flatten"]

#: Log entry types that say something about the work (and become episodes while the run is open).
EPISODE_TYPES = frozenset({
    "step.completed", "step.failed", "step.waiting", "step.attempt_failed", "item.completed",
    "approval.decided", "compensation.completed", "compensation.failed", "run.failed", "run.cancelled",
})
_TITLE_FIELDS = ("title", "name", "subject", "headline", "heading", "label", "summary")
_MAX_BODY = 6000


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def flatten(value: Any, prefix: str = "", out: list[str] | None = None, depth: int = 0) -> list[str]:
    """``key: value`` lines for the scalar leaves of a JSON value (lists of scalars joined)."""
    lines: list[str] = [] if out is None else out
    if depth > 6:
        return lines
    if isinstance(value, Mapping):
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), lines, depth + 1)
    elif isinstance(value, list):
        if all(not isinstance(v, (Mapping, list)) for v in value):
            if value:
                lines.append(f"{prefix}: {', '.join(str(v) for v in value)}" if prefix else ", ".join(map(str, value)))
        else:
            for i, v in enumerate(value[:50]):
                flatten(v, f"{prefix}[{i}]", lines, depth + 1)
    elif value is not None and value != "":
        lines.append(f"{prefix}: {value}" if prefix else str(value))
    return lines


def _clip(text: str, limit: int = _MAX_BODY) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


# -- records ---------------------------------------------------------------------------------------


def record_id(schema: str, rid: str) -> str:
    return f"record:{schema}:{rid}"


def _title_of(data: Mapping[str, Any]) -> str | None:
    for name in _TITLE_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip().splitlines()[0][:200]
    return None


def _record_title(row: RecordRow) -> str:
    return _title_of(row.data) or f"{row.schema} {row.id}"


def _strings(value: Any, depth: int = 0) -> list[str]:
    """The string leaves of a JSON value, in order."""
    if depth > 6:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v, depth + 1)]
    if isinstance(value, list):
        return [s for v in value[:50] for s in _strings(v, depth + 1)]
    return []


def record_document(row: RecordRow, created: str | None = None) -> IndexDocument:
    """The current version of a record. Its fields are filterable; ``id`` is added to them."""
    title = _record_title(row)
    body = "\n".join([f"{title}", f"{row.schema} {row.id}", *flatten(row.data)])
    tags = row.data.get("tags")
    fields = dict(row.data)
    fields.setdefault("id", row.id)
    return IndexDocument(
        id=record_id(row.schema, row.id), kind=DocKind.RECORD, title=title, body=_clip(body),
        provenance=RecordSource(row.schema, row.id, row.version, row.run_id, row.step_id),
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        created=parse_time(created or row.written_at), updated=parse_time(row.written_at), fields=fields,
        group=record_id(row.schema, row.id))


def history_id(schema: str, rid: str) -> str:
    return f"summary:record:{schema}:{rid}"


def history_document(versions: list[RecordRow]) -> IndexDocument | None:
    """A warm summary of a record's history (None for a record with one version)."""
    if len(versions) < 2:
        return None
    last = versions[-1]
    title = f"History of {last.schema} {last.id}: {_record_title(last)}"
    lines = [title, f"{len(versions)} versions, {versions[0].written_at} to {last.written_at}."]
    previous: dict[str, Any] = {}
    for v in versions:
        origin = f" by run {v.run_id} step {v.step_id}" if v.run_id else ""
        if not previous:
            lines.append(f"v{v.version} {v.written_at}{origin}: created with " + "; ".join(flatten(v.data)))
        else:
            changes = [f"{k}: {_short(previous.get(k))} → {_short(v.data.get(k))}"
                       for k in sorted(set(previous) | set(v.data)) if previous.get(k) != v.data.get(k)]
            lines.append(f"v{v.version} {v.written_at}{origin}: " + ("; ".join(changes) or "no field changed"))
        previous = v.data
    return IndexDocument(
        id=history_id(last.schema, last.id), kind=DocKind.SUMMARY, title=title, body=_clip("\n".join(lines)),
        provenance=RecordSource(last.schema, last.id, last.version, last.run_id, last.step_id),
        created=parse_time(versions[0].written_at), updated=parse_time(last.written_at),
        fields={"schema": last.schema, "record_id": last.id, "versions": len(versions)},
        group=history_id(last.schema, last.id))


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit - 1] + "…"


# -- episodes (hot) --------------------------------------------------------------------------------


def episodes_group(run_id: str) -> str:
    return f"episodes:{run_id}"


def _entry_text(entry: LogRow, playbook: str) -> tuple[str, str]:
    body = entry.body
    what = entry.type.replace(".", " ")
    title = f"{playbook} · {entry.step_id or 'run'} · {what}"
    parts = [title]
    for key in ("error", "reason", "note", "message", "by", "decision"):
        if isinstance(body.get(key), (str, int, float)):
            parts.append(f"{key}: {body[key]}")
    if "out" in body:
        parts += flatten(body["out"], "out")
    if "in" in body:
        parts += flatten(body["in"], "in")
    return title, _clip("\n".join(parts))


def episode_document(entry: LogRow, run: RunRow | None) -> IndexDocument | None:
    if entry.run_id is None or entry.type not in EPISODE_TYPES:
        return None
    playbook = run.playbook if run else "run"
    title, body = _entry_text(entry, playbook)
    return IndexDocument(
        id=f"episode:{entry.seq}", kind=DocKind.EPISODE, title=title, body=body,
        provenance=RunSource(entry.run_id, entry.step_id, entry.seq, entry.seq),
        tags=(playbook,), created=parse_time(entry.at), updated=parse_time(entry.at),
        fields={"run_id": entry.run_id, "step_id": entry.step_id or "", "type": entry.type,
                "playbook": playbook},
        group=episodes_group(entry.run_id))


def archived_document(entry: LogRow, archive: str) -> IndexDocument:
    """A cold log entry (any type), for the on-demand archive search."""
    title, body = _entry_text(entry, str(entry.run_id or "log"))
    return IndexDocument(
        id=f"archived:{entry.seq}", kind=DocKind.EPISODE, title=title, body=body,
        provenance=ArchiveSource(archive, entry.seq, entry.run_id, entry.step_id),
        created=parse_time(entry.at), updated=parse_time(entry.at),
        fields={"run_id": entry.run_id or "", "step_id": entry.step_id or "", "type": entry.type})


# -- run summaries (warm) --------------------------------------------------------------------------


def summary_id(run_id: str) -> str:
    return f"summary:run:{run_id}"


def _extractive(texts: list[str]) -> str:
    """The offline model's extractive summary of a run's texts (its lead sentence and key words)."""
    from aios.models import offline
    from aios.plan.types import FieldDef, FieldType, RecordType, TypeKind

    if not texts:
        return ""
    schema = RecordType("RunSummary", (FieldDef("summary", FieldType(TypeKind.STR), True),))
    out = offline.generate(schema, {"texts": texts[:200]})
    return str(out.get("summary", "")) if isinstance(out, dict) else ""


def run_summary_document(run: RunRow, entries: Iterable[LogRow]) -> IndexDocument:
    rows = sorted(entries, key=lambda e: e.seq)
    steps: list[str] = []
    records: list[str] = []
    texts: list[str] = []
    for e in rows:
        body = e.body
        out = body.get("out")
        if e.type in ("step.completed", "step.reused") and e.step_id:
            steps.append(e.step_id)
            texts += [v for v in _strings(out) if len(v) >= 3]
        elif e.type == "step.failed" and e.step_id:
            steps.append(f"{e.step_id} (failed: {body.get('error', 'error')})")
        elif e.type == "approval.decided":
            texts.append(f"approval {body.get('decision', '')} by {body.get('by', '')}: {body.get('note', '')}")
        for ref in body.get("rec", ()) if isinstance(body.get("rec"), list) else ():
            if isinstance(ref, Mapping):
                label = _title_of(out) if isinstance(out, Mapping) else None
                records.append(f"{ref.get('schema')} {ref.get('id')} v{ref.get('v')}" + (f" ({label})" if label else ""))
    title = f"Run {run.id}: {run.playbook} {run.status}"
    lines = [title, f"Playbook {run.playbook}, triggered by {run.event_type or 'an event'} ({run.event_id}), "
                    f"{run.status}; started {run.created_at}, finished {run.finished_at or run.updated_at}."]
    if steps:
        lines.append("Steps: " + ", ".join(dict.fromkeys(steps)) + ".")
    if records:
        lines.append("Records written: " + ", ".join(dict.fromkeys(records)) + ".")
    if run.error:
        lines.append(f"Error: {run.error}")
    summary = _extractive(texts)
    if summary:
        lines.append(f"Summary: {summary}")
    first, last = (rows[0].seq, rows[-1].seq) if rows else (None, None)
    return IndexDocument(
        id=summary_id(run.id), kind=DocKind.SUMMARY, title=title, body=_clip("\n".join(lines)),
        provenance=RunSource(run.id, None, first, last), tags=(run.playbook, run.status),
        created=parse_time(run.created_at), updated=parse_time(run.finished_at or run.updated_at),
        fields={"run_id": run.id, "playbook": run.playbook, "status": run.status,
                "event_type": run.event_type or ""},
        group=summary_id(run.id))
