"""What the three graph renderers share: colours by step kind and run status, the highlight, and the
check of the steps a caller asks to mark."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from aios.plan.graph import GraphEdge, GraphNode, PlaybookGraph
from aios.plan.plan import SideEffect, StepKind

__all__ = ["Marks", "marks", "KIND_FILL", "STATUS_FILL", "HIGHLIGHT", "IRREVERSIBLE", "STROKE", "css_name"]

STROKE = "#475569"
HIGHLIGHT = "#2563eb"
IRREVERSIBLE = "#dc2626"
KIND_FILL = {
    StepKind.AGENT: "#ffffff", StepKind.RETRIEVE: "#f0f9ff", StepKind.TRANSFORM: "#ffffff",
    StepKind.GATE: "#fff7ed", StepKind.BRANCH: "#f5f3ff", StepKind.CONNECTOR: "#ffffff", StepKind.MAP: "#ffffff",
}
STATUS_FILL = {
    "completed": "#dcfce7", "approved": "#dcfce7", "previewed": "#dcfce7",
    "running": "#dbeafe", "retrying": "#dbeafe", "intent": "#dbeafe",
    "waiting": "#fef3c7",
    "failed": "#fee2e2", "rejected": "#fee2e2", "cancelled": "#fee2e2",
    "compensated": "#ede9fe",
    "skipped": "#f3f4f6",
}
_OTHER_STATUS = "#e5e7eb"


def css_name(text: str) -> str:
    """``text`` as a safe class-name fragment (letters, digits, `_` and `-` only)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text) or "_"


@dataclass(frozen=True, slots=True)
class Marks:
    """The highlighted steps (a run's path) and each step's run status, both for known steps only."""

    highlight: frozenset[str]
    statuses: Mapping[str, str]

    def is_highlighted_edge(self, e: GraphEdge) -> bool:
        return e.source in self.highlight and e.target in self.highlight

    def fill(self, n: GraphNode) -> str:
        status = self.statuses.get(n.id)
        if status is None:
            return KIND_FILL[n.kind]
        return STATUS_FILL.get(status, _OTHER_STATUS)

    def stroke(self, n: GraphNode) -> tuple[str, float]:
        if n.id in self.highlight:
            return HIGHLIGHT, 3.5
        if n.side_effect is SideEffect.IRREVERSIBLE:
            return IRREVERSIBLE, 2.5
        return STROKE, 1.2

    def classes(self, n: GraphNode) -> list[str]:
        out = [f"kind-{n.kind.value}"]
        if n.side_effect is not SideEffect.NONE:
            out.append(n.side_effect.value)
        if n.approval:
            out.append("approval")
        if n.id in self.highlight:
            out.append("highlight")
        if n.id in self.statuses:
            out.append(f"status-{css_name(self.statuses[n.id])}")
        return out


def marks(graph: PlaybookGraph, highlight: Collection[str] = (), statuses: Mapping[str, str] | None = None) -> Marks:
    """Steps the graph does not have are ignored (a run of an older plan may name them)."""
    ids = set(graph.ids)
    return Marks(frozenset(h for h in highlight if h in ids),
                 {k: str(v) for k, v in (statuses or {}).items() if k in ids})
