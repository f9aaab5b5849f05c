"""Render diagnostics. This is the only place that turns them into text, JSON, SARIF or annotations.

Positions are 1-based in every output format. Text and GitHub annotations show control characters
from the input (NUL, ESC and the rest of C0 and C1, DEL, bidirectional overrides, lone surrogates)
escaped, as ``\x1b`` or ``\u202e``, so a file cannot colour, rewrite or split what the terminal or the
CI log shows; JSON and SARIF carry the exact text, which `json.dumps` escapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from aios.diagnostics.codes import CODES
from aios.diagnostics.diagnostic import Diagnostic, Severity

__all__ = ["SourceLines", "render_text", "render_json", "render_sarif", "render_github", "summary", "visible"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DOCS_URI = "https://github.com/aios-dev/aios/blob/main/docs/diagnostics.md"


class SourceLines:
    """Reads source lines for carets, lazily and once per file."""

    def __init__(self, root: Path, overrides: dict[str, str] | None = None) -> None:
        self._root = root
        self._cache: dict[str, list[str]] = {}
        self._overrides = overrides or {}

    def line(self, file: str, index: int) -> str | None:
        lines = self._cache.get(file)
        if lines is None:
            text = self._overrides.get(file)
            if text is None:
                try:
                    text = (self._root / file).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    text = ""
            lines = text.splitlines()
            self._cache[file] = lines
        return lines[index] if 0 <= index < len(lines) else None


_CONTROLS = r"\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_CONTROL = re.compile(f"[{_CONTROLS}]")  # everything but line breaks
_CONTROL_OR_BREAK = re.compile(f"[{_CONTROLS}\\n\\r]")
_MAX_SHOWN = 200  # a longer source line is cut around the span, with `…` where it was cut
_CONTEXT = 60


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, newlines: bool = False) -> str:
    """``text`` with control characters escaped (``newlines=True`` leaves ``\\n`` and ``\\r`` alone)."""
    pattern = _CONTROL if newlines else _CONTROL_OR_BREAK
    return pattern.sub(_escape_char, text) if pattern.search(text) else text


def _excerpt(src: str, col: int, width: int) -> tuple[str, int, int]:
    """The source line as shown (tabs as one space, control characters escaped, a long line cut
    around the span) with the column and width of the caret in it."""
    line = src.expandtabs(1)
    width = min(width, _MAX_SHOWN)
    start, stop = 0, len(line)
    if len(line) > _MAX_SHOWN:
        start = max(0, col - _CONTEXT)
        stop = min(len(line), col + width + _CONTEXT)
    head = ("…" if start > 0 else "") + visible(line[start:col])
    marked = visible(line[col:col + width])
    tail = visible(line[col + width:stop]) + ("…" if stop < len(line) else "")
    return head + marked + tail, len(head), max(1, len(marked))


def _counts(diags: Sequence[Diagnostic]) -> tuple[int, int]:
    errors = sum(1 for d in diags if d.severity is Severity.ERROR)
    warnings = sum(1 for d in diags if d.severity is Severity.WARNING)
    return errors, warnings


def summary(diags: Sequence[Diagnostic]) -> str:
    errors, warnings = _counts(diags)
    if not errors and not warnings:
        return "no problems found"
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts)


def render_text(
    diags: Sequence[Diagnostic],
    sources: SourceLines,
    *,
    color: Callable[[str, str], str] | None = None,
) -> str:
    """``path:line:col: error: message [code]``, the source line, and a caret under the span."""
    paint = color or (lambda _style, s: s)
    out: list[str] = []
    for d in diags:
        sev = paint(d.severity.value, d.severity.value)
        code = paint("code", f"[{d.code}]")
        message = visible(d.message)
        if d.span is None:
            out.append(f"aios: {sev}: {message} {code}")
        else:
            out.append(f"{visible(d.span.show())}: {sev}: {message} {code}")
            src = sources.line(d.span.file, d.span.line)
            if src is not None:
                width = (d.span.end_col - d.span.col) if d.span.end_line == d.span.line else len(src) - d.span.col
                width = max(1, min(width, max(1, len(src) - d.span.col)))
                shown, at, wide = _excerpt(src, d.span.col, width)
                out.append(f"    {shown}")
                out.append("    " + " " * at + paint("caret", "^" + "~" * (wide - 1)))
        for rel in d.related:
            out.append(f"  {visible(rel.span.show())}: note: {visible(rel.message)}")
        if d.hint:
            out.append(f"  hint: {visible(d.hint)}")
    return "\n".join(out)


def _position(d: Diagnostic) -> dict[str, object]:
    if d.span is None:
        return {"file": None, "line": None, "column": None, "end_line": None, "end_column": None}
    s = d.span
    return {
        "file": s.file,
        "line": s.line + 1,
        "column": s.col + 1,
        "end_line": s.end_line + 1,
        "end_column": s.end_col + 1,
    }


def render_json(diags: Sequence[Diagnostic], plan_hash: str | None) -> str:
    errors, warnings = _counts(diags)
    items = []
    for d in diags:
        item: dict[str, object] = {"code": d.code, "severity": d.severity.value, "message": d.message}
        item.update(_position(d))
        item["hint"] = d.hint
        if d.related:
            item["related"] = [
                {"file": r.span.file, "line": r.span.line + 1, "column": r.span.col + 1, "message": r.message}
                for r in d.related
            ]
        items.append(item)
    doc = {"diagnostics": items, "errors": errors, "warnings": warnings, "plan_hash": plan_hash}
    return json.dumps(doc, indent=2, sort_keys=False)


def _sarif_location(span: object, message: str | None = None) -> dict[str, object]:
    from aios.span import Span

    assert isinstance(span, Span)
    loc: dict[str, object] = {
        "physicalLocation": {
            "artifactLocation": {"uri": span.file, "uriBaseId": "%SRCROOT%"},
            "region": {
                "startLine": span.line + 1,
                "startColumn": span.col + 1,
                "endLine": span.end_line + 1,
                "endColumn": span.end_col + 1,
            },
        }
    }
    if message is not None:
        loc["message"] = {"text": message}
    return loc


def render_sarif(diags: Sequence[Diagnostic], version: str) -> str:
    """SARIF 2.1.0: one run, one rule per code used, one result per diagnostic."""
    used = sorted({d.code for d in diags})
    index = {code: i for i, code in enumerate(used)}
    rules = [
        {
            "id": code,
            "name": "".join(part.capitalize() for part in code.split("-")),
            "shortDescription": {"text": CODES[code].summary},
            "helpUri": f"{DOCS_URI}#{code}",
            "defaultConfiguration": {"level": CODES[code].severity},
        }
        for code in used
    ]
    results = []
    for d in diags:
        result: dict[str, object] = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": d.severity.value,
            "message": {"text": d.message + (f"\nhint: {d.hint}" if d.hint else "")},
        }
        if d.span is not None:
            result["locations"] = [_sarif_location(d.span)]
        if d.related:
            result["relatedLocations"] = [
                {"id": i, **_sarif_location(r.span, r.message)} for i, r in enumerate(d.related)
            ]
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "aios",
                        "version": version,
                        "informationUri": DOCS_URI,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": "./"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2)


def _gh_escape_data(s: str) -> str:
    return visible(s, newlines=True).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_escape_prop(s: str) -> str:
    return _gh_escape_data(s).replace(":", "%3A").replace(",", "%2C")


def render_github(diags: Sequence[Diagnostic], prefix: str = "") -> str:
    """GitHub Actions workflow commands (`::error file=…,line=…::message`)."""
    out = []
    for d in diags:
        level = {"error": "error", "warning": "warning", "note": "notice"}[d.severity.value]
        props = [f"title={_gh_escape_prop('aios ' + d.code)}"]
        if d.span is not None:
            s = d.span
            props = [
                f"file={_gh_escape_prop(prefix + s.file)}",
                f"line={s.line + 1}",
                f"col={s.col + 1}",
                f"endLine={s.end_line + 1}",
                f"endColumn={s.end_col + 1}",
                *props,
            ]
        text = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        out.append(f"::{level} {','.join(props)}::{_gh_escape_data(text)}")
    return "\n".join(out)
