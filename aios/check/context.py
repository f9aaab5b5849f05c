"""State shared by the checks of one compilation: the sink, the sources and the documents."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from aios.diagnostics import DiagnosticSink, Related
from aios.load.workspace_files import WorkspaceSources
from aios.span import Span
from aios.spec.build import SpecDocument, did_you_mean

__all__ = ["CheckContext"]


@dataclass
class CheckContext:
    sink: DiagnosticSink
    sources: WorkspaceSources
    documents: list[SpecDocument]
    broken: set[tuple[str, str]] = field(default_factory=set)  # (kind, name) that failed to build
    _lines: dict[str, list[str]] = field(default_factory=dict)

    def lines(self, file: str) -> list[str]:
        if file not in self._lines:
            self._lines[file] = (self.sources.text_of(file) or "").splitlines()
        return self._lines[file]

    def locate(self, span: Span, needle: str) -> Span:
        """The span of ``needle`` inside ``span`` (a template's exact spot), or ``span`` itself."""
        if not needle:
            return span
        lines = self.lines(span.file)
        last = min(span.end_line, len(lines) - 1)
        for ln in range(span.line, last + 1):
            text = lines[ln]
            start = span.col if ln == span.line else 0
            stop = span.end_col if ln == span.end_line else len(text)
            pos = text.find(needle, start, max(stop, start + len(needle)))
            if pos >= 0:
                return Span(span.file, ln, pos, ln, pos + len(needle))
        return span

    def unknown(self, code: str, what: str, name: str, options: Iterable[str], span: Span,
                kind: str | None = None, related: Iterable[Related] = ()) -> None:
        """Report an unresolved reference, unless its target exists but failed to build."""
        if kind is not None and (kind, name) in self.broken:
            return
        opts = sorted(set(options))
        hint = did_you_mean(name, opts)
        if hint is None:
            hint = ("declared: " + ", ".join(f"`{o}`" for o in opts[:12])) if opts else f"no {what} is declared"
        self.sink.report(code, f"unknown {what} `{name}`", span, hint=hint, related=related)
