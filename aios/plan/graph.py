"""A playbook as a graph: one node per step, one edge per `needs`, branch edges labelled then/else.

A small frozen model built from a compiled playbook, for `aios graph` and the dashboard; the
renderers (Mermaid, DOT, SVG) live in ``aios.plan.graph_render``. Like the plan, this module never
imports the loader, the compiler or the CLI.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aios.plan.plan import Connector, Playbook, SideEffect, Step, StepKind

__all__ = ["EdgeKind", "GraphNode", "GraphEdge", "PlaybookGraph", "build_graph"]


class EdgeKind(enum.Enum):
    NEEDS = "needs"
    THEN = "then"
    ELSE = "else"


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A step as drawn: its id, what it does (``summary``) and the marks a reader must not miss."""

    id: str
    kind: StepKind
    summary: str  # "agent intake", "connector cms.publish", "if <condition>", …
    side_effect: SideEffect = SideEffect.NONE  # of the connector a connector (or map) step calls
    connector: str | None = None
    compensate: str | None = None
    writes: str | None = None  # the record schema the step writes
    map_over: str | None = None  # the template a map step iterates over
    approval: bool = False  # a gate: the run waits for a human
    description: str | None = None

    @property
    def lines(self) -> tuple[str, ...]:
        """The text of the node's box, first line the step id."""
        out = [self.id, self.summary]
        if self.side_effect is not SideEffect.NONE:
            out.append(self.side_effect.value + (f", compensate {self.compensate}" if self.compensate else ""))
        if self.writes:
            out.append(f"writes {self.writes}")
        return tuple(out)


@dataclass(frozen=True, slots=True)
class GraphEdge:
    source: str
    target: str
    kind: EdgeKind = EdgeKind.NEEDS
    condition: str | None = None  # a branch's `when`, on its then/else edges

    @property
    def label(self) -> str | None:
        return None if self.kind is EdgeKind.NEEDS else self.kind.value


@dataclass(frozen=True, slots=True)
class PlaybookGraph:
    name: str
    trigger: str  # "event lead.received", "schedule 0 9 * * 1", …
    nodes: tuple[GraphNode, ...]  # in the playbook's topological order
    edges: tuple[GraphEdge, ...]
    description: str | None = None

    def node(self, step_id: str) -> GraphNode:
        for n in self.nodes:
            if n.id == step_id:
                return n
        raise KeyError(step_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.nodes)

    def as_dict(self) -> dict[str, Any]:
        """The graph as plain data, for JSON (the dashboard's `/api/`)."""
        return {
            "name": self.name, "trigger": self.trigger, "description": self.description,
            "nodes": [{"id": n.id, "kind": n.kind.value, "summary": n.summary, "side_effect": n.side_effect.value,
                       "connector": n.connector, "compensate": n.compensate, "writes": n.writes,
                       "map_over": n.map_over, "approval": n.approval, "description": n.description,
                       "lines": list(n.lines)} for n in self.nodes],
            "edges": [{"source": e.source, "target": e.target, "kind": e.kind.value, "condition": e.condition}
                      for e in self.edges],
        }


def build_graph(playbook: Playbook, connectors: Mapping[str, Connector]) -> PlaybookGraph:
    """The graph of ``playbook``; ``connectors`` (``plan.connector_map``) gives side effects."""
    nodes = tuple(_node(s, connectors) for s in playbook.steps)
    edges: list[GraphEdge] = []
    branched: set[tuple[str, str]] = set()
    for s in playbook.steps:
        if s.branch is None:
            continue
        for kind, targets in ((EdgeKind.THEN, s.branch.then), (EdgeKind.ELSE, s.branch.otherwise)):
            for t in targets:
                edges.append(GraphEdge(s.id, t, kind, s.branch.when.source))
                branched.add((s.id, t))
    for s in playbook.steps:
        edges.extend(GraphEdge(n, s.id) for n in s.needs if (n, s.id) not in branched)
    order = {s.id: i for i, s in enumerate(playbook.steps)}
    edges.sort(key=lambda e: (order.get(e.target, len(order)), order.get(e.source, len(order))))
    return PlaybookGraph(playbook.name, _trigger(playbook), nodes, tuple(edges), playbook.description)


def _trigger(pb: Playbook) -> str:
    t = pb.trigger
    if t.event:
        return f"event {t.event}"
    if t.schedule:
        return f"schedule {t.schedule}"
    if t.webhook:
        return f"webhook {t.webhook}"
    if t.file_drop:
        return f"files dropped in {t.file_drop}"
    return "manual"


def _node(s: Step, connectors: Mapping[str, Connector]) -> GraphNode:
    connector = s.connector if s.kind is StepKind.CONNECTOR else s.map.connector if s.map else None
    found = connectors.get(connector) if connector else None
    effect = found.side_effect if found else SideEffect.NONE
    return GraphNode(
        id=s.id, kind=s.kind, summary=_summary(s), side_effect=effect, connector=connector,
        compensate=s.compensate if effect is not SideEffect.NONE else None,
        writes=s.writes.schema if s.writes else None,
        map_over=s.map.over.source if s.map else None,
        approval=s.kind is StepKind.GATE, description=s.description)


def _summary(s: Step) -> str:
    if s.kind is StepKind.AGENT:
        return f"agent {s.agent}"
    if s.kind is StepKind.CONNECTOR:
        return f"connector {s.connector}"
    if s.kind is StepKind.RETRIEVE:
        return f"retrieve top {s.retrieve.top_k}" if s.retrieve else "retrieve"
    if s.kind is StepKind.GATE:
        who = ", ".join(s.gate.approvers) if s.gate and s.gate.approvers else ""
        return "approval" + (f" by {who}" if who else "")
    if s.kind is StepKind.BRANCH:
        return f"if {s.branch.when.source}" if s.branch else "branch"
    if s.kind is StepKind.MAP and s.map is not None:
        what = s.map.agent or s.map.connector
        doing = f"{s.map.kind.value} {what}" if what else str(s.map.kind.value)
        return f"map over {s.map.over.source}: {doing}"
    return str(s.kind.value)
