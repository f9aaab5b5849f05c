"""A playbook graph as text: Mermaid (`flowchart`) and Graphviz DOT; and as a standalone SVG, laid
out here with no Graphviz binary and no external service (``aios.plan.graph_svg``).

Every renderer takes ``highlight`` (step ids to mark, e.g. a run's path; an edge between two
highlighted steps is marked too) and ``statuses`` (step id -> a run status such as `completed`,
`waiting`, `failed`, `skipped`), and ignores ids the graph does not have.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from aios.plan.graph import EdgeKind, GraphNode, PlaybookGraph
from aios.plan.graph_style import HIGHLIGHT, IRREVERSIBLE, STATUS_FILL, STROKE, marks
from aios.plan.graph_svg import to_svg
from aios.plan.plan import SideEffect, StepKind

__all__ = ["FORMATS", "render", "to_mermaid", "to_dot", "to_svg"]

FORMATS = ("mermaid", "dot", "svg")


def render(graph: PlaybookGraph, fmt: str, *, highlight: Collection[str] = (),
           statuses: Mapping[str, str] | None = None) -> str:
    """``graph`` in one of ``FORMATS``."""
    if fmt == "mermaid":
        return to_mermaid(graph, highlight=highlight, statuses=statuses)
    if fmt == "dot":
        return to_dot(graph, highlight=highlight, statuses=statuses)
    if fmt == "svg":
        return to_svg(graph, highlight=highlight, statuses=statuses)
    raise ValueError(f"unknown graph format {fmt!r} (known: {', '.join(FORMATS)})")


# --- Mermaid ---------------------------------------------------------------------------------------

_MERMAID_SHAPES = {  # (open, close) around the quoted label
    StepKind.AGENT: ("[", "]"), StepKind.RETRIEVE: ("[(", ")]"), StepKind.TRANSFORM: ("[/", "/]"),
    StepKind.GATE: ("{{", "}}"), StepKind.BRANCH: ("{", "}"), StepKind.CONNECTOR: ("[[", "]]"),
    StepKind.MAP: ("([", "])"),
}


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label: markup and quoting characters as entity codes."""
    text = " ".join(text.splitlines())
    return "".join(f"#{ord(c)};" if c in '"#<>&`' else c for c in text)


def _mermaid_ids(graph: PlaybookGraph) -> dict[str, str]:
    ids: dict[str, str] = {}
    used: set[str] = set()
    for n in graph.nodes:
        base = "s_" + re.sub(r"[^A-Za-z0-9_]", "_", n.id)
        safe, k = base, 2
        while safe in used:
            safe, k = f"{base}_{k}", k + 1
        used.add(safe)
        ids[n.id] = safe
    return ids


def to_mermaid(graph: PlaybookGraph, *, highlight: Collection[str] = (),
               statuses: Mapping[str, str] | None = None) -> str:
    """A Mermaid ``flowchart TD``: a shape per step kind, then/else edges labelled (else dotted),
    connectors drawn by side effect (irreversible: a thick red border; reversible: dashed)."""
    m = marks(graph, highlight, statuses)
    ids = _mermaid_ids(graph)
    out = ["flowchart TD", f"  %% playbook {_mermaid_text(graph.name)}: {_mermaid_text(graph.trigger)}"]
    for n in graph.nodes:
        left, right = _MERMAID_SHAPES[n.kind]
        label = "<br>".join(_mermaid_text(line) for line in n.lines)
        out.append(f'  {ids[n.id]}{left}"{label}"{right}')
    lit: list[str] = []
    for i, e in enumerate(graph.edges):
        arrow = "-.->" if e.kind is EdgeKind.ELSE else "-->"
        label = f"|{e.label}|" if e.label else ""
        out.append(f"  {ids[e.source]} {arrow}{label} {ids[e.target]}")
        if m.is_highlighted_edge(e):
            lit.append(str(i))
    classes: dict[str, list[str]] = {}
    for n in graph.nodes:
        for c in m.classes(n):
            classes.setdefault(c.replace("-", "_"), []).append(ids[n.id])
    defs = {"kind_gate": f"fill:{STATUS_FILL['waiting']},stroke:#c2410c", "kind_branch": "fill:#f5f3ff",
            "reversible": "stroke-dasharray:5 3", "irreversible": f"stroke:{IRREVERSIBLE},stroke-width:3px",
            "highlight": f"stroke:{HIGHLIGHT},stroke-width:4px"}
    for name in classes:
        if name.startswith("status_"):
            defs[name] = f"fill:{STATUS_FILL.get(name[len('status_'):], '#e5e7eb')}"
    for name, members in sorted(classes.items(), key=lambda kv: _class_rank(kv[0])):
        if name in defs:
            out.append(f"  classDef {name} {defs[name]}")
            out.append(f"  class {','.join(members)} {name}")
    if lit:
        out.append(f"  linkStyle {','.join(lit)} stroke:{HIGHLIGHT},stroke-width:3px")
    return "\n".join(out) + "\n"


def _class_rank(name: str) -> int:
    """Mermaid applies class styles in the order they are given: the highlight comes last, to win."""
    order = ("kind_", "reversible", "irreversible", "status_", "highlight")
    return next((i for i, prefix in enumerate(order) if name.startswith(prefix)), 0)


# --- DOT -------------------------------------------------------------------------------------------

_DOT_SHAPES = {
    StepKind.AGENT: "box", StepKind.RETRIEVE: "cylinder", StepKind.TRANSFORM: "parallelogram",
    StepKind.GATE: "octagon", StepKind.BRANCH: "diamond", StepKind.CONNECTOR: "box", StepKind.MAP: "box",
}


def _dot_str(text: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, `&` as `&amp;` (Graphviz reads entities in
    every label), line breaks as `\\n` (centred lines)."""
    escaped = text.replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "\\n".join(escaped.splitlines()) + '"'


def _dot_attrs(attrs: Mapping[str, str]) -> str:
    return "[" + ", ".join(f"{k}={v}" for k, v in attrs.items()) + "]"


def _dot_node(n: GraphNode, attrs: dict[str, str]) -> None:
    styles = ["filled"] + (["rounded"] if n.kind is StepKind.AGENT else [])
    if n.side_effect is SideEffect.REVERSIBLE:
        styles.append("dashed")
    elif n.side_effect is SideEffect.IRREVERSIBLE:
        styles.append("bold")
    attrs["style"] = _dot_str(",".join(styles))
    if n.kind is StepKind.MAP:
        attrs["peripheries"] = "2"
    if n.description:
        attrs["tooltip"] = _dot_str(n.description)


def to_dot(graph: PlaybookGraph, *, highlight: Collection[str] = (),
           statuses: Mapping[str, str] | None = None) -> str:
    """A Graphviz ``digraph`` (render it with `dot -Tpng` if Graphviz is installed)."""
    m = marks(graph, highlight, statuses)
    out = [f"digraph {_dot_str(graph.name)} {{",
           f"  graph [rankdir=TB, labelloc=t, fontname=Helvetica, label={_dot_str(f'{graph.name} ({graph.trigger})')}];",
           "  node [fontname=Helvetica, fontsize=11, margin=\"0.15,0.06\"];",
           "  edge [fontname=Helvetica, fontsize=10];"]
    for n in graph.nodes:
        color, width = m.stroke(n)
        attrs = {"label": _dot_str("\n".join(n.lines)), "shape": _DOT_SHAPES[n.kind],
                 "color": _dot_str(color), "fillcolor": _dot_str(m.fill(n)), "penwidth": f"{width:g}",
                 "class": _dot_str(" ".join(m.classes(n)))}
        _dot_node(n, attrs)
        out.append(f"  {_dot_str(n.id)} {_dot_attrs(attrs)};")
    for e in graph.edges:
        attrs = {"color": _dot_str(HIGHLIGHT if m.is_highlighted_edge(e) else STROKE)}
        if e.label:
            attrs["label"] = _dot_str(e.label)
            attrs["class"] = _dot_str(f"edge-{e.kind.value}")
        if e.condition is not None:
            attrs["tooltip"] = _dot_str(f"{e.label}: {e.condition}")
        if e.kind is EdgeKind.ELSE:
            attrs["style"] = "dashed"
        if m.is_highlighted_edge(e):
            attrs["penwidth"] = "2.5"
        out.append(f"  {_dot_str(e.source)} -> {_dot_str(e.target)} {_dot_attrs(attrs)};")
    out.append("}")
    return "\n".join(out) + "\n"
