"""Checks of schedule triggers and time zones: the cron expression (blamed on the offending field) and
the zone names (workspace-wide and per trigger), with did-you-mean."""

from __future__ import annotations

from aios.diagnostics import DiagnosticSink
from aios.plan.cron import CronError, parse_cron
from aios.plan.zones import MAX_ZONE_NAME, load_zone, zone_names
from aios.span import Span
from aios.spec.build import did_you_mean

__all__ = ["check_cron", "check_timezone", "ZONE_HINT"]

ZONE_HINT = "use an IANA name such as `Europe/Stockholm`, `America/New_York` or `UTC`"


def _inner(span: Span, text: str, start: int, end: int) -> Span:
    """The span of ``text[start:end]`` inside a one-line scalar (plain or quoted without escapes)."""
    width = span.end_col - span.col
    if span.line != span.end_line or end <= start or width not in (len(text), len(text) + 2):
        return span
    col = span.col + (width - len(text)) // 2 + start
    return Span(span.file, span.line, col, span.line, col + (end - start))


def check_cron(sink: DiagnosticSink, text: str, span: Span) -> None:
    try:
        parse_cron(text)
    except CronError as err:
        sink.report("invalid-trigger", f"bad schedule `{text}`: {err}", _inner(span, text, err.start, err.end),
                    hint="five fields: minute hour day-of-month month day-of-week, e.g. `0 9 * * mon`")


def check_timezone(sink: DiagnosticSink, code: str, name: str, span: Span) -> bool:
    """Report ``name`` if it is not an IANA zone; True when it is one."""
    if load_zone(name) is not None:
        return True
    shown = name if len(name) <= MAX_ZONE_NAME else name[:MAX_ZONE_NAME] + "…"
    near = did_you_mean(name[:MAX_ZONE_NAME], zone_names()) if name else None
    if near is None and "/" not in name:  # `berlin` → `Europe/Berlin`
        cities = {z.rsplit("/", 1)[-1].lower(): z for z in zone_names()}
        city = cities.get(name.strip().replace(" ", "_").lower())
        near = f"did you mean `{city}`?" if city else None
    sink.report(code, f"unknown time zone `{shown}`", span, hint=f"{near} ({ZONE_HINT})" if near else ZONE_HINT)
    return False
