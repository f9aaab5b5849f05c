"""Inline suppressions: ``# aios: ignore[code, other-code] because <reason>``.

A suppression on a line of its own applies to the next non-blank line; at the end of a line, to that
line. A reason is required, and a suppression that matches nothing is reported, so they cannot rot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from aios.diagnostics import CODES, Diagnostic, DiagnosticSink
from aios.span import Span

__all__ = ["Suppression", "scan_suppressions", "apply_suppressions"]

_PATTERN = re.compile(r"#\s*aios:\s*ignore\[(?P<codes>[^\]]*)\](?P<reason>.*)$")
_UNSUPPRESSIBLE = {"suppression-reason", "suppression-unknown-code", "suppression-unused"}


@dataclass(frozen=True, slots=True)
class Suppression:
    file: str
    target_line: int
    codes: tuple[str, ...]
    span: Span


def scan_suppressions(file: str, text: str, sink: DiagnosticSink) -> list[Suppression]:
    out: list[Suppression] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _PATTERN.search(line)
        if m is None:
            continue
        span = Span(file, i, m.start(), i, len(line))
        codes = tuple(c.strip() for c in m.group("codes").split(",") if c.strip())
        reason = m.group("reason").strip().removeprefix("because").strip(" :-—")
        if not codes:
            sink.report("suppression-unknown-code", "a suppression must name at least one code", span,
                        hint="write `# aios: ignore[code] because <reason>`")
            continue
        bad = [c for c in codes if c not in CODES or c in _UNSUPPRESSIBLE]
        if bad:
            sink.report("suppression-unknown-code", f"unknown diagnostic code `{bad[0]}` in suppression", span,
                        hint="see docs/diagnostics.md for the list of codes")
            continue
        if not reason:
            sink.report("suppression-reason", "a suppression needs a reason after the codes", span,
                        hint="e.g. `# aios: ignore[unused-document] because it is used by a cron job`")
            continue
        before = line[: m.start()].strip()
        target = i
        if not before:  # a comment line of its own: applies to the next non-blank line
            target = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), i)
        out.append(Suppression(file, target, codes, span))
    return out


def apply_suppressions(diags: Iterable[Diagnostic], suppressions: list[Suppression],
                       sink: DiagnosticSink) -> list[Diagnostic]:
    used: set[int] = set()
    kept = []
    for d in diags:
        hit = None
        if d.span is not None and d.code not in _UNSUPPRESSIBLE:
            for idx, s in enumerate(suppressions):
                if s.file == d.span.file and s.target_line == d.span.line and d.code in s.codes:
                    hit = idx
                    break
        if hit is None:
            kept.append(d)
        else:
            used.add(hit)
    extra = DiagnosticSink()
    for idx, s in enumerate(suppressions):
        if idx not in used:
            extra.report("suppression-unused", f"suppression of {', '.join(s.codes)} matches no diagnostic",
                         s.span, hint="remove it")
    kept.extend(extra.items)
    sink.items = kept
    return kept
