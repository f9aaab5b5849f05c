"""The one diagnostic value type and the sink every stage reports into."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from aios.diagnostics.codes import CODES
from aios.span import Span

__all__ = ["Severity", "Related", "Diagnostic", "DiagnosticSink"]


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Related:
    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Span | None
    hint: str | None = None
    related: tuple[Related, ...] = ()

    def sort_key(self) -> tuple[str, int, int, str, str]:
        if self.span is None:
            return ("", -1, -1, self.code, self.message)
        return (self.span.file, self.span.line, self.span.col, self.code, self.message)


@dataclass
class DiagnosticSink:
    """Collects diagnostics from every stage so one run reports every problem."""

    items: list[Diagnostic] = field(default_factory=list)

    def report(
        self,
        code: str,
        message: str,
        span: Span | None,
        *,
        hint: str | None = None,
        related: Iterable[Related] = (),
        severity: Severity | None = None,
    ) -> Diagnostic:
        registered = CODES.get(code)
        if registered is None:
            raise KeyError(f"unregistered diagnostic code {code!r}")
        sev = severity or Severity(registered.severity)
        diag = Diagnostic(code, sev, message, span, hint, tuple(related))
        self.items.append(diag)
        return diag

    def extend(self, diags: Iterable[Diagnostic]) -> None:
        self.items.extend(diags)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def sorted(self) -> tuple[Diagnostic, ...]:
        seen: set[tuple[object, ...]] = set()
        out = []
        for d in sorted(self.items, key=Diagnostic.sort_key):
            key = (d.code, d.span, d.message)
            if key not in seen:
                seen.add(key)
                out.append(d)
        return tuple(out)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
